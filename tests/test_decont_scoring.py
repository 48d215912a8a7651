"""Q&A-aware, IDF-weighted scoring of decontamination: what contaminates a document and what does not.

Host text is real (Python standard library sources and docstrings); items are the named evaluation
sets midtrain reads offline. Kernels are checked against their plain-Python twins.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet
from midtrain.curation.stages.decontaminate.eval_sets import build_eval_index
from midtrain.curation.stages.decontaminate.matching import find_hits, find_hits_reference
from midtrain.curation.stages.decontaminate.named_sets import load_named_set
from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.decontaminate.scoring import (ANSWER_BONUS, ANSWER_WINDOW, part_shares,
                                                            part_shares_reference, score_batch)
from midtrain.curation.stages.shingles import arrow_buffers


def host_texts() -> list[str]:
    """Real prose and code: the sources of a few standard-library modules, cut in 3 KB pieces."""
    import csv
    import difflib
    import json as json_module

    out = []
    for module in (textwrap, difflib, csv, json_module, inspect):
        source = inspect.getsource(module)
        out += [source[k:k + 3000] for k in range(0, min(len(source), 30_000), 3000)]
    return out


@pytest.fixture(scope="module")
def index():
    config = DecontConfig(against=(EvalSet(source="gsm8k"), EvalSet(source="champ")))
    with pytest.warns(UserWarning, match="champ"):  # 11 CHAMP items cannot be matched (see below)
        return build_eval_index(config), config


def matches_of(text: str, index, config, keep_below: bool = False):
    arr = pa.array([text], pa.large_string())
    return score_batch(arr, normalize_texts(arr), index, config, keep_below=keep_below).get(0, [])


def test_find_hits_equals_the_python_reference_at_every_length(index):
    ix, _ = index
    assert set(ix.lengths.tolist()) > {13}  # short CHAMP items add their own lengths
    rng = random.Random(3)
    gsm, champ = load_named_set("gsm8k"), load_named_set("champ")
    hosts = host_texts()
    docs = hosts[:12] + [rng.choice(hosts)[:900] + "\n" + q["question"] + "\n" + rng.choice(hosts)[:900]
                         for q in rng.sample(gsm, 5) + rng.sample(champ, 8)]
    normalised = normalize_texts(pa.array(docs, pa.large_string()))
    got = find_hits(*arrow_buffers(normalised), ix.lengths, ix.hashes)
    want = find_hits_reference(normalised.to_pylist(), ix.lengths.tolist(), ix.hashes)
    assert len(got[0]) > 13 * 5
    assert sorted(zip(*[a.tolist() for a in got])) == sorted(zip(*[a.tolist() for a in want]))
    docs_hit, _, entries = got
    shares = part_shares(docs_hit, entries, ix)
    reference = part_shares_reference(docs_hit, entries, ix)
    assert {(d, p): round(s, 12) for d, p, s in zip(*[a.tolist() for a in shares])} == \
        {k: round(v, 12) for k, v in reference.items()}


def test_idf_weights_are_log_one_plus_items_over_document_frequency(tmp_path):
    # four items: six words of their own, then the same 24-word instruction
    shared = ("Write the complete working in full sentences and state every assumption made about the quantities "
              "before giving the final numerical result rounded very sensibly")
    assert len(shared.split()) == 24
    own = ["Maria bakes fresh bread for neighbours", "Tomas repairs old bicycles during winter",
           "Priya plants red tomatoes beside fences", "Olek paints small boats every summer"]
    rows = [{"id": f"q{k}", "question": f"{o}. {shared}"} for k, o in enumerate(own)]
    (tmp_path / "shared.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = DecontConfig(against=(EvalSet(source=tmp_path / "shared.jsonl", answer_field=""),))
    ix = build_eval_index(config)
    assert sorted(set(np.round(ix.entry_weight, 12).tolist())) == [round(math.log(2), 12), round(math.log(5), 12)]
    # each item has 18 n-grams: 12 shared by all four, weighing log(1 + 4/4), and 6 of its own,
    # log(1 + 4/1). A document holding only the instruction has 12 of the 18 (2/3 unweighted), but
    # by weight less than half
    share = 12 * math.log(2) / (12 * math.log(2) + 6 * math.log(5))
    found = matches_of(host_texts()[0] + "\n" + shared + "\n", ix, config, keep_below=True)
    assert len(found) == 4 and all(not m.contaminated and m.rule == "below-threshold" for m in found)
    assert [round(m.share, 12) for m in found] == [round(share, 12)] * 4
    whole = matches_of(f"{own[2]}. {shared}", ix, config)
    assert [(ix.item_id[m.item], m.score, m.rule) for m in whole if m.contaminated] == [("q2", 1.0, "ngram-share")]


def test_answer_near_a_partial_copy_lifts_it_over_the_threshold(index):
    ix, config = index
    item = load_named_set("gsm8k")[5]  # 41 words (29 13-grams), answer 64
    words = item["question"].split()
    third = " ".join(words[:len(words) // 2])  # 8 of the 29 n-grams
    host = host_texts()[1]
    text = host[:800] + "\n" + third + " ... so he pays $" + item["answer"] + ".\n" + host[800:1600]
    near = matches_of(text, ix, config)
    (m,) = [m for m in near if ix.item_id[m.item] == "5"]
    assert ANSWER_BONUS > 0 and config.min_score - ANSWER_BONUS <= m.share < config.min_score
    assert (m.rule, m.answer_near, m.contaminated) == ("ngram-share+answer", True, True)
    assert m.score == m.share + ANSWER_BONUS
    alone = matches_of(host[:800] + "\n" + third + "\n" + host[800:1600], ix, config, keep_below=True)
    assert [(m.rule, m.contaminated) for m in alone if ix.item_id[m.item] == "5"] == [("below-threshold", False)]
    far = host[:800] + "\n" + third + "\n" + host[800:800 + ANSWER_WINDOW + 500] + " 64 "
    assert not [m for m in matches_of(far, ix, config) if ix.item_id[m.item] == "5"]


def test_a_short_question_needs_the_whole_question(index):
    ix, config = index
    champ = {r["id"]: r for r in load_named_set("champ")}
    question = champ["P_Polynomial_14"]["question"]  # "Factorize x^4+x^2+1 into terms of integer coefficients."
    words = normalize_texts(pa.array([question])).to_pylist()[0].split()
    assert 8 <= len(words) < 13, question
    host = host_texts()[2]
    (m,) = [m for m in matches_of(host[:500] + "\n" + question + "\n" + host[500:900], ix, config)
            if ix.item_id[m.item] == "P_Polynomial_14"]
    assert (m.rule, m.score, m.length) == ("short-exact", 1.0, len(words))
    cut_short = " ".join(question.split()[:-1])
    assert not [m for m in matches_of(host[:500] + "\n" + cut_short + "\n" + host[500:900], ix, config, keep_below=True)
                if ix.item_id[m.item] == "P_Polynomial_14"]


def test_a_formula_question_is_found_only_whole(index):
    ix, config = index
    champ = {r["id"]: r for r in load_named_set("champ")}
    formula = [i for i in range(len(ix.part_item)) if ix.part_whole[i] and ix.part_length[i] == 13]
    item = ix.part_item[formula[0]]
    question = champ[ix.item_id[item]]["question"]
    host = host_texts()[3]
    (m,) = [m for m in matches_of(host[:400] + "\n" + question + "\n" + host[400:800], ix, config) if m.item == item]
    assert (m.rule, m.score) == ("whole-exact", 1.0)
    words = question.split()
    most = " ".join(words[:-3])
    partial = [m for m in matches_of(host[:400] + "\n" + most + "\n" + host[400:800], ix, config, keep_below=True)
               if m.item == item]
    assert all(not m.contaminated for m in partial)


def test_the_span_is_the_copied_question_in_the_original_text(index):
    ix, config = index
    question = load_named_set("gsm8k")[0]["question"]
    host = host_texts()[4]
    text = host[:700] + "\n\n" + textwrap.fill(question.upper(), 30) + "\n\n" + host[700:1400]
    (m,) = matches_of(text, ix, config)
    assert text[m.span[0]:m.span[1]] == textwrap.fill(question.upper(), 30)
    assert (ix.item_set[m.item], ix.item_id[m.item], m.rule, m.score) == ("gsm8k", "0", "ngram-share", 1.0)


def test_cut_mode_cuts_a_short_question_whole_and_keeps_the_host(tmp_path):
    from helpers.dedup_corpora import write_corpus

    from midtrain.corpus import Manifest, read_text_shard
    from midtrain.curation.stages.decontaminate import decontaminate_corpus

    question = {r["id"]: r for r in load_named_set("champ")}["P_Polynomial_14"]["question"]
    host = host_texts()[5]
    text = host[:700] + "\n" + question + "\n" + host[700:1400]
    docs = [{"id": "short", "domain": "math", "source": "t", "text": text},
            {"id": "clean", "domain": "math", "source": "t", "text": host_texts()[6]}]
    with pytest.warns(UserWarning, match="champ"):
        report = decontaminate_corpus(write_corpus(tmp_path / "in", docs), tmp_path / "out",
                                      DecontConfig(against=(EvalSet(source="champ"),), mode="cut"))
    (match,) = report.matches
    # numbers masked, "Factorize x^8+x^4+1 into ..." is the same template: both items are named, the first reported
    assert [(e["item"], e["rule"], e["score"]) for e in match["items"]] == [
        ("P_Polynomial_14", "short-exact", 1.0), ("P_Polynomial_18", "short-exact", 1.0)]
    entry = match["items"][0]
    assert docs[0]["text"][entry["span"][0]:entry["span"][1]] == question
    kept = {r["id"]: r["text"] for s in Manifest.read(tmp_path / "out").shards
            for r in read_text_shard(tmp_path / "out" / s.path).to_pylist()}
    assert kept == {"short": host[:700] + "\n" + "\n" + host[700:1400], "clean": docs[1]["text"]}

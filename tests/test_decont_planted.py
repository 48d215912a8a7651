"""Planted GSM8K and HumanEval items are all found, whatever their case and spacing; clean text is not."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from helpers.dedup_corpora import GSM8K, HUMANEVAL, eval_file, real_documents, write_corpus

from midtrain.corpus import Manifest, read_text_shard, validate
from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet, decontaminate_corpus
from midtrain.curation.stages.decontaminate.normalize import normalize_text_reference


def gsm8k_items() -> list[dict]:
    return [json.loads(line) for line in eval_file(*GSM8K).read_text().splitlines()]


def humaneval_items() -> list[dict]:
    with gzip.open(eval_file(*HUMANEVAL), "rt") as f:
        return [json.loads(line) for line in f]


def respace(text: str, rng: random.Random) -> str:
    """Change case and whitespace the way copies on the web do: capitals, line breaks, tabs."""
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        out.append(w.upper() if r < 0.2 else w.capitalize() if r < 0.4 else w.lower() if r < 0.5 else w)
        out.append(rng.choice([" ", "  ", "\n", "\t", " \n    "]))
    return "".join(out)


def eval_sets() -> tuple[EvalSet, ...]:
    return (EvalSet(source=eval_file(*GSM8K), name="gsm8k", fields=("question",)),
            EvalSet(source=eval_file(*HUMANEVAL), name="humaneval", fields=("prompt",)))


@pytest.fixture(scope="module")
def clean_docs(sample_raw) -> list[dict]:
    return real_documents(sample_raw, per_source=40)


@pytest.fixture(scope="module")
def planted(clean_docs) -> tuple[list[dict], dict[str, str]]:
    """Clean documents plus 30 GSM8K questions and 20 HumanEval prompts pasted into real text."""
    rng = random.Random(5)
    docs, expected = list(clean_docs), {}
    gsm, he = gsm8k_items(), humaneval_items()
    picks = [("gsm8k", str(i), gsm[i]["question"]) for i in rng.sample(range(len(gsm)), 30)]
    picks += [("humaneval", he[i]["task_id"], he[i]["prompt"]) for i in rng.sample(range(len(he)), 20)]
    for k, (name, item, text) in enumerate(picks):
        host = clean_docs[k % len(clean_docs)]["text"]
        cut = len(host) // 2
        doc_id = f"planted#{k}"
        docs.append({"id": doc_id, "domain": "web", "source": "planted",
                     "text": host[:cut] + "\n\n" + respace(text, rng) + "\n\n" + host[cut:]})
        expected[doc_id] = f"contaminated={name}:{item}"
    return docs, expected


def rejected_reasons(corpus) -> dict[str, str]:
    out = {}
    for s in Manifest.read(corpus).rejected:
        for r in read_text_shard(corpus / s.path).to_pylist():
            out[r["id"]] = r["reason"]
    return out


def test_every_planted_item_is_found_and_nothing_else(planted, tmp_path):
    docs, expected = planted
    corpus = write_corpus(tmp_path / "in", docs)
    report = decontaminate_corpus(corpus, tmp_path / "out", DecontConfig(against=eval_sets()))
    assert rejected_reasons(tmp_path / "out") == expected
    assert report.kept == len(docs) - len(expected)
    assert report.rejected["decontaminate"] == {"contaminated=gsm8k": 30, "contaminated=humaneval": 20}
    assert validate(tmp_path / "out") == []


def test_report_lists_items_per_document(planted, tmp_path):
    docs, expected = planted
    report = decontaminate_corpus(write_corpus(tmp_path / "in", docs), tmp_path / "out",
                                  DecontConfig(against=eval_sets()))
    by_doc = {m["doc"]: m for m in report.matches}
    assert set(by_doc) == set(expected)
    texts = {d["id"]: d["text"] for d in docs}
    questions = {("gsm8k", str(i)): q["question"] for i, q in enumerate(gsm8k_items())}
    questions |= {("humaneval", h["task_id"]): h["prompt"] for h in humaneval_items()}
    for doc_id, reason in expected.items():
        top = by_doc[doc_id]["items"][0]
        assert f"contaminated={top['set']}:{top['item']}" == reason and top["ngrams"] >= 1
        assert (top["score"], top["rule"]) == (1.0, "ngram-share")
        start, end = top["span"]  # the copy, from its first to its last matched word, in the original text
        copied, question = normalize_text_reference(texts[doc_id][start:end]), normalize_text_reference(
            questions[top["set"], top["item"]])
        assert copied.strip() in question and len(copied) >= 0.5 * len(question.strip())


def test_clean_real_corpus_has_no_false_positives(clean_docs, tmp_path):
    report = decontaminate_corpus(write_corpus(tmp_path / "in", clean_docs), tmp_path / "out",
                                  DecontConfig(against=eval_sets()))
    assert report.matches == [] and report.kept == len(clean_docs)
    assert report.unmatchable == {"gsm8k": 0, "humaneval": 0}


def test_cut_mode_removes_only_the_overlapping_span(clean_docs, tmp_path):
    question = gsm8k_items()[0]["question"]
    host = clean_docs[0]["text"]
    before, after = host[:800], host[800:1600]
    doc = {"id": "cut#1", "domain": "web", "source": "t", "text": before + "\n" + question.upper() + "\n" + after}
    corpus = write_corpus(tmp_path / "in", clean_docs[1:5] + [doc])
    report = decontaminate_corpus(corpus, tmp_path / "out", DecontConfig(against=eval_sets(), mode="cut"))
    assert report.cut == 1 and report.kept == 5
    kept = {r["id"]: r["text"] for s in Manifest.read(tmp_path / "out").shards
            for r in read_text_shard(tmp_path / "out" / s.path).to_pylist()}
    assert kept["cut#1"].startswith(before) and kept["cut#1"].endswith(after)
    assert "JANET" not in kept["cut#1"] and "FARMERS" not in kept["cut#1"]

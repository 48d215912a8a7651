"""``--explain``: for a document, which item cut it, with its score, rule, span and matched n-grams."""

from __future__ import annotations

import pyarrow as pa
import pytest
from helpers.dedup_corpora import write_corpus
from test_decont_scoring import host_texts

from midtrain.cli import main
from midtrain.corpus import CorpusError
from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet, explain_document
from midtrain.curation.stages.decontaminate.named_sets import load_named_set
from midtrain.curation.stages.decontaminate.normalize import normalize_texts


def normalize_texts_one(text: str) -> str:
    return normalize_texts(pa.array([text])).to_pylist()[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    hosts = host_texts()
    gsm = load_named_set("gsm8k")
    half = " ".join(gsm[5]["question"].split()[:20])
    docs = [{"id": "copied", "text": hosts[0][:600] + "\n\n" + gsm[0]["question"] + "\n\n" + hosts[0][600:1200]},
            {"id": "partial", "text": hosts[1][:600] + "\n\n" + half + "\n\n" + hosts[1][600:1200]},
            {"id": "clean", "text": hosts[2]}]
    return write_corpus(tmp_path_factory.mktemp("explain") / "in",
                        [dict(d, domain="web", source="t") for d in docs]), docs


def test_explain_names_item_span_score_rule_and_ngrams(corpus):
    path, docs = corpus
    (e,) = explain_document(path, "copied", DecontConfig(against=(EvalSet(source="gsm8k"),)))
    question = load_named_set("gsm8k")[0]["question"]
    text = docs[0]["text"]
    assert (e.benchmark, e.item, e.rule, e.score, e.contaminated, e.field) == ("gsm8k", "0", "ngram-share", 1.0,
                                                                              True, "question")
    assert e.span == (602, 602 + len(question)) and e.span_text == question == text[e.span[0]:e.span[1]]
    words = normalize_texts_one(question).split()
    assert [g.words for g in e.ngrams] == [" ".join(words[k:k + 13]) for k in range(len(words) - 12)]
    assert e.ngrams[0].start == 602 and text[e.ngrams[0].start:e.ngrams[0].end].startswith("Janet’s ducks")
    assert all(g.weight > 0 for g in e.ngrams)


def test_explain_shows_an_item_below_the_threshold(corpus):
    path, _ = corpus
    (e,) = explain_document(path, "partial", DecontConfig(against=(EvalSet(source="gsm8k"),)))
    assert (e.item, e.rule, e.contaminated, len(e.ngrams)) == ("5", "below-threshold", False, 8)
    assert e.score == e.share < 0.5
    assert explain_document(path, "clean", DecontConfig(against=(EvalSet(source="gsm8k"),))) == []


def test_explain_of_an_unknown_document_names_the_corpus(corpus):
    path, _ = corpus
    with pytest.raises(CorpusError, match=r"no document with id 'nope' in its \d+ shards"):
        explain_document(path, "nope", DecontConfig(against=(EvalSet(source="gsm8k"),)))


def test_the_cli_prints_the_explanation_and_writes_nothing(corpus, capsys):
    path, _ = corpus
    assert main(["decontaminate", str(path), "--against", "gsm8k", "--explain", "copied", "partial", "clean"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "copied: contaminated by gsm8k:0; min_score 0.5"
    assert out[1].startswith("  gsm8k:0 [question] score 1.000 (share 1.000) rule ngram-share -> cut; chars 602-")
    assert out[2].startswith('    span: "Janet’s ducks lay 16 eggs')
    assert "partial: not contaminated (items found below the threshold); min_score 0.5" in out
    assert "clean: not contaminated (no item n-gram found); min_score 0.5" in out
    assert not (path.parent / "out").exists()


def test_the_cli_needs_an_output_without_explain(corpus, capsys):
    path, _ = corpus
    assert main(["decontaminate", str(path), "--against", "gsm8k"]) == 2
    assert "--output is required (unless --explain DOC_ID)" in capsys.readouterr().err

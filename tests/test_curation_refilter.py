"""``refilter``: new thresholds over stored signals give what a fresh run with them would give."""

from __future__ import annotations

import json

import pytest

from midtrain.corpus import Manifest, read_text_shard, validate
from midtrain.curation import curate, refilter
from midtrain.errors import ConfigError

PIPELINE = ["normalise", "signals", "thresholds"]
LOOSE = {"gopher_quality": {"min_alpha_words_ratio": 0.5}, "c4": {"min_num_sentences": 2}}


def decisions(corpus) -> dict[str, str | None]:
    """id -> reject step (None when kept) over the whole corpus."""
    m = Manifest.read(corpus)
    out = {}
    for s in m.shards:
        out.update(dict.fromkeys(read_text_shard(corpus / s.path).column("id").to_pylist()))
    for s in m.rejected:
        t = read_text_shard(corpus / s.path)
        out.update(zip(t.column("id").to_pylist(), t.column("step").to_pylist()))
    return out


@pytest.fixture(scope="module")
def curated(tmp_path_factory, sample_raw):
    out = tmp_path_factory.mktemp("refilter") / "curated"
    empty = out.parent / "empty.jsonl"
    empty.write_text(json.dumps({"id": "blank", "text": "  "}) + "\n")
    inputs = [(sample_raw / "python_docs.jsonl", "web"), (sample_raw / "champ.jsonl", "math"), (empty, "web")]
    curate(inputs, out, {"pipeline": PIPELINE})
    return out, inputs


def test_refilter_with_the_same_thresholds_changes_no_decision(tmp_path, curated):
    corpus, _ = curated
    report = refilter(corpus, tmp_path / "same")
    assert decisions(tmp_path / "same") == decisions(corpus)
    assert report.balanced and validate(tmp_path / "same") == []


def test_refilter_equals_a_fresh_run_with_the_new_thresholds(tmp_path, curated):
    corpus, inputs = curated
    report = refilter(corpus, tmp_path / "loose", LOOSE)
    fresh = curate(inputs, tmp_path / "fresh", {"pipeline": [*PIPELINE[:2], {"thresholds": LOOSE}]})
    assert decisions(tmp_path / "loose") == decisions(tmp_path / "fresh")
    assert report.kept_documents == fresh.kept_documents > curate_kept(corpus)
    assert report.balanced


def curate_kept(corpus) -> int:
    return sum(s.rows for s in Manifest.read(corpus).shards)


def test_documents_rejected_before_the_thresholds_are_carried_over(tmp_path, curated):
    corpus, _ = curated
    refilter(corpus, tmp_path / "off", {"gopher_quality": {"min_doc_words": None}, "language": False})
    assert decisions(tmp_path / "off")["blank"] == "normalise"


def test_unknown_threshold_names_the_key(tmp_path, curated):
    corpus, _ = curated
    with pytest.raises(ConfigError, match="gopher_quality"):
        refilter(corpus, tmp_path / "bad", {"gopher_quality": {"min_words": 3}})

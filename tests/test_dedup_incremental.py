"""Deduplicating new data against a stored index equals recomputing everything together."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from helpers.dedup_corpora import edit_words, real_documents, write_corpus

from midtrain.corpus import Manifest, read_text_shard
from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus
from midtrain.errors import ConfigError


def removed(corpus) -> dict[str, str]:
    manifest = Manifest.read(corpus)
    out = {}
    for s in manifest.rejected:
        for r in read_text_shard(corpus / s.path).to_pylist():
            out[r["id"]] = r["reason"]
    return out


@pytest.fixture(scope="module")
def old_and_new(sample_raw) -> tuple[list[dict], list[dict]]:
    docs = real_documents(sample_raw, per_source=10)
    old = docs[:24]
    new = docs[24:] + [{**d, "id": f"new-copy#{k}", "text": edit_words(d["text"], 0.005, seed=k)}
                       for k, d in enumerate(old[::4])]
    new += [{**new[0], "id": "new-copy#inside-new"}, {**old[1], "id": "new-copy#exact"}]
    return old, new


def test_incremental_equals_recomputed(old_and_new, tmp_path):
    old, new = old_and_new
    config = DedupConfig()
    dedup_corpus(write_corpus(tmp_path / "old", old), tmp_path / "old_clean", config, write_index=tmp_path / "index")
    dedup_corpus(write_corpus(tmp_path / "new", new), tmp_path / "incremental", config,
                 against_index=tmp_path / "index")
    # recomputed: old and new together, old documents preferred (as the index's always are)
    together = [{**d, "quality_score": 1.0} for d in old] + [{**d, "quality_score": 0.0} for d in new]
    dedup_corpus(write_corpus(tmp_path / "all", together), tmp_path / "recomputed", config)
    incremental = removed(tmp_path / "incremental")
    assert incremental == removed(tmp_path / "recomputed")
    assert incremental["new-copy#exact"] == f"duplicate_of={old[1]['id']}"
    assert len(incremental) == len(old[::4]) + 2


def test_index_grows_with_each_run(old_and_new, tmp_path):
    old, new = old_and_new
    config = DedupConfig()
    dedup_corpus(write_corpus(tmp_path / "old", old), tmp_path / "o", config, write_index=tmp_path / "i1")
    report = dedup_corpus(write_corpus(tmp_path / "new", new), tmp_path / "n", config, against_index=tmp_path / "i1",
                          write_index=tmp_path / "i2")
    again = dedup_corpus(write_corpus(tmp_path / "again", new), tmp_path / "a", config, against_index=tmp_path / "i2")
    assert again.kept == 0 and report.kept > 0


def test_index_with_other_settings_is_refused(old_and_new, tmp_path):
    old, _ = old_and_new
    dedup_corpus(write_corpus(tmp_path / "old", old), tmp_path / "o", DedupConfig(), write_index=tmp_path / "i")
    with pytest.raises(ConfigError, match="differ from the index"):
        dedup_corpus(tmp_path / "old", tmp_path / "x", DedupConfig(ngram=3), against_index=tmp_path / "i")


def test_index_of_the_old_signature_scheme_is_refused(old_and_new, tmp_path):
    # an index written before issue 19: settings without a scheme, signatures (a·x + b) mod (2^61 − 1)
    old, _ = old_and_new
    dedup_corpus(write_corpus(tmp_path / "old", old), tmp_path / "o", DedupConfig(), write_index=tmp_path / "i")
    meta_path = tmp_path / "i" / "index.json"
    meta = json.loads(meta_path.read_text())
    del meta["settings"]["scheme"]
    meta["fingerprint"] = hashlib.sha256(json.dumps(meta["settings"], sort_keys=True).encode()).hexdigest()[:16]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=re.escape(f"{meta_path}: the index holds MinHash signatures of the "
                                                    "'mod-mersenne-61' scheme") + ".*rebuild the index"):
        dedup_corpus(tmp_path / "old", tmp_path / "x", DedupConfig(), against_index=tmp_path / "i")
    assert not (tmp_path / "x").exists()

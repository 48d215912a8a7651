"""The dedup stages run on datatrove's Ray executor and give the same corpus as the local one."""

from __future__ import annotations

import pytest
from helpers.dedup_corpora import real_documents, write_corpus

from midtrain.corpus import Manifest
from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus

ray = pytest.importorskip("ray")


def test_ray_executor_equals_local(sample_raw, tmp_path):
    docs = real_documents(sample_raw, per_source=6)
    corpus = write_corpus(tmp_path / "in", docs + [{**d, "id": d["id"] + "/copy"} for d in docs[::4]],
                          shards_per_domain=1)
    dedup_corpus(corpus, tmp_path / "local", DedupConfig(bands=4, rows=8))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = dedup_corpus(corpus, tmp_path / "ray", DedupConfig(bands=4, rows=8), executor="ray", workers=2)
    finally:
        ray.shutdown()
    local, remote = Manifest.read(tmp_path / "local"), Manifest.read(tmp_path / "ray")
    assert [(s.path, s.checksum) for s in local.shards + local.rejected] == \
           [(s.path, s.checksum) for s in remote.shards + remote.rejected]
    assert report.rejected["exact_dedup"]["duplicate_of"] == len(docs[::4])

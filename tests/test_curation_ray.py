"""The same job on a local Ray cluster writes the same corpus, byte for byte, as the local executor."""

from __future__ import annotations

import pytest

from midtrain.corpus import Manifest, validate
from midtrain.curation import curate

ray = pytest.importorskip("ray")

LIGHT = {"pipeline": ["normalise"], "output": {"shard_size_mb": 0.3}}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_run_equals_local_run(tmp_path, sample_raw, local_ray):
    inputs = [(sample_raw / "python_docs.jsonl", "web"), (sample_raw / "champ.jsonl", "math"),
              (sample_raw / "python_stdlib.jsonl", "code")]
    local = curate(inputs, tmp_path / "local", LIGHT, workers=1)
    on_ray = curate(inputs, tmp_path / "ray", LIGHT, workers=2, executor="ray")
    assert validate(tmp_path / "ray") == []
    m_local, m_ray = Manifest.read(tmp_path / "local"), Manifest.read(tmp_path / "ray")
    assert [(s.path, s.checksum) for s in m_ray.shards] == [(s.path, s.checksum) for s in m_local.shards]
    assert [(s.path, s.checksum) for s in m_ray.rejected] == [(s.path, s.checksum) for s in m_local.rejected]
    assert on_ray.to_dict()["totals"] == local.to_dict()["totals"]
    assert sorted(p.name for p in (tmp_path / "ray" / "job" / "completions").iterdir()) == ["00000", "00001", "00002"]

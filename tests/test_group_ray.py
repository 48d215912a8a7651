"""The group stage runs on datatrove's Ray executor and writes the same shards as the local one (slow: starts Ray)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from midtrain.corpus import CorpusWriter, Manifest
from midtrain.curation.stages.group import GroupConfig, group_corpus

ray = pytest.importorskip("ray")

FILES = {"shop/__init__.py": "from .core import Engine\n", "shop/core.py": "from .util import helper\n",
         "shop/util.py": "import os\n", "tool/main.go": 'package main\n\nimport "tool/lib"\n',
         "tool/lib/lib.go": "package lib\n", "tool/lib/lib.h": '#include "lib/x.h"\n'}


@pytest.mark.slow
def test_ray_executor_equals_local(tmp_path):
    writer = CorpusWriter(tmp_path / "in", "text")
    for start in (0, 3):  # two shards
        ids = list(FILES)[start:start + 3]
        writer.write_table("code", pa.table({"id": ids, "text": [FILES[i] for i in ids], "domain": ["code"] * 3,
                                             "source": ["t"] * 3}))
    writer.finish()
    configs = {"repo": GroupConfig(), "similar": GroupConfig(group_by="similar", bands=10, num_perm=20)}
    for name, config in configs.items():
        group_corpus(tmp_path / "in", tmp_path / f"local-{name}", config)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name, config in configs.items():
            group_corpus(tmp_path / "in", tmp_path / f"ray-{name}", config, executor="ray", workers=2)
    finally:
        ray.shutdown()
    for name in configs:
        local, remote = Manifest.read(tmp_path / f"local-{name}"), Manifest.read(tmp_path / f"ray-{name}")
        assert [(s.path, s.checksum) for s in local.shards] == [(s.path, s.checksum) for s in remote.shards]

"""torchrun with 2 processes (gloo, CPU): ranks partition the global order exactly, also across a resume."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from midtrain.loaders import build_loader

from helpers.loader_corpora import make_token_corpus, row_digests

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


def test_torchrun_two_ranks_cover_the_global_order_once(tmp_path):
    corpus = make_token_corpus(tmp_path / "tok", docs_per_shard=200)
    out = tmp_path / "gathered.json"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29531", str(Path(__file__).with_name("dist_loader_check.py")),
                             str(corpus), str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    gathered = sorted(json.loads(out.read_text()), key=lambda g: g["rank"])
    assert gathered[0]["state"] == gathered[1]["state"]
    planned = [row_digests(b) for b in itertools.islice(
        build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=11, packing="best_fit", window=128), 10)]
    for i in range(10):
        assert gathered[0]["rows"][i] + gathered[1]["rows"][i] == planned[i]
    rows = [r for g in gathered for batch in g["rows"] for r in batch]
    assert len(rows) == len(set(rows)) == 10 * 8


def test_torchrun_context_parallel_group_reads_the_same_sequences(tmp_path):
    """Two gloo ranks with cp_degree=2: equal fingerprints per step, and their slices together are
    exactly the rows one process reads."""
    corpus = make_token_corpus(tmp_path / "tok", docs_per_shard=200)
    out = tmp_path / "gathered.json"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29533", str(Path(__file__).with_name("dist_loader_check.py")),
                             str(corpus), str(out), "cp"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    gathered = sorted(json.loads(out.read_text()), key=lambda g: g["rank"])
    full = list(itertools.islice(build_loader(corpus, MIX, seq_len=256, batch_size=2, seed=5), 4))
    for step, batch in enumerate(full):
        a, b = (g["batches"][step] for g in gathered)
        assert a["fingerprint"] == b["fingerprint"] and a["shape"] == b["shape"] == [2, 128]
        assert not set(a["tokens"]) & set(b["tokens"])
        expected = {}
        for row in range(2):
            for d, p, i, l in zip(*(batch[k][row].tolist() for k in ("document_ids", "position_ids", "input_ids",
                                                                     "labels"))):
                expected[f"{row}:{d}:{p}"] = [i, l]
        assert {**a["tokens"], **b["tokens"]} == expected

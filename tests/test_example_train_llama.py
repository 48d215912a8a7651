"""examples/train_llama.py on CPU: torchrun with 2 gloo ranks, a tiny Llama, exact and elastic resume.

Every row each rank consumed is fingerprinted by the example itself; the union over ranks must be
the planned global order (no duplicate, none skipped), and a resume on 1 process at the same
global batch size must continue that order exactly. The GPU run of the same script is in
benchmarks/gpu/ (CI has no GPU).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from midtrain.loaders import build_loader
from midtrain.mixers import load_schedule

from helpers.loader_corpora import make_token_corpus

pytest.importorskip("transformers")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_llama.py"
MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
SEQ, TOKENS = 64, 6 * 4 * 64


def planned_rows(corpus, n_batches: int) -> list[list[str]]:
    sched = load_schedule(MIX, total_tokens=TOKENS)
    loader = build_loader(corpus, sched, seq_len=SEQ, batch_size=4, seed=5, compact=True)
    out = []
    for batch in itertools.islice(loader, n_batches):
        ids, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
        out.append([hashlib.sha256(ids[r].astype(np.int64).tobytes() + labels[r].astype(np.int64).tobytes())
                    .hexdigest()[:16] for r in range(4)])
    return out


def run_example(args: list[str], nproc: int, cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(EXAMPLE.parents[1]))
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
               "29541", str(EXAMPLE), *args]
    else:
        cmd = [sys.executable, str(EXAMPLE), *args]
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_two_ranks_then_elastic_resume_on_one(tmp_path):
    corpus = make_token_corpus(tmp_path / "tok", docs_per_shard=60, vocab=512)
    common = ["--corpus", str(corpus), "--schedule", json.dumps(MIX), "--tokens", str(TOKENS), "--seq-len", str(SEQ),
              "--model", "tiny", "--attention", "sdpa", "--seed", "5", "--device", "cpu"]
    run_example([*common, "--batch-size", "2", "--workers", "1", "--stop-after", "3",
                 "--save-state", "state.json", "--fingerprints", "before"], nproc=2, cwd=tmp_path)
    run_example([*common, "--batch-size", "4", "--workers", "0", "--resume-state", "state.json",
                 "--fingerprints", "after", "--out", "result.json"], nproc=1, cwd=tmp_path)
    ranks = [json.loads((tmp_path / f"before.rank{r}.json").read_text())["rows"] for r in range(2)]
    after = json.loads((tmp_path / "after.rank0.json").read_text())
    planned = planned_rows(corpus, 6)
    assert [ranks[0][i] + ranks[1][i] for i in range(3)] == planned[:3]
    assert after["start_step"] == 3 and after["rows"] == planned[3:]
    consumed = [r for batch in planned for r in batch]
    assert len(consumed) == len(set(consumed))
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["steps"] == 3 and result["log"][-1]["loss"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_flex_attention_run_on_gpu(tmp_path):
    corpus = make_token_corpus(tmp_path / "tok", docs_per_shard=100, vocab=2048)
    run_example(["--corpus", str(corpus), "--schedule", json.dumps(MIX), "--tokens", str(40 * 8 * 256),
                 "--seq-len", "256", "--batch-size", "8", "--model", "tiny", "--attention", "flex",
                 "--out", "r.json"], nproc=1, cwd=tmp_path)
    assert json.loads((tmp_path / "r.json").read_text())["steps"] == 40

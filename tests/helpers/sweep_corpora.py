"""Helpers for the sweep tests: tiny token corpora with chosen domain sizes, and results from a planted law."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from midtrain.corpus import CorpusWriter
from midtrain.sweep.spec import RunResult, SweepSpec, append_result, make_run, write_sweep


def make_sized_corpus(out: Path, sizes: dict[str, int], *, doc_tokens: int = 500, seed: int = 0) -> Path:
    """A token corpus whose domain ``d`` holds about ``sizes[d]`` tokens in documents of ``doc_tokens``."""
    rng = np.random.default_rng(seed)
    w = CorpusWriter(out, "token", tokenizer={"fingerprint": "test", "name": "test", "vocab_size": 1000,
                                              "bos_id": None, "eos_id": 0, "dtype": "uint16"})
    for d, n in sizes.items():
        docs = max(1, n // doc_tokens)
        off = np.arange(docs + 1, dtype=np.int64) * doc_tokens
        toks = rng.integers(1, 1000, int(off[-1])).astype(np.uint16)
        toks[off[1:] - 1] = 0
        w.write_tokens(d, [f"{d}/{i}" for i in range(docs)], toks, off)
    w.finish()
    return out


def dml_loss(weights: np.ndarray, c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Data Mixing Laws per target: ``L_i = c_i + exp(sum_j t_ij w_j)`` (rows of ``weights`` are mixtures)."""
    return c[None, :] + np.exp(weights @ t.T)


C = np.array([2.0, 1.5, 3.0])
T = np.array([[-1.2, 0.3, 0.4, 0.1], [0.2, -2.0, 0.5, 0.0], [0.3, 0.2, -0.8, 0.3]])
"""A planted Data Mixing Law: 3 targets (rows) over 4 domains; each target falls with its own domain."""


def mixtures(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(4, 0.8), n)


DOMAINS = ("code", "math", "web", "wiki")


def planted_sweep(directory, *, n_fit=40, n_held=16, noise=0.002, law="dml", extra_lines=()):
    """A sweep folder whose results follow a planted law (targets code, math, web over 4 domains)."""
    rng = np.random.default_rng(5)
    W = mixtures(n_fit + n_held, 6).round(4)
    W[:, -1] = 1 - W[:, :-1].sum(axis=1)
    W = np.abs(W) / np.abs(W).sum(axis=1, keepdims=True)
    runs = [make_run(role="fit" if i < n_fit else "heldout", name=f"run-{i:03d}", weights=dict(zip(DOMAINS, w)),
                     seed=0, proxy="s14m") for i, w in enumerate(W)]
    prior = {d: 0.25 for d in DOMAINS}
    runs += [make_run(role="anchor", name="prior", weights=prior, seed=s, proxy="s14m") for s in range(3)]
    spec = SweepSpec(version=1, corpus="/c", heldout="/h", mode="pretrain", domains=DOMAINS, prior=prior,
                     domain_tokens={d: 10**9 for d in DOMAINS}, tokens=10**6, base_tokens=0, max_epochs=4.0, seed=0,
                     runs=tuple(runs))
    write_sweep(directory, spec)
    for r in runs:
        w = np.array([[r.weights[d] for d in DOMAINS]])
        if law == "dml":
            losses = dml_loss(w, C, T)[0]
        else:
            b = np.array([[-0.05, 0, 0, -0.02], [0, -0.04, 0, 0], [0, 0, -0.03, -0.01]])
            losses = 2.0 + (np.log(w + 1e-3) @ b.T)[0]
        losses = losses + rng.normal(0, noise, 3)
        append_result(directory, RunResult(run_id=r.run_id, seed=r.seed, proxy=r.proxy, weights=r.weights,
                                           heldout_loss={"code": losses[0], "math": losses[1], "web": losses[2],
                                                         "wiki": 3.0},
                                           train_loss=2.0, tokens=10**6, seconds=1.0, step_time_ms=1.0))
    with open(directory / "results.jsonl", "a") as f:
        for line in extra_lines:
            f.write(line + "\n")
    return spec

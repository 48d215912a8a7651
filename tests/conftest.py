"""Shared fixtures: small real-text corpora built from the quickstart sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from midtrain.corpus import CorpusWriter
from midtrain.quickstart.sample import build_sample


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory) -> Path:
    """The quickstart's raw sample (real text: Python docs, stdlib code, mpmath, CHAMP)."""
    out = tmp_path_factory.mktemp("sample_raw")
    build_sample(out, code_bytes=400_000)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def small_token_corpus(tmp_path) -> Path:
    """A token corpus with two domains and known contents (uint16 ids)."""
    rng = np.random.default_rng(0)
    writer = CorpusWriter(tmp_path / "tok", "token",
                          tokenizer={"fingerprint": "test", "vocab_size": 1000, "bos_id": None, "eos_id": 0,
                                     "dtype": "uint16", "name": "test"})
    for domain, n_docs in (("web", 50), ("code", 30)):
        for _ in range(2):
            lengths = rng.integers(1, 300, size=n_docs)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            tokens = rng.integers(1, 1000, size=int(offsets[-1])).astype(np.uint16)
            ids = [f"{domain}-{i}" for i in range(n_docs)]
            writer.write_tokens(domain, ids, tokens, offsets)
    writer.finish()
    return tmp_path / "tok"

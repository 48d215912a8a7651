"""Helpers for the loader tests: a token corpus with web-like lengths, stream fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from midtrain.corpus import CorpusWriter


def make_token_corpus(out: Path, *, docs_per_shard: int = 400, shards: int = 2, seed: int = 0,
                      domains=("code", "math", "web"), vocab: int = 50_000) -> Path:
    """Documents with web-like lengths (lognormal(ln 450, σ 1.2) tokens, clipped to [2, 20,000]), EOS=0 at the end."""
    rng = np.random.default_rng(seed)
    w = CorpusWriter(out, "token", tokenizer={"fingerprint": "test", "name": "test", "vocab_size": vocab,
                                              "bos_id": None, "eos_id": 0, "dtype": "uint16"})
    for d in domains:
        for s in range(shards):
            lengths = np.clip(rng.lognormal(np.log(450), 1.2, docs_per_shard), 2, 20_000).astype(np.int64)
            off = np.concatenate([[0], np.cumsum(lengths)])
            toks = rng.integers(1, vocab, int(off[-1])).astype(np.uint16)
            toks[off[1:] - 1] = 0
            w.write_tokens(d, [f"{d}/{s}/{i}" for i in range(docs_per_shard)], toks, off)
    w.finish()
    return out


def batch_digest(batch) -> str:
    h = hashlib.sha256()
    for key in ("input_ids", "labels", "position_ids", "document_ids", "cu_seqlens", "domain"):
        h.update(batch[key].numpy().tobytes())
    return h.hexdigest()[:16]


def row_digests(batch) -> list[str]:
    """One fingerprint per sequence (row): its tokens, labels and domain."""
    ids, labels, dom = batch["input_ids"].numpy(), batch["labels"].numpy(), batch["domain"].numpy()
    return [hashlib.sha256(ids[r].tobytes() + labels[r].tobytes() + bytes([int(dom[r])])).hexdigest()[:16]
            for r in range(ids.shape[0])]

"""Documents as flat token arrays: BOS/EOS insertion and cutting a stream of documents into shards.

A batch of documents is ``(flat, lengths)``: every document's ids back to back and one length
each. These functions turn that into a token shard's ``(tokens, offsets)`` with numpy only (no
per-token or per-document Python); the tests hold a plain-Python twin of each.
"""

from __future__ import annotations

import numpy as np


def add_special_tokens(flat: np.ndarray, lengths: np.ndarray, *, bos_id: int | None, eos_id: int | None,
                       dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens, offsets)`` with ``bos_id`` before and ``eos_id`` after every document (``None``: none).

    ``offsets`` has one entry per document plus one (int64, starting at 0), as token shards store them.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    extra = (bos_id is not None) + (eos_id is not None)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths + extra, out=offsets[1:])
    if not extra:
        return flat.astype(dtype, copy=False), offsets
    tokens = np.empty(int(offsets[-1]), dtype=dtype)
    is_text = np.ones(len(tokens), dtype=bool)
    if bos_id is not None:
        starts = offsets[:-1]
        tokens[starts] = bos_id
        is_text[starts] = False
    if eos_id is not None:
        ends = offsets[1:] - 1
        tokens[ends] = eos_id
        is_text[ends] = False
    tokens[is_text] = flat
    return tokens, offsets


def shard_cuts(doc_tokens: np.ndarray, budget: int) -> np.ndarray:
    """Document indices where each shard starts, packing whole documents greedily under ``budget`` tokens.

    A shard takes documents while its total stays within ``budget``; a document bigger than the
    budget gets a shard of its own, whole (documents are never split). Returns the start index of
    every shard, so shard ``k`` is documents ``cuts[k]:cuts[k + 1]`` (last one to the end).
    One ``searchsorted`` per shard, not per document.
    """
    if budget < 1:
        raise ValueError(f"shard budget must be at least 1 token, got {budget}")
    ends = np.cumsum(np.asarray(doc_tokens, dtype=np.int64))
    cuts = []
    start, base, n = 0, 0, len(ends)
    while start < n:
        cuts.append(start)
        # First document whose end would pass the budget; at least one document per shard.
        stop = int(np.searchsorted(ends, base + budget, side="right"))
        stop = max(stop, start + 1)
        base = int(ends[stop - 1])
        start = stop
    return np.asarray(cuts, dtype=np.int64)

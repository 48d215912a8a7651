"""Weight changes that reach running loader workers in place: the mixture feed.

An adaptive policy (or ``set_weights``) logs new weights in the main process, to apply from a
block that no worker has planned yet (``block_from = current block + 1 + mixture_lookahead``,
see :class:`~midtrain.loaders.config.LoaderConfig`). The workers are already running and planning
blocks ahead; the feed is how they learn of the change without being restarted:

- :class:`SharedFeed` (workers): a small ring of log entries in shared memory (one ``int64``
  ``block_from`` and one ``float64`` weight vector per entry, 256 entries) under a header
  ``[sequence, count]``. The main process is the only writer: it makes the sequence odd, writes
  the entry, raises the count and makes the sequence even again (a seqlock). A worker reads the
  entries it has not seen before planning each block, and retries while the sequence is odd or
  changed under it, so it never sees a torn entry.
- :class:`LocalFeed` (no workers): the same interface over a Python list.

``since(known)`` returns the entries from log index ``known`` on, or ``None`` when some of them
were already overwritten (a worker more than 256 entries behind): that worker then marks the rest
of its batches stale and the loader restarts it, so a lost entry costs speed, never exactness.
The feed is created with each ``DataLoader`` iteration (``base``: the log length its workers were
given), so a restart (``load_state_dict``, the stale fallback) starts from a fresh one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

FEED_CAPACITY = 256
"""Entries the shared ring keeps: a worker may fall this many weight changes behind between two blocks."""


class LocalFeed:
    """The feed of the in-process loader: the entries published since it was made, in a list."""

    def __init__(self, base: int) -> None:
        self.base = base
        self._entries: list[tuple[int, list[float]]] = []

    def publish(self, block_from: int, weights: np.ndarray) -> None:
        self._entries.append((int(block_from), np.asarray(weights, np.float64).tolist()))

    def since(self, known: int) -> list[tuple[int, list[float]]] | None:
        if known < self.base:
            return None
        return self._entries[known - self.base:]


class SharedFeed:
    """Log entries published by the main process to its workers through shared memory."""

    def __init__(self, domains: int, base: int, capacity: int = FEED_CAPACITY) -> None:
        self.capacity = capacity
        # [sequence (odd while the main process writes), count (log entries published, from 0)]
        self._header = torch.tensor([0, base], dtype=torch.int64)
        self._blocks = torch.zeros(capacity, dtype=torch.int64)
        self._weights = torch.zeros((capacity, domains), dtype=torch.float64)
        for t in (self._header, self._blocks, self._weights):
            # inherited by forked workers, passed by file descriptor to spawned ones
            t.share_memory_()
        self.base = base
        self._local()

    def _local(self) -> None:
        self._np_header = self._header.numpy()
        self._np_blocks = self._blocks.numpy()
        self._np_weights = self._weights.numpy()

    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in ("capacity", "_header", "_blocks", "_weights", "base")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local()

    # -- main process (the only writer) ------------------------------------------------------
    def publish(self, block_from: int, weights: np.ndarray) -> None:
        """Append one log entry (the main process only)."""
        header = self._np_header
        count = int(header[1])
        slot = count % self.capacity
        header[0] += 1  # odd: an entry is being written
        self._np_blocks[slot] = block_from
        self._np_weights[slot] = weights
        header[1] = count + 1
        header[0] += 1  # even: consistent again

    # -- workers -----------------------------------------------------------------------------
    def since(self, known: int) -> list[tuple[int, list[float]]] | None:
        """Entries ``known``, ``known + 1``, ... published so far; ``None`` if some were overwritten."""
        header = self._np_header
        while True:
            seq = int(header[0])
            if seq & 1:
                time.sleep(0)
                continue
            count = int(header[1])
            entries: list[tuple[int, list[float]]] | None
            if count == known:
                entries = []
            elif count - known > self.capacity or known < self.base:
                entries = None
            else:
                slots = [i % self.capacity for i in range(known, count)]
                entries = [(int(self._np_blocks[s]), self._np_weights[s].tolist()) for s in slots]
            if int(header[0]) == seq:
                return entries

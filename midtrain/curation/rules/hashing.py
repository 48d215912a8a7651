"""One polynomial string hash over code points, in Python (for word tables) and compiled (for spans).

``h(s) = sum((ord(c) + 1) * BASE ** (len(s) - 1 - i))`` wrapping mod 2**64, so that
``h(ab) = h(a) * BASE ** len(b) + h(b)``: n-gram hashes are composed from word hashes
(gopher_repetition.py) without re-reading characters, and word tables become sorted hash arrays that
a kernel searches with ``in_set``.
"""

from __future__ import annotations

from typing import Iterable

import numba as nb
import numpy as np

from midtrain.curation.rules.charclass import ASCII_CASE_BIT, CAPITAL_A, CAPITAL_Z

BASE = np.uint64(0x100000001B3)  # the 64-bit FNV prime: odd, so powers never collapse to 0


def hash_str(s: str) -> np.uint64:
    """``hash_span`` of a Python string."""
    h = 0
    for ch in s:
        h = (h * int(BASE) + ord(ch) + 1) % (1 << 64)
    return np.uint64(h)


def hash_set(words: Iterable[str]) -> np.ndarray:
    """The sorted, distinct hashes of ``words``: a table ``in_set`` searches."""
    return np.unique(np.array([hash_str(w) for w in words], dtype=np.uint64))


@nb.njit(cache=True, nogil=True, inline="always")
def hash_span(cps, s, e):
    """Hash of code points ``cps[s:e]``."""
    h = np.uint64(0)
    for i in range(s, e):
        h = h * BASE + np.uint64(cps[i]) + np.uint64(1)
    return h


@nb.njit(cache=True, nogil=True, inline="always")
def lower_hash_span(cps, s, e):
    """Hash of ``cps[s:e]`` with ASCII capitals lowered (the word tables are ASCII)."""
    h = np.uint64(0)
    for i in range(s, e):
        c = cps[i]
        if CAPITAL_A <= c <= CAPITAL_Z:
            c |= ASCII_CASE_BIT
        h = h * BASE + np.uint64(c) + np.uint64(1)
    return h


@nb.njit(cache=True, nogil=True, inline="always")
def in_set(hashes, h):
    """Whether hash ``h`` is in the sorted table ``hashes``."""
    k = np.searchsorted(hashes, h)
    return k < len(hashes) and hashes[k] == h

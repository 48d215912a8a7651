"""Compiled helpers over ``[start, end)`` spans of a batch's code points, shared by the rule families.

Lines are cut as ``str.splitlines()`` cuts them (every ``LINEBREAK`` character ends a line, "\\r\\n" is
one break, no empty line after a final break); stripping is ``str.strip()`` (``WS``). Substring
patterns are flattened into one code-point array plus offsets (``pattern_table``) so a kernel can take
a whole list of them as two arguments.
"""

from __future__ import annotations

from typing import Sequence

import numba as nb
import numpy as np

from midtrain.curation.rules.charclass import (ASCII_CASE_BIT, CAPITAL_A, CAPITAL_Z, CARRIAGE_RETURN, LINE_FEED,
                                               LINEBREAK, WS)


def pattern_table(patterns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code points of all patterns end to end, offsets): pattern ``p`` is ``flat[offsets[p]:offsets[p + 1]]``."""
    if not all(patterns):
        raise ValueError(f"pattern_table: empty pattern in {list(patterns)!r}")
    flat = np.array([ord(c) for p in patterns for c in p], dtype=np.uint32)
    offsets = np.cumsum([0] + [len(p) for p in patterns]).astype(np.int64)
    return flat, offsets


@nb.njit(cache=True, nogil=True, inline="always")
def line_end(cps, flags, i, b):
    """End of the line that starts at ``i`` (the first line break at or after it, or ``b``)."""
    while i < b and not flags[cps[i]] & LINEBREAK:
        i += 1
    return i


@nb.njit(cache=True, nogil=True, inline="always")
def next_line(cps, j, b):
    """Start of the line after the one ending at ``j`` ("\\r\\n" is one break)."""
    if j < b and cps[j] == CARRIAGE_RETURN and j + 1 < b and cps[j + 1] == LINE_FEED:
        j += 1
    return j + 1


@nb.njit(cache=True, nogil=True, inline="always")
def strip(cps, flags, s, e):
    """``[s, e)`` without leading and trailing whitespace, as ``str.strip()``."""
    while s < e and flags[cps[s]] & WS:
        s += 1
    while e > s and flags[cps[e - 1]] & WS:
        e -= 1
    return s, e


@nb.njit(cache=True, nogil=True, inline="always")
def next_chunk(cps, flags, i, e):
    """``[start, end)`` of the first whitespace-free run at or after ``i`` in ``[i, e)`` (as ``str.split()``
    finds them); ``start == end == e`` when there is none."""
    while i < e and flags[cps[i]] & WS:
        i += 1
    j = i
    while j < e and not flags[cps[j]] & WS:
        j += 1
    return i, j


@nb.njit(cache=True, nogil=True, inline="always")
def count_code_point(cps, a, b, c):
    """How many times code point ``c`` occurs in ``[a, b)``."""
    n = 0
    for i in range(a, b):
        if cps[i] == c:
            n += 1
    return n


@nb.njit(cache=True, nogil=True, inline="always")
def has_code_point(cps, a, b, c):
    """Whether code point ``c`` occurs in ``[a, b)``."""
    for i in range(a, b):
        if cps[i] == c:
            return True
    return False


@nb.njit(cache=True, nogil=True, inline="always")
def matches_at(cps, i, flat, p0, p1):
    """Whether the pattern ``flat[p0:p1]`` occurs at ``i``, exactly."""
    for j in range(p1 - p0):
        if cps[i + j] != flat[p0 + j]:
            return False
    return True


@nb.njit(cache=True, nogil=True, inline="always")
def _matches_at_ci(cps, i, flat, p0, p1):
    """Whether the pattern ``flat[p0:p1]`` occurs at ``i``, ASCII capitals of the text lowered."""
    for j in range(p1 - p0):
        c = cps[i + j]
        if CAPITAL_A <= c <= CAPITAL_Z:
            c |= ASCII_CASE_BIT
        if c != flat[p0 + j]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def contains_ci(cps, s, e, flat, offsets):
    """Whether ``[s, e)``, ASCII-lowercased, contains any of the patterns of a ``pattern_table``.

    One pass over the span; at each position only the patterns whose first character matches are compared
    further (the patterns are lower-case)."""
    n_patterns = len(offsets) - 1
    for i in range(s, e):
        c = cps[i]
        if CAPITAL_A <= c <= CAPITAL_Z:
            c |= ASCII_CASE_BIT
        for p in range(n_patterns):
            p0, p1 = offsets[p], offsets[p + 1]
            if flat[p0] == c and i + (p1 - p0) <= e and _matches_at_ci(cps, i, flat, p0, p1):
                return True
    return False


@nb.njit(cache=True, nogil=True)
def duplicates(hashes, sizes, n):
    """(duplicate items, their total size) among the first ``n`` items: every repeat after the first."""
    order = np.argsort(hashes[:n])
    dups = 0
    chars = 0
    for k in range(1, n):
        if hashes[order[k]] == hashes[order[k - 1]]:
            dups += 1
            chars += sizes[order[k]]
    return dups, chars

"""Per-text counts of characters, letters, Latin characters and binary-looking characters in one pass.

The domain labeller needs, per window, the share of control bytes and U+FFFD among characters and
the share of Latin letters among letters (``domain.script_signals``). Four Arrow kernels (a length
and three regex counts, two of them Unicode classes) cost about 0.25 ms per 1 KB window; this numba
kernel decodes UTF-8 once and looks every code point up in a table, in a few microseconds. The
table is built from ``unicode_tables`` (generated from Arrow's own regular expressions), so the
counts equal ``pc.count_substring_regex(texts, r"\\p{L}")`` and ``r"\\p{Latin}"``; the tests check
that against Arrow on real and random text.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array, string_buffers
from midtrain.curation.labels.unicode_tables import LATIN_RANGES, LETTER_RANGES

LETTER = np.uint8(1)
LATIN = np.uint8(2)


@functools.lru_cache(maxsize=1)
def code_point_classes() -> np.ndarray:
    """One ``uint8`` per code point (1.1 MB): bit ``LETTER`` for ``\\p{L}``, bit ``LATIN`` for ``\\p{Latin}``."""
    table = np.zeros(0x110000, np.uint8)
    for bit, ranges in ((LETTER, LETTER_RANGES), (LATIN, LATIN_RANGES)):
        for first, last in ranges:
            table[first:last + 1] |= bit
    return table


@numba.njit(cache=True)
def _count_classes(data: np.ndarray, offsets: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = (characters, letters, Latin characters, binary characters)`` of text ``i``.

    Binary: control bytes other than tab, newline, vertical tab, form feed and carriage return, DEL,
    and U+FFFD (the replacement character). A byte that cannot start a UTF-8 sequence, or a sequence
    cut short, counts as one character of no class (Arrow strings are valid UTF-8; this only keeps
    the kernel in bounds).
    """
    for i in range(len(offsets) - 1):
        j, hi = offsets[i], offsets[i + 1]
        chars = letters = latin = binary = 0
        while j < hi:
            b = data[j]
            if b < 0x80:
                cp = b
                j += 1
            else:
                if b >= 0xF0:
                    width, cp = 4, b & 0x07
                elif b >= 0xE0:
                    width, cp = 3, b & 0x0F
                elif b >= 0xC0:
                    width, cp = 2, b & 0x1F
                else:
                    width, cp = 1, -1
                if width > 1 and j + width <= hi:
                    for k in range(1, width):
                        cp = (cp << 6) | (data[j + k] & 0x3F)
                else:
                    width, cp = 1, -1
                j += width
            chars += 1
            if cp < 0 or cp >= 0x110000:
                continue
            c = table[cp]
            letters += c & 1
            latin += (c >> 1) & 1
            if (cp < 32 and not 9 <= cp <= 13) or cp == 127 or cp == 0xFFFD:
                binary += 1
        out[i, 0] = chars
        out[i, 1] = letters
        out[i, 2] = latin
        out[i, 3] = binary


def class_counts(texts: pa.Array | list[str]) -> np.ndarray:
    """``[n, 4]`` int64: characters, ``\\p{L}`` letters, ``\\p{Latin}`` characters and binary characters
    (``[\\x00-\\x08\\x0e-\\x1f\\x7f\\ufffd]``) of each text (null counts as empty)."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    out = np.zeros((len(offsets) - 1, 4), np.int64)
    _count_classes(data, offsets, code_point_classes(), out)
    return out

"""Per-text counts of characters, letters, Latin characters, binary-looking characters, digits, math
symbols, non-empty lines, LaTeX marks and question marks in one pass.

The domain labeller needs, per window, the share of control bytes and U+FFFD among characters and
the share of Latin letters among letters (``domain.script_signals``), and its shape features count
digits, math symbols, non-empty lines, LaTeX marks and question marks (``domain.content_signals``,
``domain.shape_signals``). Arrow kernels (a length and a regex count each, some of Unicode classes)
cost about 0.25 ms per 1 KB window for the first four alone; this numba kernel decodes UTF-8 once and
looks every code point up in a table, in a few microseconds. The table is built from ``unicode_tables``
(generated from Arrow's own regular expressions), so the counts equal ``pc.count_substring_regex`` with
``r"\\p{L}"``, ``r"\\p{Latin}"``, ``domain._BINARY``, ``domain._DIGIT``, ``domain._MATH_SYMBOL``,
``domain._NONEMPTY_LINE``, ``domain._LATEX`` and ``r"\\?"``; the tests check that against Arrow on real and
random text.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array, string_buffers
from midtrain.curation.labels.unicode_tables import LATIN_RANGES, LETTER_RANGES, MATH_SYMBOL_RANGES

LETTER = np.uint8(1)
LATIN = np.uint8(2)
MATH_SYMBOL = np.uint8(4)
COLUMNS = ("chars", "letters", "latin", "binary", "digits", "math_symbols", "nonempty_lines", "latex", "questions")
"""The columns of ``class_counts``."""


@functools.lru_cache(maxsize=1)
def code_point_classes() -> np.ndarray:
    """One ``uint8`` per code point (1.1 MB): bit ``LETTER`` for ``\\p{L}``, bit ``LATIN`` for ``\\p{Latin}``,
    bit ``MATH_SYMBOL`` for ``domain._MATH_SYMBOL``."""
    table = np.zeros(0x110000, np.uint8)
    for bit, ranges in ((LETTER, LETTER_RANGES), (LATIN, LATIN_RANGES), (MATH_SYMBOL, MATH_SYMBOL_RANGES)):
        for first, last in ranges:
            table[first:last + 1] |= bit
    return table


_DIGIT, _BINARY, _LATEX_START, _QUESTION = np.uint8(8), np.uint8(16), np.uint8(32), np.uint8(64)


@functools.lru_cache(maxsize=1)
def ascii_classes() -> np.ndarray:
    """One ``uint8`` per ASCII byte: ``code_point_classes``'s bits, and ``_DIGIT`` (``0-9``), ``_BINARY``
    (control bytes other than tab, newline, vertical tab, form feed and carriage return; DEL), ``_LATEX_START``
    (a byte a ``domain._LATEX`` match starts with: backslash, dollar, full stop, colon), ``_QUESTION``."""
    bits = code_point_classes()[:128].copy()
    bits[48:58] |= _DIGIT
    bits[[*range(0, 9), *range(14, 32), 127]] |= _BINARY
    bits[[92, 36, 46, 58]] |= _LATEX_START
    bits[63] |= _QUESTION
    return bits


_MATH_DIRECTIVE = np.frombuffer(b".. math::", np.uint8)
_MATH_ROLE = np.frombuffer(b":math:`", np.uint8)


@numba.njit(cache=True, inline="always")
def _ascii_letter(b: int) -> bool:
    return 65 <= b <= 90 or 97 <= b <= 122


@numba.njit(cache=True, inline="always")
def _starts_with(data: np.ndarray, j: int, hi: int, pattern: np.ndarray) -> bool:
    if j + len(pattern) > hi:
        return False
    for k in range(len(pattern)):
        if data[j + k] != pattern[k]:
            return False
    return True


@numba.njit(cache=True)
def _count_classes(data: np.ndarray, offsets: np.ndarray, table: np.ndarray, ascii_bits: np.ndarray,
                   out: np.ndarray) -> None:
    """``out[i]`` = the ``COLUMNS`` counts of text ``i``.

    Binary: control bytes other than tab, newline, vertical tab, form feed and carriage return, DEL,
    and U+FFFD (the replacement character). Digits: ``0-9``. A non-empty line (``(?m)^[ \\t]*\\S.*$`` in
    RE2, whose ``\\s`` is tab, newline, form feed, carriage return and space): one whose first character
    after its leading spaces and tabs is none of newline, form feed and carriage return. LaTeX marks: the
    non-overlapping matches of ``domain._LATEX`` (a backslash and its letters, a dollar, ``.. math::``,
    the ``:math:`` role), counted as Arrow counts them. Questions: ``?``. A byte that
    cannot start a UTF-8 sequence, or a sequence cut short, counts as one character of no class (Arrow
    strings are valid UTF-8; this only keeps the kernel in bounds).

    An ASCII byte's counts come from ``ascii_bits`` (``ascii_classes``), added without branches: 4.5 ->
    2.5 µs per 512 + 512-byte window (stop 51), the same counts.
    """
    for i in range(len(offsets) - 1):
        j, hi = offsets[i], offsets[i + 1]
        chars = letters = latin = binary = digits = symbols = lines = latex = questions = 0
        latex_from = j  # a LaTeX match may start here or later: matches do not overlap
        line_start = True  # only spaces and tabs so far on this line
        while j < hi:
            b = data[j]
            if b < 0x80:  # ASCII, most bytes: every count from one look-up of its bits, no branch on them
                a = ascii_bits[b]
                chars += 1
                letters += a & 1
                latin += (a >> 1) & 1
                symbols += (a >> 2) & 1
                digits += (a >> 3) & 1
                binary += (a >> 4) & 1
                questions += (a >> 6) & 1
                if b == 10:
                    line_start = True
                elif line_start and b != 32 and b != 9:
                    line_start = False
                    if b != 12 and b != 13:
                        lines += 1
                if a & _LATEX_START and j >= latex_from:
                    if b == 92 and j + 1 < hi and _ascii_letter(data[j + 1]):  # a backslash and its letters
                        latex += 1
                        latex_from = j + 2
                        while latex_from < hi and _ascii_letter(data[latex_from]):
                            latex_from += 1
                    elif b == 36:
                        latex += 1
                    elif b == 46 and _starts_with(data, j, hi, _MATH_DIRECTIVE):
                        latex += 1
                        latex_from = j + len(_MATH_DIRECTIVE)
                    elif b == 58 and _starts_with(data, j, hi, _MATH_ROLE):
                        latex += 1
                        latex_from = j + len(_MATH_ROLE)
                j += 1
                continue
            if b >= 0xF0:  # a character of two to four bytes (or a stray byte), never a space, digit or newline
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
            if line_start:
                line_start = False
                lines += 1
            if cp < 0 or cp >= 0x110000:
                continue
            c = table[cp]
            letters += c & 1
            latin += (c >> 1) & 1
            symbols += (c >> 2) & 1
            binary += cp == 0xFFFD
        out[i, 0] = chars
        out[i, 1] = letters
        out[i, 2] = latin
        out[i, 3] = binary
        out[i, 4] = digits
        out[i, 5] = symbols
        out[i, 6] = lines
        out[i, 7] = latex
        out[i, 8] = questions


def class_counts(texts: pa.Array | list[str]) -> np.ndarray:
    """``[n, 9]`` int64, the ``COLUMNS`` of each text: characters, ``\\p{L}`` letters, ``\\p{Latin}``
    characters, binary characters (``[\\x00-\\x08\\x0e-\\x1f\\x7f\\ufffd]``), digits, math symbols,
    non-empty lines, LaTeX marks (``domain._LATEX``) and question marks (null counts as empty)."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    out = np.zeros((len(offsets) - 1, len(COLUMNS)), np.int64)
    _count_classes(data, offsets, code_point_classes(), ascii_classes(), out)
    return out

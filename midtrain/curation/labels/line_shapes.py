"""Per-text counts of code-shaped lines and of numbered or connective step lines, in one numba pass.

The domain labeller's shape features count, per window, the lines that look like code
(``domain._CODE_LINE``: a line that starts with a keyword such as ``def``, ``#include`` or ``//``, or
ends with ``; { } ) : ,``) and the lines that start a step (``domain._STEP_LINE``: ``Step 2``, ``3.``,
``(1)``, a bullet, ``First,``, ``Therefore``...). Arrow's regular-expression count (RE2) read each
window twice for them, 5.5 µs of the labeller's ~200 per document; this kernel walks the lines once and
tests each with the same rules, in 2.0 µs (stop 51, the speed set's 512 + 512-byte windows), and its
counts equal ``pc.count_substring_regex``'s with the two patterns. ``tests/test_line_shapes.py`` checks
that against Arrow on generated and real text.

RE2's rules that the counts depend on, reproduced here:

- ``(?m)``: a line runs from the start of the text or a newline to the next newline or the end; ``.``
  matches anything but a newline (a carriage return included), so a line ending ``;\\r`` is not one that
  ends with ``;``;
- ``\\b`` is an ASCII word boundary: ``[0-9A-Za-z_]`` on one side and anything else (a byte of a non-ASCII
  character, a newline, the end of the text) on the other. So ``// note`` is not a code line by its
  start (no boundary between ``/`` and a space) while ``//note`` and ``#include`` are;
- ``(?i)`` folds case by Unicode's simple folding: ``s`` also matches ``ſ`` (U+017F, LONG S); no other
  character folds onto a letter of the step words;
- ``\\d`` is ``[0-9]``;
- Arrow counts a pattern by matching it again on the text after each match, so ``^`` also matches
  where the last match ended: a code line's match runs to its line's end, so a line counts once, but
  step matches can follow each other on a line (``1. 2. 3. `` counts three).
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array, string_buffers

CODE_KEYWORDS = (b"def", b"class", b"import", b"from", b"return", b"if", b"for", b"while", b"fn", b"func", b"let",
                 b"var", b"const", b"pub", b"use", b"package", b"struct", b"impl", b"#include", b"#define", b"//",
                 b"/*", b"*", b"#")
"""The starts of ``domain._CODE_LINE``'s first branch, each followed by a word boundary."""
CODE_ENDS = b";{}):,"
"""The last visible byte of ``domain._CODE_LINE``'s second branch (trailing spaces and tabs aside)."""


def _padded(words: tuple[bytes, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``words`` as one zero-padded ``uint8`` row each, and their lengths."""
    table = np.zeros((len(words), max(map(len, words))), np.uint8)
    for k, word in enumerate(words):
        table[k, :len(word)] = np.frombuffer(word, np.uint8)
    return table, np.array([len(w) for w in words], np.int64)


_KEYWORDS, _KEYWORD_LENGTHS = _padded(CODE_KEYWORDS)
_ENDS = np.zeros(256, np.bool_)
_ENDS[np.frombuffer(CODE_ENDS, np.uint8)] = True
_STEP_WORDS = (b"step", b"first,", b"then,", b"therefore", b"thus", b"hence", b"so")
_STEP, _FIRST, _THEN, _THEREFORE, _THUS, _HENCE, _SO = range(len(_STEP_WORDS))
_STEPS, _STEP_LENGTHS = _padded(_STEP_WORDS)
_CODE_START, _STEP_START = 1, 2
_STARTS = np.zeros(256, np.uint8)
"""Bit ``_CODE_START``: a byte a code keyword starts with; ``_STEP_START``: one a step alternative starts with
(digits, ``(``, ``-``, ``*``, the lead byte of ``•``, the step words' first letters in either case, and
the lead byte of ``ſ``). A line starting with neither is tested for a code line's end only."""
_STARTS[_KEYWORDS[:, 0]] |= _CODE_START
_STARTS[np.frombuffer(b"0123456789(-*\xe2\xc5", np.uint8)] |= _STEP_START
_STARTS[_STEPS[:, 0]] |= _STEP_START
_STARTS[_STEPS[:, 0] - 32] |= _STEP_START


@numba.njit(cache=True, inline="always")
def _is_word(b: int) -> bool:
    return (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b == 95


@numba.njit(cache=True, inline="always")
def _is_digit(b: int) -> bool:
    return 48 <= b <= 57


@numba.njit(cache=True, inline="always")
def _is_blank(b: int) -> bool:
    return b == 32 or b == 9


@numba.njit(cache=True)
def _keyword_at(data: np.ndarray, p: int, end: int, hi: int, keywords: np.ndarray, lengths: np.ndarray) -> bool:
    """Whether one of ``CODE_KEYWORDS`` starts at ``data[p]`` (before ``end``) with a word boundary after it
    (the text's end at ``hi``)."""
    for k in range(len(lengths)):
        size = lengths[k]
        if p + size > end:
            continue
        same = True
        for m in range(size):
            if data[p + m] != keywords[k, m]:
                same = False
                break
        if same:
            after = p + size < hi and _is_word(data[p + size])
            if _is_word(keywords[k, size - 1]) != after:  # \b: a word byte on one side only
                return True
    return False


@numba.njit(cache=True)
def _is_code_line(data: np.ndarray, p: int, end: int, hi: int, keywords: np.ndarray, lengths: np.ndarray,
                  ends: np.ndarray, starts: np.ndarray) -> bool:
    """Whether the line whose first visible byte is ``data[p]`` (its newline or the text's end at ``end``;
    the text's end at ``hi``) matches ``domain._CODE_LINE``: a keyword first (looked for only where a
    keyword can start, ``starts``), or one of ``CODE_ENDS`` last before trailing blanks."""
    if starts[data[p]] & _CODE_START and _keyword_at(data, p, end, hi, keywords, lengths):
        return True
    last = end - 1
    while _is_blank(data[last]):  # stops at data[p], which is visible
        last -= 1
    return ends[data[last]]


@numba.njit(cache=True)
def _starts_folded(data: np.ndarray, p: int, end: int, words: np.ndarray, size: int) -> int:
    """Where ``words[:size]`` (lower-case ASCII) ends if it starts at ``data[p]`` under ``(?i)``, else -1.
    A letter matches either case; ``s`` also matches ``ſ`` (U+017F, UTF-8 C5 BF)."""
    j = p
    for m in range(size):
        w = words[m]
        if j >= end:
            return -1
        b = data[j]
        if b == w or (97 <= w <= 122 and b == w - 32):
            j += 1
        elif w == 115 and b == 0xC5 and j + 1 < end and data[j + 1] == 0xBF:
            j += 2
        else:
            return -1
    return j


@numba.njit(cache=True)
def _step_end(data: np.ndarray, p: int, end: int, steps: np.ndarray, lengths: np.ndarray) -> int:
    """Where a match of ``domain._STEP_LINE``'s alternatives that starts at ``data[p]`` (a visible byte; the
    line's end at ``end``) ends, -1 if none does. At most one alternative can match at a byte, and the
    quantifiers are greedy (``\\d+`` takes every digit), so the end is RE2's."""
    b = data[p]
    if _is_digit(b):  # \d{1,2}[.)][ \t]
        for width in (1, 2):
            q = p + width
            if q + 1 < end and _is_digit(data[q - 1]) and (data[q] == 46 or data[q] == 41) and _is_blank(data[q + 1]):
                return q + 2
        return -1
    if b == 40:  # \(\d{1,2}\)
        for width in (1, 2):
            q = p + 1 + width
            if q < end and data[q] == 41 and _is_digit(data[p + 1]) and _is_digit(data[q - 1]):
                return q + 1
        return -1
    if b == 45 or b == 42:  # [-*][ \t]
        return p + 2 if p + 1 < end and _is_blank(data[p + 1]) else -1
    if b == 0xE2:  # • (E2 80 A2) then [ \t]
        bullet = p + 3 < end and data[p + 1] == 0x80 and data[p + 2] == 0xA2 and _is_blank(data[p + 3])
        return p + 4 if bullet else -1
    for k in range(len(lengths)):
        q = _starts_folded(data, p, end, steps[k], lengths[k])
        if q < 0:
            continue
        if k == _STEP:  # step[ \t]*\d+
            while q < end and _is_blank(data[q]):
                q += 1
            if q < end and _is_digit(data[q]):
                while q < end and _is_digit(data[q]):
                    q += 1
                return q
        elif k == _SO:  # so[ ,]
            if q < end and (data[q] == 32 or data[q] == 44):
                return q + 1
        else:
            return q
    return -1


@numba.njit(cache=True)
def _step_matches(data: np.ndarray, p: int, end: int, steps: np.ndarray, lengths: np.ndarray) -> int:
    """How many times Arrow counts ``domain._STEP_LINE`` in the line whose first visible byte is ``data[p]``.

    Arrow counts a pattern by matching it again on the text after each match, where ``^`` matches at the
    start: so a match can follow another on the same line (``First, - then`` counts ``First,`` and
    ``- ``; ``1. 2. 3. `` counts three)."""
    count = 0
    while p < end:
        q = _step_end(data, p, end, steps, lengths)
        if q < 0:
            break
        count += 1
        p = q
        while p < end and _is_blank(data[p]):
            p += 1
    return count


@numba.njit(cache=True)
def _count_line_shapes(data: np.ndarray, offsets: np.ndarray, keywords: np.ndarray, keyword_lengths: np.ndarray,
                       ends: np.ndarray, steps: np.ndarray, step_lengths: np.ndarray, starts: np.ndarray,
                       out: np.ndarray) -> None:
    """``out[i]`` = (code-shaped lines, step matches) of text ``i``: a line at a time, its leading spaces and
    tabs skipped; a line with nothing after them has neither."""
    for i in range(len(offsets) - 1):
        j, hi = offsets[i], offsets[i + 1]
        code = 0
        step = 0
        while j < hi:
            end = j
            while end < hi and data[end] != 10:
                end += 1
            p = j
            while p < end and _is_blank(data[p]):
                p += 1
            if p < end:
                code += _is_code_line(data, p, end, hi, keywords, keyword_lengths, ends, starts)
                if starts[data[p]] & _STEP_START:
                    step += _step_matches(data, p, end, steps, step_lengths)
            j = end + 1
        out[i, 0] = code
        out[i, 1] = step


def line_shape_counts(texts: pa.Array | list[str]) -> np.ndarray:
    """``[n, 2]`` int64: each text's lines that match ``domain._CODE_LINE`` and ``domain._STEP_LINE`` (null
    counts as empty), as Arrow's ``count_substring_regex`` counts them."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    out = np.zeros((len(offsets) - 1, 2), np.int64)
    _count_line_shapes(data, offsets, _KEYWORDS, _KEYWORD_LENGTHS, _ENDS, _STEPS, _STEP_LENGTHS, _STARTS, out)
    return out

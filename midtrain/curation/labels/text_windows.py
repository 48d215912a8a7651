"""The text a classifier sees: a bounded window of each document, prepared for fastText, in batches.

fastText's cost is linear in the words it reads, so every labeller reads at most a fixed window
of a document: its head plus a slice from its middle. The middle slice matters for code, whose
files often open with a licence or a long docstring that reads like prose. Windows are cut on the
raw UTF-8 bytes of an Arrow string array by one numba kernel (cuts move back to a character
boundary), then normalised for fastText by a second kernel: newlines become a ``_nl_`` token (fastText
reads one line per example), ASCII punctuation is split off as its own token, so that
``\\frac{1}{2}`` and ``fn main() {`` yield the symbols the domains differ in, and ASCII is lowercased.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NEWLINE_TOKEN = "_nl_"


def as_string_array(texts: pa.Array | pa.ChunkedArray | list[str]) -> pa.LargeStringArray:
    """One contiguous ``large_string`` array (64-bit offsets, so 50 MB documents are fine)."""
    if isinstance(texts, list):
        return pa.array(texts, type=pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    return texts.cast(pa.large_string())


def string_buffers(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)`` of a ``large_string`` array as numpy views, for the numba kernels: ``offsets``
    index ``data`` directly (an array slice included). Fill nulls first: a null's bytes are undefined."""
    if len(arr) == 0:
        return np.zeros(1, np.uint8), np.zeros(1, np.int64)
    offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1, arr.offset * 8)
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None and buf.size else np.zeros(1, np.uint8)
    return data, offsets


@numba.njit(cache=True)
def _utf8_start(data: np.ndarray, pos: int, lo: int) -> int:
    """Move ``pos`` back (not below ``lo``) to the first byte of a UTF-8 character."""
    while pos > lo and (data[pos] & 0xC0) == 0x80:
        pos -= 1
    return pos


@numba.njit(cache=True)
def window_bounds(offsets: np.ndarray, data: np.ndarray, head: int, middle: int, tail: int = 0) -> np.ndarray:
    """For each document, ``[head_start, head_end, mid_start, mid_end, tail_start, tail_end]`` byte positions.

    A document of at most ``head + middle + tail`` bytes is taken whole (one range, the others empty).
    Otherwise the head is its first ``head`` bytes, the tail (when ``tail`` > 0) its last ``tail`` bytes,
    and the middle slice ``middle`` bytes starting at its centre (or the head's end, if later), ending at
    the tail at the latest; every cut is moved back to a character boundary.
    """
    n = offsets.shape[0] - 1
    out = np.empty((n, 6), np.int64)
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        out[i, 4] = b
        out[i, 5] = b
        if b - a <= head + middle + tail:
            out[i, 0] = a
            out[i, 1] = b
            out[i, 2] = b
            out[i, 3] = b
            continue
        h_end = _utf8_start(data, a + head, a)
        limit = b if tail <= 0 else _utf8_start(data, b - tail, h_end)
        m_start = _utf8_start(data, max(a + (b - a) // 2, h_end), h_end)
        if m_start > limit:
            m_start = limit
        m_end = _utf8_start(data, min(m_start + middle, limit), m_start) if m_start + middle < limit else limit
        out[i, 0] = a
        out[i, 1] = h_end
        out[i, 2] = m_start
        out[i, 3] = m_end
        out[i, 4] = limit
    return out


@numba.njit(cache=True)
def gather_windows(data: np.ndarray, bounds: np.ndarray, sep: np.uint8) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate each document's ranges (the columns of ``bounds`` in pairs), a non-empty range after
    the first joined by ``sep``."""
    n = bounds.shape[0]
    ranges = bounds.shape[1] // 2
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        size = bounds[i, 1] - bounds[i, 0]
        for r in range(1, ranges):
            if bounds[i, 2 * r + 1] > bounds[i, 2 * r]:
                size += 1 + bounds[i, 2 * r + 1] - bounds[i, 2 * r]
        offsets[i + 1] = offsets[i] + size
    out = np.empty(offsets[n], np.uint8)
    for i in range(n):
        p = offsets[i]
        for r in range(ranges):
            lo, hi = bounds[i, 2 * r], bounds[i, 2 * r + 1]
            if r > 0:
                if hi <= lo:
                    continue
                out[p] = sep
                p += 1
            out[p:p + hi - lo] = data[lo:hi]  # a slice copy is a memcpy; a byte loop indexed from lo was not
            p += hi - lo
    return offsets, out


def text_windows(texts: pa.Array | list[str], head: int = 1024, middle: int = 1024,
                 tail: int = 0) -> pa.LargeStringArray:
    """Each document's head (``head`` bytes) plus a ``middle``-byte slice from its centre, plus its last
    ``tail`` bytes (none by default)."""
    arr = as_string_array(texts)
    if len(arr) == 0:
        return arr
    data, offsets = string_buffers(pc.fill_null(arr, ""))
    bounds = window_bounds(offsets, data, head, middle, tail)
    new_offsets, new_data = gather_windows(data, bounds, np.uint8(ord("\n")))
    return pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(new_offsets), pa.py_buffer(new_data))


_NL = np.frombuffer(f" {NEWLINE_TOKEN} ".encode(), np.uint8)


@numba.njit(cache=True, inline="always")
def _is_punct_byte(c: int) -> bool:
    """An ASCII byte other than a digit, a letter or ``_``: the normaliser's one-byte punctuation token."""
    return c < 128 and not ((48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95)


@numba.njit(cache=True)
def normalise_lines(offsets: np.ndarray, data: np.ndarray, split_punct: bool, nl: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One line per document, in one pass over the UTF-8 bytes.

    Whitespace runs become one space. With ``split_punct`` (domain and quality models): ASCII
    letters are lowercased, each ASCII punctuation byte becomes its own token, and a newline
    becomes the ``nl`` token; bytes of other characters (>= 0x80) are copied as word characters.
    Without it (language ID): only whitespace is collapsed, newlines included.
    """
    n = offsets.shape[0] - 1
    out = np.empty(max(1, (offsets[n] - offsets[0]) * (nl.shape[0] if split_punct else 1)), np.uint8)
    new_offsets = np.zeros(n + 1, np.int64)
    p = 0
    for i in range(n):
        space = True  # at a token boundary: no leading space
        for j in range(offsets[i], offsets[i + 1]):
            c = data[j]
            if c == 10 and split_punct:
                start = 1 if space else 0
                for k in range(start, nl.shape[0]):
                    out[p] = nl[k]
                    p += 1
                space = True
            elif c == 32 or c == 9 or c == 10 or c == 13 or c == 11 or c == 12:
                if not space:
                    out[p] = 32
                    p += 1
                    space = True
            elif split_punct and _is_punct_byte(c):
                if not space:
                    out[p] = 32
                    p += 1
                out[p] = c
                out[p + 1] = 32
                p += 2
                space = True
            else:
                out[p] = c + 32 if (split_punct and 65 <= c <= 90) else c
                p += 1
                space = False
        if p > new_offsets[i] and out[p - 1] == 32:
            p -= 1
        new_offsets[i + 1] = p
    return new_offsets, out[:p]


PUNCT_RUN_CAP = 3
"""The domain classifier's reading of punctuation runs (stop 65's E80): every run of more than 3 equal one-byte
punctuation tokens becomes one token of 3 copies of the byte (``PUNCT_RUN_JOIN``), so a separator of sixty ``=``
is one word in fastText's average, not sixty, and ``=`` alone is learnt from its other uses."""
PUNCT_RUN_JOIN = True


@numba.njit(cache=True)
def _has_long_run(data: np.ndarray, lo: int, hi: int, cap: int) -> bool:
    """Whether ``data[lo:hi]`` (one normalised line) holds more than ``cap`` equal punctuation bytes in a row. The
    normaliser makes every punctuation byte its own token with one space around it, so such a run is the byte at
    every second position; a byte test and one comparison rule out most positions."""
    for k in range(lo, hi - 2 * cap):
        c = data[k]
        if data[k + 2] != c or not _is_punct_byte(c):
            continue
        m = 2
        while m <= 2 * cap and data[k + m] == c and data[k + m - 1] == 32:
            m += 2
        if m > 2 * cap and (k == lo or data[k - 1] == 32):
            return True
    return False


@numba.njit(cache=True)
def cap_punct_runs(offsets: np.ndarray, data: np.ndarray, cap: int, join: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised lines with every run of more than ``cap`` equal one-byte punctuation tokens cut to ``cap``
    (an underline ``=====`` is ``= = = = =`` once normalised, and reads ``= = =``). With ``join``, such a run
    becomes one token of ``cap`` copies of the byte instead (``===``), a word the normaliser never makes
    otherwise; runs of ``cap`` or fewer are kept as they are either way."""
    n = offsets.shape[0] - 1
    out = np.empty(max(1, offsets[n] - offsets[0]), np.uint8)
    new_offsets = np.zeros(n + 1, np.int64)
    p = 0
    for i in range(n):
        j, hi = offsets[i], offsets[i + 1]
        if not _has_long_run(data, j, hi, cap):  # most lines: copied as they are
            out[p:p + hi - j] = data[j:hi]
            p += hi - j
            new_offsets[i + 1] = p
            continue
        while j < hi:
            end = j
            while end < hi and data[end] != 32:
                end += 1
            if end == j:  # no token between two spaces (never in a normalised line)
                j += 1
                continue
            c = data[j]
            if end == j + 1 and _is_punct_byte(c):
                length = 0  # the run that starts here: one-byte tokens c, one space apart
                k = j
                while k < hi and data[k] == c and (k + 1 == hi or data[k + 1] == 32):
                    length += 1
                    k += 2
                tokens, size = (1, cap) if join and length > cap else (min(length, cap), 1)
                for _ in range(tokens):
                    if p > new_offsets[i]:
                        out[p] = 32
                        p += 1
                    out[p:p + size] = c
                    p += size
                j = k  # the token after the run, or past the line's end
                continue
            if p > new_offsets[i]:
                out[p] = 32
                p += 1
            out[p:p + end - j] = data[j:end]
            p += end - j
            j = end + 1
        new_offsets[i + 1] = p
    return new_offsets, out[:p]


def _rewrite_lines(lines: pa.Array | list[str], kernel, *args) -> pa.LargeStringArray:
    """``kernel(offsets, data, *args)`` -> ``(new_offsets, bytes)`` over the strings' buffers, as a new Arrow
    array (the normaliser's and the run pass's shared wrapper)."""
    arr = as_string_array(lines)
    if len(arr) == 0:
        return pa.array([], pa.large_string())
    data, offsets = string_buffers(arr)
    new_offsets, out = kernel(offsets, data, *args)
    return pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(new_offsets), pa.py_buffer(out))


def capped_punct_runs(lines: pa.Array, cap: int, join: bool = False) -> pa.LargeStringArray:
    """:func:`cap_punct_runs` of ``fasttext_line_array`` lines, as a new Arrow array. ``cap``: 1 or more."""
    if cap < 1:
        raise ValueError(f"cap={cap}: a run keeps at least one token (0 would drop every punctuation token)")
    return _rewrite_lines(lines, cap_punct_runs, cap, join)


def _normalise(windows: pa.Array | list[str], split_punct: bool) -> pa.LargeStringArray:
    return _rewrite_lines(windows, normalise_lines, split_punct, _NL)


def fasttext_line_array(windows: pa.Array | list[str]) -> pa.LargeStringArray:
    """Windows normalised for the fastText models (domain, quality, code language), as an Arrow array: what
    the labellers pass to the predictor, which reads its buffers (no Python string per line)."""
    return _normalise(windows, split_punct=True)


def fasttext_lines(windows: pa.Array | list[str]) -> list[str]:
    """:func:`fasttext_line_array` as Python strings (training, and anything that edits lines)."""
    return fasttext_line_array(windows).to_pylist()


def lid_line_array(texts: pa.Array | list[str], head: int = 1024) -> pa.LargeStringArray:
    """The first ``head`` bytes of each document on one line, as lid.176 expects raw text (Arrow array)."""
    return _normalise(text_windows(texts, head=head, middle=0), split_punct=False)


def lid_lines(texts: pa.Array | list[str], head: int = 1024) -> list[str]:
    """:func:`lid_line_array` as Python strings."""
    return lid_line_array(texts, head).to_pylist()


_LAST_WINDOWS: tuple | None = None  # (key, texts, windows, lines) of the last call of windows_and_lines


def windows_and_lines(texts: pa.LargeStringArray, head: int, middle: int, tail: int = 0
                      ) -> tuple[pa.LargeStringArray, pa.LargeStringArray]:
    """``text_windows(texts, head, middle, tail)`` and its :func:`fasttext_line_array`, kept for the last
    ``texts`` asked (the same Arrow buffers, held so they stay the same): the domain labeller and the
    quality scorer read the same 512 + 512-byte windows of a batch's one Arrow copy
    (``curation.base.batch_texts``), so the second gets the first's instead of cutting and normalising
    them again. ``texts``: a ``large_string`` array without nulls."""
    global _LAST_WINDOWS
    buffers = texts.buffers()
    key = (len(texts), texts.offset, *(b.address if b is not None else 0 for b in buffers[1:3]), head, middle, tail)
    last = _LAST_WINDOWS
    if last is not None and last[0] == key:
        return last[2], last[3]
    windows = text_windows(texts, head, middle, tail)
    lines = fasttext_line_array(windows)
    _LAST_WINDOWS = (key, texts, windows, lines)
    return windows, lines

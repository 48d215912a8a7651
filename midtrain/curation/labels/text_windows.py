"""The text a classifier sees: a bounded window of each document, prepared for fastText, in batches.

fastText's cost is linear in the words it reads, so every labeller reads at most a fixed window
of a document: its head plus a slice from its middle. The middle slice matters for code, whose
files often open with a licence or a long docstring that reads like prose. Windows are cut on the
raw UTF-8 bytes of an Arrow string array by one numba kernel (cuts move back to a character
boundary), then normalised for fastText with Arrow compute kernels: newlines become a ``_nl_``
token (fastText reads one line per example), punctuation is split off as its own token, so that
``\\frac{1}{2}`` and ``fn main() {`` yield the symbols the domains differ in, and text is lowercased.
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


@numba.njit(cache=True)
def _utf8_start(data: np.ndarray, pos: int, lo: int) -> int:
    """Move ``pos`` back (not below ``lo``) to the first byte of a UTF-8 character."""
    while pos > lo and (data[pos] & 0xC0) == 0x80:
        pos -= 1
    return pos


@numba.njit(cache=True)
def window_bounds(offsets: np.ndarray, data: np.ndarray, head: int, middle: int) -> np.ndarray:
    """For each document, ``[head_start, head_end, mid_start, mid_end]`` byte positions.

    A document of at most ``head + middle`` bytes is taken whole (one range, the second empty).
    Otherwise the head is its first ``head`` bytes and the middle slice ``middle`` bytes starting at
    its centre (or the head's end, if later); every cut is moved back to a character boundary.
    """
    n = offsets.shape[0] - 1
    out = np.empty((n, 4), np.int64)
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        if b - a <= head + middle:
            out[i, 0] = a
            out[i, 1] = b
            out[i, 2] = b
            out[i, 3] = b
            continue
        h_end = _utf8_start(data, a + head, a)
        m_start = _utf8_start(data, max(a + (b - a) // 2, h_end), h_end)
        m_end = _utf8_start(data, min(m_start + middle, b), m_start) if m_start + middle < b else b
        out[i, 0] = a
        out[i, 1] = h_end
        out[i, 2] = m_start
        out[i, 3] = m_end
    return out


@numba.njit(cache=True)
def gather_windows(data: np.ndarray, bounds: np.ndarray, sep: np.uint8) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate each document's two ranges (joined by ``sep`` when both are non-empty)."""
    n = bounds.shape[0]
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        size = (bounds[i, 1] - bounds[i, 0]) + (bounds[i, 3] - bounds[i, 2])
        if bounds[i, 3] > bounds[i, 2]:
            size += 1
        offsets[i + 1] = offsets[i] + size
    out = np.empty(offsets[n], np.uint8)
    for i in range(n):
        p = offsets[i]
        for j in range(bounds[i, 0], bounds[i, 1]):
            out[p] = data[j]
            p += 1
        if bounds[i, 3] > bounds[i, 2]:
            out[p] = sep
            p += 1
            for j in range(bounds[i, 2], bounds[i, 3]):
                out[p] = data[j]
                p += 1
    return offsets, out


def text_windows(texts: pa.Array | list[str], head: int = 1024, middle: int = 1024) -> pa.LargeStringArray:
    """Each document's head (``head`` bytes) plus a ``middle``-byte slice from its centre."""
    arr = as_string_array(texts)
    if len(arr) == 0:
        return arr
    arr = pc.fill_null(arr, "")
    offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1, arr.offset * 8)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    bounds = window_bounds(offsets, data, head, middle)
    new_offsets, new_data = gather_windows(data, bounds, np.uint8(ord("\n")))
    return pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(new_offsets), pa.py_buffer(new_data))


def fasttext_lines(windows: pa.Array) -> list[str]:
    """Normalise windows for the domain and quality models (and for training them)."""
    arr = pc.utf8_lower(windows)
    arr = pc.replace_substring_regex(arr, r"([^\w\s])", r" \1 ")
    arr = pc.replace_substring_regex(arr, r"\r?\n", f" {NEWLINE_TOKEN} ")
    arr = pc.replace_substring_regex(arr, r"\s+", " ")
    return arr.to_pylist()


def lid_lines(texts: pa.Array | list[str], head: int = 1024) -> list[str]:
    """The first ``head`` bytes of each document on one line, as lid.176 expects raw text."""
    arr = text_windows(texts, head=head, middle=0)
    arr = pc.replace_substring_regex(arr, r"\s+", " ")
    return arr.to_pylist()

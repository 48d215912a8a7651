"""Words and word n-gram shingles, hashed straight from the UTF-8 bytes of an Arrow string array.

This module owns the hot per-byte loops of deduplication and decontamination: numba kernels that
walk an Arrow ``string`` array's data and offsets buffers (no Python ``str`` per document), split
each document into words and hash every word n-gram to 64 bits.

A *word* is a maximal run of bytes that are ASCII letters or digits, or any non-ASCII byte (so
every UTF-8 character outside ASCII stays inside its word); every other ASCII byte (whitespace,
punctuation, symbols) separates words. Hashing lowercases ASCII letters and, when asked, maps every
digit to ``0``: together with :func:`midtrain.curation.stages.dedup.normalize.normalize_unicode` this is
FineWeb's normalisation (lowercase, no punctuation, digits -> 0, no diacritics, whitespace folded).

Hash functions are FNV-1a (64-bit) per word and a multiply-xor chain over the n word hashes of a
shingle, finished with the splitmix64 avalanche; ``tests/test_dedup_signatures.py`` checks every
kernel against a pure-Python twin.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
CHAIN_PRIME = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, as in splitmix64
MASK64 = (1 << 64) - 1


def arrow_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)`` of a string array as numpy views: bytes (uint8) and int64 offsets.

    ``large_string`` is used as is; ``string`` offsets are widened to int64. Nulls count as empty.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if pa.types.is_string(texts.type):
        texts = texts.cast(pa.large_string())
    elif not pa.types.is_large_string(texts.type):
        raise TypeError(f"expected a string array, got {texts.type}")
    if texts.null_count:
        texts = texts.fill_null("")
    _, off_buf, data_buf = texts.buffers()
    n = len(texts)
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=n + 1, offset=8 * texts.offset)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


@nb.njit(cache=True, inline="always")
def _is_word_byte(c: np.uint8) -> bool:
    return c >= 128 or (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


@nb.njit(cache=True)
def word_spans(data: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Byte ``[starts, ends)`` of every word of ``data[start:end]`` (absolute positions)."""
    starts = np.empty((end - start) // 2 + 1, np.int64)
    ends = np.empty((end - start) // 2 + 1, np.int64)
    n = 0
    i = start
    while i < end:
        while i < end and not _is_word_byte(data[i]):
            i += 1
        if i >= end:
            break
        starts[n] = i
        while i < end and _is_word_byte(data[i]):
            i += 1
        ends[n] = i
        n += 1
    return starts[:n], ends[:n]


def _byte_table(fold_digits: bool) -> np.ndarray:
    """What each byte hashes as inside a word (0 = separator): ASCII lowercased, digits -> '0'."""
    table = np.zeros(256, np.uint8)
    for c in range(256):
        if c >= 128 or 97 <= c <= 122:
            table[c] = c
        elif 65 <= c <= 90:
            table[c] = c + 32
        elif 48 <= c <= 57:
            table[c] = 48 if fold_digits else c
    return table


# numba freezes global arrays into the compiled code: one table lookup per byte, no branches
_FOLD_DIGITS = _byte_table(True)
_KEEP_DIGITS = _byte_table(False)


@nb.njit(cache=True)
def word_hashes_into(data: np.ndarray, start: int, end: int, fold_digits: bool, out: np.ndarray) -> int:
    """Write the FNV-1a 64 hash of every word of ``data[start:end]`` into ``out``; return the count.

    One pass over the bytes: ASCII letters are lowercased and, with ``fold_digits``, digits hash as
    ``0``. ``out`` needs room for ``(end - start + 1) // 2`` words.
    """
    table = _FOLD_DIGITS if fold_digits else _KEEP_DIGITS
    n = 0
    h = FNV_OFFSET
    in_word = False
    for i in range(start, end):
        c = table[data[i]]
        if c == 0:
            if in_word:
                out[n] = h
                n += 1
                h = FNV_OFFSET
                in_word = False
            continue
        h = (h ^ np.uint64(c)) * FNV_PRIME
        in_word = True
    if in_word:
        out[n] = h
        n += 1
    return n


@nb.njit(cache=True, inline="always")
def _avalanche(h: np.uint64) -> np.uint64:
    # splitmix64 finaliser: every input bit flips about half of the output bits
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@nb.njit(cache=True)
def ngram_hashes_into(words: np.ndarray, num_words: int, n: int, out: np.ndarray) -> int:
    """Hash every run of ``n`` consecutive word hashes of ``words[:num_words]`` into ``out``.

    Returns the number of shingles: ``num_words - n + 1``, except that a document with fewer than
    ``n`` (but at least one) words gives one shingle over all its words, so short documents still
    have a signature; an empty one gives none.
    """
    if num_words == 0:
        return 0
    count = num_words - n + 1
    if count < 1:
        count = 1
        n = num_words
    for j in range(count):
        h = np.uint64(n)
        for k in range(n):
            h = (h ^ words[j + k]) * CHAIN_PRIME
        out[j] = _avalanche(h)
    return count


@nb.njit(cache=True)
def document_ngrams(data: np.ndarray, start: int, end: int, n: int, fold_digits: bool) -> np.ndarray:
    """The word n-gram hashes of one document, in text order (one per start word)."""
    words = np.empty((end - start + 1) // 2 + 1, np.uint64)
    num_words = word_hashes_into(data, start, end, fold_digits, words)
    out = np.empty(max(num_words - n + 1, 1), np.uint64)
    return out[:ngram_hashes_into(words, num_words, n, out)]


@nb.njit(cache=True)
def whitespace_text_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Two independent 64-bit hashes (an ``(n, 2)`` array) of each text with whitespace folded.

    Runs of ASCII whitespace count as one space and leading/trailing whitespace is ignored; case,
    digits and punctuation are kept, so only documents identical up to whitespace collide. This is
    the key of exact deduplication.
    """
    n = len(offsets) - 1
    out = np.empty((n, 2), np.uint64)
    for d in range(n):
        h1 = FNV_OFFSET
        h2 = np.uint64(0x84222325CBF29CE4)
        pending_space = False
        seen = False
        for i in range(offsets[d], offsets[d + 1]):
            c = data[i]
            if c == 32 or (9 <= c <= 13):
                pending_space = seen
                continue
            if pending_space:
                h1 = (h1 ^ np.uint64(32)) * FNV_PRIME
                h2 = (h2 ^ np.uint64(32)) * CHAIN_PRIME
                pending_space = False
            seen = True
            h1 = (h1 ^ np.uint64(c)) * FNV_PRIME
            h2 = (h2 ^ np.uint64(c)) * CHAIN_PRIME
        out[d, 0] = _avalanche(h1)
        out[d, 1] = _avalanche(h2)
    return out

"""Per-document checksums of a token stream: XXH64 of each document's bytes, in a numba kernel.

A corpus at a URL can be read one document at a time (``LoaderConfig.fetch = "documents"``), so each
document needs a checksum of its own to be verified when it arrives. :func:`upload_corpus
<midtrain.storage.upload.upload_corpus>` stores them per shard as a sidecar of little-endian
``uint64`` values (8 bytes per document, as many as the shard's offsets). The hash is XXH64 with
seed 0, bit for bit as the ``xxhash`` library computes it (the tests compare the two), written as a
kernel because it runs once per document: at upload over every document, and on every fetched one.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

_P1 = uint64(0x9E3779B185EBCA87)
_P2 = uint64(0xC2B2AE3D27D4EB4F)
_P3 = uint64(0x165667B19E3779F9)
_P4 = uint64(0x85EBCA77C2B2AE63)
_P5 = uint64(0x27D4EB2F165667C5)


@njit(cache=True, inline="always")
def _rotl(x, r):
    return (x << uint64(r)) | (x >> uint64(64 - r))


@njit(cache=True, inline="always")
def _read64(data, p):
    v = uint64(0)
    for k in range(8):
        v |= uint64(data[p + k]) << uint64(8 * k)
    return v


@njit(cache=True, inline="always")
def _round(acc, lane):
    acc = acc + lane * _P2
    return _rotl(acc, 31) * _P1


@njit(cache=True, inline="always")
def _merge(acc, v):
    acc ^= _round(uint64(0), v)
    return acc * _P1 + _P4


@njit(cache=True, nogil=True)
def _xxh64(data, start, end):
    n = end - start
    p = start
    if n >= 32:
        v1 = _P1 + _P2
        v2 = _P2
        v3 = uint64(0)
        v4 = uint64(0) - _P1
        limit = end - 32
        while p <= limit:
            v1 = _round(v1, _read64(data, p))
            v2 = _round(v2, _read64(data, p + 8))
            v3 = _round(v3, _read64(data, p + 16))
            v4 = _round(v4, _read64(data, p + 24))
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = _P5
    h += uint64(n)
    while p + 8 <= end:
        h ^= _round(uint64(0), _read64(data, p))
        h = _rotl(h, 27) * _P1 + _P4
        p += 8
    if p + 4 <= end:
        v = uint64(0)
        for k in range(4):
            v |= uint64(data[p + k]) << uint64(8 * k)
        h ^= v * _P1
        h = _rotl(h, 23) * _P2 + _P3
        p += 4
    while p < end:
        h ^= uint64(data[p]) * _P5
        h = _rotl(h, 11) * _P1
        p += 1
    h ^= h >> uint64(33)
    h *= _P2
    h ^= h >> uint64(29)
    h *= _P3
    h ^= h >> uint64(32)
    return h


@njit(cache=True, nogil=True)
def xxh64_ranges(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """XXH64 (seed 0) of ``data[starts[i]:ends[i]]`` for every ``i``; ``data`` is a ``uint8`` array."""
    out = np.empty(starts.shape[0], np.uint64)
    for i in range(starts.shape[0]):
        out[i] = _xxh64(data, starts[i], ends[i])
    return out


def document_checksums(tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """XXH64 of every document's token bytes: ``tokens[offsets[i]:offsets[i + 1]]`` as stored (little-endian)."""
    data = np.ascontiguousarray(tokens).view(np.uint8)
    item = tokens.dtype.itemsize
    off = np.asarray(offsets, np.int64) * item
    return xxh64_ranges(data, off[:-1], off[1:])

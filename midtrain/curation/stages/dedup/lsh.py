"""Locality-sensitive hashing over MinHash signatures: band keys, bucket pairs, verification.

A band key is a 64-bit hash of ``rows`` consecutive signature slots. Documents whose key agrees in
some band fall into one bucket; the pairs a bucket yields are *candidates*. Each candidate is then
verified against the Jaccard estimated from the full signatures (the fraction of equal slots),
and only verified pairs reach clustering: a band collision alone proves nothing about the rest of
the signature, so this removes the LSH false positives that banding alone lets through.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from midtrain.curation.stages.dedup.minhash import EMPTY
from midtrain.curation.stages.shingles import CHAIN_PRIME, _avalanche


@nb.njit(cache=True)
def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(docs, bands)`` uint64 keys; a document without shingles gets key 0 in every band (skipped)."""
    docs = signatures.shape[0]
    keys = np.empty((docs, bands), np.uint64)
    for d in range(docs):
        empty = signatures[d, 0] == EMPTY
        for band in range(bands):
            if empty:
                keys[d, band] = 0
                continue
            h = np.uint64(band + 1)
            for r in range(band * rows, (band + 1) * rows):
                h = (h ^ signatures[d, r]) * CHAIN_PRIME
            h = _avalanche(h)
            keys[d, band] = h if h != 0 else np.uint64(1)
    return keys


@nb.njit(cache=True)
def _bucket_end(keys: np.ndarray, i: int) -> int:
    """One past the last index of the run of keys equal to ``keys[i]``."""
    j = i + 1
    while j < len(keys) and keys[j] == keys[i]:
        j += 1
    return j


@nb.njit(cache=True)
def _bucket_pair_count(size: int, max_bucket_pairs: int) -> int:
    """Pairs a bucket of ``size`` documents yields: all of them, or the linear chain of a large bucket."""
    if size < 2:
        return 0
    return size * (size - 1) // 2 if size <= max_bucket_pairs else 2 * (size - 1) - 1


@nb.njit(cache=True)
def bucket_pairs(keys: np.ndarray, docs: np.ndarray, max_bucket_pairs: int) -> np.ndarray:
    """Candidate pairs ``(m, 2)`` (smaller doc first) from keys sorted ascending with their docs.

    A bucket (run of equal keys) of at most ``max_bucket_pairs`` documents yields all its pairs; a
    larger one yields (first, i) and (i − 1, i) for every member i, linear in its size. Key 0
    (document without shingles) never forms a bucket.
    """
    total = 0
    i = 0
    while i < len(keys):
        j = _bucket_end(keys, i)
        if keys[i] != 0:
            total += _bucket_pair_count(j - i, max_bucket_pairs)
        i = j
    out = np.empty((total, 2), np.int64)
    m = 0
    i = 0
    while i < len(keys):
        j = _bucket_end(keys, i)
        if j - i > 1 and keys[i] != 0:
            if j - i <= max_bucket_pairs:
                for x in range(i, j):
                    for y in range(x + 1, j):
                        out[m, 0] = min(docs[x], docs[y])
                        out[m, 1] = max(docs[x], docs[y])
                        m += 1
            else:
                for x in range(i + 1, j):
                    out[m, 0] = min(docs[i], docs[x])
                    out[m, 1] = max(docs[i], docs[x])
                    m += 1
                    if x > i + 1:
                        out[m, 0] = min(docs[x - 1], docs[x])
                        out[m, 1] = max(docs[x - 1], docs[x])
                        m += 1
        i = j
    return out[:m]


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of an ``(m, 2)`` int64 pair array, sorted."""
    if len(pairs) == 0:
        return pairs.reshape(0, 2)
    return np.unique(pairs, axis=0)


@nb.njit(cache=True)
def verify_pairs(pairs: np.ndarray, rows_of: np.ndarray, signatures: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of the pairs whose estimated Jaccard (equal slots / num_perm) is ≥ ``threshold``.

    ``rows_of[k]`` is the row of ``signatures`` that holds the k-th document named in ``pairs``
    (pairs name documents by their position in a sorted list of the documents involved).
    """
    k = signatures.shape[1]
    need = threshold * k - 1e-9
    out = np.empty(len(pairs), np.bool_)
    for p in range(len(pairs)):
        a = rows_of[pairs[p, 0]]
        b = rows_of[pairs[p, 1]]
        same = 0
        for i in range(k):
            same += signatures[a, i] == signatures[b, i]
        out[p] = same >= need
    return out

"""MinHash signatures: ``num_perm`` multiply-add permutations ``a·x + b (mod 2^32)`` of shingle keys.

Each word n-gram is hashed once to 64 bits (:mod:`midtrain.curation.stages.shingles`: FNV-1a per
word, a multiply-xor chain per shingle, the splitmix64 avalanche) and its high 32 bits are its
*key*; every permutation is then derived from that one key as ``h_i(x) = a_i·x + b_i`` in wrapping
32-bit arithmetic, with ``a_i`` odd. An odd ``a_i`` makes ``h_i`` a bijection of 32-bit words, so
distinct keys never collide, and the minimum is decided by the high bits of the product, the
well-mixed bits of multiply-shift hashing (Dietzfelbinger et al. 1997). That is one 32-bit
multiply, add and unsigned minimum per shingle and slot, which LLVM vectorises 8 lanes to an AVX2
register. The scheme before issue 19, an exact ``(a·x + b) mod (2^61 − 1)``, needed four 32-bit
multiplies and three folds per step; 64-bit multiply-add (``vpmullq``) measured 4.7× slower than
32-bit here (1.4M shingles × 256 slots: 175 ms against 37 ms, one core).

32 bits are enough: two different keys give equal slots by accident with chance about
``shingles / 2^32`` (4·10^-7 for a 1,800-shingle document), far below the estimate's own standard
error, and two distinct shingles share a key with chance 2^-32 per pair. datasketch's MinHash also
keeps 32-bit values.

:data:`~.config.SIGNATURE_SCHEME` names this construction; it is stored with every signature that
outlives a run (a dedup index, a job's work folder), since signatures of two schemes do not
compare. The permutation parameters come from a seeded PCG64 generator, so the same seed and
``num_perm`` give the same signatures on every machine.

A signature row (uint64, values below 2^32) is the minimum of every permutation over the
document's shingles; a document without shingles (empty after normalisation) gets ``EMPTY``
(2^64 − 1, which no 32-bit minimum reaches) in every slot and is left out of fuzzy matching.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.stages.dedup.config import SIGNATURE_SCHEME
from midtrain.curation.stages.shingles import arrow_buffers, ngram_hashes_into, word_hashes_into

__all__ = ["EMPTY", "SIGNATURE_SCHEME", "minhash_signatures", "permutations", "shingle_keys_into",
           "signature_of_keys"]

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
"""Signature value of a document without shingles (every real slot is below 2^32)."""


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` uint32: ``a`` uniform over odd 32-bit words, ``b`` uniform over 32-bit words, from ``seed``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint32) | np.uint32(1)
    b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint32)
    return a, b


@nb.njit(cache=True)
def shingle_keys_into(shingles: np.ndarray, count: int, keys: np.ndarray) -> None:
    """``keys[:count]`` = the high 32 bits of ``shingles[:count]`` (the avalanche's best-mixed bits)."""
    for s in range(count):
        keys[s] = np.uint32(shingles[s] >> np.uint64(32))


@nb.njit(cache=True)
def signature_of_keys(keys: np.ndarray, count: int, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (len ``num_perm``) with the minimum of each permutation over ``keys[:count]``.

    Duplicate shingles are not removed first: the minimum is the same, and skipping a sort is
    cheaper than the extra permutations. The loop over keys is innermost so that the running
    minimum stays in a register and LLVM vectorises the multiply, add and unsigned minimum; the
    ``np.uint32`` cast keeps the arithmetic 32 bits wide (numba would widen it to 64).
    """
    if count == 0:
        out[:] = EMPTY
        return
    for i in range(len(a)):
        a_i = a[i]
        b_i = b[i]
        low = np.uint32(0xFFFFFFFF)
        for s in range(count):
            low = min(low, np.uint32(a_i * keys[s] + b_i))
        out[i] = low


@nb.njit(cache=True)
def _signatures_kernel(data, offsets, n, fold_digits, a, b):
    docs = len(offsets) - 1
    sigs = np.empty((docs, len(a)), np.uint64)
    longest = 0
    for d in range(docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    words = np.empty((longest + 1) // 2 + 1, np.uint64)
    shingles = np.empty((longest + 1) // 2 + 1, np.uint64)
    keys = np.empty((longest + 1) // 2 + 1, np.uint32)
    for d in range(docs):
        num_words = word_hashes_into(data, offsets[d], offsets[d + 1], fold_digits, words)
        count = ngram_hashes_into(words, num_words, n, shingles)
        shingle_keys_into(shingles, count, keys)
        signature_of_keys(keys, count, a, b, sigs[d])
    return sigs


def minhash_signatures(texts: pa.Array | pa.ChunkedArray, *, ngram: int, a: np.ndarray, b: np.ndarray,
                       fold_digits: bool = True) -> np.ndarray:
    """``(len(texts), num_perm)`` uint64 signatures of already Unicode-normalised texts."""
    data, offsets = arrow_buffers(texts)
    return _signatures_kernel(data, offsets, ngram, fold_digits, a, b)

"""MinHash signatures: ``num_perm`` random permutations ``(a·x + b) mod (2^61 − 1)`` of shingle hashes.

The permutation parameters come from a seeded generator, so the same seed and ``num_perm`` give
the same signatures on every machine. The product ``a·x`` of two 61-bit numbers needs 122 bits;
:func:`mulmod61` computes it exactly with 64-bit arithmetic by splitting both factors into 32-bit
halves and folding with ``2^61 ≡ 1 (mod p)``. (datatrove and datasketch let ``a·x`` wrap modulo
2^64 before reducing, which is a different hash family; here the modulus is the Mersenne prime.)

A signature row is the minimum of every permutation over the document's distinct shingles; a
document without shingles (empty after normalisation) gets ``EMPTY`` in every slot and is left
out of fuzzy matching.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.stages.shingles import arrow_buffers, ngram_hashes_into, word_hashes_into

MERSENNE_61 = (1 << 61) - 1
EMPTY = np.uint64(MERSENNE_61)
"""Signature value of a document without shingles (no permutation ever reaches p itself)."""
_P = np.uint64(MERSENNE_61)
_LO32 = np.uint64(0xFFFFFFFF)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)``: ``a`` uniform in ``[1, p)``, ``b`` uniform in ``[0, p)``, from ``seed``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(1, MERSENNE_61, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, MERSENNE_61, size=num_perm, dtype=np.uint64)
    return a, b


@nb.njit(cache=True, inline="always")
def _fold61(v: np.uint64) -> np.uint64:
    """``v mod p`` for any 64-bit ``v`` (one fold leaves at most p + 7, one compare finishes)."""
    v = (v & _P) + (v >> np.uint64(61))
    return v - _P if v >= _P else v


@nb.njit(cache=True, inline="always")
def mulmod61(a: np.uint64, x: np.uint64) -> np.uint64:
    """``a·x mod (2^61 − 1)`` exactly, for ``a, x < 2^61``."""
    a_hi = a >> np.uint64(32)
    a_lo = a & _LO32
    x_hi = x >> np.uint64(32)
    x_lo = x & _LO32
    # a·x = hh·2^64 + (hl + lh)·2^32 + ll, with 2^64 ≡ 8 and 2^61 ≡ 1 (mod p)
    hh = a_hi * x_hi                      # < 2^58
    mid = a_hi * x_lo + a_lo * x_hi       # < 2^62
    ll = a_lo * x_lo                      # < 2^64
    mid_part = (mid >> np.uint64(29)) + ((mid & np.uint64((1 << 29) - 1)) << np.uint64(32))
    return _fold61(_fold61(hh << np.uint64(3)) + _fold61(mid_part) + _fold61(ll))


@nb.njit(cache=True)
def signature_of_shingles(shingles: np.ndarray, count: int, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (len ``num_perm``) with the minimum of each permutation over ``shingles[:count]``.

    Duplicate shingles are not removed first: the minimum is the same, and skipping a sort is
    cheaper than the extra permutations. The loop over shingles is innermost so that the running
    minimum stays in a register and LLVM vectorises the 32-bit multiplies of :func:`mulmod61`.
    """
    for s in range(count):
        shingles[s] = _fold61(shingles[s])
    for i in range(len(a)):
        a_i = a[i]
        b_i = b[i]
        low = _P
        for s in range(count):
            v = mulmod61(a_i, shingles[s]) + b_i
            v = v - _P if v >= _P else v
            low = min(low, v)
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
    for d in range(docs):
        num_words = word_hashes_into(data, offsets[d], offsets[d + 1], fold_digits, words)
        count = ngram_hashes_into(words, num_words, n, shingles)
        signature_of_shingles(shingles, count, a, b, sigs[d])
    return sigs


def minhash_signatures(texts: pa.Array | pa.ChunkedArray, *, ngram: int, a: np.ndarray, b: np.ndarray,
                       fold_digits: bool = True) -> np.ndarray:
    """``(len(texts), num_perm)`` uint64 signatures of already Unicode-normalised texts."""
    data, offsets = arrow_buffers(texts)
    return _signatures_kernel(data, offsets, ngram, fold_digits, a, b)

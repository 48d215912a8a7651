"""The MinHash kernels equal slow pure-Python twins, on real text from the quickstart sample."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from midtrain.curation.stages.dedup.lsh import band_keys, bucket_pairs
from midtrain.curation.stages.dedup.minhash import EMPTY, MERSENNE_61, minhash_signatures, mulmod61, permutations
from midtrain.curation.stages.dedup.normalize import normalize_unicode
from midtrain.curation.stages.shingles import arrow_buffers, document_ngrams, whitespace_text_hashes

MASK = (1 << 64) - 1
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
CHAIN = 0x9E3779B97F4A7C15


def py_words(text: bytes, fold_digits: bool) -> list[int]:
    """FNV-1a of each maximal run of ASCII alphanumerics / non-ASCII bytes, ASCII lowercased."""
    hashes, h, in_word = [], FNV_OFFSET, False
    for c in text:
        if c >= 128 or chr(c).isalnum():
            if 65 <= c <= 90:
                c += 32
            elif fold_digits and 48 <= c <= 57:
                c = 48
            h = ((h ^ c) * FNV_PRIME) & MASK
            in_word = True
        elif in_word:
            hashes.append(h)
            h, in_word = FNV_OFFSET, False
    if in_word:
        hashes.append(h)
    return hashes


def py_avalanche(h: int) -> int:
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK
    return h ^ (h >> 31)


def py_shingles(text: str, n: int, fold_digits: bool = True) -> list[int]:
    words = py_words(text.encode(), fold_digits)
    if not words:
        return []
    n = min(n, len(words))
    out = []
    for j in range(len(words) - n + 1):
        h = n
        for w in words[j:j + n]:
            h = ((h ^ w) * CHAIN) & MASK
        out.append(py_avalanche(h))
    return out


def py_signature(shingles: list[int], a: np.ndarray, b: np.ndarray) -> list[int]:
    """min over shingles of (a·x + b) mod (2^61 − 1), in Python's exact big integers."""
    p = MERSENNE_61
    if not shingles:
        return [p] * len(a)
    return [min((int(ai) * (x % p) + int(bi)) % p for x in shingles) for ai, bi in zip(a, b)]


@pytest.fixture(scope="module")
def real_texts(sample_raw) -> list[str]:
    docs = []
    for name in ("python_docs", "python_stdlib", "champ", "mpmath_docs"):
        lines = (sample_raw / f"{name}.jsonl").read_text().splitlines()
        docs += [json.loads(line)["text"][:3000] for line in lines[:6]]
    return docs + ["", "   \n\t", "one", "Café CRÈME brûlée — “quoted” 42"]


def test_word_ngram_hashes_equal_python_twin(real_texts):
    data, offsets = arrow_buffers(pa.array(real_texts))
    for i, text in enumerate(real_texts):
        assert document_ngrams(data, offsets[i], offsets[i + 1], 5, True).tolist() == py_shingles(text, 5)


def test_signatures_equal_python_twin(real_texts):
    a, b = permutations(16, seed=7)
    normalized = normalize_unicode(pa.array(real_texts))
    sigs = minhash_signatures(normalized, ngram=5, a=a, b=b)
    for i, text in enumerate(normalized.to_pylist()):
        assert sigs[i].tolist() == py_signature(py_shingles(text, 5), a, b), f"document {i}"


def test_empty_document_has_the_empty_signature():
    a, b = permutations(8, seed=1)
    sigs = minhash_signatures(pa.array(["", " ,;. "]), ngram=5, a=a, b=b)
    assert (sigs == EMPTY).all()


def test_mulmod_is_exact_for_122_bit_products():
    # a wrapping 64-bit product (what datasketch and datatrove compute) would differ on all of these
    p = MERSENNE_61
    rng = np.random.default_rng(0)
    cases = [(p - 1, p - 1), (p - 1, p - 3), (1 << 60, (1 << 60) + 1), (1, p - 1), (0, 5)]
    cases += [tuple(int(v) for v in rng.integers(0, p, 2, dtype=np.uint64)) for _ in range(200)]
    for a, x in cases:
        assert int(mulmod61(np.uint64(a), np.uint64(x))) == (a * x) % p


def test_normalisation_is_fineweb_style():
    out = normalize_unicode(pa.array(["Café CRÈME brûlée — “Quoted” ἄλφα", "ASCII Stays As Is, 42!"])).to_pylist()
    assert out[0].split() == ["cafe", "creme", "brulee", "quoted", "αλφα"]
    assert out[1] == "ASCII Stays As Is, 42!"  # ASCII case, punctuation and digits are folded in the kernel
    assert py_words(b"x = 42", True) == py_words(b"X  =  17", True)


def test_whitespace_hash_ignores_whitespace_only():
    texts = ["def f(x):\n    return x", "def f(x): return x  ", "def f(x): return X", "", " \n "]
    h = whitespace_text_hashes(*arrow_buffers(pa.array(texts)))
    assert (h[0] == h[1]).all() and not (h[0] == h[2]).all()
    assert (h[3] == h[4]).all()


def test_bucket_pairs_are_all_pairs_of_small_buckets_and_linear_for_big_ones():
    keys = np.array([0, 0, 5, 5, 5, 7, 9, 9, 9, 9, 9], np.uint64)
    docs = np.array([10, 11, 3, 1, 2, 8, 20, 21, 22, 23, 24], np.int64)
    small = {tuple(p) for p in bucket_pairs(keys, docs, 32).tolist()}
    assert small == {(1, 3), (2, 3), (1, 2)} | {(x, y) for x in range(20, 25) for y in range(x + 1, 25)}
    big = {tuple(p) for p in bucket_pairs(keys, docs, 3).tolist()}
    assert {p for p in big if p[0] >= 20} == {(20, 21), (20, 22), (20, 23), (20, 24), (21, 22), (22, 23), (23, 24)}


def test_band_keys_agree_exactly_when_band_slots_agree():
    sigs = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [7, 2, 3, 4]], np.uint64)
    keys = band_keys(sigs, 2, 2)
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert keys[0, 1] == keys[2, 1] and keys[0, 0] != keys[2, 0]

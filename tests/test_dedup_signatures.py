"""The MinHash kernels equal slow pure-Python twins, on real text from the quickstart sample and on
random text; the signatures estimate Jaccard without bias and are the same on every machine."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.stages.dedup.lsh import band_keys, bucket_pairs
from midtrain.curation.stages.dedup.minhash import EMPTY, minhash_signatures, permutations, signature_of_keys
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
    """min over shingles of (a·k + b) mod 2^32, k the high 32 bits of the shingle hash; none -> all EMPTY."""
    if not shingles:
        return [int(EMPTY)] * len(a)
    return [min((int(ai) * (x >> 32) + int(bi)) & 0xFFFFFFFF for x in shingles) for ai, bi in zip(a, b)]


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


# printable ASCII plus a few multi-byte characters, so words, punctuation and digits all occur
_TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ019 \n\t.,;-_'é—ß")), max_size=300)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=6), ngram=st.integers(1, 6), seed=st.integers(0, 2**32))
def test_signatures_equal_python_twin_on_random_texts(texts, ngram, seed):
    a, b = permutations(8, seed=seed)
    normalized = normalize_unicode(pa.array(texts))
    sigs = minhash_signatures(normalized, ngram=ngram, a=a, b=b)
    for i, text in enumerate(normalized.to_pylist()):
        assert sigs[i].tolist() == py_signature(py_shingles(text, ngram), a, b)


def test_empty_document_has_the_empty_signature():
    a, b = permutations(8, seed=1)
    sigs = minhash_signatures(pa.array(["", " ,;. "]), ngram=5, a=a, b=b)
    assert (sigs == EMPTY).all()


def test_a_real_minimum_never_reads_as_empty(real_texts):
    a, b = permutations(256, seed=1)
    sigs = minhash_signatures(normalize_unicode(pa.array(real_texts)), ngram=5, a=a, b=b)
    filled = sigs[sigs[:, 0] != EMPTY]
    assert len(filled) == len(real_texts) - 2 and (filled < 2**32).all()  # all but the two blank texts


def test_permutations_are_bijections_of_32_bit_words():
    a, b = permutations(256, seed=1)
    assert a.dtype == b.dtype == np.uint32
    assert (a & np.uint32(1) == 1).all()  # odd multipliers: k -> a·k + b is invertible mod 2^32
    assert len(set(a.tolist())) == 256 and len(set(b.tolist())) == 256


def test_signatures_are_the_same_on_every_machine():
    # pinned values: PCG64 and the wrapping uint32 arithmetic are defined bit for bit
    a, b = permutations(4, seed=1)
    assert a.tolist() == [2032329983, 2198257139, 3243419751, 4082210491]
    assert b.tolist() == [149690573, 619160822, 3534516178, 4074418350]
    sigs = minhash_signatures(pa.array(["hello world this is a test of it", "", "x"]), ngram=5, a=a, b=b)
    assert sigs[0].tolist() == [138229220, 1060776151, 78655727, 940873185]
    assert sigs[2].tolist() == [710780382, 3277775315, 1677538043, 3098671171]


def test_signatures_depend_on_text_and_settings_only(real_texts):
    a, b = permutations(64, seed=3)
    texts = pa.array(real_texts)
    alone = np.stack([minhash_signatures(texts.slice(i, 1), ngram=5, a=a, b=b)[0] for i in range(len(texts))])
    together = minhash_signatures(texts, ngram=5, a=a, b=b)
    again = minhash_signatures(pa.array(list(reversed(real_texts)), pa.large_string()), ngram=5, a=a, b=b)[::-1]
    assert (alone == together).all() and (together == again).all()


def test_jaccard_estimate_is_unbiased():
    """Over 400 pairs of shingle sets with known Jaccard, the estimate's mean error is ≈ 0 and its
    spread is the binomial one of independent slots (correlated permutations would widen it)."""
    k = 256
    a, b = permutations(k, seed=11)
    rng = np.random.default_rng(0)
    errors, z2 = [], []
    out_x, out_y = np.empty(k, np.uint64), np.empty(k, np.uint64)
    for _ in range(400):
        # shingle hashes as the kernel makes them: avalanched chains (here of consecutive integers)
        size = int(rng.integers(50, 2000))
        start = int(rng.integers(0, 2**40))
        shared = int(rng.integers(1, size))
        x = [py_avalanche(start + i) for i in range(size)]
        y = x[:shared] + [py_avalanche(start + size + i) for i in range(size - shared)]
        j = shared / (2 * size - shared)
        signature_of_keys((np.array(x, np.uint64) >> np.uint64(32)).astype(np.uint32), size, a, b, out_x)
        signature_of_keys((np.array(y, np.uint64) >> np.uint64(32)).astype(np.uint32), size, a, b, out_y)
        estimate = float((out_x == out_y).mean())
        errors.append(estimate - j)
        z2.append((estimate - j) ** 2 / (j * (1 - j) / k))
    assert abs(np.mean(errors)) < 0.005  # standard error of the mean ≈ 0.0013
    assert 0.75 < np.mean(z2) < 1.3      # ≈ 1 for independent slots (its standard error ≈ 0.07)


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

"""Verified MinHash clustering equals brute-force exact-Jaccard grouping on small real sets."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from test_dedup_signatures import py_shingles
from helpers.dedup_corpora import edit_words, real_documents, write_corpus

from midtrain.corpus import Manifest, read_text_shard
from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus
from midtrain.curation.stages.dedup.clusters import choose_keepers, connected_components
from midtrain.curation.stages.dedup.lsh import band_keys, verify_pairs
from midtrain.curation.stages.dedup.normalize import normalize_unicode


def exact_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def brute_force_groups(docs: list[dict], threshold: float) -> tuple[list[set[str]], list[float]]:
    """Connected components of the graph 'exact Jaccard of word 5-grams ≥ threshold', and all J."""
    texts = normalize_unicode(pa.array([d["text"] for d in docs])).to_pylist()
    sets = [set(py_shingles(t, 5)) for t in texts]
    parent = list(range(len(docs)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    js = []
    for i, j in itertools.combinations(range(len(docs)), 2):
        jac = exact_jaccard(sets[i], sets[j])
        js.append(jac)
        if jac >= threshold:
            parent[find(j)] = find(i)
    groups: dict[int, set[str]] = {}
    for i, d in enumerate(docs):
        groups.setdefault(find(i), set()).add(d["id"])
    return [g for g in groups.values() if len(g) > 1], js


@pytest.fixture(scope="module")
def near_duplicate_set(sample_raw) -> list[dict]:
    """Real documents plus copies edited lightly (J well above 0.8) and heavily (J well below)."""
    base = real_documents(sample_raw, per_source=8)
    docs = list(base)
    for k, d in enumerate(base[::3]):
        docs.append({**d, "id": f"~light#{k}", "text": edit_words(d["text"], 0.006, seed=k)})
        docs.append({**d, "id": f"~heavy#{k}", "text": edit_words(d["text"], 0.25, seed=k)})
    return docs


def test_clusters_equal_brute_force_exact_jaccard_grouping(near_duplicate_set, tmp_path):
    expected, js = brute_force_groups(near_duplicate_set, 0.8)
    # the set is only a fair test if no pair sits where a 128-slot estimate could go either way
    assert not [j for j in js if 0.6 <= j < 0.9]
    assert len(expected) >= 8
    corpus = write_corpus(tmp_path / "in", near_duplicate_set)
    dedup_corpus(corpus, tmp_path / "out", DedupConfig(threshold=0.8))
    manifest = Manifest.read(tmp_path / "out")
    groups: dict[str, set[str]] = {}
    for s in manifest.rejected:
        for r in read_text_shard(tmp_path / "out" / s.path).to_pylist():
            keeper = r["reason"].removeprefix("duplicate_of=")
            groups.setdefault(keeper, {keeper}).add(r["id"])
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, expected))


def test_verification_rejects_a_band_collision_with_a_dissimilar_rest():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**61 - 1, size=(1, 128), dtype=np.uint64)
    b = rng.integers(0, 2**61 - 1, size=(1, 128), dtype=np.uint64)
    b[0, :8] = a[0, :8]  # same first band: an LSH candidate with estimated J = 8/128
    sigs = np.concatenate([a, b])
    keys = band_keys(sigs, 16, 8)
    assert keys[0, 0] == keys[1, 0]
    pairs = np.array([[0, 1]])
    assert not verify_pairs(pairs, np.arange(2), sigs, 0.8)[0]
    assert verify_pairs(pairs, np.arange(2), sigs, 8 / 128)[0]


def test_components_do_not_depend_on_pair_order():
    pairs = np.array([[5, 6], [1, 2], [2, 5], [8, 9]])
    a = connected_components(10, pairs)
    b = connected_components(10, pairs[::-1].copy())
    assert a.tolist() == b.tolist() == [0, 1, 1, 3, 4, 1, 1, 7, 8, 8]


def test_keeper_order_is_priority_then_quality_then_id():
    nodes = np.array([1, 2, 5, 6, 8, 9])
    roots = np.array([1, 1, 1, 1, 8, 8])
    priority = np.array([0, 0, 0, 0, 0, 1], np.int8)
    quality = np.array([0.5, 0.9, np.nan, 0.9, 1.0, 0.0])
    ids = pa.array(["d", "c", "a", "b", "x", "y"])
    assert choose_keepers(nodes, roots, priority, quality, ids).tolist() == [6, 6, 6, 6, 9, 9]

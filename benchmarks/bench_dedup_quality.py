"""Near-duplicate detection quality against exact Jaccard ground truth, midtrain vs datasketch LSH.

Real documents (Python standard-library source files, cut to ≤ 6,000 characters) plus one edited
copy of each of 480 of them, edited (random word substitutions) until the exact Jaccard of word
5-gram shingles lands in one of nine levels 0.5 … 1.0. Ground truth is the exact Jaccard of *every*
pair (sparse shingle-incidence product), so natural near-duplicates in the stdlib count too.

- midtrain: ``dedup_corpus`` (16 × 8 bands, 128 permutations, verification at J ≥ 0.8), and the
  same bands with 256 permutations (the extra 128 only sharpen the verification estimate).
- anchor: datasketch ``MinHashLSH(threshold=0.8, num_perm=128)`` over the same shingles, pairs
  from LSH queries joined by union-find: LSH without verification, as every anchor tool does it.

Both keep the smallest id of each cluster and are scored the same way:
- precision (documents): share of removed documents whose exact J with the document kept in
  their place is ≥ 0.8 ("removed as a duplicate of X" is true);
- precision (pairs): share of all pairs inside a cluster with J ≥ 0.8; stricter, since
  union-find chains A~B~C even when A and C differ (stdlib's ``encodings/cp*.py`` family);
- recall: share of true pairs with J ≥ 0.85 that end in one cluster.
Targets (issue 5): recall ≥ 0.95, precision ≥ 0.95 at threshold 0.8. Run: ``python benchmarks/bench_dedup_quality.py``.
"""

from __future__ import annotations

import itertools
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_dedup_signatures import py_shingles  # noqa: E402  (the pure-Python shingle twin)

from midtrain.corpus import CorpusWriter, Manifest, read_text_shard  # noqa: E402
from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus  # noqa: E402
from midtrain.curation.stages.dedup.normalize import normalize_unicode  # noqa: E402

LEVELS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)


def base_documents(n: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if not {"test", "site-packages"} & set(p.relative_to(root).parts))
    texts, seen = [], set()
    for p in files:
        t = p.read_text(encoding="utf-8", errors="replace")[:6000]
        if len(t.split()) >= 200 and t not in seen:
            seen.add(t)
            texts.append(t)
        if len(texts) == n:
            break
    return texts


def shingle_set(text: str) -> set[int]:
    return set(py_shingles(normalize_unicode(pa.array([text])).to_pylist()[0], 5))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def edit_to_level(text: str, target: float, rng: random.Random) -> tuple[str, float]:
    """Substitute words until the exact Jaccard with ``text`` is within 0.01 of ``target``."""
    base = shingle_set(text)
    words = text.split(" ")
    lo, hi, best = 0.0, 0.5, (text, 1.0)
    for _ in range(14):
        frac = (lo + hi) / 2
        w = list(words)
        for i in random.Random(rng.random()).sample(range(len(w)), int(len(w) * frac)):
            w[i] = w[i] + "q"
        edited = " ".join(w)
        j = jaccard(base, shingle_set(edited))
        if abs(j - target) < abs(best[1] - target):
            best = (edited, j)
        if abs(j - target) < 0.01:
            break
        lo, hi = (frac, hi) if j > target else (lo, frac)
    return best


def true_jaccard_pairs(texts: list[str]) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair sharing at least one shingle."""
    vocab: dict[int, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        for s in shingle_set(t):
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    x = sp.csr_matrix((np.ones(len(rows), np.int32), (rows, cols)), shape=(len(texts), len(vocab)))
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sp.triu(x @ x.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    return {(int(i), int(j)): float(v / u) for i, j, v, u in zip(inter.row, inter.col, inter.data, union)}


def cluster_pairs(clusters: list[set[int]]) -> set[tuple[int, int]]:
    return {tuple(sorted(p)) for c in clusters for p in itertools.combinations(c, 2)}


def run_midtrain(texts: list[str], num_perm: int) -> tuple[list[set[int]], float]:
    with tempfile.TemporaryDirectory() as tmp:
        writer = CorpusWriter(Path(tmp) / "in", "text")
        for start in range(0, len(texts), 500):
            chunk = range(start, min(start + 500, len(texts)))
            writer.write_table("code", pa.table({"id": [f"{i:06d}" for i in chunk], "text": [texts[i] for i in chunk],
                                                 "domain": ["code"] * len(chunk), "source": ["stdlib"] * len(chunk)}))
        writer.finish()
        t = time.perf_counter()
        dedup_corpus(Path(tmp) / "in", Path(tmp) / "out", DedupConfig(threshold=0.8, exact=False, num_perm=num_perm))
        elapsed = time.perf_counter() - t
        clusters: dict[int, set[int]] = {}
        for s in Manifest.read(Path(tmp) / "out").rejected:
            for r in read_text_shard(Path(tmp) / "out" / s.path).to_pylist():
                keeper = int(r["reason"].removeprefix("duplicate_of="))
                clusters.setdefault(keeper, {keeper}).add(int(r["id"]))
    return list(clusters.values()), elapsed


def run_datasketch(texts: list[str]) -> tuple[list[set[int]], float]:
    from datasketch import MinHash, MinHashLSH

    t = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    hashes = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=128)
        m.update_batch([s.to_bytes(8, "little") for s in shingle_set(text)])
        lsh.insert(i, m)
        hashes.append(m)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(hashes):
        for j in lsh.query(m):
            parent[find(j)] = find(i)
    elapsed = time.perf_counter() - t
    groups: dict[int, set[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), set()).add(i)
    return [g for g in groups.values() if len(g) > 1], elapsed


def main() -> None:
    rng = random.Random(0)
    base = base_documents(1000)
    texts, planted = list(base), {}
    for k, i in enumerate(rng.sample(range(len(base)), 480)):
        edited, j = edit_to_level(base[i], LEVELS[k % len(LEVELS)], rng)
        planted[(i, len(texts))] = (LEVELS[k % len(LEVELS)], j)
        texts.append(edited)
    truth = true_jaccard_pairs(texts)
    print(f"{len(base)} stdlib documents + {len(planted)} edited copies; {sum(j >= 0.8 for j in truth.values())} "
          f"pairs with exact J ≥ 0.8 ({sum(j >= 0.85 for j in truth.values())} with J ≥ 0.85)")
    results = {}
    runs = (("midtrain default (256)", lambda t: run_midtrain(t, num_perm=256)),
            ("midtrain num_perm=128", lambda t: run_midtrain(t, num_perm=128)),
            ("datasketch MinHashLSH", run_datasketch))
    for name, fn in runs:
        clusters, elapsed = fn(texts)
        pairs = cluster_pairs(clusters)
        positives = {p for p, j in truth.items() if j >= 0.85}
        precision = sum(truth.get(p, 0.0) >= 0.8 for p in pairs) / max(len(pairs), 1)
        removed = [(min(c), d) for c in clusters for d in c if d != min(c)]
        doc_precision = sum(truth.get(p, 0.0) >= 0.8 for p in removed) / max(len(removed), 1)
        recall = len(pairs & positives) / max(len(positives), 1)
        by_level = {lvl: np.mean([p in pairs for p, (l2, _) in planted.items() if l2 == lvl]) for lvl in LEVELS}
        results[name] = (doc_precision, precision, recall, len(removed), elapsed, by_level)
    print(f"\n{'':<24} {'precision(docs)':>15} {'precision(pairs)':>16} {'recall J≥.85':>12} {'removed':>8} {'seconds':>8}")
    for name, (dp, p, r, n, s, _) in results.items():
        print(f"{name:<24} {dp:>15.3f} {p:>16.3f} {r:>12.3f} {n:>8} {s:>8.1f}")
    print("\nshare of planted pairs found, by Jaccard level (nominal; exact J within ±0.01):")
    print(f"{'level':<8}" + "".join(f"{n[:22]:>24}" for n in results))
    for lvl in LEVELS:
        print(f"{lvl:<8}" + "".join(f"{res[5][lvl]:>24.3f}" for res in results.values()))
    print("\ntargets: precision ≥ 0.95 at threshold 0.8, recall ≥ 0.95 for J ≥ 0.85 (issue 5)")


if __name__ == "__main__":
    main()

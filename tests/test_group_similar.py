"""Grouping by similarity: near neighbours under MinHash chained into one document, the rest alone."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from helpers.dedup_corpora import edit_words
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.cli import main
from midtrain.corpus import CorpusWriter, Manifest, read_text_shard, validate
from midtrain.curation.stages.group import GroupConfig, group_corpus
from midtrain.curation.stages.group.paths import greedy_paths, neighbour_lists

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture(scope="module")
def modules() -> list[str]:
    """The first 3,000 characters of 24 standard-library modules: real, unrelated texts."""
    texts = []
    for path in sorted(STDLIB.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")[:3000]
        if len(text.split()) >= 300:
            texts.append(text)
        if len(texts) == 24:
            return texts
    raise AssertionError("too few standard-library modules")


def write(path: Path, docs: list[tuple[str, str, str]], shards: int = 1) -> Path:
    writer = CorpusWriter(path, "text")
    for domain in sorted({d for _, _, d in docs}):
        part_rows = [(i, t) for i, t, d in docs if d == domain]
        size = -(-len(part_rows) // shards)
        for start in range(0, len(part_rows), size):
            part = part_rows[start:start + size]
            writer.write_table(domain, pa.table({"id": [i for i, _ in part], "text": [t for _, t in part],
                                                 "domain": [domain] * len(part), "source": ["test"] * len(part)}))
    writer.finish()
    return path


def groups(corpus: Path) -> dict[str, dict]:
    out = {}
    for s in Manifest.read(corpus).shards:
        out.update({r["id"]: r for r in read_text_shard(corpus / s.path).to_pylist()})
    return out


def test_near_duplicates_are_grouped_and_unrelated_documents_stay_alone(modules, tmp_path):
    docs = [(f"m{k:02d}", t, "code") for k, t in enumerate(modules)]
    docs += [("x04", edit_words(modules[4], 0.03, seed=1), "code"),  # a near copy of m04
             ("y09", edit_words(modules[9], 0.03, seed=2), "code"),  # a chain m09 - y09 - z09
             ("z09", edit_words(edit_words(modules[9], 0.03, seed=2), 0.03, seed=3), "code"),
             ("w04", edit_words(modules[4], 0.03, seed=4), "web")]   # near m04, but another domain
    report = group_corpus(write(tmp_path / "in", docs, shards=2), tmp_path / "out", GroupConfig(group_by="similar"))
    out = groups(tmp_path / "out")
    multi = {i: g["members"] for i, g in out.items() if len(g["members"]) > 1}
    assert multi == {"m04": ["m04", "x04"], "m09": ["m09", "y09", "z09"]}
    assert out["m09"]["text"] == "\n\n".join(dict((i, t) for i, t, _ in docs)[m] for m in multi["m09"])
    assert out["w04"]["members"] == ["w04"] and out["w04"]["domain"] == "web"
    assert sorted(m for g in out.values() for m in g["members"]) == sorted(i for i, _, _ in docs)
    assert report.kept == len(docs) - 3 and report.singletons == len(docs) - 5
    n = report.neighbours
    assert n["grouped_documents"] == 5 and n["neighbour_pairs"] == 4  # x04-m04, m09-y09, y09-z09, m09-z09
    assert n["verified_pairs"] == 6  # and w04 with m04 and x04, across domains
    assert validate(tmp_path / "out") == []


def test_groups_stop_at_max_docs_and_max_chars(modules, tmp_path):
    copies = [(f"c{k}", edit_words(modules[0], 0.02, seed=k), "code") for k in range(5)]
    corpus = write(tmp_path / "in", copies + [(f"m{k}", t, "code") for k, t in enumerate(modules[1:4])])
    group_corpus(corpus, tmp_path / "docs", GroupConfig(group_by="similar", max_docs=3))
    sizes = sorted(len(g["members"]) for g in groups(tmp_path / "docs").values())
    assert sizes == [1, 1, 1, 2, 3]
    longest = max(len(t) for _, t, _ in copies)
    group_corpus(corpus, tmp_path / "chars", GroupConfig(group_by="similar", max_chars=2 * longest + 2,
                                                        separator="\n\n"))
    out = groups(tmp_path / "chars")
    assert sorted(len(g["members"]) for g in out.values()) == [1, 1, 1, 1, 2, 2]
    assert all(len(g["text"]) <= 2 * longest + 2 for g in out.values())


def reference_paths(n: int, pairs: list[tuple[int, int]], sim: list[float], chars: list[int], sep: int,
                    max_docs: int, max_chars: int) -> list[list[int]]:
    """The greedy walk as documented, without cursors or arrays."""
    near = {v: [] for v in range(n)}
    for (a, b), s in zip(pairs, sim):
        near[a].append((-s, b))
        near[b].append((-s, a))
    visited, out = set(), []
    for start in range(n):
        if start in visited:
            continue
        visited.add(start)
        path, total = [start], chars[start]
        while len(path) < max_docs:
            nxt = None
            for member in reversed(path):
                free = sorted(c for c in near[member] if c[1] not in visited)
                if free:
                    nxt = free[0][1]
                    break
            if nxt is None or (max_chars >= 0 and total + sep + chars[nxt] > max_chars):
                break
            visited.add(nxt)
            path.append(nxt)
            total += sep + chars[nxt]
        out.append(path)
    return out


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 14).flatmap(lambda n: st.tuples(
    st.just(n),
    st.dictionaries(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1]),
                    st.sampled_from([0.3, 0.5, 0.75, 1.0]), max_size=25),
    st.lists(st.integers(1, 50), min_size=n, max_size=n), st.integers(1, 6), st.sampled_from([-1, 60, 120]))))
def test_path_kernel_equals_the_documented_walk(case):
    n, edges, chars, max_docs, max_chars = case
    pairs = sorted(edges)
    sim = [edges[p] for p in pairs]
    indptr, neighbours = neighbour_lists(n, np.array(pairs, np.int64).reshape(-1, 2), np.array(sim))
    order, sizes = greedy_paths(indptr, neighbours, np.array(chars, np.int64), 2, max_docs, max_chars)
    expected = reference_paths(n, pairs, sim, chars, 2, max_docs, max_chars)
    assert [g.tolist() for g in np.split(order, np.cumsum(sizes)[:-1])] == expected


def test_same_bytes_for_any_number_of_workers_and_the_command(modules, tmp_path, capsys):
    docs = [(f"m{k:02d}", t, "code") for k, t in enumerate(modules[:12])]
    docs += [(f"e{k:02d}", edit_words(t, 0.03, seed=k), "code" if k % 2 else "web") for k, t in enumerate(modules[:6])]
    corpus = write(tmp_path / "in", docs, shards=3)
    for workers in (1, 2):
        assert main(["group", str(corpus), "--by", "similar", "-o", str(tmp_path / f"w{workers}"), "--quiet",
                     "--workers", str(workers), "--bands", "20", "--num-perm", "64", "--max-docs", "4"]) == 0
    out = capsys.readouterr().out
    assert "group (similar): 18 documents -> 15 groups (12 single)" in out and "3 neighbour pairs" in out
    files = sorted(p.relative_to(tmp_path / "w1") for p in (tmp_path / "w1").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "w2") for p in (tmp_path / "w2").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "w1" / f).read_bytes() == (tmp_path / "w2" / f).read_bytes(), f

"""Grouping by repository: dependency order of Python, Go and C/C++ files, the path headers, the
parts under ``max_chars``, the report's counts, and what bad input says."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.cli import main
from midtrain.corpus import CorpusWriter, Manifest, read_text_shard, validate
from midtrain.curation.stages.group import GroupConfig, group_corpus
from midtrain.curation.stages.group.imports import file_references
from midtrain.curation.stages.group.order import csr, dependency_order, order_files
from midtrain.errors import ConfigError

STDLIB = Path(sysconfig.get_paths()["stdlib"])

SHOP = {  # a Python package: absolute, relative, parent-relative and package imports
    "__init__.py": "from .core import Engine\nfrom . import util\n",
    "util.py": "import os\n\ndef helper():\n    return os.sep\n",
    "core.py": "from .util import helper\nfrom shop.models import Item\n\nclass Engine:\n    pass\n",
    "models/__init__.py": "from .item import Item\n",
    "models/item.py": "from ..util import helper\nimport shop.models.price\n\nclass Item:\n    pass\n",
    "models/price.py": "import json\n",
    "cli.py": "import shop\nfrom shop import core\n",
}


def write(path: Path, docs: list[tuple[str, str, str]], *, shards: int = 1, rejected: bool = False) -> Path:
    """A text corpus of ``(id, text, domain)`` documents, each domain split over ``shards`` shards."""
    writer = CorpusWriter(path, "text")
    for domain in sorted({d for _, _, d in docs}):
        rows = [(i, t) for i, t, d in docs if d == domain]
        size = -(-len(rows) // shards)
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            writer.write_table(domain, pa.table({"id": [i for i, _ in part], "text": [t for _, t in part],
                                                 "domain": [domain] * len(part), "source": ["test"] * len(part)}))
    if rejected:
        writer.write_rejected("code", pa.table({"id": ["x/dropped.py"], "text": ["pass"], "domain": ["code"],
                                                "source": ["test"], "step": ["gopher"], "reason": ["short"]}))
    writer.finish()
    return path


def rows(corpus: Path) -> list[dict]:
    out = []
    for s in Manifest.read(corpus).shards:
        out += read_text_shard(corpus / s.path).to_pylist()
    return out


# --- dependency order on hand-made packages ------------------------------------------------------
def test_python_package_dependencies_come_first():
    result = order_files("shop", SHOP)
    assert result.paths == ["models/price.py", "util.py", "models/item.py", "models/__init__.py", "core.py",
                            "__init__.py", "cli.py"]
    assert sorted(result.edges) == sorted([
        ("core.py", "__init__.py"), ("util.py", "__init__.py"), ("util.py", "core.py"),
        ("models/__init__.py", "core.py"), ("models/item.py", "models/__init__.py"), ("util.py", "models/item.py"),
        ("models/price.py", "models/item.py"), ("__init__.py", "cli.py"), ("core.py", "cli.py")])
    assert result.counts["satisfied"] == result.counts["edges"] == 9 and result.counts["breaks"] == 0


def test_a_cycle_is_broken_by_smallest_in_degree_then_path_and_counted():
    files = {"a.py": "import b\n", "b.py": "from c import x\n", "c.py": "import a\n", "d.py": "import c\n",
             "e.py": "x = 1\n"}
    result = order_files("cyc", files)
    # e has no dependency; then a, b, c and d each wait on one: a goes first (path order), which
    # frees c, then b and d
    assert result.paths == ["e.py", "a.py", "c.py", "b.py", "d.py"]
    c = result.counts
    assert (c["edges"], c["satisfied"], c["cycles"], c["files_in_cycles"], c["breaks"]) == (4, 3, 1, 3, 1)
    assert (c["edges_outside_cycles"], c["satisfied_outside_cycles"], c["cyclic_packages"]) == (1, 1, 1)


def test_a_file_that_does_not_parse_falls_back_to_the_regex():
    text = "print 'python 2'\nimport util, os.path as p\nfrom .models import item, price\nfrom . import (cli,\n"
    assert file_references("x/old.py", text) == (
        ["py:0:util:", "py:0:os.path:", "py:1:models:item", "py:1:models:price", "py:1::cli"], "python-regex")
    result = order_files("x", {"old.py": text, "util.py": "", "models/item.py": "", "cli.py": ""})
    assert result.paths.index("old.py") == 3 and result.counts["satisfied"] == 3


def test_go_import_depends_on_every_non_test_file_of_the_folder():
    files = {
        "http/server.go": 'package http\n\nimport (\n\t"fmt" // stdlib\n\tx "net/http/internal"\n\t"net/textproto"\n'
                          '\t"golang.org/x/net/hpack"\n)\n\nfunc Serve() { fmt.Println(x.A) }\n',
        "http/server_test.go": 'package http_test\n\nimport "net/http"\n',
        "http/internal/chunked.go": 'package internal\n\nimport "io"\n',
        "http/internal/chunked_test.go": 'package internal\n\nimport "testing"\n',
        "textproto/reader.go": "package textproto\n",
        "textproto/writer.go": "package textproto\n/* import \"net/http\" in a comment */\n",
        "vendor/golang.org/x/net/hpack/hpack.go": "package hpack\n",
        # a generator program: //go:build ignore keeps it out of textproto, so no cycle through it
        "textproto/gen.go": '//go:build ignore\n\npackage main\n\nimport "net/http"\n',
    }
    result = order_files("net", files)
    assert result.counts["cycles"] == 0 and ("http/server.go", "textproto/gen.go") in result.edges
    assert sorted(d for d, f in result.edges if f == "http/server.go") == [
        "http/internal/chunked.go", "textproto/reader.go", "textproto/writer.go",
        "vendor/golang.org/x/net/hpack/hpack.go"]
    assert [d for d, f in result.edges if f == "http/server_test.go"] == ["http/server.go"]
    assert result.counts["satisfied"] == result.counts["edges"] == 6
    assert result.paths.index("http/server.go") > max(result.paths.index(p) for p in files if "server" not in p
                                                      and not p.endswith(("_test.go", "gen.go")))


def test_c_includes_resolve_relative_then_root_then_unique_suffix():
    files = {"src/main.c": '#include "util.h"\n#include "include/api.h"\n#include <stdio.h>\n',
             "src/util.h": '#include "../include/api.h"\n',
             "include/api.h": '#include "types.h"\n',
             "include/types.h": "typedef int t;\n",
             "tests/t.cpp": '#  include "api.h"\n'}
    result = order_files("lib", files)
    assert sorted(result.edges) == sorted([("src/util.h", "src/main.c"), ("include/api.h", "src/main.c"),
                                           ("include/api.h", "src/util.h"), ("include/types.h", "include/api.h"),
                                           ("include/api.h", "tests/t.cpp")])
    assert result.paths == ["include/types.h", "include/api.h", "src/util.h", "src/main.c", "tests/t.cpp"]


# --- the ordering kernel against its definition ---------------------------------------------------
def reference_order(n: int, edges: list[tuple[int, int]]) -> tuple[list[int], int]:
    """The rule as written: take the remaining node of smallest (in-degree, number); O(n²)."""
    remaining, order, breaks = set(range(n)), [], 0
    while remaining:
        degree = {v: sum(1 for a, b in edges if b == v and a in remaining) for v in remaining}
        v = min(remaining, key=lambda u: (degree[u], u))
        breaks += degree[v] > 0
        order.append(v)
        remaining.remove(v)
    return order, breaks


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.sets(
    st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]), max_size=30))))
def test_kernel_equals_the_rule_on_any_graph(case):
    n, edges = case
    edges = sorted(edges)
    order, breaks = dependency_order(np.array([0, n]), *csr(n, np.array(edges, np.int64).reshape(-1, 2)))
    assert (order.tolist(), int(breaks[0])) == reference_order(n, edges)


@st.composite
def acyclic_packages(draw):
    """Python files importing each other along a random DAG, with every import form."""
    n = draw(st.integers(1, 14))
    names = [f"m{k}" for k in draw(st.permutations(range(n)))]  # topological rank -> module name
    folder = {name: draw(st.sampled_from(["", "sub", "sub/deep"])) for name in names}
    files = {}
    for j, name in enumerate(names):
        lines = []
        for i in sorted(draw(st.sets(st.integers(0, j - 1), max_size=j)) if j else []):
            dep, where = names[i], folder[names[i]]
            dotted = ".".join(["pkg", *where.split("/"), dep]) if where else f"pkg.{dep}"
            forms = [f"import {dotted}", f"from {dotted} import thing",
                     f"from {dotted.rsplit('.', 1)[0]} import {dep}"]
            if where == folder[name]:
                forms.append(f"from .{dep} import thing")
            lines.append(draw(st.sampled_from(forms)))
        files[f"{folder[name]}/{name}.py".lstrip("/")] = "\n".join(lines) + "\n"
    return files


@settings(max_examples=60, deadline=None)
@given(acyclic_packages())
def test_every_edge_of_an_acyclic_package_is_satisfied(files):
    result = order_files("pkg", files)
    assert sorted(result.paths) == sorted(files)  # every member once
    expected_edges = sum(text.count("\n") for text in files.values() if text.strip())
    assert result.counts["edges"] == expected_edges
    assert result.counts["satisfied"] == result.counts["edges"] and result.counts["breaks"] == 0


# --- the stage, end to end -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def packages() -> list[tuple[str, str, str]]:
    """shop (hand-made), json and email of this interpreter's standard library, a Go package, docs."""
    docs = [(f"shop/{p}", t, "code") for p, t in SHOP.items()]
    for pkg in ("json", "email"):
        docs += [(f"{pkg}/{p.relative_to(STDLIB / pkg)}", p.read_text(), "code")
                 for p in sorted((STDLIB / pkg).rglob("*.py"))]
    docs += [("gop/main.go", 'package main\n\nimport "gop/util"\n', "code"),
             ("gop/util/u.go", "package util\n", "code"),
             ("gop/README.md", "# gop\n\nA Go package.\n", "web")]
    return docs


def test_one_document_per_package_in_dependency_order(packages, tmp_path):
    report = group_corpus(write(tmp_path / "in", packages, shards=3, rejected=True), tmp_path / "out")
    out = {r["id"]: r for r in rows(tmp_path / "out")}
    assert sorted(out) == ["email", "gop", "json", "shop"]
    assert out["shop"]["members"] == [f"shop/{p}" for p in order_files("shop", SHOP).paths]
    assert out["shop"]["text"].startswith("# path: shop/models/price.py\nimport json\n\n# path: shop/util.py\n")
    assert out["gop"]["text"] == ("# path: gop/README.md\n# gop\n\nA Go package.\n\n// path: gop/util/u.go\n"
                                  "package util\n\n// path: gop/main.go\npackage main\n\nimport \"gop/util\"\n\n")
    assert out["gop"]["domain"] == "code"  # two code files, one web file: the majority
    members = [m for r in out.values() for m in r["members"]]
    assert sorted(members) == sorted(i for i, _, _ in packages)  # every document, once
    assert report.input == report.members == len(packages) and report.kept == 4 and report.rejected == {}
    o = report.order
    assert o["packages"] == 4 and o["parsers"] == {"go": 2, "none": 1, "python": len(packages) - 3}
    assert o["satisfied_in_acyclic_packages"] == o["edges_in_acyclic_packages"] > 0
    assert o["cyclic_packages"] == 1 and o["cycles"] >= 1  # email's parser/feedparser imports form a cycle
    manifest = Manifest.read(tmp_path / "out")
    assert [s.path for s in manifest.rejected] == ["rejected/code/00000.arrow"]  # carried over
    assert manifest.extra["group"]["counts"]["order"]["edges"] == o["edges"]
    assert (tmp_path / "out" / "group-report.json").is_file() and validate(tmp_path / "out") == []


def test_a_package_over_max_chars_is_cut_into_consecutive_parts(packages, tmp_path):
    report = group_corpus(write(tmp_path / "in", packages), tmp_path / "out",
                          GroupConfig(max_chars=120_000, shard_size_mb=0.1))
    parts = [r for r in rows(tmp_path / "out") if r["id"].startswith("email#")]
    assert [r["id"] for r in parts] == [f"email#{k}" for k in range(1, len(parts) + 1)] and len(parts) > 2
    email = {i.removeprefix("email/"): t for i, t, _ in packages if i.startswith("email/")}
    in_order = order_files("email", email).paths
    assert [m for r in parts for m in r["members"]] == [f"email/{p}" for p in in_order]
    assert "".join(r["text"] for r in parts) == "".join(f"# path: email/{p}\n{email[p]}\n" for p in in_order)
    assert all(len(r["text"]) <= 120_000 for r in rows(tmp_path / "out"))
    assert report.order["split_packages"] == 1 and len(Manifest.read(tmp_path / "out").shards) > 1


def test_same_bytes_for_any_number_of_workers(packages, tmp_path):
    corpus = write(tmp_path / "in", packages, shards=4)
    for workers in (1, 2):
        group_corpus(corpus, tmp_path / f"w{workers}", GroupConfig(max_chars=120_000, shard_size_mb=0.2),
                     workers=workers)
    files = sorted(p.relative_to(tmp_path / "w1") for p in (tmp_path / "w1").rglob("*") if p.is_file())
    assert len(files) > 3
    assert files == sorted(p.relative_to(tmp_path / "w2") for p in (tmp_path / "w2").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "w1" / f).read_bytes() == (tmp_path / "w2" / f).read_bytes(), f


# --- bad input -------------------------------------------------------------------------------------
def test_an_id_without_a_package_part_names_the_record(tmp_path):
    corpus = write(tmp_path / "in", [("shop/a.py", "", "code"), ("setup.py", "", "code")])
    with pytest.raises(ConfigError, match=r"data/code/00000.arrow row 1 \(id 'setup.py'\): the id has no package"):
        group_corpus(corpus, tmp_path / "out")


def test_a_file_longer_than_max_chars_is_an_error_or_a_part_of_its_own(tmp_path):
    corpus = write(tmp_path / "in", [("p/a.py", "x = 1\n" * 50, "code"), ("p/b.py", "import a\n", "code")])
    with pytest.raises(ConfigError, match=r"row 0 \(id 'p/a.py'\): its header and text take 316 characters, "
                                          r"more than max_chars = 100"):
        group_corpus(corpus, tmp_path / "out", GroupConfig(max_chars=100))
    report = group_corpus(corpus, tmp_path / "out", GroupConfig(max_chars=100, oversize="alone"))
    assert [(r["id"], r["members"]) for r in rows(tmp_path / "out")] == [("p#1", ["p/a.py"]), ("p#2", ["p/b.py"])]
    assert report.order["oversized"] == 1


def test_an_empty_corpus_is_refused(tmp_path):
    CorpusWriter(tmp_path / "in", "text").finish()
    with pytest.raises(ConfigError, match="holds no documents"):
        group_corpus(tmp_path / "in", tmp_path / "out")


def test_the_command_prints_one_line_and_errors_in_one_line(tmp_path, capsys):
    corpus = write(tmp_path / "in", [(f"shop/{p}", t, "code") for p, t in SHOP.items()])
    assert main(["group", str(corpus), "--by", "repo", "-o", str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("group (repo): 7 documents -> 1 groups (0 single)" in out
            and "1 packages (0 split); import edges 9/9 satisfied (100.0%), 0 cycle(s), 0 break(s)" in out)
    assert main(["group", str(corpus), "--by", "repo", "-o", str(tmp_path / "o2"), "--package-depth", "2",
                 "--quiet"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after datatrove's log of the first step
    assert last.startswith("midtrain group: error: ") and "(id 'shop/__init__.py'): the id has no package part" in last

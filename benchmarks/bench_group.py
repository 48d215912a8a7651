"""Repository grouping on real packages: how many import edges the order keeps, cycles, group lengths, time.

Corpora (each file one document, id ``<package>/<relative path>``, packages = top-level folders):

- the Python standard library of this interpreter (``sysconfig.get_paths()["stdlib"]``, ``.py``
  files of every top-level package folder; ``site-packages`` and ``__pycache__`` left out);
- the Go 1.19 sources, if unpacked under ``benchmarks/.cache/sources/x/golang-1.19-src``
  (Debian's ``golang-1.19-src``; ``.go``, ``.c`` and ``.h`` files, ``testdata/`` left out as the
  Go tool does).

For each corpus the stage runs end to end (``group_corpus``, ``group_by: repo``) and the table
puts its order beside the order a plain concatenation would use (files sorted by path, the
anchor): the share of intra-package import edges whose dependency comes first, overall, on the
packages whose import graph is acyclic (the target: 100%) and outside cycles; cycles and breaks;
the length of the groups in characters; the wall-clock time of the stage.

Run: ``python benchmarks/bench_group.py [--workers 2] [--corpus python go]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sysconfig
import tempfile
import time
from pathlib import Path

GO_SRC = Path(__file__).resolve().parent / ".cache/sources/x/golang-1.19-src/usr/share/go-1.19/src"


def python_files() -> dict[str, str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in ("site-packages", "__pycache__")):
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            try:
                files[str(path.relative_to(root))] = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # a few test files are deliberately not UTF-8
    return files


def go_files() -> dict[str, str]:
    files = {}
    for folder in sorted(p for p in GO_SRC.iterdir() if p.is_dir() and p.name != "testdata"):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".go", ".c", ".h") and "testdata" not in path.parts and path.is_file():
                files[str(path.relative_to(GO_SRC))] = path.read_text(encoding="utf-8", errors="replace")
    return files


def write_corpus(folder: Path, files: dict[str, str], shards: int = 8) -> Path:
    import pyarrow as pa

    from midtrain.corpus import CorpusWriter

    writer = CorpusWriter(folder, "text")
    ids = sorted(files)
    size = -(-len(ids) // shards)
    for start in range(0, len(ids), size):
        part = ids[start:start + size]
        writer.write_table("code", pa.table({"id": part, "text": [files[i] for i in part],
                                             "domain": ["code"] * len(part), "source": ["bench"] * len(part)}))
    writer.finish()
    return folder


def path_order_counts(files: dict[str, str]) -> dict[str, int]:
    """The anchor: files of each package sorted by path; edges from the same resolution as the stage."""
    from midtrain.curation.stages.group.order import order_files

    by_package: dict[str, dict[str, str]] = {}
    for doc_id, text in files.items():
        package, _, path = doc_id.partition("/")
        by_package.setdefault(package, {})[path] = text
    total = {"edges": 0, "satisfied": 0, "acyclic_edges": 0, "acyclic_satisfied": 0}
    for package, members in sorted(by_package.items()):
        result = order_files(package, members)
        kept = sum(dep < file for dep, file in result.edges)  # path order: dependency first iff smaller path
        total["edges"] += len(result.edges)
        total["satisfied"] += kept
        if not result.counts["cyclic_packages"]:
            total["acyclic_edges"] += len(result.edges)
            total["acyclic_satisfied"] += kept
    return total


def share(a: int, b: int) -> str:
    return f"{a / b:.1%} ({a:,}/{b:,})" if b else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--corpus", nargs="+", default=["python", "go"], choices=["python", "go"])
    args = parser.parse_args()
    from midtrain.curation.stages.group import GroupConfig, group_corpus

    rows = []
    for name in args.corpus:
        if name == "go" and not GO_SRC.is_dir():
            print(f"go: {GO_SRC} not found; skipped (unpack Debian's golang-1.19-src there)")
            continue
        files = python_files() if name == "python" else go_files()
        with tempfile.TemporaryDirectory() as tmp:
            corpus = write_corpus(Path(tmp) / "in", files)
            start = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):  # datatrove logs every task at INFO
                report = group_corpus(corpus, Path(tmp) / "out", GroupConfig(group_by="repo"), workers=args.workers)
            seconds = time.perf_counter() - start
        anchor = path_order_counts(files)
        o, lengths = report.order, report.lengths
        assert anchor["edges"] == o["edges"], "the anchor and the stage resolved different edges"
        chars = sum(len(t) for t in files.values())
        rows.append((name, len(files), chars, o, lengths, anchor, seconds, report))

    print(f"\nRepository grouping, group_by: repo, {args.workers} worker(s)\n")
    head = "| | " + " | ".join(r[0] for r in rows) + " |"
    print(head)
    print("|---|" + "---:|" * len(rows))
    table = [
        ("files / packages", lambda r: f"{r[1]:,} / {r[3]['packages']:,}"),
        ("characters", lambda r: f"{r[2] / 1e6:.1f} M"),
        ("intra-package import edges", lambda r: f"{r[3]['edges']:,}"),
        ("satisfied, dependency order (midtrain)", lambda r: share(r[3]["satisfied"], r[3]["edges"])),
        ("satisfied, path order (anchor)", lambda r: share(r[5]["satisfied"], r[5]["edges"])),
        ("… on acyclic packages, midtrain", lambda r: share(r[3]["satisfied_in_acyclic_packages"],
                                                            r[3]["edges_in_acyclic_packages"])),
        ("… on acyclic packages, anchor", lambda r: share(r[5]["acyclic_satisfied"], r[5]["acyclic_edges"])),
        ("… outside cycles, midtrain", lambda r: share(r[3]["satisfied_outside_cycles"],
                                                       r[3]["edges_outside_cycles"])),
        ("cycles (files in them) / cyclic packages", lambda r: f"{r[3]['cycles']:,} ({r[3]['files_in_cycles']:,}) / "
                                                                f"{r[3]['cyclic_packages']:,}"),
        ("breaks (file placed before a dependency)", lambda r: f"{r[3]['breaks']:,}"),
        ("files by parser", lambda r: ", ".join(f"{k} {v:,}" for k, v in r[3]["parsers"].items())),
        ("group chars min / p50 / p90 / max", lambda r: f"{r[4]['min']:,} / {r[4]['p50']:,} / {r[4]['p90']:,} / "
                                                         f"{r[4]['max']:,}"),
        ("group chars mean", lambda r: f"{r[4]['mean']:,.0f}"),
        ("stage wall time", lambda r: f"{r[6]:.1f} s ({r[1] / r[6]:,.0f} files/s)"),
    ]
    for label, cell in table:
        print(f"| {label} | " + " | ".join(cell(r) for r in rows) + " |")
    for r in rows:
        print(f"\n{r[0]}: {r[7].one_line()}")


if __name__ == "__main__":
    main()

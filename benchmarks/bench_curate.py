"""Whole-pipeline throughput of ``midtrain curate`` per core, beside datatrove's own chain.

Data (real, fetched and cached by ``rules_corpus.py`` and the quickstart sample): English prose
(Linux kernel and Python reST docs, the Brown corpus) given *without* a domain hint, so the
domain labeller decides; LaTeX-heavy math (mpmath, CHAMP, PARI/GP manual) hinted ``math``;
Python standard-library modules hinted ``code``. The prose is cut to ``--prose-mb`` and split into
JSONL files of about 2 MB (one task each, as a real job would be).

Runs, each from a fresh output folder:
- midtrain, default pipeline (normalise -> language ID -> domain -> quality -> rule signals ->
  thresholds -> writer), ``--workers 1`` (= per core) and ``--workers 2``;
- datatrove 0.10.1 on the prose only: ``ParquetReader -> GopherRepetition -> GopherQuality ->
  C4Quality -> FineWebQuality -> ParquetWriter`` (its heuristic chain; it has no language ID model
  offline, no domain labels and no tag-first columns), and ``ParquetReader -> ParquetWriter`` as
  its I/O floor (Parquet because its JSONL reader and writer need orjson, not installed here). datatrove runs on the first ``--datatrove-docs`` prose documents (it is ~40 docs/s).

Prints medians over ``--repeats`` and each midtrain step's share of task time (datatrove stats).

    python benchmarks/bench_curate.py [--prose-mb 12] [--repeats 3] [--datatrove-docs 1500]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

CACHE = Path(__file__).parent / ".cache" / "curate"


def prepare(prose_mb: float) -> tuple[list[tuple[str, str | None]], dict[str, float]]:
    """Write the benchmark inputs (cached) and return ``(path, hint)`` pairs plus their sizes."""
    from rules_corpus import load_math, load_prose

    from midtrain.quickstart.sample import build_sample

    key = CACHE / f"inputs-{prose_mb:g}mb"
    if not (key / "done").exists():
        shutil.rmtree(key, ignore_errors=True)
        (key / "prose").mkdir(parents=True)
        budget, part, size, n = prose_mb * 1e6, 0, 0, 0
        out = open(key / "prose" / f"{part:03d}.jsonl", "w")
        for rec in load_prose():
            if n >= budget:
                break
            out.write(json.dumps({"id": rec["id"], "text": rec["text"]}) + "\n")
            b = len(rec["text"].encode())
            size, n = size + b, n + b
            if size >= 2e6:
                out.close()
                part, size = part + 1, 0
                out = open(key / "prose" / f"{part:03d}.jsonl", "w")
        out.close()
        with open(key / "math.jsonl", "w") as f:
            for rec in load_math():
                f.write(json.dumps({"id": rec["id"], "text": rec["text"]}) + "\n")
        sample = build_sample(key / "sample", code_bytes=4_000_000)
        shutil.copy(sample[1].path, key / "code.jsonl")
        (key / "done").write_text("ok")
    inputs = [(str(key / "prose"), None), (str(key / "math.jsonl"), "math"), (str(key / "code.jsonl"), "code")]
    sizes = {}
    for path, _ in inputs:
        p = Path(path)
        files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
        docs = sum(1 for f in files for _ in open(f))
        text = sum(len(json.loads(line)["text"].encode()) for f in files for line in open(f))
        sizes[p.name] = (docs, text)
    return inputs, sizes


def run_midtrain(inputs, workers: int, out: Path) -> tuple[float, dict]:
    from midtrain.curation import curate

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    report = curate(inputs, out, workers=workers)
    seconds = time.perf_counter() - t
    assert report.balanced
    return seconds, report.to_dict()["totals"]


def step_shares(out: Path) -> list[tuple[str, float]]:
    """Each step's share of the summed task time, from datatrove's merged stats (readers are not timed)."""
    stats = json.loads((out / "job" / "stats.json").read_text())
    times = [(s["name"], s["time_stats"]["total"] if isinstance(s.get("time_stats"), dict) else 0.0) for s in stats]
    total = sum(t for _, t in times) or 1.0
    return [(name, t / total) for name, t in times]


def run_datatrove(prose_dir: Path, n_docs: int, out: Path, filters: bool) -> tuple[float, int, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    # Parquet in and out: datatrove's JSONL reader/writer need orjson, which midtrain does not install.
    subset = out.parent / f"dt-input-{n_docs}"
    if not subset.exists():
        import pyarrow as pa
        import pyarrow.parquet as pq

        lines = (line for p in sorted(prose_dir.glob("*.jsonl")) for line in open(p))
        recs = [json.loads(line) for _, line in zip(range(n_docs), lines)]
        subset.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(recs), subset / "prose.parquet")
    import pyarrow.parquet as pq

    texts = pq.read_table(subset / "prose.parquet", columns=["text"]).column("text").to_pylist()
    docs, size = len(texts), sum(len(t.encode()) for t in texts)
    shutil.rmtree(out, ignore_errors=True)
    chain = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()] if filters else []
    pipeline = [ParquetReader(str(subset)), *chain, ParquetWriter(str(out / "data"))]
    t = time.perf_counter()
    LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=str(out / "logs")).run()
    return time.perf_counter() - t, docs, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prose-mb", type=float, default=12.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--datatrove-docs", type=int, default=1500)
    args = ap.parse_args()
    if importlib.util.find_spec("spacy") is None:  # datatrove's Gopher filters split English words with it
        sys.exit("bench_curate.py: the datatrove rows need spacy (datatrove's English word tokenizer): "
                 "pip install -e '.[bench]'")

    inputs, sizes = prepare(args.prose_mb)
    docs = sum(d for d, _ in sizes.values())
    mb = sum(b for _, b in sizes.values()) / 1e6
    print(f"data: {docs:,} documents, {mb:.1f} MB of text "
          + ", ".join(f"{k}: {d:,} docs / {b / 1e6:.1f} MB" for k, (d, b) in sizes.items()))

    rows = []
    work = CACHE / "runs"
    for workers in (1, 2):
        times = []
        for r in range(args.repeats):
            seconds, totals = run_midtrain(inputs, workers, work / f"midtrain-w{workers}")
            times.append(seconds)
            print(f"  midtrain workers={workers} run {r + 1}: {seconds:.1f} s, kept {totals['kept']:,}", flush=True)
        med = statistics.median(times)
        rows.append((f"midtrain curate, default pipeline, {workers} worker(s)", docs, mb, med, workers))
        shares = step_shares(work / f"midtrain-w{workers}")

    prose_dir = Path(inputs[0][0])
    for filters, label in ((True, "datatrove Gopher rep + Gopher + C4 + FineWeb"), (False, "datatrove read + write")):
        times = []
        for _ in range(max(1, args.repeats if not filters else 1)):
            seconds, n, size = run_datatrove(prose_dir, args.datatrove_docs, work / "datatrove", filters)
            times.append(seconds)
        rows.append((f"{label} (prose subset)", n, size / 1e6, statistics.median(times), 1))

    base = rows[0][1] / rows[0][3]
    print()
    print(f"| pipeline | docs | MB | seconds (median) | docs/s per core | MB/s per core | docs/s/core vs midtrain 1 worker |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, size, sec, cores in rows:
        per_core = n / sec / cores
        print(f"| {name} | {n:,} | {size:.1f} | {sec:.1f} | {per_core:,.0f} | {size / sec / cores:.2f} | "
              f"{per_core / base:.2f}x |")
    print()
    print("midtrain task time by step (last 2-worker run):")
    for name, share in shares:
        print(f"  {name:<40} {100 * share:5.1f} %")


if __name__ == "__main__":
    main()

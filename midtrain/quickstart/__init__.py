"""``midtrain quickstart``: the whole pipeline on an embedded sample, on the local machine.

Each stage adds one step here, in pipeline order, and one block to the printed summary:
sample raw documents -> text corpus (validated, with stats) -> ... . The output folder holds every
intermediate product, so a newcomer can open each with the stage's own command.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from midtrain.corpus import CorpusWriter, check_corpus
from midtrain.corpus.stats import corpus_stats, format_stats
from midtrain.quickstart.sample import SampleSource, build_sample

DEFAULT_DIR = "midtrain-quickstart"


def run_quickstart(out_dir: str | Path = DEFAULT_DIR, *, fresh: bool = True, echo=print) -> dict[str, Any]:
    """Run every stage on the sample into ``out_dir`` and return the summary (also printed via ``echo``)."""
    out = Path(out_dir)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"output": str(out.resolve()), "stages": {}}
    t0 = time.perf_counter()

    t = time.perf_counter()
    sources = build_sample(out / "raw")
    summary["stages"]["sample"] = {
        "seconds": round(time.perf_counter() - t, 2),
        "inputs": [{"path": str(s.path), "domain": s.domain, "documents": s.documents, "bytes": s.bytes}
                   for s in sources]}
    echo(f"[1] sample: {sum(s.documents for s in sources):,} raw documents, "
         f"{sum(s.bytes for s in sources) / 1e6:.1f} MB, in {out / 'raw'}")

    t = time.perf_counter()
    text_dir = out / "text"
    _ingest(sources, text_dir)
    check_corpus(text_dir)
    stats = corpus_stats(text_dir)
    summary["stages"]["text_corpus"] = {"seconds": round(time.perf_counter() - t, 2), "path": str(text_dir),
                                        "stats": stats}
    echo(f"[2] text corpus (validated): {text_dir}")
    echo(format_stats(stats))

    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    echo(f"\ndone in {summary['seconds']:.1f} s; everything is under {summary['output']} (summary.json lists it)")
    return summary


def _ingest(sources: list[SampleSource], text_dir: Path) -> None:
    """Write the raw sample as a text corpus, domain per source (no filtering)."""
    import pyarrow as pa
    import pyarrow.json as pj

    writer = CorpusWriter(text_dir, "text")
    for src in sources:
        table = pj.read_json(src.path).select(["id", "text", "source"])
        table = table.append_column("domain", pa.array([src.domain] * table.num_rows, pa.string()))
        writer.write_table(src.domain, table)
    writer.finish()

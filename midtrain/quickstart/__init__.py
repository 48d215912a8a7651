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
from midtrain.loaders import build_loader
from midtrain.mixers import EXAMPLE_SCHEDULE, corpus_domain_tokens, load_schedule, plan_budget
from midtrain.mixers.plot import plot_plan
from midtrain.quickstart.sample import SampleSource, build_sample
from midtrain.tokenize import tokenize_corpus, train_bpe

DEFAULT_DIR = "midtrain-quickstart"
QUICKSTART_TOKENS = 2_000_000
"""The quickstart plans (and would train on) 2M tokens: about twice the sample, so the planner
has an epoch story to tell."""


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

    t = time.perf_counter()
    tokenizer = train_bpe(text_dir, out / "tokenizer.json", vocab_size=8192)
    token_dir = out / "tokens"
    manifest = tokenize_corpus(text_dir, token_dir, str(tokenizer), workers=2, progress=False)
    token_stats = corpus_stats(token_dir)
    summary["stages"]["tokens"] = {"seconds": round(time.perf_counter() - t, 2), "path": str(token_dir),
                                   "tokenizer": manifest.tokenizer, "stats": token_stats}
    echo(f"\n[3] token corpus: {token_dir} (byte-level BPE of 8,192 trained on the sample, EOS after every "
         f"document, {manifest.tokenizer['dtype']})")
    echo(format_stats(token_stats))

    t = time.perf_counter()
    sizes = corpus_domain_tokens(token_dir)
    schedule = load_schedule(EXAMPLE_SCHEDULE, total_tokens=QUICKSTART_TOKENS, domain_tokens=sizes,
                             missing_domains="renormalize")
    plan = plan_budget(schedule, sizes)
    plot_plan(schedule, plan, out / "plan.png")
    summary["stages"]["plan"] = {"seconds": round(time.perf_counter() - t, 2), "schedule": str(EXAMPLE_SCHEDULE),
                                 "plot": str(out / "plan.png"), "plan": json.loads(plan.to_json())}
    echo(f"\n[4] mixture plan: {EXAMPLE_SCHEDULE.name} over {QUICKSTART_TOKENS:,} tokens (the sample has no "
         f"'reasoning' or 'long' domain: renormalised over the rest); plot in {out / 'plan.png'}")
    echo(plan.table())

    t = time.perf_counter()
    summary["stages"]["loader"] = _pull_batches(token_dir, schedule, echo)
    summary["stages"]["loader"]["seconds"] = round(time.perf_counter() - t, 2)

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


def _pull_batches(token_dir: Path, schedule, echo, n_batches: int = 3) -> dict[str, Any]:
    """Pull a few batches from the loader (2 workers, best-fit) and describe what is in them."""
    import numpy as np

    loader = build_loader(token_dir, schedule, seq_len=1024, batch_size=8, seed=0, num_workers=2, packing="best_fit")
    rows = []
    it = iter(loader)
    for _ in range(n_batches):
        batch = next(it)
        docs = batch["document_ids"].numpy()
        dom = np.bincount(batch["domain"].numpy(), minlength=len(loader.domains))
        rows.append({"batch": int(batch["batch_index"]), "shape": list(batch["input_ids"].shape),
                     "domains": {d: int(dom[i]) for i, d in enumerate(loader.domains) if dom[i]},
                     "documents": int(len(batch["cu_seqlens"]) - 1 - int((docs == -1).any(axis=1).sum())),
                     "padding": round(float((docs == -1).mean()), 4)})
    state = loader.state_dict()
    echo(f"\n[5] loader: {n_batches} batches (best-fit packing, 2 workers, seq_len from the schedule's phase)")
    for r in rows:
        echo(f"  batch {r['batch']}: {r['shape'][0]} x {r['shape'][1]} tokens, sequences per domain {r['domains']}, "
             f"{r['documents']} document segments, padding {r['padding']:.2%}")
    echo(f"  resumable state after them: {len(json.dumps(state))} bytes of JSON "
         f"(block {state['plan']['block']}, tokens {state['plan']['tokens']:,})")
    return {"batches": rows, "state": state}

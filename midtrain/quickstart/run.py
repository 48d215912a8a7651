"""Running the quickstart: every stage on the embedded sample, each product kept in one folder.

:func:`run_quickstart` builds the sample (:mod:`midtrain.quickstart.sample`), curates it into a
text corpus, trains a small BPE and tokenizes, plans the shipped schedule and pulls a few batches
from the loader, printing one block per stage and writing ``summary.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midtrain.corpus import check_corpus
from midtrain.corpus.stats import corpus_stats, format_stats
from midtrain.loaders import build_loader
from midtrain.mixers import EXAMPLE_SCHEDULE, corpus_domain_tokens, load_schedule, plan_budget
from midtrain.mixers.plot import plot_plan
from midtrain.curation import curate
from midtrain.quickstart import DEFAULT_OUTPUT
from midtrain.quickstart.sample import build_sample
from midtrain.tokenize import tokenize_corpus, train_bpe

QUICKSTART_CURATION = {"dedup": {"threshold": 0.8}}
"""The default pipeline (labels, rules, thresholds) plus exact and MinHash deduplication."""
QUICKSTART_TOKENS = 2_000_000
"""The quickstart plans (and would train on) 2M tokens: about twice the sample, so the planner
has an epoch story to tell."""


@dataclass(frozen=True)
class QuickstartReport:
    """What a quickstart run produced: its folder, one entry per stage, and the total time."""

    output: str
    """The output folder, resolved."""
    stages: dict[str, Any]
    """Per stage (sample, text_corpus, tokens, plan, loader): its seconds, paths and figures."""
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The report as ``summary.json`` holds it."""
        return {"output": self.output, "stages": self.stages, "seconds": self.seconds}


def run_quickstart(output: str | os.PathLike = DEFAULT_OUTPUT, *, fresh: bool = True,
                   progress: bool = True) -> QuickstartReport:
    """Run every stage on the sample into ``output`` and return the report (also in ``summary.json``).

    ``fresh`` deletes ``output`` first if it exists; ``progress`` prints each stage's block as it finishes.
    """
    echo = print if progress else _silent
    out = Path(output)
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
    split = _label_sample(sources)
    summary["stages"]["sample"]["labelled_domains"] = split
    echo(f"    by source hint: {_hint_split(sources)}; by midtrain's domain labeller alone (no hints): {split}")

    t = time.perf_counter()
    text_dir = out / "text"
    with _stderr_to(out / "curation.log"):  # datatrove logs every task at INFO on stderr
        report = curate([(s.path, s.domain) for s in sources], text_dir, config=QUICKSTART_CURATION, workers=2)
    check_corpus(text_dir)
    stats = corpus_stats(text_dir)
    summary["stages"]["text_corpus"] = {"seconds": round(time.perf_counter() - t, 2), "path": str(text_dir),
                                        "report": str(text_dir / "report.json"), "stats": stats}
    echo(f"\n[2] curated text corpus (validated): {report.one_line()}")
    echo(f"    pipeline: normalise -> language ID -> domain labels -> quality score -> Gopher/C4/FineWeb/code "
         f"signals -> thresholds -> exact + MinHash dedup")
    echo(f"    rejected by step: {_rejections(text_dir)}")
    echo(f"    report: {text_dir / 'report.md'}, funnel chart: {text_dir / 'funnel.png'}; every dropped "
         f"document is in {text_dir / 'rejected'} with its step and reason; task logs in {out / 'curation.log'}")
    echo(format_stats(stats))

    t = time.perf_counter()
    tokenizer = train_bpe(text_dir, out / "tokenizer.json", vocab_size=8192)
    token_dir = out / "tokens"
    tokens = tokenize_corpus(text_dir, token_dir, str(tokenizer.output), workers=2, progress=False)
    token_stats = corpus_stats(token_dir)
    summary["stages"]["tokens"] = {"seconds": round(time.perf_counter() - t, 2), "path": str(token_dir),
                                   "tokenizer": tokens.manifest.tokenizer, "stats": token_stats}
    echo(f"\n[3] token corpus: {token_dir} (byte-level BPE of 8,192 trained on the sample, EOS after every "
         f"document, {tokens.manifest.tokenizer['dtype']})")
    echo(format_stats(token_stats))

    t = time.perf_counter()
    sizes = corpus_domain_tokens(token_dir)
    schedule = load_schedule(EXAMPLE_SCHEDULE, total_tokens=QUICKSTART_TOKENS, domain_tokens=sizes,
                             missing_domains="renormalise")
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
    return QuickstartReport(**summary)


def _silent(*args: Any, **kwargs: Any) -> None:
    """``print`` when ``progress=False``."""


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
    it.close()  # stops the loader's workers and its background thread now, not at exit
    state = loader.state_dict()
    echo(f"\n[5] loader: {n_batches} batches (best-fit packing, 2 workers, seq_len from the schedule's phase)")
    for r in rows:
        echo(f"  batch {r['batch']}: {r['shape'][0]} x {r['shape'][1]} tokens, sequences per domain {r['domains']}, "
             f"{r['documents']} document segments, padding {r['padding']:.2%}")
    echo(f"  resumable state after them: {len(json.dumps(state))} bytes of JSON ({state['batches_consumed']} batches "
         f"consumed, plan snapshot at block {state['plan']['block']} of {loader.config.block_batches} batches)")
    return {"batches": rows, "state": state}


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send file descriptor 2 (this process and the workers it starts) to ``path`` for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _rejections(text_dir: Path) -> str:
    """``step n`` for every step that rejected documents, in pipeline order, from report.json."""
    body = json.loads((text_dir / "report.json").read_text())
    counts: dict[str, int] = {}
    for by_step in body["rejected"].values():
        for step, reasons in by_step.items():
            counts[step] = counts.get(step, 0) + sum(reasons.values())
    order = body.get("reject_order", [])
    return ", ".join(f"{k} {counts[k]:,}" for k in sorted(counts, key=lambda k: order.index(k)
                                                           if k in order else len(order))) or "none"


def _hint_split(sources) -> dict[str, int]:
    split: dict[str, int] = {}
    for s in sources:
        split[s.domain] = split.get(s.domain, 0) + s.documents
    return dict(sorted(split.items()))


def _label_sample(sources) -> dict[str, int]:
    """How the shipped domain classifier (+ rules) labels the raw sample when given no hints."""
    from collections import Counter

    from midtrain.curation.labels import label_domains

    texts, paths = [], []
    for s in sources:
        for line in s.path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            texts.append(rec["text"])
            paths.append(rec.get("path"))
    labels = label_domains(texts, paths=paths).column("domain").to_pylist()
    return dict(sorted(Counter(labels).items()))

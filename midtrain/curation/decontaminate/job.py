"""``decontaminate_corpus``: a text corpus in, the same corpus without eval-set overlap out.

Builds the n-gram index of the evaluation sets once (saved in the work folder), runs the
:class:`Decontaminate` step over the shards on the chosen executor, then writes the output
manifest (the input's rejected shards carried over) with the match report in its ``extra``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from midtrain.curation.decontaminate.config import DecontConfig
from midtrain.curation.decontaminate.eval_sets import build_eval_index
from midtrain.curation.decontaminate.stages import STEP, Decontaminate, DecontPlan
from midtrain.curation.dedup.executors import check_executor, copy_logs, run_stage
from midtrain.curation.dedup.rewrite import (check_output_dir, finish_output, input_shards, read_input_manifest,
                                             read_parts)

WORK_NAME = ".decont-work"


def decontaminate_corpus(in_corpus: str | os.PathLike, out_dir: str | os.PathLike, config: DecontConfig, *,
                         executor: str = "local", workers: int = 1, logging_dir: str | None = None) -> dict[str, Any]:
    """Remove (or cut) documents sharing an n-gram with an eval item; return counts and matches.

    Returns ``{"input", "kept", "cut", "rejected": {"decontaminate": {"contaminated=<set>": n}},
    "matches": [{"doc", "shard", "items": [{"set", "item", "ngrams"}], "action"}], "unmatchable"}``.
    """
    check_executor(executor, workers)
    in_dir, out = Path(in_corpus), Path(out_dir)
    check_output_dir(in_dir, out)
    manifest = read_input_manifest(in_dir)
    shards = tuple(input_shards(manifest))
    work = out / WORK_NAME
    shutil.rmtree(work, ignore_errors=True)  # the index is rebuilt every run: eval files may have changed
    plan = DecontPlan(corpus=str(in_dir), work=str(work), output=str(out), config=config, shards=shards,
                      taken_rejected=frozenset(s.path for s in manifest.rejected))
    index = build_eval_index(config)
    index.save(plan.path("eval_index"))
    logs = work / "logs"
    run_stage(Decontaminate(plan), tasks=len(shards), workers=workers, executor=executor, logs=logs / "decontaminate")
    parts = read_parts(work / "parts", len(shards))
    counts: dict[str, Any] = {"input": 0, "kept": 0, "cut": 0, "rejected": {}, "matches": [],
                              "unmatchable": index.unmatchable}
    for p in parts:
        counts["input"] += p["input"]
        counts["kept"] += p["kept"]
        counts["cut"] += p["cut"]
        counts["matches"] += p["matches"]
        for reason, c in p["rejected"].get(STEP, {}).items():
            counts["rejected"].setdefault(STEP, {}).setdefault(reason, 0)
            counts["rejected"][STEP][reason] += c
    settings = {"ngram": config.ngram, "mode": config.mode,
                "against": [{"name": e.label, "source": str(e.source) if isinstance(e.source, (str, Path)) else "dataset",
                             "fields": list(e.fields)} for e in config.against]}
    finish_output(in_dir, manifest, out, parts, {"decontamination": {"config": settings, **counts}})
    copy_logs(logs, logging_dir, "decontaminate")
    shutil.rmtree(work, ignore_errors=True)
    return json.loads(json.dumps(counts))

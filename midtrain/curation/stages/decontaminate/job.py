"""Running decontamination: a text corpus in, the same corpus without eval-set overlap out.

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

from midtrain.curation.config import ExecutorConfig
from midtrain.curation.executors import check_executor
from midtrain.curation.stages.decontaminate.config import DecontConfig
from midtrain.curation.stages.decontaminate.eval_sets import build_eval_index
from midtrain.curation.stages.decontaminate.report import DecontReport
from midtrain.curation.stages.decontaminate.step import STEP, Decontaminate, DecontJob
from midtrain.curation.stages.rewrite import (check_output_dir, finish_output, input_shards, read_input_manifest,
                                              read_parts)
from midtrain.curation.stages.step import copy_logs, run_steps

WORK_NAME = ".decont-work"


def run_decontaminate(corpus: str | os.PathLike, output: str | os.PathLike, config: DecontConfig,
                      executor: ExecutorConfig, *, logging_dir: str | None = None,
                      progress: bool = False) -> DecontReport:
    """Decontaminate ``corpus`` into ``output``; see :func:`.decontaminate.decontaminate_corpus`."""
    check_executor(executor.kind, executor.workers, supported=DecontConfig.executors, what="decontaminate")
    in_dir, out = Path(corpus), Path(output)
    check_output_dir(in_dir, out)
    manifest = read_input_manifest(in_dir)
    shards = tuple(input_shards(manifest))
    work = out / WORK_NAME
    shutil.rmtree(work, ignore_errors=True)  # the index is rebuilt every run: eval files may have changed
    job = DecontJob(corpus=str(in_dir), work=str(work), output=str(out), config=config, shards=shards,
                    taken_rejected=frozenset(s.path for s in manifest.rejected))
    index = build_eval_index(config)
    index.save(job.path("eval_index"))
    logs = work / "logs"
    run_steps([(Decontaminate(job), len(shards), "decontaminate")], executor, logs, progress=progress)
    parts = read_parts([job.shard_file("parts", s, ".json") for s in shards])
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
    finish_output(in_dir, manifest, out, parts, {"decontamination": {"config": config.to_dict(), **counts}})
    copy_logs(logs, logging_dir, "decontaminate")
    shutil.rmtree(work, ignore_errors=True)
    return DecontReport(**json.loads(json.dumps(counts)))

"""Running grouping: a text corpus in, one document per group out.

Steps (:mod:`.steps`) run on the chosen executor; the plan (:mod:`.plan`) is made in between, in
this process. ``similar`` first runs dedup's own signature and LSH steps
(:class:`~midtrain.curation.stages.dedup.steps.ComputeSignatures`,
:class:`~midtrain.curation.stages.dedup.steps.FindDuplicatePairs`) on the same work folder with
the low threshold, so the neighbours are exactly the pairs dedup would verify at that threshold.
The work folder lives in the output folder while the job runs and is removed when it succeeds; a
re-run of the same call after an interruption resumes from it. The output manifest is written
last (the input's rejected shards carried over), then ``group-report.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from midtrain.corpus.manifest import atomic_write_bytes
from midtrain.curation.config import ExecutorConfig
from midtrain.curation.executors import check_executor
from midtrain.curation.stages.dedup.config import SIGNATURE_SCHEME
from midtrain.curation.stages.group.config import GroupConfig
from midtrain.curation.stages.group.plan import (length_summary, load_members, plan_repo, plan_similar,
                                                 write_plan)
from midtrain.curation.stages.group.report import GroupReport
from midtrain.curation.stages.group.steps import GroupJob, ReadMembers, ScatterTexts, WriteGroups
from midtrain.curation.stages.rewrite import (check_output_dir, finish_output, input_shards, read_input_manifest,
                                              read_parts)
from midtrain.curation.stages.step import copy_logs, run_steps
from midtrain.errors import ConfigError

WORK_NAME = ".group-work"
REPORT_NAME = "group-report.json"


def run_group(corpus: str | os.PathLike, output: str | os.PathLike, config: GroupConfig, executor: ExecutorConfig, *,
              logging_dir: str | None = None, progress: bool = False) -> GroupReport:
    """Group ``corpus`` into ``output``; see :func:`.group.group_corpus`."""
    check_executor(executor.kind, executor.workers, supported=GroupConfig.executors, what="group")
    in_dir, out = Path(corpus), Path(output)
    check_output_dir(in_dir, out)
    manifest = read_input_manifest(in_dir)
    shards = tuple(input_shards(manifest))
    if sum(s.rows for s in shards) == 0:
        raise ConfigError(f"{in_dir}: the corpus holds no documents; there is nothing to group")
    work = out / WORK_NAME
    job = GroupJob(corpus=str(in_dir), work=str(work), output=str(out), shards=shards, config=config,
                   taken_rejected=frozenset(s.path for s in manifest.rejected))
    _reset_work_if_changed(work, job)
    logs = work / "logs"
    steps = [(ReadMembers(job), len(shards), "1_members")]
    if config.group_by == "similar":
        from midtrain.curation.stages.dedup.steps import ComputeSignatures, DedupJob, FindDuplicatePairs

        minhash = DedupJob(corpus=job.corpus, work=job.work, output=job.output, shards=shards,
                           config=config.minhash_config())
        # one task per worker for the bands (a task takes bands rank, rank + tasks, ...; each band
        # writes its own file): a task costs ~40 ms to start, a small band far less
        steps += [(ComputeSignatures(minhash), len(shards), "1_signatures"),
                  (FindDuplicatePairs(minhash), min(config.bands, executor.workers), "1_pairs")]
    run_steps(steps, executor, logs, progress=progress)

    members = load_members(job)
    if config.group_by == "repo":
        plan = plan_repo(job, members)
        neighbours: dict = {}
    else:
        pairs, similarity, lsh = _neighbours(minhash)
        plan = plan_similar(job, members, pairs, similarity)
        neighbours = {**lsh, **plan.counts}
    if not np.array_equal(np.sort(plan.order), np.arange(job.total)):  # the stage's contract, checked
        raise AssertionError("group plan: some input document is not in exactly one group")
    write_plan(job, members, plan)
    outputs = len(job.output_shards())
    run_steps([(ScatterTexts(job), len(shards), "2_scatter"), (WriteGroups(job), outputs, "3_write")],
              executor, logs, progress=progress)

    parts = read_parts([job.out_file("parts", i, ".json") for i in range(outputs)])
    report = GroupReport(input=job.total, kept=len(plan.sizes), rejected={}, group_by=config.group_by,
                         members=int(plan.sizes.sum()), singletons=int((plan.sizes == 1).sum()),
                         lengths=length_summary(plan.chars), order=plan.counts if config.group_by == "repo" else {},
                         neighbours=neighbours)
    finish_output(in_dir, manifest, out, parts, {"group": {"config": config.to_dict(), "counts": report.to_dict()}})
    atomic_write_bytes(out / REPORT_NAME, (json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n").encode())
    copy_logs(logs, logging_dir, "group")
    shutil.rmtree(work, ignore_errors=True)
    return report


def _neighbours(minhash) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Verified pairs of every band (deduplicated), their estimated Jaccard, and the LSH counts."""
    from midtrain.curation.stages.dedup.clusters import gather_signatures
    from midtrain.curation.stages.dedup.lsh import unique_pairs

    bands = minhash.config.bands
    pairs = unique_pairs(np.concatenate([np.load(minhash.band_file("pairs", b, ".npy")) for b in range(bands)]))
    candidates = sum(json.loads(minhash.band_file("pairs", b, ".json").read_text())["candidates"] for b in range(bands))
    similarity = np.zeros(len(pairs))
    if len(pairs):
        nodes = np.unique(pairs)
        signatures = gather_signatures(minhash, None, nodes)
        local = np.searchsorted(nodes, pairs)
        for start in range(0, len(pairs), 65536):
            a, b = local[start:start + 65536, 0], local[start:start + 65536, 1]
            similarity[start:start + 65536] = (signatures[a] == signatures[b]).mean(axis=1)
    return pairs, similarity, {"candidate_pairs": int(candidates), "verified_pairs": int(len(pairs))}


def _reset_work_if_changed(work: Path, job: GroupJob) -> None:
    """Keep a previous run's work folder only if it was for exactly this job (then it resumes).

    The stamp names the signature scheme, so signatures a different midtrain wrote (another
    scheme, or before schemes were named) are recomputed, never mixed with this scheme's.
    """
    key = json.dumps({"corpus": str(Path(job.corpus).resolve()), "config": job.config.to_dict(),
                      "scheme": SIGNATURE_SCHEME,
                      "shards": [s.__dict__ for s in job.shards]}, sort_keys=True)
    stamp = work / "job.json"
    if work.exists() and (not stamp.is_file() or stamp.read_text() != key):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)

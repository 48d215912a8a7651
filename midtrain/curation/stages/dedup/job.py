"""Running deduplication: a text corpus in, the same corpus without duplicates out.

Runs the four steps of :mod:`midtrain.curation.stages.dedup.steps` in order on the chosen
executor, then writes the output manifest (kept shards, the input's rejected shards carried over,
the new ``rejected/`` shards) and, if asked, an index of the kept documents for later incremental
runs. The work folder (signatures, band keys, pairs) lives inside the output folder while the job
runs and is removed when it succeeds; a re-run after an interruption resumes from it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from midtrain.corpus.shards import open_ipc_file
from midtrain.curation.config import ExecutorConfig
from midtrain.curation.executors import check_executor
from midtrain.curation.stages.dedup.config import SIGNATURE_SCHEME, DedupConfig
from midtrain.curation.stages.dedup.index import DedupIndex, save_index
from midtrain.curation.stages.dedup.report import DedupReport
from midtrain.curation.stages.dedup.steps import (BuildClusters, ComputeSignatures, DedupJob, FindDuplicatePairs,
                                                  RemoveDuplicates)
from midtrain.curation.stages.rewrite import (check_output_dir, finish_output, input_shards, read_input_manifest,
                                              read_parts)
from midtrain.curation.stages.step import copy_logs, run_steps
from midtrain.errors import ConfigError

WORK_NAME = ".dedup-work"


def run_dedup(corpus: str | os.PathLike, output: str | os.PathLike, config: DedupConfig, executor: ExecutorConfig, *,
              logging_dir: str | None = None, against_index: str | os.PathLike | None = None,
              write_index: str | os.PathLike | None = None, progress: bool = False) -> DedupReport:
    """Deduplicate ``corpus`` into ``output``; see :func:`.dedup.dedup_corpus`."""
    check_executor(executor.kind, executor.workers, supported=DedupConfig.executors, what="dedup")
    in_dir, out = Path(corpus), Path(output)
    check_output_dir(in_dir, out)
    manifest = read_input_manifest(in_dir)
    if (against_index or write_index) and not config.fuzzy:
        raise ConfigError("dedup.fuzzy: an index stores MinHash signatures; turn fuzzy on to use one")
    if against_index:
        DedupIndex(against_index, config)  # fail early on a missing index or other settings
    shards = tuple(input_shards(manifest))
    work = out / WORK_NAME
    job = DedupJob(corpus=str(in_dir), work=str(work), output=str(out), config=config, shards=shards,
                   index=str(against_index) if against_index else None,
                   taken_rejected=frozenset(s.path for s in manifest.rejected))
    _reset_work_if_changed(work, job)
    logs = work / "logs"
    run_steps([(ComputeSignatures(job), len(shards), "1_signatures"),
               (FindDuplicatePairs(job), config.bands if config.fuzzy else 0, "2_pairs"),
               (BuildClusters(job), 1, "3_clusters"),
               (RemoveDuplicates(job), len(shards), "4_remove")], executor, logs, progress=progress)
    parts = read_parts([job.shard_file("parts", s, ".json") for s in shards])
    report = DedupReport(**_merge_counts(parts), lsh=_lsh_counts(job))
    if write_index:
        _write_index(job, report.kept, write_index)
    finish_output(in_dir, manifest, out, parts, {"dedup": {"config": config.to_dict(), "counts": report.to_dict(),
                                                           "against_index": job.index}})
    copy_logs(logs, logging_dir, "dedup")
    shutil.rmtree(work, ignore_errors=True)
    return report


def _reset_work_if_changed(work: Path, job: DedupJob) -> None:
    """Keep a previous run's work folder only if it was for exactly this job (then it resumes).

    The stamp names the signature scheme, so signatures a different midtrain wrote (another
    scheme, or before schemes were named) are recomputed, never mixed with this scheme's.
    """
    key = json.dumps({"corpus": str(Path(job.corpus).resolve()), "config": job.config.to_dict(),
                      "scheme": SIGNATURE_SCHEME,
                      "shards": [s.__dict__ for s in job.shards], "index": job.index}, sort_keys=True)
    stamp = work / "job.json"
    if work.exists() and (not stamp.is_file() or stamp.read_text() != key):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)


def _merge_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, Any] = {"input": 0, "kept": 0, "rejected": {}}
    for p in parts:
        counts["input"] += p["input"]
        counts["kept"] += p["kept"]
        for step, reasons in p["rejected"].items():
            for reason, c in reasons.items():
                counts["rejected"].setdefault(step, {}).setdefault(reason, 0)
                counts["rejected"][step][reason] += c
    return counts


def _lsh_counts(job: DedupJob) -> dict[str, int]:
    """Candidate pairs summed over bands and how many verification rejected (LSH false positives)."""
    candidates = verified = 0
    for b in range(job.config.bands if job.config.fuzzy else 0):
        stats = json.loads(job.band_file("pairs", b, ".json").read_text())
        candidates += stats["candidates"]
        verified += stats["verified"]
    return {"candidate_pairs": candidates, "verified_pairs": verified,
            "rejected_by_verification": candidates - verified}


def _write_index(job: DedupJob, kept_total: int, folder: str | os.PathLike) -> None:
    """Index = the old index's documents (if any) + this run's kept documents, in that order."""
    old = job.open_index()

    def pieces() -> Iterator[tuple[np.ndarray, pa.Table]]:
        if old is not None and old.size:
            sigs = old.signatures()
            table = old.docs()
            for start in range(0, old.size, 65536):
                yield np.asarray(sigs[start:start + 65536]), table.slice(start, 65536)
        for s in job.shards:
            reader, _ = open_ipc_file(job.shard_file("removals", s, ".arrow"))
            keep = np.ones(s.rows, bool)
            keep[reader.read_all().column("row").to_numpy()] = False
            if not keep.any():
                continue
            sigs = np.load(job.shard_file("signatures", s, ".npy"), mmap_mode="r")
            docs_reader, _ = open_ipc_file(job.shard_file("docs", s, ".arrow"))
            rows = np.nonzero(keep)[0]
            yield np.asarray(sigs[rows]), docs_reader.read_all().take(pa.array(rows))

    save_index(folder, job.config, (old.size if old else 0) + kept_total, pieces())

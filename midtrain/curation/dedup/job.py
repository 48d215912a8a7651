"""``dedup_corpus``: a text corpus in, the same corpus without duplicates out.

Runs the four stages of :mod:`midtrain.curation.dedup.stages` in order on the chosen executor,
then writes the output manifest (kept shards, the input's rejected shards carried over, the new
``rejected/`` shards) and, if asked, an index of the kept documents for later incremental runs.
The work folder (signatures, band keys, pairs) lives inside the output folder while the job runs
and is removed when it succeeds; a re-run after an interruption resumes from it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from midtrain.corpus.shards import open_ipc_file
from midtrain.curation.dedup.config import DedupConfig
from midtrain.curation.dedup.executors import check_executor, copy_logs, run_stage
from midtrain.curation.dedup.index import DedupIndex, write_index
from midtrain.curation.dedup.rewrite import (check_output_dir, finish_output, input_shards, read_input_manifest,
                                             read_parts)
from midtrain.curation.dedup.stages import (BuildClusters, ComputeSignatures, DedupPlan, FindDuplicatePairs,
                                            RemoveDuplicates)
from midtrain.errors import ConfigError

WORK_NAME = ".dedup-work"


def dedup_corpus(in_corpus: str | os.PathLike, out_dir: str | os.PathLike, config: DedupConfig | None = None, *,
                 executor: str = "local", workers: int = 1, logging_dir: str | None = None,
                 against_index: str | os.PathLike | None = None,
                 write_index_to: str | os.PathLike | None = None) -> dict[str, Any]:
    """Deduplicate the text corpus ``in_corpus`` into ``out_dir``; return the counts.

    ``against_index``: also drop documents that duplicate a document of that index (built by an
    earlier run's ``write_index_to``); its signatures are read, not recomputed. ``write_index_to``:
    store the kept documents' signatures (plus those of ``against_index``) for later runs.
    Counts: ``{"input", "kept", "rejected": {step: {"duplicate_of": n}}, "lsh": {...}}``.
    """
    config = config or DedupConfig()
    check_executor(executor, workers)
    in_dir, out = Path(in_corpus), Path(out_dir)
    check_output_dir(in_dir, out)
    manifest = read_input_manifest(in_dir)
    if (against_index or write_index_to) and not config.fuzzy:
        raise ConfigError("dedup.fuzzy: an index stores MinHash signatures; turn fuzzy on to use one")
    if against_index:
        DedupIndex(against_index, config)  # fail early on a missing index or other settings
    shards = tuple(input_shards(manifest))
    work = out / WORK_NAME
    plan = DedupPlan(corpus=str(in_dir), work=str(work), output=str(out), config=config, shards=shards,
                     index=str(against_index) if against_index else None,
                     taken_rejected=frozenset(s.path for s in manifest.rejected))
    _reset_work_if_changed(work, plan)
    logs = work / "logs"
    stages = [(ComputeSignatures(plan), len(shards), "1_signatures"),
              (FindDuplicatePairs(plan), config.bands if config.fuzzy else 0, "2_pairs"),
              (BuildClusters(plan), 1, "3_clusters"),
              (RemoveDuplicates(plan), len(shards), "4_remove")]
    for step, tasks, name in stages:
        run_stage(step, tasks=min(tasks, max(len(shards), 1)) if name != "2_pairs" else tasks,
                  workers=workers, executor=executor, logs=logs / name)
    parts = read_parts(work / "parts", len(shards))
    counts = _merge_counts(parts)
    counts["lsh"] = _lsh_counts(work, config)
    if write_index_to:
        _write_index(plan, parts, write_index_to)
    finish_output(in_dir, manifest, out, parts, {"dedup": {"config": config.to_dict(), "counts": counts,
                                                           "against_index": plan.index}})
    copy_logs(logs, logging_dir, "dedup")
    shutil.rmtree(work, ignore_errors=True)
    return counts


def _reset_work_if_changed(work: Path, plan: DedupPlan) -> None:
    """Keep a previous run's work folder only if it was for exactly this job (then it resumes)."""
    key = json.dumps({"corpus": str(Path(plan.corpus).resolve()), "config": plan.config.to_dict(),
                      "shards": [s.__dict__ for s in plan.shards], "index": plan.index}, sort_keys=True)
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


def _lsh_counts(work: Path, config: DedupConfig) -> dict[str, int]:
    """Candidate pairs summed over bands and how many verification rejected (LSH false positives)."""
    candidates = verified = 0
    for b in range(config.bands if config.fuzzy else 0):
        stats = json.loads((work / "pairs" / f"{b:03d}.json").read_text())
        candidates += stats["candidates"]
        verified += stats["verified"]
    return {"candidate_pairs": candidates, "verified_pairs": verified,
            "rejected_by_verification": candidates - verified}


def _write_index(plan: DedupPlan, parts: list[dict[str, Any]], folder: str | os.PathLike) -> None:
    """Index = the old index's documents (if any) + this run's kept documents, in that order."""
    old = plan.open_index()
    kept_total = sum(p["kept"] for p in parts)

    def pieces():
        if old is not None and old.size:
            sigs = old.signatures()
            table = old.docs()
            for start in range(0, old.size, 65536):
                yield np.asarray(sigs[start:start + 65536]), table.slice(start, 65536)
        for s in plan.shards:
            name = f"{s.index:05d}"
            reader, _ = open_ipc_file(Path(plan.work) / "removals" / f"{name}.arrow")
            keep = np.ones(s.rows, bool)
            keep[reader.read_all().column("row").to_numpy()] = False
            if not keep.any():
                continue
            sigs = np.load(Path(plan.work) / "signatures" / f"{name}.npy", mmap_mode="r")
            docs_reader, _ = open_ipc_file(Path(plan.work) / "docs" / f"{name}.arrow")
            rows = np.nonzero(keep)[0]
            yield np.asarray(sigs[rows]), docs_reader.read_all().take(pa.array(rows))

    write_index(folder, plan.config, (old.size if old else 0) + kept_total, pieces())

"""Exact and fuzzy (MinHash-LSH, verified) deduplication of a text corpus, corpus -> corpus.

``dedup_corpus(corpus, output, DedupConfig(...))`` drops documents identical up to whitespace
and near-duplicates (estimated Jaccard ≥ threshold over word n-gram shingles), keeping one
document per cluster (highest quality score, then smallest id). Removed documents go to
``rejected/`` with ``duplicate_of=<id>``. Imports here stay light: the steps (numba, datatrove)
load on first use.
"""

from __future__ import annotations

import os

from midtrain.curation.stages.dedup.config import DedupConfig, candidate_probability, explain
from midtrain.curation.stages.dedup.report import DedupReport

__all__ = ["DedupConfig", "DedupReport", "candidate_probability", "dedup_corpus", "explain"]


def dedup_corpus(corpus: str | os.PathLike, output: str | os.PathLike, config: DedupConfig | None = None, *,
                 executor: str = "local", workers: int = 1, logging_dir: str | None = None,
                 against_index: str | os.PathLike | None = None, write_index: str | os.PathLike | None = None,
                 progress: bool = False, work_dir: str | os.PathLike | None = None,
                 overwrite: bool = False) -> DedupReport:
    """Deduplicate the text corpus ``corpus`` into ``output``; return what was removed.

    ``executor`` is ``local`` or ``ray`` (``slurm`` is refused: the four steps run one after
    another) with ``workers`` parallel tasks. ``against_index``: also drop documents that
    duplicate a document of that index (built by an earlier run's ``write_index``); its
    signatures are read, not recomputed. ``write_index``: store the kept documents' signatures
    (plus those of ``against_index``) in that folder for later runs. ``logging_dir``: receives a
    copy of datatrove's logs and stats. ``progress``: print a line per step. Rerunning the same
    call after an interruption resumes it.

    ``corpus`` and ``output`` may be URLs (``s3://bucket/prefix``): the input is downloaded and
    verified, the stage runs in a local work folder (``work_dir``, else one derived from the URL)
    and the output is published shards first, manifest last (:func:`midtrain.storage.stage.url_job`).
    A corpus already at the output URL is refused unless ``overwrite``.
    """
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.executors import check_executor
    from midtrain.curation.stages.dedup.job import run_dedup
    from midtrain.storage.stage import url_job

    check_executor(executor, workers, supported=DedupConfig.executors, what="dedup")
    with url_job(corpus, output, work_dir, overwrite=overwrite) as (local_in, local_out):
        return run_dedup(local_in, local_out, config or DedupConfig(), ExecutorConfig(kind=executor, workers=workers),
                         logging_dir=logging_dir, against_index=against_index, write_index=write_index,
                         progress=progress)

"""Decontamination of a text corpus against evaluation sets (n-gram overlap), corpus -> corpus.

``decontaminate_corpus(corpus, output, DecontConfig(against=(EvalSet(source="gsm8k"),)))`` drops
every document holding enough of an eval item: word 13-grams of both, normalised (Unicode and case
folded, markup stripped, numbers masked, whitespace ignored), scored by the IDF-weighted share of
the item's n-grams found, with a bonus when the item's answer is near and whole-copy matching for
short items (:mod:`.scoring`). ``cut`` mode removes just the matched spans; the report lists, per
document, the items with their score, rule and span; :func:`explain_document` shows the evidence.
Named sets (``gsm8k``, ``humaneval``, ``aime2025``, ``gpqa_diamond``, ``champ``) are read from the
packages that ship them (:mod:`.named_sets`). Imports stay light; the scan (numba, datatrove)
loads on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from midtrain.curation.stages.decontaminate.config import DecontConfig, EvalSet
from midtrain.curation.stages.decontaminate.report import DecontReport

if TYPE_CHECKING:
    from midtrain.curation.stages.decontaminate.explain import ItemExplanation

__all__ = ["DecontConfig", "DecontReport", "EvalSet", "decontaminate_corpus", "explain_document"]


def explain_document(corpus: str | os.PathLike, doc_id: str, config: DecontConfig) -> list[ItemExplanation]:
    """Why document ``doc_id`` of a local text corpus is (or is not) contaminated: a list of
    :class:`.explain.ItemExplanation` (item, benchmark, score, rule, span, matched n-grams), best first."""
    from midtrain.curation.stages.decontaminate.explain import explain_document as explain

    return explain(corpus, doc_id, config)


def decontaminate_corpus(corpus: str | os.PathLike, output: str | os.PathLike, config: DecontConfig, *,
                         executor: str = "local", workers: int = 1, logging_dir: str | None = None,
                         progress: bool = False, work_dir: str | os.PathLike | None = None,
                         overwrite: bool = False) -> DecontReport:
    """Remove (or cut) the documents of ``corpus`` sharing an n-gram with an eval item, into ``output``.

    ``executor`` is ``local`` or ``ray`` (``slurm`` is refused) with ``workers`` parallel tasks;
    ``logging_dir`` receives a copy of datatrove's logs and stats; ``progress`` prints a line per
    step. The report lists every match: which items, in which document, and what was done.

    ``corpus`` and ``output`` may be URLs (``s3://bucket/prefix``): the input is downloaded and
    verified, the stage runs in a local work folder (``work_dir``, else one derived from the URL)
    and the output is published shards first, manifest last (:func:`midtrain.storage.stage.url_job`).
    A corpus already at the output URL is refused unless ``overwrite``.
    """
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.executors import check_executor
    from midtrain.curation.stages.decontaminate.job import run_decontaminate
    from midtrain.storage.stage import url_job

    check_executor(executor, workers, supported=DecontConfig.executors, what="decontaminate")
    with url_job(corpus, output, work_dir, overwrite=overwrite) as (local_in, local_out):
        return run_decontaminate(local_in, local_out, config, ExecutorConfig(kind=executor, workers=workers),
                                 logging_dir=logging_dir, progress=progress)

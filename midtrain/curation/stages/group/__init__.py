"""Grouping, corpus -> corpus: one output document per package (dependency order) or per chain of neighbours.

``group_corpus(corpus, output, GroupConfig(group_by="repo"))`` concatenates the files of each
package (the id is ``<package>/<relative path>``) in dependency order -- Python imports, Go
imports, C/C++ ``#include "..."`` -- each behind a path header; ``GroupConfig(group_by="similar")``
chains near neighbours found with dedup's MinHash-LSH at a low threshold. Every output row keeps
its members' ids in a ``members`` column; every input document is in exactly one group. Imports
here stay light: the steps (numba, datatrove) load on first use. See docs/grouping.md.
"""

from __future__ import annotations

import os

from midtrain.curation.stages.group.config import GroupConfig
from midtrain.curation.stages.group.report import GroupReport

__all__ = ["GroupConfig", "GroupReport", "group_corpus"]


def group_corpus(corpus: str | os.PathLike, output: str | os.PathLike, config: GroupConfig | None = None, *,
                 executor: str = "local", workers: int = 1, logging_dir: str | None = None,
                 progress: bool = False, work_dir: str | os.PathLike | None = None,
                 overwrite: bool = False) -> GroupReport:
    """Group the text corpus ``corpus`` into ``output``; return the counts (also in ``group-report.json``).

    ``executor`` is ``local`` or ``ray`` (``slurm`` is refused: the steps run one after another)
    with ``workers`` parallel tasks; the output is byte-identical for any number of workers.
    ``logging_dir`` receives a copy of datatrove's logs; ``progress`` prints a line per step.
    Rerunning the same call after an interruption resumes it.

    ``corpus`` and ``output`` may be URLs (``s3://bucket/prefix``): the input is downloaded and
    verified, the stage runs in a local work folder (``work_dir``, else one derived from the URL)
    and the output is published shards first, manifest last (:func:`midtrain.storage.stage.url_job`).
    A corpus already at the output URL is refused unless ``overwrite``.
    """
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.executors import check_executor
    from midtrain.curation.stages.group.job import REPORT_NAME, run_group
    from midtrain.storage.stage import url_job

    check_executor(executor, workers, supported=GroupConfig.executors, what="group")
    with url_job(corpus, output, work_dir, overwrite=overwrite, extra_files=[REPORT_NAME]) as (local_in, local_out):
        return run_group(local_in, local_out, config or GroupConfig(), ExecutorConfig(kind=executor, workers=workers),
                         logging_dir=logging_dir, progress=progress)

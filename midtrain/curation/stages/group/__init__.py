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
                 progress: bool = False) -> GroupReport:
    """Group the text corpus ``corpus`` into ``output``; return the counts (also in ``group-report.json``).

    ``executor`` is ``local`` or ``ray`` (``slurm`` is refused: the steps run one after another)
    with ``workers`` parallel tasks; the output is byte-identical for any number of workers.
    ``logging_dir`` receives a copy of datatrove's logs; ``progress`` prints a line per step.
    Rerunning the same call after an interruption resumes it.
    """
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.stages.group.job import run_group

    return run_group(corpus, output, config or GroupConfig(), ExecutorConfig(kind=executor, workers=workers),
                     logging_dir=logging_dir, progress=progress)

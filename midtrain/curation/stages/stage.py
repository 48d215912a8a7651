"""What every corpus-to-corpus stage provides: its settings (:class:`StageConfig`) and report.

A stage's settings are a frozen, keyword-only dataclass deriving from :class:`StageConfig`; the
curate job holds one per configured stage and, once the pipeline's corpus is written, calls
:meth:`StageConfig.run` on it. :attr:`StageConfig.executors` lists where the stage can run, so
the job refuses an executor a stage cannot honour before any work starts. Nothing heavy is
imported here: the config file is read by ``midtrain curate`` before datatrove loads.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from midtrain.curation.config import ExecutorConfig


class StageConfig:
    """Base of a stage's settings dataclass: its name, its executors, and how to run it."""

    stage_name: ClassVar[str]
    """The key of the stage in a curate config and the name of its folder under ``stages/``."""
    executors: ClassVar[tuple[str, ...]] = ("local", "ray")
    """The executor kinds the stage runs on."""

    def run(self, corpus: str | os.PathLike, output: str | os.PathLike, executor: ExecutorConfig, *,
            logging_dir: str | None = None, progress: bool = False) -> StageReport:
        """Run the stage with these settings from ``corpus`` into ``output``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values (recorded in the output manifest and the job fingerprint)."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True, kw_only=True)
class StageReport:
    """What a stage did: documents in, kept, and removed per step and reason."""

    input: int
    """Documents in the input corpus's data shards."""
    kept: int
    """Documents in the output corpus's data shards."""
    rejected: dict[str, dict[str, int]]
    """Removed documents: ``{step: {reason: count}}``."""

    @property
    def removed(self) -> int:
        return sum(sum(reasons.values()) for reasons in self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values."""
        return asdict(self)

"""The datatrove side of a stage: the job its steps share, the step base, and running the steps.

A stage is a short list of datatrove steps run one after another (dedup: signatures, pairs,
clusters, removal; decontamination: one scan). Each step gets a :class:`StageJob` (picklable,
so any executor can ship it to its workers) and works on the job's work folder; every file a step
writes is named by input shard (:meth:`StageJob.shard_file`) or by another fixed key, never by
task, so the output does not depend on the number of tasks or workers. Completion markers and
per-task logs go under the work folder, so re-running an interrupted stage skips the tasks that
finished; the caller's ``logging_dir`` gets a copy of the logs at the end, never the markers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.base import PipelineStep

from midtrain.curation.config import ExecutorConfig
from midtrain.curation.executors import build_executor, run_executor
from midtrain.curation.stages.rewrite import InputShard


@dataclass(frozen=True, kw_only=True)
class StageJob:
    """Everything a stage's steps need: the input corpus, the output and work folders, the input shards."""

    corpus: str
    work: str
    output: str
    shards: tuple[InputShard, ...]
    taken_rejected: frozenset[str] = frozenset()
    """Paths of the input's rejected shards (a new rejected shard must not take one of them)."""

    @property
    def total(self) -> int:
        """Documents in all input shards."""
        return sum(s.rows for s in self.shards)

    def path(self, *parts: str) -> Path:
        """A path inside the work folder."""
        return Path(self.work).joinpath(*parts)

    def shard_file(self, folder: str, shard: InputShard, suffix: str) -> Path:
        """The work file of ``shard`` in ``folder``: ``<work>/<folder>/<shard number, 5 digits><suffix>``."""
        return self.path(folder, f"{shard.index:05d}{suffix}")


class StageStep(PipelineStep):
    """Base of a stage's steps: passes any documents through and works on the :class:`StageJob`."""

    type = "🔁 - STAGE"

    def __init__(self, job: StageJob) -> None:
        super().__init__()
        self.job = job

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> Iterator:
        if data:
            yield from data
        with self.track_time():
            self.work(rank, world_size)

    def work(self, rank: int, world_size: int) -> None:
        """This task's share of the step (``rank`` of ``world_size``)."""
        raise NotImplementedError


def run_steps(steps: list[tuple[StageStep, int, str]], executor: ExecutorConfig, logs: Path, *,
              progress: bool = False) -> None:
    """Run ``(step, tasks, name)`` one after another, each to completion, with its logs in ``logs/name``.

    A step with 0 tasks is skipped. Workers are forked (not started by forkserver as in curate):
    a stage is often called from a script or a notebook, and forking re-imports nothing. On Ray,
    tasks are grouped so that each worker starts once: starting one (imports, numba cache) costs
    seconds, far more than a small task.
    """
    for step, tasks, name in steps:
        if tasks == 0:
            continue
        if progress:
            print(f"{name}: {step.name}, {tasks} task(s)", flush=True)
        ex = build_executor(executor, [step], tasks, str(logs / name), job_name=f"midtrain-{name}",
                            start_method="fork", tasks_per_job=-(-tasks // executor.workers))
        run_executor(ex, str(logs / name), step.name)


def copy_logs(work_logs: Path, logging_dir: str | None, name: str) -> None:
    """Copy the stage's logs and stats to ``logging_dir/name`` (without completion markers)."""
    if logging_dir is None or not work_logs.is_dir():
        return
    target = Path(logging_dir) / name
    shutil.copytree(work_logs, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("completions"))

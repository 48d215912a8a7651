"""Running one stage (a datatrove step) on datatrove's local or Ray executor.

Completion markers and per-task logs go to a folder inside the job's work folder, so re-running
an interrupted job skips the tasks that finished; the caller's ``logging_dir`` (if any) receives
a copy of the logs and stats at the end, never stale markers that would skip a later run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from midtrain.errors import ConfigError

EXECUTORS = ("local", "ray")


def check_executor(executor: str, workers: int) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"executor: must be one of {EXECUTORS}, got {executor!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: must be a positive integer, got {workers!r}")


def run_stage(step, *, tasks: int, workers: int, executor: str, logs: Path) -> None:
    """Run ``step`` as ``tasks`` datatrove tasks on ``workers`` processes (or Ray workers)."""
    if tasks == 0:
        return
    if executor == "ray":
        import ray
        from datatrove.executor import RayPipelineExecutor

        if not ray.is_initialized():
            ray.init()
        # one Ray worker process per group of tasks: starting a worker (imports, numba cache) costs
        # seconds, far more than a small task
        RayPipelineExecutor(pipeline=[step], tasks=tasks, workers=workers, logging_dir=str(logs),
                            cpus_per_task=1, tasks_per_job=-(-tasks // workers)).run()
    else:
        from datatrove.executor import LocalPipelineExecutor

        LocalPipelineExecutor(pipeline=[step], tasks=tasks, workers=min(workers, tasks),
                              logging_dir=str(logs), start_method="fork").run()
    done = logs / "completions"
    finished = len(list(done.iterdir())) if done.is_dir() else 0
    if finished < tasks:
        raise RuntimeError(f"{step.name}: only {finished} of {tasks} tasks finished; see the logs in {logs}")


def copy_logs(work_logs: Path, logging_dir: str | None, name: str) -> None:
    """Copy the stage logs and stats to the caller's ``logging_dir/name`` (without completion markers)."""
    if logging_dir is None or not work_logs.is_dir():
        return
    target = Path(logging_dir) / name
    shutil.copytree(work_logs, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("completions"))

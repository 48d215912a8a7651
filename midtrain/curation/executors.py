"""Running datatrove steps on an executor: local processes, a Ray cluster, or Slurm.

The one executor layer of curation: ``midtrain curate`` runs its pipeline here, and every
corpus-to-corpus stage (dedup, decontamination) runs its steps here. All three executors skip
tasks that have a completion marker in ``logging_dir/completions/`` -- that is what makes a
killed job resumable. Two datatrove behaviours are handled here:

- the local executor starts workers with ``forkserver`` unless told to fork (and forking is safe:
  :func:`fork_is_safe`); each forkserver
  worker re-imports the ``__main__`` script, so a script that calls
  :func:`midtrain.curation.curate` at top level, without an ``if __name__ == "__main__":`` guard,
  respawns workers forever with no log. We refuse to start such a run, with a message saying
  what to add;
- the Ray executor does not raise when tasks fail (it logs a warning), so the job checks the
  completion markers afterwards and raises :class:`MidtrainError` naming the failed tasks.

:func:`check_executor` is called before any work starts, so an executor a command cannot honour
(Slurm for a stage, which needs its steps to run one after another) is a :class:`ConfigError`
up front, never after the pipeline has run.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

from midtrain.curation.config import ExecutorConfig
from midtrain.curation.typed_config import check_call_params
from midtrain.errors import ConfigError, MidtrainError

EXECUTORS = ("local", "ray", "slurm")


def check_executor(kind: str, workers: int, *, supported: tuple[str, ...] = EXECUTORS, what: str = "executor") -> None:
    """Raise :class:`ConfigError` unless ``kind`` is an executor ``what`` runs on and ``workers`` ≥ 1."""
    if kind not in EXECUTORS:
        raise ConfigError(f"executor: expected 'local', 'ray' or 'slurm', got {kind!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: must be a positive integer, got {workers!r}")
    if kind not in supported:
        raise ConfigError(f"{what}: runs on the {' or '.join(supported)} executor, not {kind}; choose another "
                          "--executor (or run this stage separately on its output)")


def build_executor(cfg: ExecutorConfig, steps: list[Any], tasks: int, logging_dir: str, *,
                   job_name: str = "midtrain-curate", start_method: str = "forkserver",
                   tasks_per_job: int = 1) -> Any:
    """The datatrove executor for ``cfg`` running ``steps`` as ``tasks`` tasks.

    ``start_method``: how local workers start (``fork`` re-imports nothing); ``tasks_per_job``:
    tasks run one after another by one Ray worker.
    """
    if cfg.workers < 1:
        raise ConfigError(f"executor.workers: must be at least 1, got {cfg.workers}")
    if cfg.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        if start_method == "fork" and not fork_is_safe():
            start_method = "forkserver"
        if start_method != "fork" and cfg.workers > 1 and tasks > 1:
            check_main_guard()
        return LocalPipelineExecutor(steps, tasks=tasks, workers=min(cfg.workers, tasks), logging_dir=logging_dir,
                                     start_method=start_method)
    if cfg.kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        ensure_ray(cfg.ray_address)
        return RayPipelineExecutor(steps, tasks=tasks, workers=cfg.workers, logging_dir=logging_dir,
                                   cpus_per_task=cfg.cpus_per_task, mem_per_cpu_gb=cfg.mem_per_cpu_gb,
                                   tasks_per_job=tasks_per_job)
    from datatrove.executor.slurm import SlurmPipelineExecutor

    params = check_call_params(SlurmPipelineExecutor.__init__, cfg.slurm, "executor.slurm",
                               skip=("pipeline", "tasks", "logging_dir", "depends"))
    params.setdefault("cpus_per_task", cfg.cpus_per_task)
    params.setdefault("mem_per_cpu_gb", cfg.mem_per_cpu_gb)
    params.setdefault("job_name", job_name)
    return SlurmPipelineExecutor(steps, tasks=tasks, logging_dir=logging_dir, **params)


def fork_is_safe() -> bool:
    """Whether a ``fork`` of this process gives workers that cannot hang. A fork copies only the
    calling thread: a lock another thread held stays locked in the child forever. So fork only a
    process with one Python thread that has never loaded Ray (its gRPC threads, invisible to
    :mod:`threading`, outlive ``ray.shutdown()``: a pool forked after a Ray job lost a worker and
    hung in CI). Otherwise workers start from a fresh forkserver."""
    import threading

    return "ray" not in sys.modules and threading.active_count() == 1


def run_executor(executor: Any, logging_dir: str, what: str, *, submitted_ok: bool = False) -> bool:
    """Run ``executor``; True when every task finished.

    A task that raised, or any task left without a completion marker, raises
    :class:`MidtrainError` naming the first one and its log. With ``submitted_ok`` (Slurm, whose
    ``run`` only submits), unfinished tasks after a clean submission return False instead.
    """
    try:
        executor.run()
    except Exception as exc:  # a task raised: report it as unfinished tasks, naming the cause and the log
        if not incomplete_tasks(executor):
            raise
        raise_if_incomplete(executor, logging_dir, what, cause=exc)
    if submitted_ok and incomplete_tasks(executor):
        return False
    raise_if_incomplete(executor, logging_dir, what)
    return True


def ensure_ray(address: str | None) -> None:
    """Connect to Ray unless the caller already did (``RAY_ADDRESS``, ``address``, or a local cluster)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor.kind: 'ray' needs Ray: pip install 'midtrain[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False)


def incomplete_tasks(executor: Any) -> list[int]:
    """Tasks without a completion marker."""
    return executor.get_incomplete_ranks(skip_completed=True)


def raise_if_incomplete(executor: Any, logging_dir: str, what: str, cause: BaseException | None = None) -> None:
    """Raise :class:`MidtrainError` naming the first unfinished task and its log, if any task is unfinished."""
    missing = incomplete_tasks(executor)
    if missing:
        first = missing[0]
        log = Path(logging_dir) / "logs" / f"task_{first:05d}.log"
        because = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        raise MidtrainError(f"{what}: {len(missing)} of {executor.world_size} tasks did not finish "
                            f"(first: task {first}, log {log}){because}; fix the cause and rerun the same "
                            "command, finished tasks are kept")


def check_main_guard() -> None:
    """Refuse to start worker processes from a script that would start them again on import."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if path is None or (spec is not None and spec.name):  # interactive, or run with python -m
        return
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return
    if not any(_is_main_guard(node) for node in tree.body):
        raise MidtrainError(f"{path}: workers > 1 start processes that re-import this script, which would run the "
                            "job again in each of them; put the call under `if __name__ == \"__main__\":` "
                            "(or use workers=1)")


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    names = {p.id for p in parts if isinstance(p, ast.Name)}
    consts = {p.value for p in parts if isinstance(p, ast.Constant)}
    return "__name__" in names and "__main__" in consts

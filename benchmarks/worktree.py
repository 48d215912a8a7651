"""A temporary git worktree of another commit, for scripts that run this tree and that one in turn.

``bench_labels_ab.py`` (speed) and ``label_digest.py`` (outputs) compare this tree with ``--base REV``: each
checks REV out beside this checkout, runs the same command in both trees, each with its own numba cache so
neither reads the other's compiled kernels, and removes the worktree at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def base_worktree(rev: str, parser: argparse.ArgumentParser) -> Iterator[tuple[Path, Path]]:
    """``(worktree of rev, scratch folder)``, both removed on exit; ``parser.error`` when ``rev`` is not a
    commit of this repository."""
    found = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True,
                           text=True)
    if found.returncode != 0:
        parser.error(f"--base {rev!r}: not a commit of {ROOT}")
    with tempfile.TemporaryDirectory(prefix="midtrain-base-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), found.stdout.strip()], cwd=ROOT,
                       check=True)
        try:
            yield tree, Path(tmp)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def tree_env(tree: Path, scratch: Path, name: str) -> dict[str, str]:
    """The environment of a run in ``tree``: its own modules first, its own numba cache under ``scratch``."""
    return {**os.environ, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": str(scratch / f"numba-{name}")}

"""CLI: ``midtrain quickstart [DIR]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from midtrain.quickstart import DEFAULT_DIR

    p = sub.add_parser("quickstart", help="run the whole pipeline on the embedded sample (local, no downloads)",
                       description="Build a sample corpus from real text that ships with Python and midtrain's "
                                   "dependencies, and run every stage on it locally.")
    p.add_argument("dir", nargs="?", default=DEFAULT_DIR, help=f"output folder (default: ./{DEFAULT_DIR})")
    p.set_defaults(func=_quickstart)


def _quickstart(args: argparse.Namespace) -> int:
    from midtrain.quickstart import run_quickstart

    run_quickstart(args.dir)
    return 0

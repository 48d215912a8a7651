"""CLI: ``midtrain quickstart [--output DIR]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from midtrain.quickstart import DEFAULT_OUTPUT

    p = sub.add_parser("quickstart", help="run the whole pipeline on the embedded sample (local, no downloads)",
                       description="Build a sample corpus from real text that ships with Python and midtrain's "
                                   "dependencies, and run every stage on it locally.")
    p.add_argument("--output", "-o", default=DEFAULT_OUTPUT,
                   help=f"output folder, deleted first if it exists (default: ./{DEFAULT_OUTPUT})")
    p.add_argument("--quiet", action="store_true", help="print nothing; the summary is still in OUTPUT/summary.json")
    p.set_defaults(func=_quickstart)


def _quickstart(args: argparse.Namespace) -> int:
    from midtrain.quickstart.run import run_quickstart

    run_quickstart(args.output, progress=not args.quiet)
    return 0

"""The ``midtrain`` command. Each stage registers its own subcommands from a ``commands`` module.

User mistakes (:class:`midtrain.errors.MidtrainError`) print one line and exit 2; a bare
traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from midtrain import __version__
from midtrain.errors import MidtrainError

# One module per stage; each has ``register(subparsers)``. A ``commands`` module and the package it
# sits in import only argparse and light modules; each handler imports what it runs when it runs,
# so that ``midtrain --help`` (and ``midtrain CMD --help``) never loads torch, datatrove or numba.
COMMAND_MODULES = [
    "midtrain.quickstart.commands",
    "midtrain.corpus.commands",
    "midtrain.curation.commands",
    "midtrain.tokenize.commands",
    "midtrain.curation.labels.commands",
    "midtrain.curation.stages.commands",
    "midtrain.mixers.commands",
    "midtrain.loaders.commands",
    "midtrain.sweep.commands",
    "midtrain.longctx.commands",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``midtrain`` parser with every stage's subcommands registered."""
    return _parser_and_commands()[0]


def command_names() -> list[str]:
    """Every subcommand, in the order ``midtrain --help`` lists them."""
    return list(_parser_and_commands()[1].choices)


def _parser_and_commands() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="midtrain", description="The data side of LLM mid-training: curate, "
                                     "tokenize, schedule, and stream packed batches.")
    parser.add_argument("--version", action="version", version=f"midtrain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _register_ledger(sub)
    return parser, sub


def _register_ledger(sub: argparse._SubParsersAction) -> None:
    """``midtrain ledger``: the exposure ledger of a loader plan (:mod:`midtrain.loaders.ledger`)."""
    p = sub.add_parser("ledger", help="which documents a loader's batches hold and how often each was seen",
                       description="Answer from the loader's plan alone (no batch materialised): the documents and "
                                   "token spans of a global batch, how many times each document, domain and source "
                                   "was seen up to a step, or where one document appeared. The loader options must "
                                   "be the run's; --state adds what the run's state carries (its mixture log).")
    p.add_argument("corpus", metavar="CORPUS", help="token corpus folder")
    p.add_argument("schedule", metavar="SCHEDULE", help="schedule file (.yaml, .toml, .json) or inline JSON")
    p.add_argument("--state", metavar="STATE.json", help="a loader state_dict() saved by the run")
    for flag, kw in (("--seq-len", dict(required=True)), ("--batch-size", dict(required=True, help="per rank")),
                     ("--seed", dict(required=True)), ("--world-size", dict(default=1)),
                     ("--window", dict(default=4096)), ("--block-batches", dict()),
                     ("--long-min-tokens", dict()), ("--cp-degree", dict(default=1))):
        p.add_argument(flag, type=int, metavar="N", **kw)
    p.add_argument("--total-tokens", metavar="N", help="token budget for a schedule written in fractions (e.g. 1B)")
    p.add_argument("--packing", choices=["concat", "best_fit"], default="concat")
    p.add_argument("--balance", choices=["none", "attention"], default="none")
    p.add_argument("--doc-mask", choices=["document", "none"], default="document")
    p.add_argument("--cache", metavar="DIR", help="where the block snapshot index is kept (default: "
                                                   "$XDG_CACHE_HOME/midtrain/ledger)")
    p.add_argument("--no-cache", action="store_true", help="keep the snapshot index in memory only")
    ask = p.add_mutually_exclusive_group(required=True)
    ask.add_argument("--batch", type=int, metavar="K", help="documents and token spans of global batch K")
    ask.add_argument("--exposure", action="store_true", help="times each document was seen; histogram and tables")
    ask.add_argument("--seen", metavar="DOC_ID", help="every step and span where document DOC_ID appeared")
    p.add_argument("--rank", type=int, metavar="R", help="with --batch: only the rows rank R reads")
    p.add_argument("--step", type=int, metavar="S", help="with --exposure: global batches 0..S-1 (default: the "
                                                          "state's position, else the whole schedule)")
    p.add_argument("--before", type=int, metavar="STEP",
                   help="with --seen: global batches 0..STEP-1 (default: as --step)")
    p.add_argument("--documents", action="store_true", help="with --exposure --json: every document's counts by id")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=lambda args: importlib.import_module("midtrain.loaders.ledger").run_command(args))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MidtrainError as exc:
        print(f"midtrain {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"midtrain {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

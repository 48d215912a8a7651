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
    return parser, sub


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

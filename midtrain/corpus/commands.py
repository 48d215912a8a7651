"""CLI commands of the corpus layer: ``midtrain validate`` and ``midtrain stats``."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a corpus: manifest, paths, checksums, schema, offsets",
                       description="Validate a text or token corpus folder, or a token corpus at a URL "
                                   "(s3://...). Prints one line per problem (naming the shard) and exits 1 if "
                                   "there is any.")
    p.add_argument("corpus", help="corpus folder (the one holding manifest.json), or a token corpus's URL")
    p.add_argument("--no-checksums", action="store_true", help="skip hashing the shard files (faster)")
    p.set_defaults(func=_validate)

    p = sub.add_parser("stats", help="per-domain documents, tokens, bytes and length percentiles",
                       description="Summarise a corpus per domain (computed with polars); a token corpus "
                                   "may be at a URL (s3://...).")
    p.add_argument("corpus", help="corpus folder (the one holding manifest.json), or a token corpus's URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_stats)


def _validate(args: argparse.Namespace) -> int:
    from midtrain.corpus.validation import validate

    problems = validate(args.corpus, checksums=not args.no_checksums)
    for line in problems:
        print(f"invalid: {line}", file=sys.stderr)
    if not problems:
        print(f"ok: {args.corpus}")
    return 1 if problems else 0


def _stats(args: argparse.Namespace) -> int:
    from midtrain.corpus.stats import corpus_stats, format_stats

    stats = corpus_stats(args.corpus)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0

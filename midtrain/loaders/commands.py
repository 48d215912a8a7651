"""CLI of the loader stage: ``midtrain amend STATE.json NEW_SCHEDULE --corpus TOKENS_DIR`` and
``midtrain ledger CORPUS SCHEDULE ...`` (:mod:`midtrain.loaders.ledger`).

``amend`` rebuilds the run's loader from what its state records (seed, sequence length, packing,
window, global batch, the schedule and any earlier amendments), on ``--corpus`` (the corpus the run
continues on: the same documents in every domain it had, plus new domains), applies the amendment
and writes the state back (a temporary file, then a rename: never half-written). The training job
then builds its loader on that corpus and the new schedule and loads the state.
"""

from __future__ import annotations

import argparse
import importlib


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("amend", help="change a running mix from a token position on, keeping every count exact",
                       description="Amend a loader state: from the first block starting at --at tokens (default: "
                                   "where the state stands) the run follows NEW_SCHEDULE (weights, phase lengths, "
                                   "seq_len, new domains), on --corpus, without the documents listed in --remove. "
                                   "Everything before is unchanged; every domain continues its epoch order where it "
                                   "stood. The state keeps the chain of amendments.")
    p.add_argument("state", metavar="STATE.json", help="a loader state_dict() saved by the run")
    p.add_argument("schedule", metavar="NEW_SCHEDULE", help="schedule file (.yaml, .toml, .json) for the whole run")
    p.add_argument("--corpus", required=True, help="token corpus the run continues on")
    p.add_argument("--at", metavar="TOKENS", help="token position the amendment applies from (e.g. 2B); default: "
                                                   "the state's position")
    p.add_argument("--remove", metavar="IDS.txt", help="file of document ids to remove, one per line")
    p.add_argument("--total-tokens", metavar="N", help="token budget for a schedule written in fractions")
    p.add_argument("-o", "--output", metavar="OUT.json", help="where to write the amended state (default: in place)")
    p.set_defaults(func=_amend)
    _register_ledger(sub)


def _amend(args: argparse.Namespace) -> int:
    from midtrain.loaders.amend import amend_state_file
    from midtrain.mixers.positions import parse_position

    at = None if args.at is None else parse_position(args.at, "--at", None)
    total = None if args.total_tokens is None else parse_position(args.total_tokens, "--total-tokens", None)
    amendment, out = amend_state_file(args.state, args.schedule, args.corpus, at_tokens=at, remove_file=args.remove,
                                      total_tokens=total, output=args.output)
    print(f"amended {out}: from block {amendment.from_block:,} ({amendment.from_tokens:,} tokens) the run follows "
          f"{args.schedule} on {args.corpus}" + (f", {len(amendment.removed):,} document(s) removed"
                                                 if amendment.removed else ""))
    return 0


def _register_ledger(sub: argparse._SubParsersAction) -> None:
    """``midtrain ledger``: the exposure ledger of a loader plan (:mod:`midtrain.loaders.ledger`)."""
    p = sub.add_parser("ledger", help="which documents a loader's batches hold and how often each was seen",
                       description="Answer from the loader's plan alone (no batch materialised): the documents and "
                                   "token spans of a global batch, how many times each document, domain and source "
                                   "was seen up to a step, or where one document appeared. The loader options must "
                                   "be the run's; --state adds what the run's state carries (its mixture log and "
                                   "amendments) and supplies the options it records (seq-len, batch, seed, packing, "
                                   "window, block-batches) when they are not given.")
    p.add_argument("corpus", metavar="CORPUS", help="token corpus folder")
    p.add_argument("schedule", metavar="SCHEDULE", help="schedule file (.yaml, .toml, .json) or inline JSON")
    p.add_argument("--state", metavar="STATE.json", help="a loader state_dict() saved by the run")
    for flag, kw in (("--seq-len", dict()), ("--batch-size", dict(help="per rank")), ("--seed", dict()),
                     ("--world-size", dict(default=1)), ("--window", dict(help="default 4096")),
                     ("--block-batches", dict()), ("--long-min-tokens", dict()), ("--cp-degree", dict(default=1))):
        p.add_argument(flag, type=int, metavar="N", **kw)
    p.add_argument("--total-tokens", metavar="N", help="token budget for a schedule written in fractions (e.g. 1B)")
    p.add_argument("--packing", choices=["concat", "best_fit"], help="default concat")
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

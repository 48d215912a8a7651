"""CLI of the loader stage: ``midtrain amend STATE.json NEW_SCHEDULE --corpus TOKENS_DIR``.

``amend`` rebuilds the run's loader from what its state records (seed, sequence length, packing,
window, global batch, the schedule and any earlier amendments), on ``--corpus`` (the corpus the run
continues on: the same documents in every domain it had, plus new domains), applies the amendment
and writes the state back (a temporary file, then a rename: never half-written). The training job
then builds its loader on that corpus and the new schedule and loads the state.
"""

from __future__ import annotations

import argparse


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

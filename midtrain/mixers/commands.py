"""CLI: ``midtrain plan MIX.yaml --corpus TOKEN_CORPUS --total-tokens N``.

Exit status: 0 when the plan is within the hard cap, 1 when ``--max-epochs`` is broken (the table
or JSON is still printed, the violations go to stderr), 2 for a bad schedule or corpus.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="tokens and epochs per domain and phase for a mixture schedule",
                       description="Plan a mixture schedule against a token corpus before training: tokens drawn, "
                                   "unique tokens, epochs per domain and phase, and where each domain runs out.")
    p.add_argument("schedule", help="schedule file (.yaml, .toml or .json)")
    p.add_argument("--corpus", required=True, help="token corpus folder (its manifest gives the domain sizes)")
    p.add_argument("--total-tokens", metavar="N", help="total training tokens, e.g. 100B or 2500000000 (default: "
                                                       "the schedule's total_tokens)")
    p.add_argument("--warn-epochs", type=float, default=4.0, help="warn when a domain exceeds this many epochs "
                                                                 "(default 4)")
    p.add_argument("--max-epochs", type=float, default=None, help="hard cap: exit 1 if any domain exceeds it")
    p.add_argument("--missing-domains", choices=["error", "renormalise"],
                   help="a schedule domain the corpus lacks is an error, or is dropped and every mixture "
                        "renormalised over the rest (default: the schedule's missing_domains, else error)")
    p.add_argument("--long-min-tokens", type=int, default=None, metavar="N",
                   help="when the schedule names `long` and the corpus has no long domain, `long` is every document "
                        "of at least N tokens from every domain (default: the schedule's long.min_tokens, else "
                        "32768)")
    p.add_argument("--plot", metavar="FILE.png", help="write weights over tokens and cumulative epochs to a PNG")
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of a table")
    p.set_defaults(func=_plan)


def _plan(args: argparse.Namespace) -> int:
    from midtrain.corpus.lengths import check_long_min_tokens
    from midtrain.mixers import load_schedule_for_corpus, plan_budget
    from midtrain.mixers.domain_sizes import virtual_long_threshold
    from midtrain.mixers.positions import parse_position

    total = parse_position(args.total_tokens, "--total-tokens", None) if args.total_tokens is not None else None
    if args.long_min_tokens is not None:
        check_long_min_tokens(args.long_min_tokens, "--long-min-tokens")
    schedule, sizes = load_schedule_for_corpus(args.schedule, args.corpus, total_tokens=total,
                                               missing_domains=args.missing_domains,
                                               long_min_tokens=args.long_min_tokens)
    plan = plan_budget(schedule, sizes, total, warn_epochs=args.warn_epochs, max_epochs=args.max_epochs,
                       long_min_tokens=virtual_long_threshold(schedule, args.corpus, args.long_min_tokens))
    print(plan.to_json(), end="") if args.json else print(plan.table())
    if args.plot:
        from midtrain.mixers.plot import plot_plan

        path = plot_plan(schedule, plan, args.plot)
        print(f"plot: {path}", file=sys.stderr if args.json else sys.stdout)
    for line in plan.violations:
        print(f"midtrain plan: over the cap: {line}", file=sys.stderr)
    return 0 if plan.ok else 1

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
    p.add_argument("--corpus", required=True,
                   help="token corpus folder or URL (s3://...); its manifest gives the domain sizes")
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
    p.add_argument("--seq-len", type=int, default=None, metavar="N",
                   help="the loader's sequence length, for phases that set none (long-context report, RoPE check)")
    p.add_argument("--plot", metavar="FILE.png", help="write weights over tokens and cumulative epochs to a PNG")
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of a table")
    p.set_defaults(func=_plan)

    p = sub.add_parser("rope-base", help="the lower bound of the RoPE base for a context length",
                       description="Print the smallest RoPE base (theta) that keeps positions apart over SEQ_LEN "
                                   "tokens, as fitted by Men et al. 2024 (arXiv 2405.14591): about "
                                   "0.0424 x SEQ_LEN^1.628. `midtrain plan` warns when a phase's rope.theta is below "
                                   "it.")
    p.add_argument("seq_len", metavar="SEQ_LEN", nargs="?", help="context length in tokens (e.g. 32768 or 32K); "
                                                                "without it, a table of the usual lengths")
    p.set_defaults(func=_rope_base)


def _rope_base(args: argparse.Namespace) -> int:
    from midtrain.errors import ConfigError
    from midtrain.mixers.longctx import rope_base_lower_bound, rope_base_table
    from midtrain.mixers.positions import parse_position

    if args.seq_len is None:
        print(rope_base_table())
        return 0
    seq_len = parse_position(args.seq_len, "SEQ_LEN", None)
    if seq_len <= 0:
        raise ConfigError(f"SEQ_LEN: must be a positive number of tokens, got {args.seq_len!r}")
    print(f"{rope_base_lower_bound(seq_len):.4g}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from midtrain.corpus.lengths import check_long_min_tokens
    from midtrain.mixers import load_schedule_for_corpus, plan_budget
    from midtrain.mixers.domain_sizes import plan_domain_lengths, virtual_long_threshold
    from midtrain.mixers.positions import parse_position

    total = parse_position(args.total_tokens, "--total-tokens", None) if args.total_tokens is not None else None
    if args.long_min_tokens is not None:
        check_long_min_tokens(args.long_min_tokens, "--long-min-tokens")
    schedule, sizes = load_schedule_for_corpus(args.schedule, args.corpus, total_tokens=total,
                                               missing_domains=args.missing_domains,
                                               long_min_tokens=args.long_min_tokens)
    threshold = virtual_long_threshold(schedule, args.corpus, args.long_min_tokens)
    plan = plan_budget(schedule, sizes, total, warn_epochs=args.warn_epochs, max_epochs=args.max_epochs,
                       long_min_tokens=threshold, doc_lengths=plan_domain_lengths(args.corpus, schedule, threshold),
                       seq_len=args.seq_len)
    print(plan.to_json(), end="") if args.json else print(plan.table())
    if args.plot:
        from midtrain.mixers.plot import plot_plan

        path = plot_plan(schedule, plan, args.plot)
        print(f"plot: {path}", file=sys.stderr if args.json else sys.stdout)
    for line in plan.violations:
        print(f"midtrain plan: over the cap: {line}", file=sys.stderr)
    return 0 if plan.ok else 1

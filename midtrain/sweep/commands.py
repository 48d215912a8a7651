"""CLI: ``midtrain sweep plan | run | fit | optimize | report``, from a swarm of proxy runs to a schedule.

Each handler imports what it runs when it runs (numpy, scipy, torch), so ``midtrain --help`` stays light.
See ``docs/sweep.md`` for the folder these commands share and the math behind them.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="mixture search: plan, train, fit and optimise a swarm of proxy runs",
                       description="Mixture search on one GPU: a Dirichlet swarm of small proxy runs around a prior, "
                                   "a mixing law fitted to their held-out losses, and the best mix as a schedule. "
                                   "See docs/sweep.md.")
    steps = p.add_subparsers(dest="sweep_command", metavar="STEP")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    _register_plan(steps)
    _register_run(steps)
    _register_fit(steps)
    _register_optimize(steps)
    _register_report(steps)


def _register_plan(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("plan", help="plan the swarm (mixtures, anchors, held-out runs) and write the sweep folder",
                         description="Draw Dirichlet mixtures around a prior (token shares to a power) inside the "
                                     "epoch caps, add anchor runs (prior, uniform, each domain at its cap) and "
                                     "held-out "
                                     "mixtures, write DIR/sweep.json and one schedule per run, and print a dry run.")
    p.add_argument("corpus", help="token corpus folder the proxies train on")
    p.add_argument("--heldout", required=True, help="token corpus folder with the same domains, for held-out losses")
    p.add_argument("--runs", type=int, required=True, help="fit mixtures to draw (anchors come on top)")
    p.add_argument("--holdout", type=int, default=0, help="held-out mixtures, scored and never fitted (default 0)")
    p.add_argument("--proxy", default="s14m", help="proxy size: s14m or s42m (default s14m)")
    p.add_argument("--tokens", required=True, metavar="T", help="training tokens per run (the anneal), e.g. 8M")
    p.add_argument("--base-tokens", metavar="B", help="anneal mode: tokens of the base proxy on the prior "
                                                      "(default 2 x --tokens)")
    p.add_argument("--mode", choices=["anneal", "pretrain"], default="anneal",
                   help="anneal every run from one base proxy (default), or pretrain each from scratch")
    p.add_argument("--max-epochs", type=float, default=4.0, help="epoch cap per domain, base included (default 4)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed and the runs' seed (default 0)")
    p.add_argument("--prior-power", type=float, default=0.5, help="prior = token shares ** this (default 0.5)")
    p.add_argument("--min-weight", type=float, default=0.01, help="weights below this become 0 (default 0.01)")
    p.add_argument("--seeds-per-anchor", type=int, default=3, help="seeds of each anchor mix (default 3)")
    p.add_argument("--seq-len", type=int, default=1024, help="sequence length (default 1024)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per step per proxy (default 8)")
    p.add_argument("--output", "-o", "--out", dest="output", required=True, metavar="DIR", help="sweep folder to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing DIR/sweep.json")
    p.set_defaults(func=_plan)


def _register_run(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("run", help="train the swarm's proxies on the GPU, several stacked in one process",
                         description="Train every run of DIR/sweep.json (anneal mode: from one base proxy) and "
                                     "append each result to DIR/results.jsonl.")
    p.add_argument("directory", metavar="DIR", help="sweep folder")
    p.add_argument("--group", type=int, default=16, help="proxies stacked in one module (default 16)")
    p.add_argument("--resume", action="store_true", help="skip runs that already have a result")
    p.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda when available")
    p.add_argument("--no-compile", action="store_true", help="do not torch.compile the stacked model")
    p.add_argument("--runs", nargs="+", metavar="ID", help="train only these run ids")
    p.add_argument("--heldout-rows", type=int, default=512, metavar="R",
                   help="held-out sequences per domain each run is scored on (default 512); every run a report "
                        "compares must be scored with the same R")
    p.set_defaults(func=_run)


def _register_fit(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("fit", help="fit mixing laws to the swarm's held-out losses (writes DIR/fit.json)",
                         description="Fit one mixing law per domain loss (and per --objective) on the fit and anchor "
                                     "runs, chosen by K-fold CV on those runs only, with bootstrap replicates for σ.")
    p.add_argument("directory", metavar="DIR", help="sweep folder")
    p.add_argument("--model", choices=["linlog", "dml", "lgbm", "auto"], default="auto",
                   help="linlog: ridge on [w, log w]; dml: c + exp(t.w); lgbm: LightGBM (optional extra); auto: the "
                        "least CV error per target (default)")
    p.add_argument("--cv", type=int, default=5, help="CV folds over the fit runs (default 5)")
    p.add_argument("--objective", action="append", default=[], metavar="EXPR",
                   help="also fit this sum of domain losses as its own target, e.g. math+code (repeatable)")
    p.add_argument("--bootstrap", type=int, default=50, help="bootstrap refits for the predictive σ (default 50)")
    p.add_argument("--seed", type=int, default=0, help="folds and bootstrap seed (default 0)")
    p.set_defaults(func=_fit)


def _register_optimize(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("optimize", help="search the best mix under constraints and emit it as a schedule",
                         description="Minimise an objective over the simplex inside the epoch caps, with a KL pull "
                                     "toward the prior and constraints held by a bootstrap margin; write "
                                     "DIR/optimized.json and the schedule.")
    p.add_argument("directory", metavar="DIR", help="sweep folder (with fit.json)")
    p.add_argument("--minimize", required=True, metavar="EXPR", help="sum of domain losses, e.g. math+code")
    p.add_argument("--subject-to", action="append", default=[], metavar="BOUND",
                   help="upper bound on a loss, e.g. 'web<=base*1.02' (base: the prior anchor, measured); repeatable")
    p.add_argument("--prior-pull", type=float, default=0.05, help="weight of KL(w || prior) (default 0.05)")
    p.add_argument("--margin", type=float, default=2.0, help="bootstrap sigmas a bound must hold by (default 2)")
    p.add_argument("--candidates", type=int, default=100_000, help="Dirichlet candidates (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="candidate seed (default 0)")
    p.add_argument("--emit", metavar="MIX.yaml", help="write the schedule here (default DIR/optimized.yaml)")
    p.add_argument("--total-tokens", metavar="N", help="scale the emitted schedule to N tokens (default: the proxy's)")
    p.add_argument("--base-weights", default="prior", metavar="prior|d:w,...",
                   help="anneal mode: the emitted base phase's mix (default prior, the base the proxies annealed from)")
    p.add_argument("--confirm-seeds", type=int, default=3,
                   help="add 'confirm' runs of the chosen mix with seeds 0..N-1 to the sweep for `sweep run --resume` "
                        "(default 3; 0: none; runs already there are not added twice)")
    p.set_defaults(func=_optimize)


def _register_report(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("report", help="held-out accuracy of the fit, the chosen mix against the baselines",
                         description="Score the fit on the held-out runs (Spearman, Kendall, relative error, pairwise "
                                     "accuracy, regret, rho against the number of fit runs) and compare the chosen mix "
                                     "with the prior and uniform; write DIR/report/ (report.md, metrics.json, "
                                     "predicted_vs_measured.png, Olmix's ratios.csv and metrics.csv).")
    p.add_argument("directory", metavar="DIR", help="sweep folder (with fit.json)")
    p.add_argument("--seed", type=int, default=0, help="seed of the run-count subsets (default 0)")
    p.set_defaults(func=_report)


# --- handlers -----------------------------------------------------------------------------------
def _plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from midtrain.errors import ConfigError
    from midtrain.mixers.positions import parse_position
    from midtrain.sweep.sampler import describe_plan, plan_sweep
    from midtrain.sweep.spec import SWEEP_FILE, write_sweep

    out = Path(args.output)
    if (out / SWEEP_FILE).exists() and not args.force:
        raise ConfigError(f"{out / SWEEP_FILE}: exists; pass --force to plan again (its results.jsonl would no longer "
                          "match) or choose another --output")
    base = parse_position(args.base_tokens, "--base-tokens", None) if args.base_tokens is not None else None
    spec = plan_sweep(args.corpus, args.heldout, runs=args.runs, holdout=args.holdout, proxy=args.proxy,
                      tokens=parse_position(args.tokens, "--tokens", None), base_tokens=base, mode=args.mode,
                      max_epochs=args.max_epochs, seed=args.seed, prior_power=args.prior_power,
                      min_weight=args.min_weight, seq_len=args.seq_len, batch_size=args.batch_size,
                      seeds_per_anchor=args.seeds_per_anchor)
    path = write_sweep(out, spec)
    print(describe_plan(spec))
    print(f"wrote {path} and {len(spec.runs)} schedules; next: midtrain sweep run {out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from midtrain.errors import ConfigError
    from midtrain.sweep.train import TrainSettings, run_sweep

    if args.heldout_rows < 1:
        raise ConfigError(f"--heldout-rows: must be >= 1, got {args.heldout_rows}")
    report = run_sweep(args.directory, group=args.group, resume=args.resume, device=args.device,
                       compile=False if args.no_compile else None, run_ids=args.runs, progress=True,
                       settings=TrainSettings(heldout_rows=args.heldout_rows))
    summary = getattr(report, "summary", None)
    print(summary() if callable(summary) else report)
    return 0


def _fit(args: argparse.Namespace) -> int:
    from midtrain.sweep.fit import FIT_FILE, cv_table, fit_sweep

    fitted = fit_sweep(args.directory, model=args.model, cv=args.cv, objectives=args.objective,
                       bootstrap=args.bootstrap, seed=args.seed)
    _print_problems(fitted.problems)
    print(cv_table(fitted))
    print(f"wrote {args.directory}/{FIT_FILE}")
    return 0


def _optimize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from midtrain.errors import ConfigError
    from midtrain.mixers import load_schedule, plan_budget
    from midtrain.mixers.positions import parse_position
    from midtrain.sweep.optimize import OPTIMIZED_FILE, confirm_runs, emit_schedule, optimize_mix, parse_mixture
    from midtrain.sweep.spec import add_runs, read_sweep

    if args.confirm_seeds < 0:
        raise ConfigError(f"--confirm-seeds: must be >= 0 (0: no confirm runs), got {args.confirm_seeds}")

    spec = read_sweep(args.directory)
    total = parse_position(args.total_tokens, "--total-tokens", None) if args.total_tokens is not None else None
    base = None if args.base_weights == "prior" else parse_mixture(args.base_weights, spec.domains, "--base-weights")
    mix = optimize_mix(args.directory, minimize=args.minimize, subject_to=args.subject_to, prior_pull=args.prior_pull,
                       margin=args.margin, candidates=args.candidates, seed=args.seed)
    emit = Path(args.emit) if args.emit else Path(args.directory) / "optimized.yaml"
    emit_schedule(spec, mix, emit, total_tokens=total, base_weights=base)
    plan = plan_budget(load_schedule(emit, domain_tokens=spec.domain_tokens), spec.domain_tokens,
                       max_epochs=spec.max_epochs)
    print(f"chosen mix ({mix.method}; {mix.feasible:,} of {mix.candidates:,} candidates feasible): "
          + ", ".join(f"{d} {w:.4f}" for d, w in mix.weights.items()))
    for name, p in mix.predicted.items():
        print(f"  predicted {name:<16} {p['mean']:.4f} +- {2 * p['sigma']:.4f} (2 sigma)")
    for name, b in mix.baselines.items():
        print(f"  predicted {mix.objective} at {name:<8} {b['mean']:.4f} +- {2 * b['sigma']:.4f}")
    for c in mix.constraints:
        print(f"  {c['text']}: bound {c['bound']:.4f}, predicted {c['mean']:.4f} + {c['margin']:g} x {c['sigma']:.4f}")
    for line in plan.violations:
        print(f"midtrain sweep optimize: over the cap in {emit}: {line}", file=sys.stderr)
    if args.confirm_seeds > 0:
        runs = confirm_runs(spec, mix.weights, args.confirm_seeds)
        added = len(add_runs(args.directory, runs).runs) - len(spec.runs)
        print(f"added {added} confirm runs to the sweep (seeds {spec.seed}..{spec.seed + args.confirm_seeds - 1}; "
              f"{len(runs) - added} were there): `midtrain sweep run {args.directory} --resume` measures them")
    print(f"wrote {emit} and {Path(args.directory) / OPTIMIZED_FILE}")
    return 0 if plan.ok else 1


def _report(args: argparse.Namespace) -> int:
    from midtrain.sweep.report import write_report

    report = write_report(args.directory, seed=args.seed)
    _print_problems(report.problems)
    print(report.text)
    print(f"wrote {report.folder}")
    return 0


def _print_problems(problems: list[str]) -> None:
    if problems:
        print(f"midtrain sweep: skipped {len(problems)} result line(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)

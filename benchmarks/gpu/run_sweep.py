"""Issue 16 on the device machine: stacked-proxy throughput, a full anneal sweep, confirm and transfer.

    python benchmarks/gpu/run_sweep.py --data /tmp/midtrain_gpu --out $OUT --parts throughput
    python benchmarks/gpu/run_sweep.py --data /tmp/midtrain_gpu --out $OUT --parts sweep
    python benchmarks/gpu/run_sweep.py --data /tmp/midtrain_gpu --out $OUT --parts confirm,transfer
    python benchmarks/gpu/run_sweep.py --data /tmp/midtrain_gpu --out $OUT --parts compare \
        --from benchmarks/gpu/results/issue16 --confirm-seeds 8 --heldout-rows 512
    python benchmarks/gpu/run_sweep.py --dry-run --out /tmp/sweep_dry      # CPU, tiny sizes, every part

``--data`` holds ``train_tokens/`` and ``heldout_tokens/`` (``benchmarks/gpu/unpack.sh`` makes them from
the bundle of ``benchmarks/gpu/prepare_corpus.py``). Each part fits one 10-minute device command; the
sweep folder lives in ``--work`` (git-ignored, so it survives between commands while the machine
stays warm) and its small files (no checkpoints) are copied to ``--out`` after every part.

Parts:
- ``throughput``: aggregate training tokens/s of M stacked s14m proxies, 8 x 1024 tokens per proxy
  per step, bf16, fused AdamW, for each ``--configs`` entry ``M:eager|compiled[:sdpa|flex]``
  (default M in {1, 16, 32}, eager and compiled, plus compiled SDPA at M=16 to price the attention
  choice); 5 warm-up steps, then ``--steps`` timed ones; peak memory; ``block_mask`` cost.
- ``sweep``: ``sweep plan`` (48 fit + 16 held-out mixtures + anchors x 3 seeds, anneal mode, 8M tokens a
  run from a 16M-token base), ``run_sweep`` (stops starting groups past ``--time-budget``),
  ``sweep fit`` (with the objective), ``sweep optimize`` (adds 3 confirm runs) and ``sweep report``.
- ``resume``: the swarm runs a ``sweep`` part left for its time budget, then fit, optimize and report.
- ``confirm``: trains the optimised mix's confirm runs, then the report again (chosen vs prior and
  uniform, as measured: unpaired, and paired by seed). With ``--confirm-seeds N`` it first adds the
  confirm runs and the ``prior`` and ``uniform`` anchors of every seed 0..N-1 the sweep lacks.
- ``compare``: the optimised mix of ``--from`` (default: the sweep folder; or a results folder with only
  ``sweep.json`` and ``optimized.json``, e.g. ``benchmarks/gpu/results/issue16``) against the prior and
  uniform anchors, each at seeds 0..N-1 (``--confirm-seeds``, default 8), all scored on
  ``--heldout-rows`` rows, in a sweep folder of its own (``--work``/``compare-R<rows>``, on the corpus of
  ``--data``). The base proxy is reused from ``--from``'s checkpoints when they are there and were
  trained on the same settings, else trained again. It prints and writes ``compare.json`` and
  ``compare.txt``: per seed the objective and each bound's loss of the three mixes, mean ± sd, the
  differences paired by seed (mean, sd, mean / sd, t), and whether each bound holds as measured
  (``base`` is the prior's measured mean over these seeds, as ``sweep optimize`` defines it).
- ``transfer``: ``--transfer-mixes`` held-out mixtures re-run on the s42m proxy (its own base); the
  report's transfer section ranks them against the s14m runs of the same mixtures.

Every run is scored on the first ``--heldout-rows`` sequences of each held-out domain (default 512; 16
in a dry run); a sweep records its number in ``run_sweep.json`` and ``resume``, ``confirm`` and
``transfer`` keep it (losses scored on other rows do not compare; ``compare`` re-measures at a new one).
The sweep of the committed results (``benchmarks/gpu/results/issue16``) was scored on 128 rows.

Without scipy (the device image may lack it) the fit uses ``--model linlog`` (numpy only); a step
that needs a library the image lacks is reported and skipped, and its inputs are in ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from midtrain.sweep import spec as sweep_spec  # noqa: E402
from midtrain.sweep.objective import parse_constraint, parse_objective  # noqa: E402
from midtrain.sweep.optimize import BASELINES, confirm_runs, measured_base, read_optimized  # noqa: E402
from midtrain.sweep.report import paired_gain  # noqa: E402
from midtrain.sweep.spec import add_runs, make_run, read_results, read_sweep, write_sweep  # noqa: E402
from midtrain.sweep.stacked import ProxyShape, StackedLlama, make_optimizer  # noqa: E402
from midtrain.sweep.train import (CHECKPOINTS_DIR, StackedBatches, StackRunner, TrainSettings,  # noqa: E402
                                  build_member_loaders, format_rate, resolve_attention, run_sweep, train_steps)

COMPARE_SEEDS = 8
LEGACY_HELDOUT_ROWS = 128
"""Held-out rows of a sweep folder without ``run_sweep.json`` (every sweep before ``--heldout-rows``)."""
SETTINGS_FILE = "run_sweep.json"
HEAVY = ("datatrove", "polars", "datasets", "torchdata", "transformers")
DRY_PROXIES = {"dry14": {"hidden": 32, "layers": 2, "heads": 4, "intermediate": 64},
               "dry42": {"hidden": 64, "layers": 2, "heads": 4, "intermediate": 128}}
FULL = {"proxy": "s14m", "transfer_proxy": "s42m", "runs": 48, "holdout": 16, "tokens": "8M", "base_tokens": "16M",
        "seeds_per_anchor": 3, "seq_len": 1024, "batch_size": 8, "group": 32, "steps": 30, "heldout_rows": 512,
        "configs": "1:eager,16:eager,32:eager,1:compiled,16:compiled,32:compiled,16:compiled:sdpa"}
DRY = {"proxy": "dry14", "transfer_proxy": "dry42", "runs": 12, "holdout": 8, "tokens": str(12 * 64 * 2),
       "base_tokens": str(24 * 64 * 2), "seeds_per_anchor": 2, "seq_len": 64, "batch_size": 2, "group": 8, "steps": 5,
       "heldout_rows": 16,
       "configs": "1:eager,4:eager,4:compiled"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="folder with train_tokens/ and heldout_tokens/ (not needed with --dry-run)")
    ap.add_argument("--out", required=True, help="where tables, JSON and the sweep's small files go")
    ap.add_argument("--work", help="sweep folder's parent (default benchmarks/.cache/sweep_work[/dry])")
    ap.add_argument("--parts", default="throughput,sweep,confirm,transfer")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny proxies, synthetic corpus: checks every path")
    ap.add_argument("--device", help="default: cuda when available (cpu with --dry-run)")
    ap.add_argument("--attention", default="auto", choices=["auto", "flex", "sdpa"])
    ap.add_argument("--configs", help=f"throughput configs (default {FULL['configs']})")
    ap.add_argument("--steps", type=int, help="timed throughput steps (default 30)")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--holdout", type=int)
    ap.add_argument("--tokens", help="tokens per anneal run (default 8M)")
    ap.add_argument("--base-tokens", help="tokens of the base proxy (default 16M)")
    ap.add_argument("--group", type=int, help="proxies per stack (default 32)")
    ap.add_argument("--time-budget", type=float, default=470.0,
                    help="seconds in which run_sweep may start swarm groups (default 470: the sweep part fits 10 min)")
    ap.add_argument("--objective", default="math+code")
    ap.add_argument("--bound", default="web<=base*1.02")
    ap.add_argument("--transfer-mixes", type=int, default=8)
    ap.add_argument("--heldout-rows", type=int,
                    help="held-out sequences per domain a run is scored on (default 512; 16 with --dry-run)")
    ap.add_argument("--confirm-seeds", type=int,
                    help="confirm: measure the chosen mix, prior and uniform at seeds 0..N-1; compare: the same, "
                         f"in a fresh folder (default {COMPARE_SEEDS})")
    ap.add_argument("--from", dest="source",
                    help="compare: the sweep folder whose optimized.json to measure (default: the sweep in --work)")
    args = ap.parse_args(argv)
    args.heldout_rows_given = args.heldout_rows is not None
    preset = DRY if args.dry_run else FULL
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.dry_run:
        args.device = args.device or "cpu"
        sweep_spec.PROXIES.update(DRY_PROXIES)  # in-process only: every step below runs in this process
    elif not args.data:
        ap.error("--data is required (or --dry-run)")
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.work = Path(args.work or REPO / "benchmarks" / ".cache" / "sweep_work" / ("dry" if args.dry_run else ""))
    return args


class Tee:
    """Print to the terminal and to ``OUT/log.txt``."""

    def __init__(self, path: Path) -> None:
        self.file, self.stdout = open(path, "a", encoding="utf-8"), sys.stdout

    def write(self, text: str) -> int:
        self.file.write(text)
        self.file.flush()
        return self.stdout.write(text)

    def flush(self) -> None:
        self.stdout.flush()


def environment() -> dict:
    """What the image has: versions, the GPU, the optional libraries the steps use."""
    env = {"python": sys.version.split()[0], "torch": torch.__version__,
           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    for lib in ("scipy", "matplotlib", "yaml", "xxhash", "triton"):
        env[lib] = importlib.util.find_spec(lib) is not None
    try:
        from torch.nn.attention import flex_attention  # noqa: F401
        env["flex_attention"] = True
    except ImportError:
        env["flex_attention"] = False
    env["heavy_imported"] = sorted(m for m in HEAVY if m in sys.modules)
    return env


# -- corpora --------------------------------------------------------------------------------------
def synthetic_corpora(folder: Path) -> tuple[Path, Path]:
    """Three domains of random documents, each drawing 80% of its tokens from its own band of a
    256-id vocabulary (Zipf within the band), so a domain's held-out loss falls with its weight."""
    from midtrain.corpus import CorpusWriter

    train, held = folder / "train_tokens", folder / "heldout_tokens"
    if (train / "manifest.json").exists() and (held / "manifest.json").exists():
        return train, held
    shutil.rmtree(folder, ignore_errors=True)
    bands = {"code": (1, 86), "math": (86, 171), "web": (171, 256)}
    sizes = {"code": 60_000, "math": 30_000, "web": 90_000}
    for out, scale, seed in ((train, 1.0, 0), (held, 0.15, 1)):
        rng = np.random.default_rng(seed)
        w = CorpusWriter(out, "token", tokenizer={"fingerprint": "dry", "name": "dry", "vocab_size": 256,
                                                  "bos_id": None, "eos_id": 0, "dtype": "uint16"})
        for d, (lo, hi) in bands.items():
            n_tok = int(sizes[d] * scale)
            lengths = np.clip(rng.lognormal(np.log(120), 0.8, n_tok // 100), 8, 1000).astype(np.int64)
            off = np.concatenate([[0], np.cumsum(lengths)])
            ranks = np.minimum(rng.zipf(1.3, int(off[-1])), hi - lo) - 1
            own = (lo + ranks).astype(np.uint16)
            shared = rng.integers(1, 256, int(off[-1])).astype(np.uint16)
            toks = np.where(rng.random(int(off[-1])) < 0.8, own, shared)
            toks[off[1:] - 1] = 0
            w.write_tokens(d, [f"{d}/{i}" for i in range(len(lengths))], toks, off)
        w.finish()
    return train, held


# -- (a) throughput -------------------------------------------------------------------------------
def measure_config(args: argparse.Namespace, corpus: Path, vocab: int, models: int, compiled: bool,
                   attention: str) -> dict:
    """Train ``models`` stacked proxies (seeds 0..M-1) for 5 + ``args.steps`` steps on the uniform mix."""
    shape = ProxyShape.for_proxy(args.proxy, vocab)
    row = {"models": models, "mode": "compiled" if compiled else "eager", "attention": attention,
           "params_per_model": shape.parameters}
    model = StackedLlama(shape, models, attention=attention)
    runner = StackRunner(model, args.device, compile=compiled)
    optimizer = make_optimizer(model, lr=1e-3)
    domains = ["code", "math", "web"]
    schedule = {"domains": domains, "phases": [{"weights": {d: 1 / 3 for d in domains}}]}
    warm, steps = 5, 5 + args.steps
    loaders = build_member_loaders(str(corpus), [schedule] * models, list(range(models)), seq_len=args.seq_len,
                                   batch_size=args.batch_size)
    batches = StackedBatches(loaders, steps, pin=args.device.type == "cuda")
    if args.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        log = train_steps(runner, batches, optimizer, lambda i: 1e-3, steps, 1.0, warm=warm)
    finally:
        batches.close()
    tokens = models * args.batch_size * args.seq_len
    row.update(step_ms=log.step_time_s * 1e3, tokens_per_s=tokens / log.step_time_s,
               warmup_s=log.seconds - log.step_time_s * (steps - warm),
               loss_first=float(log.losses[0].mean()), loss_last=float(log.losses[-1].mean()))
    if args.device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if attention == "flex":
        doc = torch.zeros(models, args.batch_size, args.seq_len, dtype=torch.int32, device=args.device)
        t = time.perf_counter()
        for _ in range(5):
            model.block_mask(doc)
        runner.synchronize()
        row["block_mask_ms"] = (time.perf_counter() - t) / 5 * 1e3
    return row


def part_throughput(args: argparse.Namespace, corpus: Path, vocab: int) -> list[dict]:
    rows = []
    default_attention = resolve_attention(args.attention, args.device)
    for config in args.configs.split(","):
        parts = config.split(":")
        models, compiled = int(parts[0]), parts[1] == "compiled"
        attention = parts[2] if len(parts) > 2 else default_attention
        t = time.perf_counter()
        try:
            row = measure_config(args, corpus, vocab, models, compiled, attention)
        except Exception as exc:  # an OOM or a compile failure is a finding, not the end of the part
            row = {"models": models, "mode": parts[1], "attention": attention, "error": f"{type(exc).__name__}: "
                   f"{str(exc)[:300]}"}
        row["wall_s"] = time.perf_counter() - t
        rows.append(row)
        print(json.dumps(row), flush=True)
        (args.out_dir / "throughput.json").write_text(json.dumps(rows, indent=1))  # kept if the command times out
        if args.device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"\n## Stacked {args.proxy} proxies: {args.batch_size} x {args.seq_len} tokens per proxy per step, "
          f"{'bf16, fused AdamW' if args.device.type == 'cuda' else 'fp32, AdamW'}, document masks")
    print("| M | mode | attention | tokens/s (aggregate) | step (ms) | peak GiB | warm-up s | block_mask ms |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['models']} | {r['mode']} | {r['attention']} | {r['error'][:60]} | | | | |")
            continue
        nan = float("nan")
        print(f"| {r['models']} | {r['mode']} | {r['attention']} | {format_rate(r['tokens_per_s'])} "
              f"| {r['step_ms']:.1f} | {r.get('peak_gib', nan):.1f} | {r['warmup_s']:.0f} "
              f"| {r.get('block_mask_ms', nan):.1f} |")
    return rows


# -- (b) the sweep and its analysis ---------------------------------------------------------------
def cli(*argv: str) -> int:
    """``midtrain ARGV`` in this process (the dry run's proxies are registered only here)."""
    from midtrain.cli import main

    print(f"\n$ midtrain {' '.join(argv)}", flush=True)
    try:
        code = main(list(argv))
    except ImportError as exc:  # a library the device image lacks (scipy, matplotlib)
        print(f"skipped: {exc}", flush=True)
        return 3
    print(f"(exit {code})", flush=True)
    return code


def settings(args: argparse.Namespace, budget: float | None, heldout_rows: int) -> TrainSettings:
    """The library defaults, but ``heldout_rows`` held-out sequences per domain."""
    return TrainSettings(attention=args.attention, time_budget_s=budget, heldout_rows=heldout_rows)


def sweep_rows(args: argparse.Namespace, sweep: Path) -> int:
    """The held-out rows the sweep's results were scored on (``run_sweep.json``; 128 before it existed). A
    ``--heldout-rows`` that differs stops the part: its losses would not compare with the sweep's."""
    path = sweep / SETTINGS_FILE
    rows = json.loads(path.read_text())["heldout_rows"] if path.is_file() else LEGACY_HELDOUT_ROWS
    if args.heldout_rows_given and args.heldout_rows != rows:
        raise SystemExit(f"--heldout-rows {args.heldout_rows}: {sweep}'s results were scored on {rows} held-out rows "
                         "and would not compare; drop --heldout-rows, or measure at the new rows with --parts compare")
    return rows


def part_sweep(args: argparse.Namespace, train: Path, held: Path, sweep: Path) -> dict:
    """Plan a fresh sweep, train it within ``--time-budget``, then fit, optimise (adds the confirm runs)
    and report; when the budget left runs over, only fit and report (``--parts resume`` finishes)."""
    shutil.rmtree(sweep, ignore_errors=True)
    code = cli("sweep", "plan", str(train), "--heldout", str(held), "--runs", str(args.runs), "--holdout",
               str(args.holdout), "--proxy", args.proxy, "--tokens", str(args.tokens), "--base-tokens",
               str(args.base_tokens), "--mode", "anneal", "--max-epochs", "4", "--seeds-per-anchor",
               str(args.seeds_per_anchor), "--seq-len", str(args.seq_len), "--batch-size", str(args.batch_size),
               "--out", str(sweep))
    if code != 0:
        raise SystemExit("sweep plan failed")
    (sweep / SETTINGS_FILE).write_text(json.dumps({"heldout_rows": args.heldout_rows}) + "\n")
    return train_and_analyse(args, sweep, resume=False)


def part_resume(args: argparse.Namespace, sweep: Path) -> dict:
    """Finish the swarm runs a ``sweep`` part left for its time budget, then analyse as it would have."""
    return train_and_analyse(args, sweep, resume=True)


def train_and_analyse(args: argparse.Namespace, sweep: Path, *, resume: bool) -> dict:
    spec = read_sweep(sweep)
    swarm = [r.run_id for r in spec.runs if r.role in ("fit", "heldout", "anchor")]
    report = run_sweep(sweep, group=args.group, resume=resume, device=str(args.device), run_ids=swarm,
                       progress=True, settings=settings(args, args.time_budget, sweep_rows(args, sweep)))
    print(report.summary())
    if report.remaining:
        print(f"{len(report.remaining)} swarm runs left for the time budget: fit and report only; "
              "`--parts resume` trains them, then optimises")
    optimize = not report.remaining and not (sweep / "optimized.json").exists()
    analyse(args, sweep, optimize=optimize)
    return run_report_dict(report)


def analyse(args: argparse.Namespace, sweep: Path, *, optimize: bool) -> None:
    """fit (+ optimize, which adds the confirm runs) + report, each allowed to fail on a missing library."""
    model = "auto" if importlib.util.find_spec("scipy") else "linlog"
    cli("sweep", "fit", str(sweep), "--objective", args.objective, "--model", model)
    if optimize:
        cli("sweep", "optimize", str(sweep), "--minimize", args.objective, "--subject-to", args.bound,
            "--confirm-seeds", str(args.confirm_seeds or 3))
    cli("sweep", "report", str(sweep))


def run_report_dict(report) -> dict:
    return {"trained": len(report.trained), "skipped": len(report.skipped), "remaining": report.remaining,
            "failed": report.failed, "seconds": report.seconds,
            "groups": [g.__dict__ for g in report.groups]}


def part_confirm(args: argparse.Namespace, sweep: Path) -> dict:
    """Train the confirm runs the sweep lacks results for (first adding those of ``--confirm-seeds``), then
    report; the runs are scored on the sweep's own held-out rows."""
    rows = sweep_rows(args, sweep)
    optimized = read_optimized(sweep)
    if args.confirm_seeds and optimized is not None:
        add_runs(sweep, confirm_runs(read_sweep(sweep), optimized["weights"], args.confirm_seeds, baselines=True))
    spec = read_sweep(sweep)
    done = {r.run_id for r in read_results(sweep, spec)[0]}
    confirm = [r.run_id for r in spec.runs if (r.role == "confirm" or r.role == "anchor" and r.name in BASELINES)
               and r.run_id not in done]
    if not confirm:
        print("confirm: no confirm runs to train (did `sweep optimize` run?)")
        return {}
    report = run_sweep(sweep, group=args.group, resume=True, device=str(args.device), run_ids=confirm, progress=True,
                       settings=settings(args, None, rows))
    print(report.summary())
    cli("sweep", "report", str(sweep))
    return run_report_dict(report)


def part_transfer(args: argparse.Namespace, sweep: Path) -> dict:
    """The first ``--transfer-mixes`` held-out mixtures (then fit ones) on the larger proxy, same seed."""
    spec = read_sweep(sweep)
    pool = spec.runs_by_role("heldout") + spec.runs_by_role("fit")
    runs = [make_run(role="transfer", name=f"transfer:{r.name}", weights=r.weights, seed=r.seed,
                     proxy=args.transfer_proxy) for r in pool[:args.transfer_mixes]]
    add_runs(sweep, runs)
    report = run_sweep(sweep, group=args.group, resume=True, device=str(args.device),
                       run_ids=[r.run_id for r in runs], progress=True,
                       settings=settings(args, None, sweep_rows(args, sweep)))
    print(report.summary())
    print_transfer(args, sweep)
    cli("sweep", "report", str(sweep))
    return run_report_dict(report)


def print_transfer(args: argparse.Namespace, sweep: Path) -> None:
    from midtrain.sweep.metrics import spearman
    from midtrain.sweep.objective import parse_objective

    spec = read_sweep(sweep)
    objective = parse_objective(args.objective, spec.domains)
    results = {r.run_id: r for r in read_results(sweep, spec)[0]}
    by_mix: dict[tuple, dict[str, float]] = {}
    for run in spec.runs:
        if run.run_id in results:
            key = tuple(round(run.weights[d], 6) for d in spec.domains)
            by_mix.setdefault(key, {})[run.proxy] = objective.value(results[run.run_id].heldout_loss)
    pairs = [(v[args.proxy], v[args.transfer_proxy]) for v in by_mix.values()
             if args.proxy in v and args.transfer_proxy in v]
    print(f"\n## Transfer: {args.objective} of {len(pairs)} mixtures, {args.proxy} vs {args.transfer_proxy}")
    print(f"| mix | {args.proxy} | {args.transfer_proxy} |\n|---|---:|---:|")
    for i, (a, b) in enumerate(pairs):
        print(f"| {i} | {a:.4f} | {b:.4f} |")
    if len(pairs) > 2:
        a, b = np.array(pairs).T
        print(f"Spearman rho {spearman(a, b):.3f} (target >= 0.9)")


# -- (c) the chosen mix against the baselines, paired by seed --------------------------------------
def part_compare(args: argparse.Namespace, source: Path, train: Path, held: Path) -> dict:
    """Measure ``source``'s optimised mix, prior and uniform at seeds 0..N-1 on ``--heldout-rows`` rows in a
    sweep folder of their own, then print and write the comparison (see the module docstring)."""
    optimized = read_optimized(source)
    if optimized is None:
        print(f"compare: {source} has no optimized.json; run `sweep optimize` (the sweep part does) first")
        return {}
    seeds, rows = args.confirm_seeds or COMPARE_SEEDS, args.heldout_rows
    original = read_sweep(source)
    runs = confirm_runs(original, optimized["weights"], seeds, baselines=True)
    spec = replace(original, corpus=str(train), heldout=str(held), runs=tuple(runs))
    folder = args.work / f"compare-R{rows}"
    if (folder / "sweep.json").is_file() and _settings_of(read_sweep(folder)) != _settings_of(spec):
        shutil.rmtree(folder)  # another corpus or proxy setting: its base and results do not apply
    if (folder / "sweep.json").is_file():
        add_runs(folder, runs)
    else:
        write_sweep(folder, spec)
    checkpoints = source / CHECKPOINTS_DIR
    same_base = _settings_of(original) == _settings_of(spec)
    if checkpoints.is_dir() and same_base and not (folder / CHECKPOINTS_DIR).exists():
        shutil.copytree(checkpoints, folder / CHECKPOINTS_DIR)  # the same base; run_sweep checks its key
    print(f"compare: {len(runs)} runs ({', '.join(sorted({r.name for r in runs}))} x seeds "
          f"{spec.seed}..{spec.seed + seeds - 1}) in {folder}, {rows} held-out rows per domain")
    report = run_sweep(folder, group=args.group, resume=True, device=str(args.device),
                       run_ids=[r.run_id for r in runs], progress=True, settings=settings(args, None, rows))
    print(report.summary())
    table = compare_table(folder, runs, optimized, rows)
    text = render_compare(table)
    print("\n" + text)
    for where in (args.out_dir, folder):
        (where / "compare.json").write_text(json.dumps(table, indent=1, default=float) + "\n")
        (where / "compare.txt").write_text(text + "\n")
    shutil.copytree(folder, args.out_dir / folder.name, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(CHECKPOINTS_DIR))
    return {"run": run_report_dict(report), "compare": table}


def _settings_of(spec) -> dict:
    """What a sweep's base proxy and results depend on, besides its runs."""
    body = spec.to_dict()
    body.pop("runs")
    return body


def compare_table(folder: Path, runs: list, optimized: dict, rows: int) -> dict:
    """Per seed the objective and each bound's loss of every mix; mean and sd; the gains over the
    baselines unpaired (in the pooled seed sd) and paired by seed; each bound as measured."""
    spec = read_sweep(folder)
    wanted = {r.run_id: r for r in runs}
    results = [res for res in read_results(folder, spec)[0] if res.run_id in wanted]
    objective = parse_objective(optimized["objective"], spec.domains)
    constraints = [parse_constraint(c["text"], spec.domains) for c in optimized.get("constraints", [])]
    targets = [objective] + [c.objective for c in constraints if c.objective.name != objective.name]
    label = {"confirm:optimized": "optimized"}
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    weights: dict[str, dict[str, float]] = {}
    for res in results:
        run = wanted[res.run_id]
        name = label.get(run.name, run.name)
        weights[name] = run.weights
        per_seed.setdefault(name, {})[run.seed] = {t.name: t.value(res.heldout_loss) for t in targets}
    mixes = {}
    for name, seeds in per_seed.items():
        stats = {}
        for t in targets:
            v = np.array([seeds[s][t.name] for s in sorted(seeds)])
            stats[t.name] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan")}
        mixes[name] = {"n": len(seeds), "weights": weights[name], **stats}
    groups = [[s[objective.name] for s in seeds.values()] for seeds in per_seed.values() if len(seeds) > 1]
    dof = sum(len(g) - 1 for g in groups)
    sigma_seed = (float(np.sqrt(sum(np.var(g, ddof=1) * (len(g) - 1) for g in groups) / dof)) if dof
                  else float("nan"))
    chosen = {s: v[objective.name] for s, v in per_seed.get("optimized", {}).items()}
    gains = {}
    for name in BASELINES:
        if name in per_seed and chosen:
            base = {s: v[objective.name] for s, v in per_seed[name].items()}
            gain = mixes[name][objective.name]["mean"] - mixes["optimized"][objective.name]["mean"]
            gains[name] = {"unpaired": {"gain": gain, "sigma_seed": sigma_seed, "dof": dof,
                                        "gain_over_sigma_seed": gain / sigma_seed if sigma_seed > 0 else float("nan")},
                           "paired": paired_gain(chosen, base)}
    bounds = []
    for c in constraints:
        base = measured_base(spec, results, c.objective) if c.uses_base else None
        bound = c.bound(base) if base is not None or not c.uses_base else float("nan")
        value = mixes.get("optimized", {}).get(c.objective.name, {}).get("mean", float("nan"))
        bounds.append({"text": c.text, "base": base, "bound": bound, "optimized": value,
                       "holds": bool(value <= bound)})
    return {"objective": objective.name, "targets": [t.name for t in targets], "heldout_rows": rows,
            "seq_len": spec.seq_len, "proxy": spec.fit_proxy, "tokens": spec.tokens, "base_tokens": spec.base_tokens,
            "per_seed": {name: {str(s): v for s, v in sorted(seeds.items())} for name, seeds in per_seed.items()},
            "mixes": mixes, "gains": gains, "bounds": bounds}


def render_compare(t: dict) -> str:
    """``compare_table`` as markdown tables and a few lines."""
    names = [n for n in ("prior", "uniform", "optimized") if n in t["mixes"]]
    seeds = sorted({int(s) for n in names for s in t["per_seed"][n]})
    cols = [(n, target) for target in t["targets"] for n in names]
    lines = [f"## {t['objective']}: optimised mix against prior and uniform, {t['proxy']}, {t['tokens']:,} anneal "
             f"tokens from a {t['base_tokens']:,}-token base, held-out {t['heldout_rows']} x {t['seq_len']} tokens "
             "per domain", "",
             "| seed | " + " | ".join(f"{n} {target}" for n, target in cols) + " |",
             "|---:|" + "---:|" * len(cols)]
    for s in seeds:
        cells = [f"{t['per_seed'][n][str(s)][target]:.4f}" if str(s) in t["per_seed"][n] else "" for n, target in cols]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    spread = [t["mixes"][n][target] for n, target in cols]
    lines.append("| mean ± sd | " + " | ".join(f"{m['mean']:.4f} ± {m['sd']:.4f}" for m in spread) + " |")
    lines += ["", f"Gain of the optimised mix (baseline minus optimised {t['objective']}; positive: optimised is "
                  "better). Unpaired: difference of the means over the pooled seed sd (it holds the seed effect "
                  "every mix shares). Paired: per seed, the difference; mean, sd, mean/sd and t = mean/(sd/sqrt n).",
              "", "| baseline | gain | pooled seed sd | unpaired gain/sd | paired n | paired mean | sd of differences "
                  "| paired gain/sd | t |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, g in t["gains"].items():
        u, p = g["unpaired"], g["paired"]
        lines.append(f"| {name} | {u['gain']:.4f} | {u['sigma_seed']:.4f} | {u['gain_over_sigma_seed']:.2f} | {p['n']} "
                     f"| {p['mean_gain']:.4f} | {p['sigma_diff']:.4f} | {p['gain_over_sigma_diff']:.2f} "
                     f"| {p['t']:.2f} |")
    for name, g in t["gains"].items():
        lines.append(f"{name}: per-seed gains " + ", ".join(f"{q['seed']}: {q['gain']:+.4f}"
                                                            for q in g["paired"]["per_seed"]))
    for b in t["bounds"]:
        base = f"base = prior's measured mean {b['base']:.4f}, " if b["base"] is not None else ""
        lines.append(f"bound {b['text']}: {base}bound {b['bound']:.4f}; optimised measures {b['optimized']:.4f} "
                     f"({'holds' if b['holds'] else 'BROKEN'})")
    return "\n".join(lines)


def copy_small_files(sweep: Path, out: Path) -> None:
    """The sweep folder without its checkpoints (the base proxies' weights and moments)."""
    if sweep.exists():
        shutil.copytree(sweep, out / "sweep", dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = args.out_dir = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sys.stdout = Tee(out / "log.txt")
    env = environment()
    print(json.dumps({"environment": env, "device": str(args.device), "dry_run": args.dry_run}), flush=True)
    if env["heavy_imported"]:
        print(f"WARNING: importing midtrain.sweep and the loader pulled in {env['heavy_imported']}")
    if args.dry_run and not args.data:
        train, held = synthetic_corpora(args.work / "corpus")
    else:
        train, held = Path(args.data) / "train_tokens", Path(args.data) / "heldout_tokens"
    from midtrain.corpus import Manifest

    vocab = int(Manifest.read(train).tokenizer["vocab_size"])
    sweep = args.work / "sweep"
    results: dict = {"environment": env, "args": {k: str(v) for k, v in vars(args).items()}}
    parts = args.parts.split(",")
    t0 = time.perf_counter()
    for part in parts:
        t = time.perf_counter()
        print(f"\n# part {part}", flush=True)
        if part == "throughput":
            results["throughput"] = part_throughput(args, train, vocab)
        elif part == "sweep":
            results["sweep"] = part_sweep(args, train, held, sweep)
        elif part == "compare":
            source = Path(args.source) if args.source else sweep
            if not (source / "sweep.json").exists():
                print(f"compare: no sweep in {source}; pass --from a folder with sweep.json and optimized.json")
            else:
                results["compare"] = part_compare(args, source, train, held)
        elif part in ("resume", "confirm", "transfer") and not (sweep / "sweep.json").exists():
            print(f"{part}: no sweep in {sweep}; run --parts sweep first on the same (warm) machine")
        elif part == "resume":
            results["resume"] = part_resume(args, sweep)
        elif part == "confirm":
            results["confirm"] = part_confirm(args, sweep)
        elif part == "transfer":
            results["transfer"] = part_transfer(args, sweep)
        else:
            raise SystemExit(f"--parts: unknown part {part!r}")
        print(f"# part {part}: {time.perf_counter() - t:.0f} s", flush=True)
        copy_small_files(sweep, out)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nall parts: {time.perf_counter() - t0:.0f} s; files in {out}")
    return results


if __name__ == "__main__":
    main()

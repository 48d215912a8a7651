"""The GPU measurements of issue 9 (and 10), as one script run on the `device` machine.

    python benchmarks/gpu/run_gpu.py --data DIR --out DIR [--parts overhead,resume,experiment]
        [--tokens 20M] [--seeds 0,1] [--nproc 1]

``--data`` holds the unpacked token corpora ``train/`` and ``heldout/`` (benchmarks/gpu/unpack.sh
makes them from the bundle that benchmarks/gpu/prepare_corpus.py builds). Every run is
``examples/train_llama.py`` in a subprocess (under ``torchrun`` when ``--nproc`` > 1); this
script only collects their JSON and prints the tables that go into benchmarks/README.md.

Parts:
- ``overhead``: the 191M-class model (``--model base``), bf16, seq_len 2048, 16 sequences per GPU,
  2 loader workers, FlexAttention document masks: median step time, median time blocked on the
  loader, the loader's share, training tokens/s.
- ``resume``: an uninterrupted run against a run stopped half-way and resumed from its saved
  loader state; the fingerprints of every row consumed must be equal, on every rank.
- ``elastic`` (with ``--nproc 2``): the second half resumed on 1 GPU at the same global batch size.
- ``experiment``: (a) constant prose-heavy mix, (b) the same mix then a math+code anneal over the
  last 20% of tokens, (c) DoReMi started from (a)'s mix with (a)'s held-out losses as reference;
  same model, seeds and WSD learning-rate schedule (decay over the last 20%) for all three, so the
  mixture is the only difference. Held-out loss per domain at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "train_llama.py"
CONSTANT = {"domains": ["code", "math", "web"], "weights": {"web": 0.70, "code": 0.20, "math": 0.10}}
ANNEAL = {"domains": ["code", "math", "web"], "phases": [
    {"name": "stable", "end": "80%", "weights": {"web": 0.70, "code": 0.20, "math": 0.10}},
    {"name": "anneal", "weights": {"web": 0.30, "code": 0.35, "math": 0.35}}]}


def train(args: list[str], nproc: int, log: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               str(EXAMPLE), *args]
    else:
        cmd = [sys.executable, str(EXAMPLE), *args]
    t = time.time()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        print(log.read_text()[-4000:], file=sys.stderr)
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}")
    out = None
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"rank"' in line:
            out = json.loads(line)
    out = out or {}
    out["wall_s"] = round(time.time() - t, 1)
    return out


def fingerprints(prefix: Path, world: int) -> list[list[str]]:
    """Rows per step, ranks concatenated in rank order (= the global batch order)."""
    per_rank = [json.loads(Path(f"{prefix}.rank{r}.json").read_text())["rows"] for r in range(world)]
    return [sum((per_rank[r][i] for r in range(world)), []) for i in range(len(per_rank[0]))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--parts", default="overhead,resume,experiment")
    ap.add_argument("--tokens", default="20M")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--nproc", type=int, default=1)
    ap.add_argument("--model", default="small", help="model of the experiment and resume runs")
    ap.add_argument("--overhead-steps", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--overhead-model", default="base")
    ap.add_argument("--attention", default="flex", help="sdpa for a CPU dry run (flex has no CPU backward)")
    ap.add_argument("--seq-len", type=int, default=2048)
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_dir, held_dir = str(data / "train"), str(data / "heldout")
    parts = args.parts.split(",")
    nproc = args.nproc
    results: dict = {"nproc": nproc}
    L = args.seq_len
    base = ["--corpus", train_dir, "--seq-len", str(L), "--attention", args.attention, "--workers", "2"]
    per_gpu = args.batch_size

    if "overhead" in parts:
        tokens = args.overhead_steps * per_gpu * nproc * L
        r = train([*base, "--schedule", json.dumps(CONSTANT), "--tokens", str(tokens), "--model", args.overhead_model,
                   "--batch-size", str(per_gpu), "--out", str(out / "overhead.json")], nproc, out / "overhead.log")
        results["overhead"] = r
        print(f"\n## Loader overhead ({nproc} GPU): model {args.overhead_model} ({r['params'] / 1e6:.0f}M params), "
              f"bf16, {per_gpu}x{L} per GPU, 2 workers, {args.attention} attention")
        print("| median step (ms) | median wait for batch (ms) | wait / step | training tokens/s |")
        print("|---|---|---|---|")
        print(f"| {r['median_step_s'] * 1e3:.1f} | {r['median_wait_s'] * 1e3:.3f} | "
              f"{r['median_wait_s'] / r['median_step_s']:.3%} (mean share {r['mean_wait_share']:.3%}) | "
              f"{r['tokens_per_s']:,.0f} |")

    if "resume" in parts or "elastic" in parts:
        steps = 40
        tokens = str(steps * per_gpu * nproc * L)
        common = [*base, "--schedule", json.dumps(ANNEAL), "--tokens", tokens, "--model", args.model, "--seed", "3"]
        train([*common, "--batch-size", str(per_gpu), "--fingerprints", str(out / "full")], nproc,
              out / "resume_full.log")
        train([*common, "--batch-size", str(per_gpu), "--stop-after", str(steps // 2), "--save-state",
               str(out / "state.json"), "--fingerprints", str(out / "first")], nproc, out / "resume_first.log")
        train([*common, "--batch-size", str(per_gpu), "--resume-state", str(out / "state.json"), "--fingerprints",
               str(out / "second")], nproc, out / "resume_second.log")
        full = fingerprints(out / "full", nproc)
        resumed = fingerprints(out / "first", nproc) + fingerprints(out / "second", nproc)
        rows = [r for batch in full for r in batch]
        results["resume"] = {"steps": len(full), "equal": full == resumed, "rows": len(rows),
                             "unique_rows": len(set(rows))}
        print(f"\n## Resume on {nproc} GPU(s): {len(full)} steps, stop at {steps // 2}, resume from the saved state")
        print(f"batches after the resume equal the uninterrupted run's: {full == resumed} "
              f"({len(rows)} rows, {len(set(rows))} unique)")
        if "elastic" in parts and nproc > 1:
            train([*common, "--batch-size", str(per_gpu * nproc), "--resume-state", str(out / "state.json"),
                   "--fingerprints", str(out / "elastic")], 1, out / "resume_elastic.log")
            elastic = fingerprints(out / "first", nproc) + fingerprints(out / "elastic", 1)
            results["elastic"] = {"equal": full == elastic}
            print(f"elastic resume on 1 GPU at the same global batch ({per_gpu * nproc}) equals it: {full == elastic}")

    if "experiment" in parts:
        seeds = [int(s) for s in args.seeds.split(",")]
        exp = results["experiment"] = {}
        common = [*base, "--tokens", args.tokens, "--model", args.model, "--batch-size", str(per_gpu),
                  "--decay", "0.2", "--eval-corpus", held_dir, "--eval-batches", "8"]
        for seed in seeds:
            a = train([*common, "--schedule", json.dumps(CONSTANT), "--seed", str(seed)], nproc,
                      out / f"exp_a_{seed}.log")
            b = train([*common, "--schedule", json.dumps(ANNEAL), "--seed", str(seed)], nproc,
                      out / f"exp_b_{seed}.log")
            c = train([*common, "--schedule", json.dumps(CONSTANT), "--seed", str(seed), "--policy", "doremi",
                       "--reference-loss", json.dumps(a["heldout_loss"]), "--update-every", "50"], nproc,
                      out / f"exp_c_{seed}.log")
            exp[seed] = {"a_constant": a, "b_anneal": b, "c_doremi": c}
            (out / "experiment.json").write_text(json.dumps(exp, indent=2))
        print(f"\n## Mid-training experiment: model {args.model}, {args.tokens} tokens, seeds {seeds}; "
              "held-out loss per domain (nats/token)")
        print("| run | seed | code | math | web | tokens/s | final DoReMi weights (code, math, web) |")
        print("|---|---|---|---|---|---|---|")
        for seed in seeds:
            for name, r in exp[seed].items():
                h = r["heldout_loss"]
                w = r.get("final_weights")
                print(f"| {name} | {seed} | {h['code']:.4f} | {h['math']:.4f} | {h['web']:.4f} | "
                      f"{r['tokens_per_s']:,.0f} | {'' if not w else ', '.join(f'{x:.3f}' for x in w)} |")
        print("\n| run | mean code | mean math | mean web | vs (a): code | math | web |")
        print("|---|---|---|---|---|---|---|")
        mean = {}
        for name in ("a_constant", "b_anneal", "c_doremi"):
            mean[name] = {d: sum(exp[s][name]["heldout_loss"][d] for s in seeds) / len(seeds)
                          for d in ("code", "math", "web")}
        for name, m in mean.items():
            a = mean["a_constant"]
            print(f"| {name} | {m['code']:.4f} | {m['math']:.4f} | {m['web']:.4f} | "
                  f"{m['code'] - a['code']:+.4f} | {m['math'] - a['math']:+.4f} | {m['web'] - a['web']:+.4f} |")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()

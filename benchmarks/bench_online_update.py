"""Online mixture updates: the loader's share of a training step when a policy updates every K steps.

The GPU experiment (benchmarks/README.md, run (c)) measured a 3.0 % loader share of step time for
DoReMi against 0.3-0.4 % without it, because every ``update_mixture`` restarted the loader workers.
This replays that loop on the CPU: the same geometry (16 x 2,048 tokens per step, ``compact``
int32, 2 workers, default blocks of 256 sequences), a DoReMi policy fed per-domain loss sums
every ``--every`` steps (10 by default), and a training step simulated by a CPU-free wait
(``--step-ms``, 50 ms). Per step it times what the trainer spends in the loader: ``next(batch)``
plus the ``update_mixture`` call. Two modes, from the same position, same updates:

- ``static``: no update at all (the floor: what the loader costs anyway on this machine);
- ``restart``: ``online_updates=False``, every change restarts the workers (the old behaviour);
- ``online``: the change reaches the running workers through shared memory.

``restart`` and ``online`` must give the same batches (checked). Printed per mode: median and
mean loader share of a step, p99 and max of the per-step loader time, worker starts and fallback
restarts; then the update overhead, each mode's mean share minus ``static``'s, and the ratio of
the two overheads. Modes alternate over ``--repeats`` rounds (other processes share the cores;
medians over rounds are reported). The target of issue 16 is an online update overhead below
0.5 % of step time.

    python benchmarks/bench_online_update.py [--corpus TOKEN_CORPUS] [--steps 400] [--every 10]
        [--step-ms 50] [--workers 2] [--repeats 3]

Without ``--corpus`` it writes a synthetic corpus (3 domains, 2M tokens each, lognormal document
lengths) to a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from midtrain.corpus import CorpusWriter
from midtrain.loaders import build_loader
from midtrain.mixers import DoReMiPolicy

DOMAINS = ("code", "math", "web")
PRIOR = {"code": 0.2, "math": 0.1, "web": 0.7}  # run (a)'s mix, where (c) started
DOMAIN_LOSS = np.array([4.2, 5.1, 5.3])  # per-token losses of run (a), rounded
REFERENCE = [4.0, 5.0, 5.5]


def synthetic_corpus(out: Path, tokens_per_domain: int = 2_000_000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    writer = CorpusWriter(out, "token", tokenizer={"fingerprint": "bench", "name": "bench", "vocab_size": 50_000,
                                                   "bos_id": None, "eos_id": 0, "dtype": "uint16"})
    for d in DOMAINS:
        lengths = np.clip(rng.lognormal(np.log(450), 1.2, tokens_per_domain // 900), 2, 20_000).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        tokens = rng.integers(1, 50_000, int(offsets[-1])).astype(np.uint16)
        tokens[offsets[1:] - 1] = 0
        writer.write_tokens(d, [f"{d}/{i}" for i in range(len(lengths))], tokens, offsets)
    writer.finish()
    return out


def run(corpus: Path, *, mode: str, steps: int, warmup: int, every: int, step_s: float, workers: int,
        seq_len: int, batch_size: int) -> dict:
    domains = sorted(DOMAINS)
    policy = DoReMiPolicy(domains, [PRIOR[d] for d in domains], reference_loss=REFERENCE)
    loader = build_loader(corpus, {"domains": domains, "phases": [{"weights": PRIOR}]}, seq_len=seq_len,
                          batch_size=batch_size, seed=0, num_workers=workers, compact=True, policy=policy,
                          online_updates=mode != "restart", rank=0, world_size=1)
    it = iter(loader)
    waits, updates, digest = [], [], hashlib.sha256()
    loss_sum, count = np.zeros(3), np.zeros(3)
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        batch = next(it)
        spent = time.perf_counter() - t0
        dom = batch["domain"].numpy()
        digest.update(batch["input_ids"].numpy().tobytes())
        time.sleep(step_s)  # the training step: the GPU works, the CPU is free
        loss_sum += np.bincount(dom, weights=DOMAIN_LOSS[dom] * seq_len, minlength=3)
        count += np.bincount(dom, minlength=3) * float(seq_len)
        del batch
        if mode != "static" and (step + 1) % every == 0:
            t0 = time.perf_counter()
            loader.update_mixture(loss_sum, count)
            updates.append(time.perf_counter() - t0)
            spent += updates[-1]
            loss_sum[:], count[:] = 0.0, 0.0
        if step >= warmup:
            waits.append(spent)
    del it
    share = [w / (w + step_s) for w in waits]
    return {"median_share": statistics.median(share), "mean_share": sum(waits) / (sum(waits) + step_s * len(waits)),
            "p99_ms": 1e3 * float(np.percentile(waits, 99)), "max_ms": 1e3 * max(waits),
            "median_ms": 1e3 * statistics.median(waits), "worker_starts": loader.worker_starts,
            "fallback_restarts": loader.fallback_restarts, "updates": len(loader.mixture_log),
            "lookahead": loader.mixture_lookahead, "digest": digest.hexdigest()[:16],
            "update_ms": 1e3 * statistics.median(updates) if updates else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, help="a token corpus with domains code, math, web (default: synthetic)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=20, help="steps before timing starts (first worker start)")
    ap.add_argument("--every", type=int, default=10, help="steps between policy updates")
    ap.add_argument("--step-ms", type=float, default=50.0, help="simulated training step (a CPU-free wait)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="rounds of (static, restart, online), alternated")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus or synthetic_corpus(Path(tmp) / "tokens")
        options = dict(steps=args.steps, warmup=args.warmup, every=args.every, step_s=args.step_ms / 1e3,
                       workers=args.workers, seq_len=args.seq_len, batch_size=args.batch_size)
        results: dict[str, list[dict]] = {"static": [], "restart": [], "online": []}
        for _ in range(args.repeats):
            for mode in results:
                results[mode].append(run(corpus, mode=mode, **options))

    print(f"## Online mixture updates: {args.batch_size} x {args.seq_len} tokens per step, {args.workers} workers, "
          f"DoReMi update every {args.every} steps, {args.step_ms:g} ms simulated step, {args.steps} timed steps "
          f"x {args.repeats} repeats\n")
    print("| mode | repeat | median loader share | mean loader share | median ms | p99 ms | max ms | "
          "worker starts | fallback restarts | lookahead (blocks) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, rows in results.items():
        for i, r in enumerate(rows):
            print(f"| {mode} | {i} | {r['median_share']:.3%} | {r['mean_share']:.3%} | {r['median_ms']:.2f} | "
                  f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['worker_starts']} | {r['fallback_restarts']} | "
                  f"{r['lookahead']} |")
    same = len({r["digest"] for mode in ("restart", "online") for r in results[mode]}) == 1
    mean = {mode: statistics.median(r["mean_share"] for r in rows) for mode, rows in results.items()}
    median = {mode: statistics.median(r["median_share"] for r in rows) for mode, rows in results.items()}
    cost = {mode: mean[mode] - mean["static"] for mode in ("restart", "online")}
    print(f"\nrestart and online give the same batches: {same}")
    print(f"mean loader share (median of {args.repeats} rounds): static {mean['static']:.3%}, restart "
          f"{mean['restart']:.3%}, online {mean['online']:.3%}; median share: static {median['static']:.3%}, "
          f"restart {median['restart']:.3%}, online {median['online']:.3%}")
    ratio = f"{cost['restart'] / cost['online']:.0f}x" if cost["online"] > 0 else "online within the noise of static"
    print(f"update overhead (mean share minus static's): restart {cost['restart']:+.3%}, online "
          f"{cost['online']:+.3%} ({ratio}); mean share restart / online: {mean['restart'] / mean['online']:.1f}x")
    call = statistics.median(r["update_ms"] for r in results["online"])
    print(f"online update_mixture call (policy, log, publish): median {call:.2f} ms, "
          f"{call / (args.every * args.step_ms):.3%} of step time at one update every {args.every} steps")
    print(f"target (online update overhead < 0.5 % of step time): {'met' if cost['online'] < 0.005 else 'missed'}")


if __name__ == "__main__":
    main()

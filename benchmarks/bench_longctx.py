"""Long-context loading on the CPU: the arithmetic targets of issue 17, measured on document lengths.

Every figure comes from the loader's own plan (``midtrain.loaders.plan.GlobalPlan``) and its rank
and context-parallel code (``midtrain.loaders.batches``), run over the document lengths of a token
corpus (``--corpus``; default: the issue-17 experiment corpus under
``benchmarks/.cache/longctx/train_tokens`` when present, else synthetic lognormal lengths). No
token is read: the quantities are functions of the lengths.

1. **Length upsampling** (``length_upsample: {below: 4096, keep: 0.1}``): per block, the largest
   gap between a domain's sequences with and without the rule (must be 0: the slot composition
   depends only on the weights, so shares hold within one sequence); per domain, the share ``s`` of
   tokens in documents >= 4,096 before, the measured share in the sequences drawn after, and the
   prediction ``s / (s + keep (1 - s))``.
2. **Tokens per step** across a 4K -> 32K boundary at 2^20 tokens per step: every step's tokens,
   and a resume at a random batch inside the 32K phase compared with the uninterrupted stream.
3. **Data-parallel balance** at 32K on 8 ranks (64 sequences per step): max/mean over ranks of
   Σ len² of the document pieces, arrival order (rank r takes rows 8r..8r+7) against
   ``balance="attention"`` (LPT). Median, p90 and max over steps.
4. **Context-parallel balance**, C = 2, 4, 8, at 32K: causal attention work of each rank (for
   every query token, the keys of its document before it), max/mean per sequence and per step
   (8 sequences), for the loader's ``contiguous`` and ``head_tail`` (per-document) splits, as
   ``midtrain.loaders.batches.context_parallel_slice`` cuts the rows.
5. **Attendable context** per token (keys before it in its scope) for ``doc_mask: document``
   with and without upsampling and ``doc_mask: none``: mean, p50, p90 and the share of tokens
   with at least L/2 keys.

    python benchmarks/bench_longctx.py [--corpus TOKEN_CORPUS] [--steps 40]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from midtrain.corpus.lengths import document_lengths
from midtrain.loaders.batches import RankSegments, attention_cost, context_parallel_slice
from midtrain.loaders.kernels import balance_rows
from midtrain.loaders.plan import GlobalPlan
from midtrain.mixers import load_schedule

DEFAULT_CORPUS = Path(__file__).parent / ".cache" / "longctx" / "train_tokens"
L_LONG = 32768


def synthetic_lengths(seed: int = 0) -> dict[str, np.ndarray]:
    """Lognormal lengths per domain: short web, medium code and math, long books."""
    rng = np.random.default_rng(seed)
    spec = {"web": (600, 1.2, 40_000), "code": (2000, 1.3, 8000), "math": (3000, 1.4, 4000),
            "books": (60_000, 0.8, 300)}
    return {d: np.clip(rng.lognormal(np.log(m), s, n), 16, 2_000_000).astype(np.int64) for d, (m, s, n) in spec.items()}


def natural_weights(lengths: dict[str, np.ndarray]) -> dict[str, float]:
    total = sum(int(v.sum()) for v in lengths.values())
    w = {d: int(v.sum()) / total for d, v in lengths.items()}
    k = max(w, key=w.get)
    w[k] += 1.0 - sum(w.values())
    return w


def plan_blocks(lengths, phases, *, seq_len, gbs, blocks, seed=0):
    schedule = load_schedule({"domains": sorted(lengths), "phases": phases})
    plan = GlobalPlan(lengths, schedule, seed=seed, seq_len=seq_len, block_size=gbs, global_batch_size=gbs)
    state = plan.initial_state()
    out = []
    for _ in range(blocks):
        block, state = plan.block(state)
        out.append(block)
    return plan, out


def row_segments(block, row):
    a, b = block.seq_ptr[row], block.seq_ptr[row + 1]
    return block.seg_len[a:b]


# -- 1. upsampling ---------------------------------------------------------------------------
def upsampling(lengths, steps):
    w = natural_weights(lengths)
    base = [{"seq_len": L_LONG, "tokens_per_step": 64 * L_LONG, "weights": w}]
    up = [{"seq_len": L_LONG, "tokens_per_step": 64 * L_LONG, "weights": w,
           "length_upsample": {"below": 4096, "keep": 0.1}}]
    _, plain = plan_blocks(lengths, base, seq_len=L_LONG, gbs=64, blocks=steps)
    plan, ups = plan_blocks(lengths, up, seq_len=L_LONG, gbs=64, blocks=steps)
    gap = max(int(np.abs(np.bincount(a.domain, minlength=len(w)) - np.bincount(b.domain, minlength=len(w))).max())
              for a, b in zip(plain, ups))
    print(f"1. length upsampling (below 4,096, keep 0.1), {steps} steps of 64 x 32K")
    print(f"   largest per-block difference in sequences per domain, with vs without: {gap}")
    print(f"   {'domain':<8} {'weight':>7} {'s before':>9} {'measured':>9} {'predicted':>10}")
    for k, d in enumerate(plan.domains):
        lens = lengths[d]
        s = lens[lens >= 4096].sum() / lens.sum()
        predicted = s / (s + 0.1 * (1 - s))
        long_tok = total = 0
        for b in ups:
            sel = b.seg_domain == k
            doc_len = lens[b.seg_doc[sel]]
            long_tok += int(b.seg_len[sel][doc_len >= 4096].sum())
            total += int(b.seg_len[sel].sum())
        measured = long_tok / total if total else float("nan")
        print(f"   {d:<8} {w[d]:>7.3f} {s:>9.3f} {measured:>9.3f} {predicted:>10.3f}")


# -- 2. tokens per step ----------------------------------------------------------------------
def tokens_per_step(corpus):
    from midtrain.loaders import build_loader

    step = 1 << 20
    if corpus is None:
        print("2. tokens per step: needs a token corpus (--corpus); skipped")
        return
    lengths = {d: v for d, v in document_lengths(corpus).items() if len(v)}
    w = natural_weights(lengths)
    phases = {"domains": sorted(lengths), "phases": [
        {"name": "4k", "end": 24 * step, "seq_len": 4096, "tokens_per_step": step, "weights": w},
        {"name": "32k", "seq_len": L_LONG, "tokens_per_step": step, "weights": w,
         "length_upsample": {"below": 4096, "keep": 0.1}}]}
    kw = dict(seq_len=4096, batch_size=32, seed=0, world_size=8, rank=3, block_batches=4, compact=True)
    loader = build_loader(corpus, phases, **kw)
    seen, digests = [], []
    t0 = time.perf_counter()
    for i, batch in enumerate(loader):
        rows, width = batch["input_ids"].shape
        seen.append(rows * width * 8)
        digests.append(hash(batch["input_ids"].numpy().tobytes()))
        if i == 47:
            break
    stop = 37
    first = build_loader(corpus, phases, **kw)
    for i, _ in enumerate(first):
        if i == stop - 1:
            break
    again = build_loader(corpus, phases, **kw)
    again.load_state_dict(first.state_dict())
    resumed = [hash(b["input_ids"].numpy().tobytes()) for _, b in zip(range(48 - stop), again)]
    print(f"2. tokens per step across 4K -> 32K at {step:,} tokens/step, 8 ranks: {len(seen)} steps, "
          f"tokens per step {sorted(set(seen))} (exact: {set(seen) == {step}}); "
          f"resume at step {stop} (32K phase) equals the uninterrupted stream: {resumed == digests[stop:]}; "
          f"{time.perf_counter() - t0:.1f} s")


# -- 3. data-parallel balance ----------------------------------------------------------------
def dp_balance(lengths, steps, ranks=8, per_rank=8):
    w = natural_weights(lengths)
    gbs = ranks * per_rank
    print(f"3. data-parallel balance at 32K, {ranks} ranks x {per_rank} sequences, {steps} steps "
          "(max/mean over ranks of Σ len² of document pieces)")
    for name, extra in (("natural mix", {}), ("upsampled (keep 0.1 below 4K)",
                                              {"length_upsample": {"below": 4096, "keep": 0.1}})):
        _, blocks = plan_blocks(lengths, [{"seq_len": L_LONG, "weights": w, **extra}], seq_len=L_LONG, gbs=gbs,
                                blocks=steps)
        arrival, lpt = [], []
        for b in blocks:
            cost = attention_cost(b, 0, gbs)
            plain = cost.reshape(ranks, per_rank).sum(axis=1)
            fair = np.bincount(balance_rows(cost, ranks, per_rank), weights=cost, minlength=ranks)
            arrival.append(plain.max() / plain.mean())
            lpt.append(fair.max() / fair.mean())
        print(f"   {name:<30} arrival order: median {statistics.median(arrival):.3f} p90 "
              f"{np.percentile(arrival, 90):.3f} max {max(arrival):.3f} | LPT: median {statistics.median(lpt):.3f} "
              f"p90 {np.percentile(lpt, 90):.3f} max {max(lpt):.3f}")


# -- 4. context-parallel balance -------------------------------------------------------------
def rank_work(seg_len, degree, split):
    """Causal attention work of each context-parallel rank for one row (every query token attends
    to the keys of its document before it, itself included), from the loader's own slicing."""
    k = len(seg_len)
    row = RankSegments(seq_ptr=np.array([0, k]), shard=np.zeros(k, np.int64), src=np.zeros(k, np.int64),
                       length=seg_len.astype(np.int64), doc_end=seg_len.astype(np.int64), domain=np.zeros(1, np.int64),
                       pos=np.zeros(k, np.int64), scope=np.arange(k))
    work = np.zeros(degree)
    for c in range(degree):
        part = context_parallel_slice(row, L_LONG, degree, c, split)
        lo = part.pos.astype(np.float64)
        hi = lo + part.length
        work[c] = float((hi * (hi + 1) / 2 - lo * (lo + 1) / 2).sum())
    return work


def cp_balance(lengths, steps, per_step=8):
    w = natural_weights(lengths)
    print(f"4. context-parallel balance at 32K, {steps} steps x {per_step} sequences: max/mean causal work over "
          "the C ranks, per sequence and per step")
    print(f"   {'mix':<10} {'C':>2} {'split':<11} {'per seq median':>14} {'p90':>6} {'max':>6} "
          f"{'per step median':>15} {'max':>6}")
    for mix, extra in (("natural", {}), ("upsampled", {"length_upsample": {"below": 4096, "keep": 0.1}})):
        _, blocks = plan_blocks(lengths, [{"seq_len": L_LONG, "weights": w, **extra}], seq_len=L_LONG, gbs=per_step,
                                blocks=steps)
        for degree in (2, 4, 8):
            for split in ("contiguous", "head_tail"):
                seq_ratio, step_ratio = [], []
                for b in blocks:
                    step_work = np.zeros(degree)
                    for row in range(per_step):
                        work = rank_work(row_segments(b, row), degree, split)
                        seq_ratio.append(work.max() / work.mean())
                        step_work += work
                    step_ratio.append(step_work.max() / step_work.mean())
                print(f"   {mix:<10} {degree:>2} {split:<11} {statistics.median(seq_ratio):>14.3f} "
                      f"{np.percentile(seq_ratio, 90):>6.3f} {max(seq_ratio):>6.3f} "
                      f"{statistics.median(step_ratio):>15.3f} {max(step_ratio):>6.3f}")


# -- 5. attendable context -------------------------------------------------------------------
def attendable(lengths, steps):
    w = natural_weights(lengths)
    print("5. attendable context per token at 32K (keys before a token in its scope)")
    print(f"   {'arm':<34} {'mean':>8} {'p50':>8} {'p90':>8} {'≥ L/2':>7}")
    for name, extra, masked in (("doc masks, natural mix", {}, True),
                                ("doc masks + upsampling (keep 0.1)", {"length_upsample": {"below": 4096, "keep": 0.1}},
                                 True),
                                ("no masks (concatenation)", {}, False)):
        _, blocks = plan_blocks(lengths, [{"seq_len": L_LONG, "weights": w, **extra}], seq_len=L_LONG, gbs=8,
                                blocks=steps)
        hist = np.zeros(L_LONG + 1)
        for b in blocks:
            pieces = b.seg_len if masked else np.full(len(b.seq_ptr) - 1, L_LONG)
            for n in pieces:
                hist[1:int(n) + 1] += 1  # a piece of n tokens gives contexts 1..n
        ctx = np.arange(L_LONG + 1)
        total = hist.sum()
        cdf = np.cumsum(hist) / total
        mean = float((hist * ctx).sum() / total)
        p50, p90 = int(np.searchsorted(cdf, 0.5)), int(np.searchsorted(cdf, 0.9))
        half = float(hist[L_LONG // 2:].sum() / total)
        print(f"   {name:<34} {mean:>8,.0f} {p50:>8,} {p90:>8,} {half:>7.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    corpus = args.corpus or (DEFAULT_CORPUS if (DEFAULT_CORPUS / "manifest.json").exists() else None)
    if corpus is not None:
        lengths = {d: v for d, v in document_lengths(corpus).items() if len(v)}
        print(f"document lengths of {corpus}: " + ", ".join(f"{d} {len(v):,} docs / {int(v.sum()):,} tokens"
                                                            for d, v in lengths.items()))
    else:
        lengths = synthetic_lengths()
        print("synthetic lognormal document lengths: " + ", ".join(f"{d} {len(v):,}" for d, v in lengths.items()))
    t0 = time.perf_counter()
    upsampling(lengths, args.steps)
    tokens_per_step(corpus)
    dp_balance(lengths, args.steps)
    cp_balance(lengths, args.steps)
    attendable(lengths, args.steps)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

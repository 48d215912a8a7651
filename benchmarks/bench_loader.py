"""Loader benchmark: midtrain vs LitData, MosaicML Streaming, HF datasets and a raw memmap, one run.

All loaders read the same real token documents (``benchmarks/loader_data.py``: Python stdlib code,
math LaTeX, Python-docs prose, Llama-3 uint32 ids, replicated to >= 64M tokens), page cache warmed
first. Three parts, printed as tables:

1. **Throughput** (tokens/s in this one process, 2,048-token rows, batch 8 and 64, 0 and 2 workers):
   midtrain (concat / best_fit, int64 / ``compact`` int32; mixing, packing, labels, positions,
   document ids, cu_seqlens) vs LitData ``StreamingDataset`` + ``TokensLoader`` +
   ``StreamingDataLoader``, MosaicML ``StreamingDataset`` (MDS rows, ``predownload=100_000``) in a
   torch ``DataLoader``, HF ``interleave_datasets`` over per-domain datasets plus a packing
   generator, and random 2,048-token rows of a numpy memmap in a ``DataLoader`` (the plain baseline).
   Every consumer sums ``input_ids`` of every batch. Cases run round-robin over repeats (other
   processes share the cores, so only same-run ratios mean something); cells are medians.
2. **Packing efficiency** (seq_len 2,048 and 8,192): padding % and documents cut, concat vs
   best_fit, from the loader's batches (``document_ids == -1`` is padding; a segment whose last
   label is not -100 continues in another sequence) cross-checked against the plan's segments.
3. **Mixture fidelity**: largest deviation of the realised per-domain token share from the target
   over every window of 1, 8 and 64 global batches (64 x 2,048 tokens each): midtrain vs
   ``interleave_datasets(probabilities=...)`` + packing vs LitData
   ``CombinedStreamingDataset(weights=...)``.
4. **Breakdown**: CPU per batch of planning and filling, timed apart.
5. **Start-up** on a >= 1B-token corpus (the benchmark corpus's shards hard-linked 15x): import,
   ``build_loader`` and first-batch seconds and peak RSS, each in a fresh process.

    python benchmarks/bench_loader.py [--tokens 64000000] [--repeats 3] [--seconds 0.6]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loader_data import DOMAINS, BenchData, import_streaming, prepare  # noqa: E402

from midtrain.loaders import GlobalPlan, build_loader  # noqa: E402

SEQ = 2048
WEIGHTS = {"code": 0.4, "math": 0.2, "web": 0.4}
TARGET = np.array([WEIGHTS[d] for d in DOMAINS])
MIX = {"domains": list(DOMAINS), "phases": [{"weights": WEIGHTS}]}
SEED = 0
MAX_TOKENS = 48_000_000  # below one pass over the 64M-token data, so no loader restarts an epoch


# -- throughput cases: each returns an iterator of input_ids tensors [B, SEQ] ---------------------------
def midtrain_case(packing: str, compact: bool):
    def make(data: BenchData, batch: int, workers: int) -> Iterator[torch.Tensor]:
        loader = build_loader(data.corpus, MIX, seq_len=SEQ, batch_size=batch, seed=SEED, num_workers=workers,
                              packing=packing, compact=compact)
        return (b["input_ids"] for b in loader)
    return make


class MemmapRows(torch.utils.data.Dataset):
    """The plain baseline: row i of an [N, 2048] uint32 memmap, as int64."""

    def __init__(self, path: Path) -> None:
        self.rows = np.load(path, mmap_mode="r")

    def __len__(self) -> int:
        return self.rows.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.rows[i].astype(np.int64))


def memmap_case(data: BenchData, batch: int, workers: int) -> Iterator[torch.Tensor]:
    dl = torch.utils.data.DataLoader(MemmapRows(data.rows), batch_size=batch, shuffle=True, num_workers=workers,
                                     generator=torch.Generator().manual_seed(SEED))
    return iter(dl)


def litdata_case(data: BenchData, batch: int, workers: int) -> Iterator[torch.Tensor]:
    from litdata import StreamingDataLoader, StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    ds = StreamingDataset(str(data.litdata / "all"), item_loader=TokensLoader(block_size=SEQ), shuffle=True,
                          seed=SEED)
    return iter(StreamingDataLoader(ds, batch_size=batch, num_workers=workers))


def _mds_collate(items: list[dict]) -> torch.Tensor:
    return torch.from_numpy(np.stack([it["input_ids"] for it in items]).astype(np.int64))


def mds_case(data: BenchData, batch: int, workers: int) -> Iterator[torch.Tensor]:
    streaming = import_streaming()
    ds = streaming.StreamingDataset(local=str(data.mds), shuffle=True, shuffle_seed=SEED, batch_size=batch,
                                    predownload=100_000)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=_mds_collate)
    return iter(dl)


def hf_mixture(data: BenchData):
    """``interleave_datasets`` over the per-domain HF datasets with the target probabilities."""
    import datasets

    parts = [datasets.load_from_disk(str(data.hf / d)) for d in DOMAINS]
    return datasets.interleave_datasets(parts, probabilities=list(TARGET), seed=SEED,
                                        stopping_strategy="all_exhausted")


class HFPacked(torch.utils.data.IterableDataset):
    """Concat-and-split packing over the interleaved documents (each worker packs a contiguous shard)."""

    def __init__(self, mixed) -> None:
        self.mixed = mixed

    def __iter__(self) -> Iterator[torch.Tensor]:
        import pyarrow.compute as pc

        info = torch.utils.data.get_worker_info()
        ds = self.mixed if info is None else self.mixed.shard(info.num_workers, info.id, contiguous=True)
        buf = np.zeros(0, np.uint32)
        for table in ds.with_format("arrow").iter(batch_size=64):
            flat = pc.list_flatten(table.column("input_ids")).to_numpy()
            buf = np.concatenate([buf, flat])
            n = len(buf) // SEQ
            for r in range(n):
                yield torch.from_numpy(buf[r * SEQ:(r + 1) * SEQ].astype(np.int64))
            buf = buf[n * SEQ:]


def hf_case(data: BenchData, batch: int, workers: int) -> Iterator[torch.Tensor]:
    return iter(torch.utils.data.DataLoader(HFPacked(hf_mixture(data)), batch_size=batch, num_workers=workers))


CASES: dict[str, tuple[Callable, str]] = {
    "midtrain concat": (midtrain_case("concat", False), "int64"),
    "midtrain concat compact": (midtrain_case("concat", True), "int32"),
    "midtrain best_fit": (midtrain_case("best_fit", False), "int64"),
    "midtrain best_fit compact": (midtrain_case("best_fit", True), "int32"),
    "LitData TokensLoader": (litdata_case, "int32"),
    "MosaicML MDS": (mds_case, "int64"),
    "HF interleave+pack": (hf_case, "int64"),
    "numpy memmap rows": (memmap_case, "int64"),
}
ANCHORS = ("LitData TokensLoader", "MosaicML MDS", "HF interleave+pack")


def measure(make: Callable, data: BenchData, batch: int, workers: int, seconds: float) -> tuple[float, float, float]:
    """(tokens per wall second, tokens per CPU second of this process, seconds to first batch).

    The first batch is not timed. CPU time (``time.process_time``: this process and its threads,
    not its workers) is the figure that survives other jobs on the same cores: with 0 workers it
    is the loader's whole cost, with 2 workers the main process's cost to receive batches.
    """
    t0 = time.perf_counter()
    it = make(data, batch, workers)
    touched = int(next(it).sum())
    first = time.perf_counter() - t0
    n = 0
    t1, c1 = time.perf_counter(), time.process_time()
    while True:
        x = next(it)
        touched += int(x.sum())  # every consumer touches every batch the same way
        n += x.shape[0]
        elapsed = time.perf_counter() - t1
        if (elapsed >= seconds and n >= 5 * batch) or n * SEQ >= MAX_TOKENS:
            break
    cpu = time.process_time() - c1
    del it, x
    gc.collect()
    return n * SEQ / elapsed, n * SEQ / cpu, first


def warm_page_cache(root: Path) -> int:
    """Read every cached file once so all loaders start from a warm page cache."""
    total = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                while chunk := f.read(1 << 24):
                    total += len(chunk)
    return total


def throughput(data: BenchData, names: list[str], batches: list[int], workers: list[int], repeats: int,
               seconds: float) -> None:
    results: dict[tuple[str, int, int], list[tuple[float, float, float]]] = defaultdict(list)
    for rep in range(repeats):
        for batch in batches:
            for w in workers:
                for name in names:  # round-robin: every case sees the same noise
                    try:
                        results[(name, batch, w)].append(measure(CASES[name][0], data, batch, w, seconds))
                    except Exception as exc:  # an anchor failing must not hide the others
                        print(f"  {name} b={batch} w={w}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    r = results.get((name, batch, w))
                    if r:
                        print(f"  rep {rep} b={batch:<2} w={w} {name:<26} {r[-1][0] / 1e6:8.1f} M tok/s",
                              file=sys.stderr)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
               statistics.median(x[2] for x in v)) for k, v in results.items()}
    cols = [(b, w) for b in batches for w in workers]
    for idx, title in [(1, "tokens per CPU second of the main process (robust to other jobs on the cores)"),
                       (0, "tokens per wall-clock second (shared, loaded cores: noisy)")]:
        print(f"\n## Throughput, M {title}; median of {repeats}")
        print("| loader | dtype | " + " | ".join(f"b={b} w={w}" for b, w in cols) + " | first batch s |")
        print("|---|---|" + "---|" * len(cols) + "---|")
        for name in names:
            cells = [f"{med[(name, b, w)][idx] / 1e6:.1f}" if (name, b, w) in med else "–" for b, w in cols]
            firsts = [med[(name, b, w)][2] for b, w in cols if (name, b, w) in med]
            print(f"| {name} | {CASES[name][1]} | " + " | ".join(cells) +
                  f" | {max(firsts) if firsts else float('nan'):.2f} |")
        print("\n| ratio | " + " | ".join(f"b={b} w={w}" for b, w in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for name in [n for n in names if n.startswith("midtrain")]:
            cells = []
            for b, w in cols:
                present = [a for a in ANCHORS if (a, b, w) in med]
                if (name, b, w) not in med or not present:
                    cells.append("–")
                    continue
                best = max(present, key=lambda a: med[(a, b, w)][idx])
                mine = med[(name, b, w)][idx]
                cell = f"{mine / med[(best, b, w)][idx]:.2f}x {best.split()[0]}"
                if ("numpy memmap rows", b, w) in med:
                    cell += f", {mine / med[('numpy memmap rows', b, w)][idx]:.2f}x memmap"
                cells.append(cell)
            print(f"| {name} / best anchor | " + " | ".join(cells) + " |")


# -- packing efficiency --------------------------------------------------------------------------------
def doc_lengths(data: BenchData) -> dict[str, np.ndarray]:
    from midtrain.corpus import open_token_corpus

    corpus = open_token_corpus(data.corpus)
    return {d: np.concatenate([np.diff(np.asarray(s.offsets)) for s in corpus.shards[d]]) for d in corpus.domains}


def batch_packing_stats(loader, n_batches: int) -> tuple[int, int, int]:
    """(padding slots, all slots, cut points) seen in ``n_batches`` batches."""
    pad = slots = cuts = 0
    it = iter(loader)
    for _ in range(n_batches):
        b = next(it)
        doc_ids = b["document_ids"].numpy()
        labels = b["labels"].numpy()
        pad += int((doc_ids < 0).sum())
        slots += doc_ids.size
        # last position of each segment: the next position holds another document id (or the row ends)
        last = np.ones_like(doc_ids, bool)
        last[:, :-1] = doc_ids[:, 1:] != doc_ids[:, :-1]
        cuts += int(((labels != -100) & last & (doc_ids >= 0)).sum())
    return pad, slots, cuts


def packing(data: BenchData, tokens: int) -> None:
    from midtrain.mixers import load_schedule

    lengths = doc_lengths(data)
    schedule = load_schedule(MIX)
    print(f"\n## Packing efficiency over {tokens / 1e6:.0f}M token slots (mixture {WEIGHTS})")
    print("| seq_len | packing | docs > seq_len | padding % (batches) | docs cut % | docs that fit but were cut "
          "| cut points (batches = plan) |")
    print("|---|---|---|---|---|---|---|")
    for seq_len, batch in [(2048, 64), (8192, 16)]:
        n_batches = max(1, tokens // (seq_len * batch))
        for mode in ("concat", "best_fit"):
            plan = GlobalPlan(lengths, schedule, seed=SEED, seq_len=seq_len, block_size=batch, packing=mode)
            state = plan.initial_state()
            seen: dict[int, set] = defaultdict(set)
            cut: dict[int, set] = defaultdict(set)
            used = plan_cuts = 0
            for _ in range(n_batches):
                block, state = plan.block(state)
                for k in range(len(DOMAINS)):
                    m = block.seg_domain == k
                    docs, begin, ln = block.seg_doc[m], block.seg_begin[m], block.seg_len[m]
                    full = lengths[DOMAINS[k]][docs]
                    seen[k].update(docs.tolist())
                    cut[k].update(docs[(begin > 0) | (begin + ln < full)].tolist())
                    plan_cuts += int((begin + ln < full).sum())
                    used += int(ln.sum())
            loader = build_loader(data.corpus, MIX, seq_len=seq_len, batch_size=batch, seed=SEED, packing=mode)
            pad, slots, cuts = batch_packing_stats(loader, n_batches)
            n_seen = sum(len(s) for s in seen.values())
            n_cut = sum(len(s) for s in cut.values())
            fit_cut = sum(int((lengths[DOMAINS[k]][np.fromiter(cut[k], np.int64, len(cut[k]))] <= seq_len).sum())
                          for k in cut)
            long_share = np.mean(np.concatenate(list(lengths.values())) > seq_len) * 100
            plan_pad = 100 * (1 - used / (n_batches * batch * seq_len))
            check = "=" if cuts == plan_cuts and abs(plan_pad - 100 * pad / slots) < 1e-9 else "MISMATCH"
            print(f"| {seq_len:,} | {mode} | {long_share:.1f} % | {100 * pad / slots:.3f} | "
                  f"{100 * n_cut / max(n_seen, 1):.1f} % of {n_seen:,} | {fit_cut:,} | {cuts:,} {check} {plan_cuts:,} |")


# -- mixture fidelity ----------------------------------------------------------------------------------
def window_deviation(counts: np.ndarray, window: int) -> float:
    """Largest |realised share - target| over every window of ``window`` consecutive batches (all domains)."""
    c = np.vstack([np.zeros((1, counts.shape[1])), np.cumsum(counts, axis=0)])
    win = c[window:] - c[:-window]
    share = win / win.sum(axis=1, keepdims=True)
    return float(np.abs(share - TARGET).max())


def midtrain_domain_tokens(data: BenchData, batch: int, n_batches: int) -> np.ndarray:
    loader = build_loader(data.corpus, MIX, seq_len=SEQ, batch_size=batch, seed=SEED, packing="concat")
    out = np.zeros((n_batches, len(DOMAINS)))
    it = iter(loader)
    for i in range(n_batches):
        b = next(it)
        real = (b["document_ids"].numpy() >= 0).sum(axis=1)
        out[i] = np.bincount(b["domain"].numpy(), weights=real, minlength=len(DOMAINS))
    return out


def hf_domain_tokens(data: BenchData, batch: int, n_batches: int) -> np.ndarray:
    """Per-domain tokens in each packed batch of ``interleave_datasets`` output (what HFPacked yields)."""
    import pyarrow.compute as pc

    mixed = hf_mixture(data).select_columns(["input_ids", "domain"])
    need = n_batches * batch * SEQ
    doms, lens, have = [], [], 0
    for table in mixed.with_format("arrow").iter(batch_size=256):
        ln = pc.list_value_length(table.column("input_ids")).to_numpy()
        dom = np.array([DOMAINS.index(d) for d in table.column("domain").to_pylist()])
        doms.append(dom)
        lens.append(ln)
        have += int(ln.sum())
        if have >= need:
            break
    per_token = np.repeat(np.concatenate(doms), np.concatenate(lens))[:need]
    per_batch = per_token.reshape(n_batches, batch * SEQ)
    return np.stack([(per_batch == k).sum(axis=1) for k in range(len(DOMAINS))], axis=1).astype(float)


def litdata_domain_tokens(data: BenchData, batch: int, n_batches: int) -> np.ndarray:
    from litdata import CombinedStreamingDataset, StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    def tagged(k: int) -> StreamingDataset:
        return StreamingDataset(str(data.litdata / DOMAINS[k]), item_loader=TokensLoader(block_size=SEQ),
                                shuffle=True, seed=SEED, transform=lambda x, k=k: (k, x))

    combined = CombinedStreamingDataset([tagged(k) for k in range(len(DOMAINS))], seed=SEED,
                                        weights=list(TARGET), iterate_over_all=False)
    out = np.zeros((n_batches, len(DOMAINS)))
    it = iter(combined)
    for i in range(n_batches):
        for _ in range(batch):
            k, x = next(it)
            out[i, k] += x.numel()
    return out


def mixture(data: BenchData, batch: int, n_batches: int) -> None:
    rows = {"midtrain (error carry per slot, default blocks)": midtrain_domain_tokens(data, batch, n_batches),
            "HF interleave_datasets(probabilities) + pack": hf_domain_tokens(data, batch, n_batches),
            "LitData CombinedStreamingDataset(weights)": litdata_domain_tokens(data, batch, n_batches)}
    windows = [1, 8, 64]
    print(f"\n## Mixture fidelity: max |realised token share - target| over every window, {n_batches} global "
          f"batches of {batch} x {SEQ}; in percentage points (in sequences of the window)")
    print("| loader | " + " | ".join(f"{w} batch{'es' if w > 1 else ''}" for w in windows) + " |")
    print("|---|" + "---|" * len(windows))
    for name, counts in rows.items():
        cells = []
        for w in windows:
            dev = window_deviation(counts, w)
            cells.append(f"{100 * dev:.2f} pp ({dev * w * batch:.1f} seq)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def breakdown(data: BenchData) -> None:
    """CPU microseconds per batch of midtrain's stages, timed apart: the plan, the fill into fresh
    tensors (the in-process path) and the fill into one reused buffer (what a worker does with a
    shared-memory slot)."""
    from midtrain.loaders import LoaderConfig
    from midtrain.loaders.batches import PlannedBatch, fill, fill_into, rank_segments
    from midtrain.loaders.dataset import PackedDataset
    from midtrain.mixers import load_schedule

    print("\n## midtrain per-batch CPU cost by stage (us per batch)")
    print("| packing | batch | dtype | GlobalPlan.block | fill, fresh tensors | fill, reused buffer | "
          "M tok/CPU-s (plan + fresh) |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("concat", "best_fit"):
        for batch in (8, 64):
            for compact in (False, True):
                cfg = LoaderConfig(corpus=str(data.corpus), seq_len=SEQ, batch_size=batch, seed=SEED, rank=0,
                                   world_size=1, packing=mode, compact=compact, block_batches=1)
                _, index, plan = PackedDataset(cfg, load_schedule(MIX), start_batch=0, snapshot=None,
                                               mixture_log=[]).open()
                state = plan.initial_state()
                n = 1500 if batch == 8 else 300
                blocks = []
                c = time.process_time()
                for _ in range(n):
                    block, state = plan.block(state)
                    blocks.append(block)
                t_plan = (time.process_time() - c) / n
                planned = [PlannedBatch(segments=rank_segments(block, 0, cfg, index), batch_index=0, seq_len=SEQ,
                                        resume=None) for block in blocks]
                c = time.process_time()
                for one in planned:
                    fill(one, index.shards, config=cfg, pad_id=0)
                t_fresh = (time.process_time() - c) / n
                dtype = np.int32 if compact else np.int64
                out = [np.empty((batch, SEQ), dtype) for _ in range(3)] + [np.empty((batch, SEQ), np.int32)]
                c = time.process_time()
                for one in planned:
                    fill_into(one, index.shards, out, config=cfg, pad_id=0)
                t_reused = (time.process_time() - c) / n
                print(f"| {mode} | {batch} | {'int32' if compact else 'int64'} | {t_plan * 1e6:.0f} | "
                      f"{t_fresh * 1e6:.0f} | {t_reused * 1e6:.0f} | {batch * SEQ / (t_plan + t_fresh) / 1e6:.1f} |")


# -- start-up on a 1B-token corpus ------------------------------------------------------------------
STARTUP_PROBE = """
import itertools, json, resource, sys, time
t0 = time.perf_counter()
from midtrain.loaders import build_loader
t1 = time.perf_counter()
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
loader = build_loader(sys.argv[1], json.loads(sys.argv[2]), seq_len=2048, batch_size=8, seed=0,
                      packing=sys.argv[3], num_workers=int(sys.argv[4]))
t2 = time.perf_counter()
it = iter(loader)
next(it)
t3 = time.perf_counter()
batches = list(itertools.islice(it, 20))
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "first": t3 - t2, "rss_import_mb": rss_import,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def big_corpus(data: BenchData, tokens: int) -> Path:
    """A token corpus of at least ``tokens`` tokens: the benchmark corpus's shards hard-linked as
    many times as needed (same bytes and checksums, new shard paths), so no extra disk is used."""
    import json
    import os

    src = data.corpus
    manifest = json.loads((src / "manifest.json").read_text())
    total = sum(sh["tokens"] for sh in manifest["shards"])
    copies = -(-tokens // total)
    out = data.root / f"startup_{copies}x"
    if (out / "manifest.json").exists():
        return out
    shards = []
    for c in range(copies):
        for sh in manifest["shards"]:
            path = Path(sh["path"])
            new = path.with_name(f"{c:03d}_{path.name}")
            (out / new).parent.mkdir(parents=True, exist_ok=True)
            if not (out / new).exists():
                os.link(src / path, out / new)
            shards.append({**sh, "path": str(new)})
    for dom in manifest["domains"].values():
        for key in ("bytes", "rows", "shards", "tokens"):
            dom[key] *= copies
    manifest["shards"] = shards
    manifest["extra"] = {**manifest.get("extra", {}), "hardlinked_copies": copies}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def startup(data: BenchData, tokens: int, repeats: int) -> None:
    """Seconds from ``build_loader`` to the first batch, and peak RSS, on a >= 1B-token corpus, each
    in a fresh process (import of midtrain.loaders timed apart)."""
    import json
    import subprocess

    corpus = big_corpus(data, tokens)
    manifest = json.loads((corpus / "manifest.json").read_text())
    n_tok = sum(sh["tokens"] for sh in manifest["shards"])
    n_docs = sum(sh["rows"] for sh in manifest["shards"])
    print(f"\n## Start-up on {n_tok / 1e9:.2f}B tokens ({n_docs:,} documents, {len(manifest['shards'])} shards); "
          f"fresh process each, median of {repeats}")
    print("| packing | workers | import midtrain.loaders s | build_loader s | first batch s | "
          "peak RSS MB after import | peak RSS MB after 21 batches (main process) |")
    print("|---|---|---|---|---|---|---|")
    for packing in ("concat", "best_fit"):
        for workers in (0, 2):
            runs = []
            for _ in range(repeats):
                out = subprocess.run([sys.executable, "-c", STARTUP_PROBE, str(corpus), json.dumps(MIX), packing,
                                      str(workers)], capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"| {packing} | {workers} | {med['import']:.2f} | {med['build']:.2f} | {med['first']:.2f} | "
                  f"{med['rss_import_mb']:.0f} | {med['rss_mb']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=64_000_000, help="data size (see loader_data.py)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=0.6, help="timed seconds per measurement (after the first batch)")
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--batches", nargs="*", type=int, default=[8, 64])
    ap.add_argument("--workers", nargs="*", type=int, default=[0, 2])
    ap.add_argument("--parts", nargs="*", default=["throughput", "packing", "mixture", "breakdown", "startup"])
    ap.add_argument("--startup-tokens", type=int, default=1_000_000_000)
    ap.add_argument("--packing-tokens", type=int, default=32_000_000)
    ap.add_argument("--mixture-batches", type=int, default=128)
    args = ap.parse_args()
    # One intra-op thread: the consumer's sum over a [64, 2048] batch crosses torch's parallel grain
    # size, and on oversubscribed cores its 2-thread barrier measured 48 ms per batch (cProfile), which
    # swamped every loader at b=64. The loaders' own hot paths do not use torch ops.
    torch.set_num_threads(1)
    data = prepare(args.tokens)
    warmed = warm_page_cache(data.root)
    print(f"data: {sum(data.tokens.values()):,} tokens ({data.tokens}) = {data.replicas} copies of "
          f"{sum(data.real_tokens.values()):,} real Llama-3 tokens ({data.real_tokens}); page cache warmed "
          f"({warmed / 1e9:.2f} GB read); torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "throughput" in args.parts:
        throughput(data, args.cases, args.batches, args.workers, args.repeats, args.seconds)
    if "packing" in args.parts:
        packing(data, args.packing_tokens)
    if "mixture" in args.parts:
        mixture(data, 64, args.mixture_batches)
    if "breakdown" in args.parts:
        breakdown(data)
    if "startup" in args.parts:
        startup(data, args.startup_tokens, args.repeats)


if __name__ == "__main__":
    main()

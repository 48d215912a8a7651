"""The loader on an ``s3://`` corpus (moto's S3 server on loopback) against the same corpus on local disk.

A synthetic token corpus (web-like lognormal document lengths, median 450 tokens, uint32 ids as
with a 128K vocabulary) is written locally, uploaded with ``upload_corpus``,
and read by ``build_loader`` with 2 workers (sequence 2,048, batch 8, concat packing), once per
fetch mode (``documents``, ``blocks``):

- throughput: tokens/s over ``--seconds`` after the first batch (cold: every worker's block cache
  empty) and over ``--seconds`` after ``--warmup`` seconds more (warm), median of ``--repeats``,
  local and S3, and the ratios (issue 18's target: S3 >= 50% of local);
- bytes: on a partial epoch of ``--partial`` batches (in process, one block cache), bytes of token
  blocks fetched against bytes of tokens the batches used (target <= 1.05x plus one block per domain);
- server: ranged GETs per second the loopback server answers, one at a time and 64 in flight;
- resume: blocks a resumed loader (same position, ``--partial`` more batches) needs that the first
  run had fetched already: re-fetched without ``cache_dir``, read back from disk with it.

    python benchmarks/bench_s3_loader.py [--tokens 32000000] [--repeats 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from midtrain.corpus import CorpusWriter
from midtrain.loaders import build_loader
from midtrain.loaders.dataset import PackedDataset
from midtrain.mixers import load_schedule_for_corpus
from midtrain.storage import upload_corpus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.s3_server import s3_server  # noqa: E402  (the same loopback server the tests start)

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
SEQ, BATCH, SEED = 2048, 8, 0


def make_corpus(out: Path, tokens: int) -> Path:
    """Three domains, 4 shards each, lognormal(ln 450, 1.2) document lengths clipped to [2, 50,000]."""
    if (out / "manifest.json").is_file():
        return out
    rng = np.random.default_rng(0)
    w = CorpusWriter(out, "token", tokenizer={"fingerprint": "bench", "name": "bench", "vocab_size": 128_256,
                                              "bos_id": None, "eos_id": 0, "dtype": "uint32"})
    per_shard = tokens // 12
    for d in MIX["domains"]:
        for s in range(4):
            lengths = np.clip(rng.lognormal(np.log(450), 1.2, per_shard // 924), 2, 50_000).astype(np.int64)  # mean 924
            off = np.concatenate([[0], np.cumsum(lengths)])
            toks = rng.integers(1, 128_256, int(off[-1]), dtype=np.uint32)
            toks[off[1:] - 1] = 0
            w.write_tokens(d, [f"{d}/{s}/{i}" for i in range(len(lengths))], toks, off)
    w.finish()
    return out


def tokens_per_s(corpus: str, schedule, seconds: float, warmup: float, fetch: str = "documents") -> tuple[float, float]:
    """(tokens/s over ``seconds`` after the first batch, tokens/s over ``seconds`` after ``warmup`` more)."""
    loader = build_loader(corpus, schedule, seq_len=SEQ, batch_size=BATCH, seed=SEED, num_workers=2, fetch=fetch)
    it = iter(loader)
    next(it)
    rates = []
    for skip in (0.0, warmup):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < skip:
            next(it)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            n += next(it)["input_ids"].numel()
        rates.append(n / (time.perf_counter() - t0))
    del it
    return rates[0], rates[1]


def partial_epoch(url: str, schedule, batches: int, fetch: str, cache_dir: str | None = None, state=None):
    """Fetched and used bytes of ``batches`` in-process batches, and the loader's state after them."""
    loader = build_loader(url, schedule, seq_len=SEQ, batch_size=BATCH, seed=SEED, cache_dir=cache_dir, fetch=fetch)
    if state is not None:
        loader.load_state_dict(state)
    dataset = PackedDataset(loader.config, loader.schedule, start_batch=loader.batches_consumed,
                            snapshot=loader._snapshot, mixture_log=[])
    for _ in itertools.islice(iter(dataset), batches):
        pass
    corpus = dataset.open()[0]
    # the loader's state after the same batches (the dataset above does not move the loader)
    for _ in itertools.islice(iter(loader), batches):
        pass
    return corpus, loader.state_dict()


def pieces(corpus, fetch: str) -> set:
    """Keys of the documents (or blocks) the corpus object fetched and still caches (the resumed run
    is compared with what the first run's batches used, not with what it had prefetched)."""
    return set((corpus.doc_cache if fetch == "documents" else corpus.cache)._slots)


def request_rate(bucket: str, ranges: int = 64, size: int = 3000) -> tuple[float, float]:
    """Ranged GETs per second the server answers: (one at a time, ``ranges`` in flight), ``size``-byte
    ranges at random places of a 16 MiB object (what ``fetch="documents"`` asks for)."""
    import os

    from midtrain.storage.objects import filesystem, put_atomic

    url = f"{bucket}/probe.bin"
    put_atomic(url, os.urandom(16 << 20))
    fs = filesystem(url)
    starts = np.random.default_rng(0).integers(0, (16 << 20) - size, ranges).tolist()
    t0 = time.perf_counter()
    for s in starts[:16]:
        fs.cat_file(url, start=s, end=s + size)
    one = 16 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    fs.cat_ranges([url] * ranges, starts, [s + size for s in starts])
    return one, ranges / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=32_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds between the cold and the warm measurement")
    ap.add_argument("--partial", type=int, default=50, help="batches of the partial epoch")
    ap.add_argument("--modes", nargs="*", default=["documents", "blocks"], choices=["documents", "blocks"])
    args = ap.parse_args()
    local = make_corpus(Path(__file__).resolve().parent / ".cache" / "s3_loader" / f"t{args.tokens}", args.tokens)
    schedule = load_schedule_for_corpus(MIX, local)[0]
    rows = []
    with s3_server() as bucket:
        one, many = request_rate(bucket)
        url = f"{bucket}/corpus"
        t0 = time.perf_counter()
        upload_corpus(local, url)
        upload_s = time.perf_counter() - t0
        for fetch in args.modes:
            here, there = [], []
            for _ in range(args.repeats):  # alternated, so that load on the shared cores hits both alike
                here.append(tokens_per_s(str(local), schedule, args.seconds, args.warmup))
                there.append(tokens_per_s(url, schedule, args.seconds, args.warmup, fetch))
            corpus, state = partial_epoch(url, schedule, args.partial, fetch)
            cache = tempfile.mkdtemp(prefix="bench-s3-cache-")
            try:
                resumed, _ = partial_epoch(url, schedule, args.partial, fetch, state=state)
                refetched = len(pieces(resumed, fetch) & corpus.pieces_used)
                partial_epoch(url, schedule, args.partial, fetch, cache_dir=cache)
                from_disk, _ = partial_epoch(url, schedule, args.partial, fetch, cache_dir=cache, state=state)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            rows.append((fetch, [statistics.median(r) for r in zip(*here)],
                         [statistics.median(r) for r in zip(*there)], corpus, resumed, refetched, from_disk))
    print(f"server: {one:.0f} ranged GETs/s one at a time, {many:.0f}/s with 64 in flight (3 KB ranges)")
    print(f"corpus: {args.tokens:,} tokens (uint32), 12 shards, uploaded in {upload_s:.1f} s; 2 workers, seq {SEQ}, "
          f"batch {BATCH}; median of {args.repeats} x {args.seconds:g} s, warm after {args.warmup:g} s more\n")
    print("| fetch | local tok/s cold / warm | S3 tok/s cold / warm | S3 / local cold / warm "
          f"| partial epoch ({args.partial} batches): fetched / used | requests (documents or blocks) "
          f"| resume ({args.partial} more batches): pieces re-fetched without cache_dir / read from disk with it |")
    print("|---|---|---|---|---|---|---|")
    for fetch, here, there, corpus, resumed, refetched, from_disk in rows:
        count = corpus.docs_fetched if fetch == "documents" else corpus.blocks_fetched
        print(f"| {fetch} | {here[0] / 1e6:.1f} M / {here[1] / 1e6:.1f} M | "
              f"{there[0] / 1e6:.2f} M / {there[1] / 1e6:.2f} M | {there[0] / here[0]:.1%} / {there[1] / here[1]:.1%} | "
              f"{corpus.bytes_fetched / 1e6:.2f} MB / {corpus.bytes_used / 1e6:.2f} MB = "
              f"{corpus.bytes_fetched / max(corpus.bytes_used, 1):.3f}x | {count} | "
              f"{refetched} / {from_disk.blocks_from_disk} |")


if __name__ == "__main__":
    main()

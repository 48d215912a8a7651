"""The exposure ledger on a 1B-token plan (issue 20): batch lookup and the full exposure pass.

Targets (2 cores): looking up one global batch < 10 ms; the full exposure histogram < 60 s.

The plan: 3 domains of documents with web-like lengths (lognormal(ln 450, sigma 1.2) tokens,
clipped to [2, 100,000]) adding up to ``--tokens`` (1B), a two-phase schedule of ``--tokens``
(an anneal at 80 %), 2,048-token rows, 16 per rank x 8 ranks = 128 per global batch, blocks of 2
global batches (256 sequences, the loader's default minimum): 3,815 global batches, 1,908 blocks.
Measured, per packing:

- ``index``: the full pass that plans every block once and keeps the state at each block's start
  (:class:`~midtrain.loaders.ledger.PlanLedger`), and the size of the cache file it is saved in;
- ``exposure``: the full exposure pass from nothing (every block planned again, tokens per
  document, the histogram and the per-domain table);
- ``lookup``: one global batch, from the saved index (median, p90 and max over ``--lookups``
  random batches, after one warm-up lookup), as :meth:`PlanLedger.batch` plus the per-row
  segments in global document numbers.

With ``--corpus DIR`` the same lengths are also written as a token corpus (all tokens 0: the
ledger never reads a token; 2 GB of uint16) and the same questions go through
:func:`~midtrain.loaders.ledger.open_ledger`, as ``midtrain ledger`` asks them: document ids
read from the shards, the rank of every row, the cache file. The ``--corpus`` folder is kept for
the next run.

    python benchmarks/bench_ledger.py [--tokens 1000000000] [--lookups 200] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from midtrain.loaders.ledger import BlockStore, PlanLedger
from midtrain.loaders.plan import GlobalPlan, PlanState
from midtrain.mixers import load_schedule

DOMAINS = ("code", "math", "web")
SEQ_LEN, BATCH, WORLD, BLOCK_BATCHES = 2048, 16, 8, 2


def document_lengths(tokens: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Per domain, web-like document lengths adding up to about ``tokens / 3``."""
    rng = np.random.default_rng(seed)
    out = {}
    for d in DOMAINS:
        lengths = np.clip(rng.lognormal(np.log(450), 1.2, int(tokens / 3 / 900 * 1.1)), 2, 100_000).astype(np.int64)
        out[d] = lengths[:int(np.searchsorted(np.cumsum(lengths), tokens // 3)) + 1]
    return out


def schedule_of(tokens: int) -> dict:
    return {"domains": list(DOMAINS), "phases": [
        {"end": "80%", "weights": {"web": 0.6, "code": 0.3, "math": 0.1}},
        {"weights": {"web": 0.2, "code": 0.4, "math": 0.4}}]}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def lookup_times(lookup, total: int, n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    lookup(int(rng.integers(total)))  # warm-up: numba kernels, the epoch permutations
    times = []
    for k in rng.integers(0, total, n).tolist():
        _, dt = timed(lambda: lookup(k))
        times.append(dt)
    return times


def summary(times: list[float]) -> str:
    ms = sorted(t * 1e3 for t in times)
    return f"median {statistics.median(ms):6.2f} ms  p90 {ms[int(0.9 * len(ms))]:6.2f} ms  max {ms[-1]:6.2f} ms"


def plan_level(lengths: dict[str, np.ndarray], tokens: int, packing: str, lookups: int) -> None:
    schedule = load_schedule(schedule_of(tokens), total_tokens=tokens)
    gbs = BATCH * WORLD

    def new_plan() -> GlobalPlan:
        return GlobalPlan(lengths, schedule, seed=0, seq_len=SEQ_LEN, block_size=gbs * BLOCK_BATCHES,
                          global_batch_size=gbs, packing=packing)

    ledger = PlanLedger(new_plan(), lengths, block_batches=BLOCK_BATCHES)
    total, t_index = timed(lambda: ledger.total_batches)
    body = json.dumps({"snapshots": [s.to_dict() for s in ledger.snapshots]}, separators=(",", ":"))
    snapshots, t_load = timed(lambda: [PlanState.from_dict(d) for d in json.loads(body)["snapshots"]])
    buffer = io.BytesIO()
    np.savez(buffer, **{f: getattr(ledger.store, f) for f in BlockStore.FIELDS})
    print(f"{packing:>8}  index (full pass): {len(ledger.snapshots) - 1:,} blocks, {total:,} global batches in "
          f"{t_index:.1f} s; snapshots {len(body) / 1e6:.2f} MB of JSON (read back in {t_load * 1e3:.0f} ms), "
          f"block store {buffer.tell() / 1e6:.0f} MB ({len(ledger.store.seg_len):,} segments)")

    def exposure(ledger: PlanLedger):
        counts = ledger.exposure()
        return counts, counts.histogram(), counts.table(ledger.doc_domain, list(DOMAINS))

    (counts, histogram, _), t_cold = timed(lambda: exposure(PlanLedger(new_plan(), lengths,
                                                                       block_batches=BLOCK_BATCHES)))
    _, t_warm = timed(lambda: exposure(PlanLedger(new_plan(), lengths, block_batches=BLOCK_BATCHES,
                                                  snapshots=snapshots, store=ledger.store)))
    print(f"{packing:>8}  exposure: {t_cold:.1f} s from nothing, {t_warm:.1f} s from the store; "
          f"{counts.token_slots:,} token slots = {counts.document_tokens:,} document tokens + {counts.padding:,} "
          f"padding; times seen in full -> documents {histogram}")

    for label, store in (("snapshots, one block planned", None), ("block store", ledger.store)):
        warm = PlanLedger(new_plan(), lengths, block_batches=BLOCK_BATCHES, snapshots=snapshots, store=store)

        def lookup(k: int) -> list:
            b = warm.batch(k)
            block = b.block
            rows = []
            for r in range(b.rows):
                seg = b.segments(r)
                rows.append(list(zip((warm.doc_base[block.seg_domain[seg]] + block.seg_doc[seg]).tolist(),
                                     block.seg_begin[seg].tolist(), block.seg_len[seg].tolist())))
            return rows

        print(f"{packing:>8}  lookup from {label} ({lookups} random batches): "
              f"{summary(lookup_times(lookup, total, lookups))}")


def write_corpus(out: Path, lengths: dict[str, np.ndarray], shard_tokens: int = 100_000_000) -> None:
    """The lengths as a token corpus of zeros (ids ``domain/index``), shards of about ``shard_tokens``."""
    from midtrain.corpus import CorpusWriter

    w = CorpusWriter(out, "token", tokenizer={"fingerprint": "bench", "name": "bench", "vocab_size": 50_000,
                                              "bos_id": None, "eos_id": 0, "dtype": "uint16"})
    for d, lens in lengths.items():
        ends = np.cumsum(lens)
        cuts = [0, *np.searchsorted(ends, np.arange(shard_tokens, int(ends[-1]), shard_tokens)).tolist(), len(lens)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            off = np.concatenate([[0], np.cumsum(lens[a:b])])
            w.write_tokens(d, [f"{d}/{i}" for i in range(a, b)], np.zeros(int(off[-1]), np.uint16), off)
    w.finish()


def corpus_level(corpus: Path, lengths: dict[str, np.ndarray], tokens: int, packing: str, lookups: int) -> None:
    from midtrain.loaders import LoaderConfig
    from midtrain.loaders.ledger import open_ledger

    config = LoaderConfig(corpus=corpus, seq_len=SEQ_LEN, batch_size=BATCH, seed=0, rank=0, world_size=WORLD,
                          block_batches=BLOCK_BATCHES, total_tokens=tokens, packing=packing)
    with tempfile.TemporaryDirectory() as cache:
        ledger, t_open = timed(lambda: open_ledger(config, schedule_of(tokens), cache_dir=cache))
        total, t_index = timed(lambda: ledger.plan.total_batches)
        _, t_save = timed(ledger.save)
        report, t_exp = timed(lambda: open_ledger(config, schedule_of(tokens), cache_dir=cache).exposure())
        print(f"{packing:>8}  corpus: open {t_open:.1f} s, full pass {t_index:.1f} s, cache written in {t_save:.1f} s; "
              f"exposure with ids and tables {t_exp:.1f} s ({len(report.cut_documents):,} cut documents)")
        warm, t_reopen = timed(lambda: open_ledger(config, schedule_of(tokens), cache_dir=cache))
        times = lookup_times(lambda k: warm.batch(k), total, lookups)
        print(f"{packing:>8}  corpus lookup ({lookups} random batches, ids and ranks; reopen from the cache "
              f"{t_reopen:.1f} s): {summary(times)}")
        _, t_seen = timed(lambda: warm.seen("web/12345", total))
        print(f"{packing:>8}  corpus seen(one document, whole run): {t_seen:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=1_000_000_000)
    ap.add_argument("--lookups", type=int, default=200)
    ap.add_argument("--packing", nargs="+", default=["concat", "best_fit"])
    ap.add_argument("--corpus", type=Path, help="also write the lengths as a token corpus here and ask through it")
    args = ap.parse_args()
    lengths = document_lengths(args.tokens)
    print(f"plan: {sum(len(x) for x in lengths.values()):,} documents, {sum(int(x.sum()) for x in lengths.values()):,} "
          f"tokens in {len(DOMAINS)} domains; {args.tokens:,} tokens planned, rows of {SEQ_LEN:,}, global batch "
          f"{BATCH} x {WORLD}, blocks of {BLOCK_BATCHES} global batches")
    for packing in args.packing:
        plan_level(lengths, args.tokens, packing, args.lookups)
    if args.corpus:
        if not (args.corpus / "manifest.json").is_file():
            _, dt = timed(lambda: write_corpus(args.corpus, lengths))
            print(f"corpus written to {args.corpus} in {dt:.0f} s")
        for packing in args.packing:
            corpus_level(args.corpus, lengths, args.tokens, packing, args.lookups)


if __name__ == "__main__":
    main()

"""How long opening a 100M-token shard takes (issue: "opens in under 100 ms").

Writes one uint16 token shard of 100M tokens in 2,048-token documents, drops it from the page
cache where possible, then times ``TokenShard`` (memory map + footer + offsets check) and
``open_token_corpus`` (manifest + size checks) over several runs, against a raw ``np.memmap``.

    python benchmarks/bench_corpus_open.py [--tokens 100000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from midtrain.corpus import CorpusWriter, TokenShard, open_token_corpus


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=100_000_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = args.tokens
        tokens = (np.arange(n, dtype=np.uint32) % 50_000).astype(np.uint16)
        offsets = np.arange(0, n + 1, 2048, dtype=np.int64)
        if offsets[-1] != n:
            offsets = np.append(offsets, n)
        writer = CorpusWriter(tmp, "token")
        info = writer.write_tokens("web", [str(i) for i in range(len(offsets) - 1)], tokens, offsets)
        writer.finish()
        del tokens
        rows = []
        for name, fn in [
            ("TokenShard(path)", lambda: TokenShard(tmp / info.path)),
            ("open_token_corpus(dir)", lambda: open_token_corpus(tmp)),
            ("np.memmap (no checks)", lambda: np.memmap(tmp / info.path, dtype=np.uint8, mode="r")),
        ]:
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t) * 1e3)
            rows.append((name, statistics.median(times), max(times)))
        print(f"shard: {n:,} tokens, {info.rows:,} documents, {info.bytes / 1e6:.0f} MB")
        print(f"{'open':<26} {'median ms':>10} {'max ms':>8}")
        for name, med, mx in rows:
            print(f"{name:<26} {med:>10.2f} {mx:>8.2f}")


if __name__ == "__main__":
    main()

"""The opt-in encoder's tokenizer: midtrain's numba WordPiece (``wordpiece.py``) against the tokenizers library.

    python benchmarks/bench_wordpiece.py [--repeats 5] [--docs 0] [--threads 1]

Both read all-MiniLM-L6-v2's ``tokenizer.json`` and tokenize the domain labeller's window (head 512 + middle 512
bytes, as ``label_domains`` passes it to the encoder) of every document of every label source (training, held-out
and junk; ``labeldata`` fetches and caches them). Each repeat times the library's ``encode_batch`` and then
midtrain's ``token_ids`` on the same windows, taking turns; the table gives each one's median µs per window, the
ratio, and the share of windows midtrain hands to the library (``WordPieceTokenizer.library_share``).
Before any timing, the ids of every window are compared: the script stops if one differs.

``--threads`` is the tokenizers library's thread count (``RAYON_NUM_THREADS``); midtrain's kernel runs on one core.
At 1 both use one core, which is the cost per labelling process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--docs", type=int, default=0, help="the first N documents of a fixed shuffle (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before tokenizers starts its thread pool
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import numpy as np
    from tokenizers import Tokenizer

    from midtrain.curation.labels.domain import DomainConfig
    from midtrain.curation.labels.encoder import MAX_TOKENS, _model_dir, token_ids
    from midtrain.curation.labels.text_windows import text_windows
    from midtrain.curation.labels.wordpiece import WordPieceTokenizer
    from scripts.labeldata import registry

    table = registry.corpus_table()
    texts = table.column("text")
    if args.docs:
        order = sorted(range(len(texts)), key=lambda i: (i * 2654435761) % 2**32)[:args.docs]
        texts = texts.take(order)
    config = DomainConfig()
    windows = text_windows(texts, config.head_bytes, config.middle_bytes, config.tail_bytes)
    path = _model_dir() / "tokenizer.json"
    library = Tokenizer.from_file(str(path))
    library.enable_truncation(MAX_TOKENS)
    library.no_padding()
    ours = WordPieceTokenizer(path, MAX_TOKENS)
    as_list = windows.to_pylist()

    want, got = token_ids(library, as_list), ours.token_ids(windows)
    if not (np.array_equal(want[1], got[1]) and np.array_equal(want[0], got[0])):
        raise SystemExit("bench_wordpiece: midtrain's ids differ from the tokenizers library's")
    handed = ours.library_share(windows)

    times: dict[str, list[float]] = {"tokenizers library": [], "midtrain (numba)": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        library.encode_batch(as_list)
        t1 = time.perf_counter()
        ours.token_ids(windows)
        t2 = time.perf_counter()
        times["tokenizers library"].append(t1 - t0)
        times["midtrain (numba)"].append(t2 - t1)
    n = len(as_list)
    print(f"{n} windows of {table.num_rows} documents, {sum(map(len, as_list)) / n:.0f} characters and "
          f"{got[1].mean():.0f} tokens each on average; ids equal on every window; "
          f"{handed:.1%} handed to the library; median of {args.repeats}, library threads {args.threads}")
    print(f"{'tokenizer':<22} {'µs/window':>10} {'windows/s':>10}")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, t in medians.items():
        print(f"{name:<22} {t / n * 1e6:>10.1f} {n / t:>10,.0f}")
    print(f"ratio (library / midtrain): {medians['tokenizers library'] / medians['midtrain (numba)']:.1f}x")


if __name__ == "__main__":
    main()

"""fastText's own prediction against ``fasttext_predict``'s numba kernel, per shipped model, same lines.

    python benchmarks/bench_fasttext_predict.py [--docs 3000] [--repeats 5]

The lines are what the labellers give each model for the speed set of ``bench_labels.py --parts speed``
(3,000 documents of every label source, the same order): lid.176 the first 512 bytes, the domain and
quality models their windows (the domain labeller's shape tokens left out), the code-language model
its 1,024 + 1,024 bytes; batches of 512 (the curation steps' batch size), each model called as its
labeller calls it (``predict`` for language and code language, every label's probability for domain
and quality). The two ways take turns, ``--repeats`` times; the table gives the median µs per line of
each and their ratio, and checks that every label and score is equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import registry  # noqa: E402
from benchmarks.bench_labels import topical_sources  # noqa: E402
from midtrain.curation.labels.models import FastTextClassifier  # noqa: E402
from midtrain.curation.labels.quality import text_window  # noqa: E402
from midtrain.curation.labels.text_windows import fasttext_lines, lid_lines, text_windows  # noqa: E402

BATCH = 512


def model_lines(texts: list[str]) -> dict[str, tuple[list[str], str]]:
    """Each shipped model's lines and how its labeller calls it (``ranked``: top label; ``all``)."""
    out = {"lid.176": (lid_lines(texts, 512), "ranked"),
           "domain": (fasttext_lines(text_windows(texts, 512, 512)), "all"),
           "code_language": (fasttext_lines(text_windows(texts, 1024, 1024)), "ranked")}
    for qtype in ("prose", "code", "math"):
        name = f"quality-{qtype}"
        out[name] = (fasttext_lines(text_windows(texts, *text_window(name, qtype))), "all")
    return out


def run(classifier: FastTextClassifier, lines: list[str], how: str) -> tuple[float, list]:
    outputs = []
    start = time.perf_counter()
    for b in range(0, len(lines), BATCH):
        part = lines[b:b + BATCH]
        if how == "ranked":
            pred = classifier.predict(part)
            outputs.append((pred.labels.tolist(), pred.scores))
        else:
            outputs.append(classifier.predict_all(part)[0])
    return time.perf_counter() - start, outputs


def same(a: list, b: list) -> bool:
    for x, y in zip(a, b):
        if isinstance(x, tuple):
            if x[0] != y[0] or not np.array_equal(x[1], y[1]):
                return False
        elif not np.array_equal(x, y):
            return False
    return len(a) == len(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    train, heldout = topical_sources()
    texts = registry.corpus_table(train + heldout).column("text").to_pylist()
    order = sorted(range(len(texts)), key=lambda i: (i * 2654435761) % 2**32)[:args.docs]
    texts = [texts[i] for i in order]
    print(f"{len(texts)} documents, batches of {BATCH}, median of {args.repeats} (the two ways taking turns)")
    print(f"{'model':<16} {'bytes/line':>10} {'fastText µs/line':>17} {'numba µs/line':>14} {'ratio':>6} "
          f"{'equal':>6}")
    for name, (lines, how) in model_lines(texts).items():
        cpp, native = FastTextClassifier(name, native=False), FastTextClassifier(name)
        run(native, lines[:BATCH], how)  # compile (or load the cached kernels) first
        times = {"cpp": [], "native": []}
        equal = True
        for _ in range(args.repeats):
            t_cpp, out_cpp = run(cpp, lines, how)
            t_native, out_native = run(native, lines, how)
            times["cpp"].append(t_cpp)
            times["native"].append(t_native)
            equal &= same(out_cpp, out_native)
        per_line = {k: statistics.median(v) / len(lines) * 1e6 for k, v in times.items()}
        size = sum(len(line.encode()) for line in lines) / len(lines)
        print(f"{name:<16} {size:>10,.0f} {per_line['cpp']:>17.1f} {per_line['native']:>14.1f} "
              f"{per_line['cpp'] / per_line['native']:>5.2f}x {'yes' if equal else 'NO':>6}")


if __name__ == "__main__":
    main()

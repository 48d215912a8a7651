"""The labellers' numba kernels one by one, on the speed set of ``bench_labels.py --parts speed``.

    python benchmarks/bench_label_kernels.py [--docs 3000] [--repeats 7]

Why: ``bench_labels.py --parts speed`` times the three labelling steps together, and its share moves with
the machine's load by more than one kernel's change. This prints µs per document for each kernel alone,
best and median of ``--repeats`` runs over the same batches of 512 documents, so a change to one kernel
can be read off. To compare two trees, run it in each, taking turns (a worktree of the other commit,
``PYTHONPATH`` set to it and a ``NUMBA_CACHE_DIR`` of its own). Only functions that both stop 42's and
later trees have are timed, and ``line_shapes.line_shape_counts`` where the tree has it (stop 51 on), beside
the two Arrow regex counts it replaced, and the domain classifier's punctuation-run pass
(``text_windows.capped_punct_runs``, stop 64 on) as the shipped labeller runs it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_labels import topical_sources  # noqa: E402
from scripts.labeldata import registry  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from midtrain.curation.labels import code_language, domain, quality  # noqa: E402
from midtrain.curation.labels.text_windows import (as_string_array, fasttext_line_array, string_buffers,  # noqa: E402
                                                   text_windows)
from midtrain.curation.labels.unicode_counts import class_counts  # noqa: E402
from midtrain.curation.labels.word_vectors import (SHIPPED_WORD_MODEL, _mean_vectors, load_word_model,  # noqa: E402
                                                   token_vectors)

try:
    from midtrain.curation.labels.line_shapes import line_shape_counts
except ImportError:  # a tree before stop 51
    line_shape_counts = None
try:
    from midtrain.curation.labels.text_windows import capped_punct_runs
except ImportError:  # a tree before stop 64
    capped_punct_runs = None

BATCH = 512


def timed(name: str, batches: list, run: Callable, docs: int, repeats: int) -> None:
    """Print the best and median µs per document of ``run`` over every batch (after one warm-up pass)."""
    for batch in batches:
        run(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            run(batch)
        times.append(time.perf_counter() - start)
    print(f"{name:<44} {min(times) / docs * 1e6:>8.2f} {statistics.median(times) / docs * 1e6:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.docs < 1 or args.repeats < 1:
        parser.error("--docs and --repeats: at least 1")
    train, heldout = topical_sources()
    texts = registry.corpus_table(train + heldout).column("text").to_pylist()
    order = sorted(range(len(texts)), key=lambda i: (i * 2654435761) % 2**32)[:args.docs]  # bench_labels' set
    arrays = [as_string_array([texts[i] for i in order[k:k + BATCH]]) for k in range(0, len(order), BATCH)]
    buffers = [string_buffers(a) for a in arrays]
    n = len(order)
    print(f"{n} documents, batches of {BATCH}, µs per document (best, median of {args.repeats})")
    print(f"{'kernel':<44} {'best':>8} {'median':>8}")
    timed("quality.structure_signals (whole documents)", buffers, lambda b: quality.structure_signals(b[1], b[0]),
          n, args.repeats)
    timed("quality.order_signals + cohesion (8 KiB)", buffers,
          lambda b: quality.order_signals(b[1], b[0], cohesion=True), n, args.repeats)
    timed("quality.bracket_signals (whole documents)", buffers, lambda b: quality.bracket_signals(b[1], b[0]),
          n, args.repeats)
    for head, middle in ((512, 0), (512, 512), (1024, 1024)):
        timed(f"text_windows {head} + {middle}", arrays, lambda a, h=head, m=middle: text_windows(a, h, m),
              n, args.repeats)
    code_lines = [fasttext_line_array(text_windows(a, 1024, 1024)) for a in arrays]
    timed("code_language._too_little_text (1,024 + 1,024)", code_lines, code_language._too_little_text, n,
          args.repeats)
    windows = [text_windows(a, 512, 512) for a in arrays]
    timed("unicode_counts.class_counts (512 + 512)", windows, class_counts, n, args.repeats)
    timed("Arrow regex: code and step lines (512 + 512)", windows,
          lambda w: [pc.count_substring_regex(w, p) for p in (domain._CODE_LINE, domain._STEP_LINE)], n, args.repeats)
    if line_shape_counts is not None:
        timed("line_shapes.line_shape_counts (512 + 512)", windows, line_shape_counts, n, args.repeats)
    if capped_punct_runs is not None:
        config = domain.DomainConfig()
        runs = dict(cap=config.punct_run_cap, join=getattr(config, "punct_run_join", False))
        if runs["cap"] > 0:
            lines = [fasttext_line_array(w) for w in windows]
            how = "joined" if runs["join"] else "cut"
            timed(f"capped_punct_runs ({runs['cap']}, {how}; 512 + 512)", lines,
                  lambda line: capped_punct_runs(line, **runs), n, args.repeats)
    table = load_word_model(SHIPPED_WORD_MODEL).table
    timed("word model: WordTable.tokens (512 + 512)", windows, table.tokens, n, args.repeats)
    tokens = [table.tokens(w) for w in windows]
    vectors = token_vectors()
    timed("word model: _mean_vectors", tokens, lambda t: _mean_vectors(t[0], t[1], vectors), n, args.repeats)


if __name__ == "__main__":
    main()

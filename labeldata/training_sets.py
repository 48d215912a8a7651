"""Training examples for the shipped label models, built from the labelled sources.

``domain_examples`` turns source tables into ``(labels, texts)`` for the domain classifier:
every source contributes at most ``per_source`` documents (so one large source cannot define its
domain), each document gives up to ``windows_per_doc`` training windows from different places
(the model predicts on a head + middle window; training on several windows teaches it the domain
rather than how files of one source open), and smaller domains are repeated up to the largest one
so fastText's softmax does not learn the class sizes.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from labeldata.source import every_kth

WINDOW_CHARS = 1024  # the labeller's window is 512 + 512 bytes; a training window is about as long


def document_windows(text: str, count: int, size: int = WINDOW_CHARS) -> list[str]:
    """``count`` windows of ``size`` characters spread evenly over ``text`` (the whole text if short)."""
    if len(text) <= size or count <= 1:
        return [text[: 2 * size]]
    starts = np.linspace(0, len(text) - size, count).astype(int)
    return [text[s:s + size] for s in dict.fromkeys(starts.tolist())]


def domain_examples(table: pa.Table, exclude: set[str] = frozenset(), per_source: int = 400,
                    windows_per_doc: int = 3, label_column: str = "domain") -> tuple[list[str], list[str]]:
    """``(labels, texts)`` from ``table`` (``registry.corpus_table``), without the sources in ``exclude``."""
    by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
    sources = table.column("source").to_pylist()
    labels = table.column(label_column).to_pylist()
    texts = table.column("text").to_pylist()
    for s, lab, text in zip(sources, labels, texts):
        if s not in exclude and lab:
            by_source[s].append((lab, text))
    per_label: dict[str, list[str]] = defaultdict(list)
    for s in sorted(by_source):
        for lab, text in every_kth(by_source[s], per_source):
            per_label[lab].extend(document_windows(text, windows_per_doc))
    if not per_label:
        return [], []
    largest = max(len(v) for v in per_label.values())
    out_labels: list[str] = []
    out_texts: list[str] = []
    for lab in sorted(per_label):
        items = per_label[lab]
        repeats = max(1, min(4, round(largest / len(items))))
        out_labels += [lab] * (len(items) * repeats)
        out_texts += items * repeats
    return out_labels, out_texts


def _domain_train_config():
    from midtrain.curation.labels.training import TrainConfig

    # holdout=0: the evaluation is by source (benchmarks/bench_labels.py), not by example.
    return TrainConfig(epochs=10, lr=0.3, dim=32, word_ngrams=2, holdout=0.0, quantize=False)


DOMAIN_TRAIN_CONFIG = _domain_train_config()

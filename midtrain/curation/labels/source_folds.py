"""Leave-one-source-out scores of a classifier trained on your own labelled sources.

Why: a random held-out split of the training examples shares its sources with training, so it says how
well a model knows the sources it saw, not how it labels text from a new one. midtrain's own domain
classifier once scored 0.914 on data it had been tuned on and about 0.38 on sources it had never seen (issue 14).
The honest figure leaves whole sources out: for each fold of sources, a model is trained with the same recipe on
every other source and labels the fold's examples, so every example is labelled by a model that never saw its
source. ``midtrain train-classifier --by-source`` prints it beside the usual split.

- ``source_folds`` deals the sources into folds: one per source by default (leave one source out), or
  ``folds`` groups when there are too many sources to train a model for each. The deal is stratified by
  each source's label, so every fold spans the labels, and it is a function of the source names and the
  seed alone.
- ``score_by_source`` trains the fold models (each in a fresh process, as ``train_classifier`` does, so
  the report is the same on every run) and reports per source its recall (the share of its examples given
  its own label), the pooled per-label scores and confusion matrix, the sources under ``min_recall``, and
  a 95% bootstrap interval of macro-F1 with sources redrawn within their label (how far the figure could
  move on another set of sources like these).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from midtrain.curation.labels.evaluation import bootstrap_interval, classification_report, format_report
from midtrain.curation.labels.models import FastTextClassifier
from midtrain.curation.labels.rare_words import model_lines
from midtrain.curation.labels.training import TrainConfig, example_lines, train_classifier
from midtrain.errors import ConfigError

DEFAULT_MIN_RECALL = 0.7
"""A source whose examples are given their own label less often than this is listed (issue 14's bar)."""


def source_labels(labels: Sequence[str], sources: Sequence[str]) -> dict[str, str]:
    """Each source's label: the most common label of its examples (ties: the first in sorted order)."""
    counts: dict[str, Counter] = {}
    for label, source in zip(labels, sources):
        counts.setdefault(source, Counter())[label] += 1
    return {s: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for s, c in sorted(counts.items())}


def source_folds(source_label: dict[str, str], folds: int = 0, seed: int = 0) -> list[list[str]]:
    """The sources dealt into folds: ``folds`` of them (0, or at least the number of sources: one per source).

    Sources are taken label by label (labels sorted), within a label in the order of a seeded hash of their
    names, and dealt to the folds in turn, continuing from label to label: fold sizes differ by at most one
    and each fold holds sources of as many labels as it can. Each fold's sources are sorted.
    """
    if folds < 0:
        raise ConfigError(f"source folds: expected 0 (one per source) or a number of folds, got {folds}")
    names = sorted(source_label)
    if not folds or folds >= len(names):
        return [[name] for name in names]
    dealt: list[list[str]] = [[] for _ in range(folds)]
    turn = 0
    for label in sorted(set(source_label.values())):
        members = [s for s in names if source_label[s] == label]
        for name in sorted(members, key=lambda s: (xxhash.xxh64_intdigest(s.encode(), seed=seed), s)):
            dealt[turn % folds].append(name)
            turn += 1
    return [sorted(fold) for fold in dealt]


def score_by_source(labels: Sequence[str], texts: Sequence[str], sources: Sequence[str | None],
                    config: TrainConfig = TrainConfig(), folds: int = 0, min_recall: float = DEFAULT_MIN_RECALL,
                    workers: int = 1) -> dict[str, Any]:
    """Every example labelled by a model trained, with ``config``, on the sources outside its fold; JSON-able.

    ``sources``: each example's source (``read_sourced_examples``); every example needs one. ``folds``: as
    ``source_folds`` (0: one model per source). ``workers``: fold models trained at once (each in its own
    process); the report does not depend on it. A fold whose other sources hold a single label cannot be
    trained, and is refused with a ``ConfigError`` naming it.
    """
    if not len(labels) == len(texts) == len(sources):
        raise ConfigError(f"score_by_source: {len(labels)} labels, {len(texts)} texts and {len(sources)} sources; "
                          "expected one of each per example")
    missing = [i for i, s in enumerate(sources) if not isinstance(s, str) or not s]
    if missing:
        raise ConfigError(f"a leave-one-source-out score needs every example's source: {len(missing)} of "
                          f"{len(sources)} have none (the first is example {missing[0] + 1}); give JSONL records "
                          "a \"source\" string, or put a folder's files in LABEL/SOURCE/ sub-folders")
    if not 0.0 <= min_recall <= 1.0:
        raise ConfigError(f"min_recall={min_recall}: expected a share in [0, 1]")
    if workers < 1:
        raise ConfigError(f"workers={workers}: expected 1 or more")
    by_label = source_labels(labels, sources)
    if len(by_label) < 2:
        raise ConfigError(f"a leave-one-source-out score needs at least two sources, got {sorted(by_label)}")
    plan = source_folds(by_label, folds, config.seed)
    source_arr = np.asarray(sources, dtype=object)
    fit_config = replace(config, holdout=0.0)  # every example of the other sources trains the fold's model

    def run(fold: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The fold's example indices and their labels from a model trained on every other source."""
        out = np.isin(source_arr, fold)
        train_idx, test_idx = np.flatnonzero(~out), np.flatnonzero(out)
        if len({labels[i] for i in train_idx}) < 2:
            raise ConfigError(f"leaving out {fold} leaves examples of one label only "
                              f"({sorted({labels[i] for i in train_idx})}): add sources, or use fewer --source-folds")
        with tempfile.TemporaryDirectory(prefix="midtrain-fold-") as tmp:
            model = Path(tmp) / "fold.bin"
            train_classifier([labels[i] for i in train_idx], [texts[i] for i in train_idx], model, fit_config,
                             groups=[sources[i] for i in train_idx])
            classifier = FastTextClassifier(model)
            lines = model_lines(classifier, example_lines([texts[i] for i in test_idx], config))
            return test_idx, classifier.predict(lines).labels

    predicted = np.empty(len(labels), dtype=object)
    with ThreadPoolExecutor(workers) as pool:
        for test_idx, pred in pool.map(run, plan):
            predicted[test_idx] = pred
    truth = np.asarray(labels, dtype=object)
    per_source = {}
    for name in sorted(by_label):
        rows = source_arr == name
        per_source[name] = {"label": by_label[name], "documents": int(rows.sum()),
                            "recall": round(float((predicted[rows] == truth[rows]).mean()), 4),
                            "predicted": dict(sorted(Counter(predicted[rows].tolist()).items()))}
    report = classification_report(truth.tolist(), predicted.tolist(), labels=sorted(set(labels)))
    return {
        "folds": plan,
        "per_source": per_source,
        "pooled": report,
        "min_recall": min_recall,
        "sources_under": [s for s, row in per_source.items() if row["recall"] < min_recall],
        "macro_f1_interval": bootstrap_interval(truth.tolist(), predicted.tolist(), source_arr.tolist()),
    }


def format_by_source(result: dict[str, Any]) -> str:
    """``score_by_source``'s result as aligned text: one row per source, then the pooled scores."""
    width = max([6, *map(len, result["per_source"])])
    lines = [f"leave-one-source-out ({len(result['folds'])} folds over {len(result['per_source'])} sources)",
             f"{'source':<{width}} {'label':<12} {'docs':>6} {'recall':>7}  predicted as"]
    for name, row in result["per_source"].items():
        flag = f"  <{result['min_recall']:.2f}" if name in result["sources_under"] else ""
        lines.append(f"{name:<{width}} {row['label']:<12} {row['documents']:>6} {row['recall']:>7.3f}  "
                     f"{row['predicted']}{flag}")
    lines.append(format_report(result["pooled"], "pooled over every left-out source"))
    ci = result["macro_f1_interval"]
    lines.append(f"macro-F1 95% interval, sources redrawn within their label: [{ci['low']:.3f}, {ci['high']:.3f}]")
    lines.append(f"sources with recall < {result['min_recall']:.2f}: {len(result['sources_under'])} "
                 f"{result['sources_under']}")
    return "\n".join(lines)

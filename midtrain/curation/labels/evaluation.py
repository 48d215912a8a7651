"""Classification scores: per-label precision, recall and F1, macro-F1 and a confusion matrix.

Used by ``midtrain train-classifier`` on its held-out split and by ``benchmarks/bench_labels.py``
on a corpus from other sources. Counting is one ``np.add.at`` over label indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_report(truth: Sequence[str], predicted: Sequence[str],
                          labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Scores of ``predicted`` against ``truth`` (same length), JSON-able.

    ``labels`` fixes the row/column order of the confusion matrix (default: every label seen,
    sorted). ``confusion[i][j]`` counts documents of true label ``labels[i]`` predicted as
    ``labels[j]``. Macro-F1 averages over the labels that occur in ``truth``.
    """
    truth = np.asarray(truth, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    if truth.shape != predicted.shape:
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    names = list(labels) if labels is not None else sorted(set(truth.tolist()) | set(predicted.tolist()))
    index = {name: i for i, name in enumerate(names)}
    extra = sorted((set(truth.tolist()) | set(predicted.tolist())) - set(index))
    for name in extra:  # a prediction outside the given labels still has to be counted somewhere
        index[name] = len(names)
        names.append(name)
    t = np.array([index[x] for x in truth.tolist()], dtype=np.int64)
    p = np.array([index[x] for x in predicted.tolist()], dtype=np.int64)
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (t, p), 1)
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    predicted_n = confusion.sum(axis=0)
    precision = np.divide(tp, predicted_n, out=np.zeros_like(tp), where=predicted_n > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    per_label = {name: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                        "f1": round(float(f1[i]), 4), "support": int(support[i])}
                 for i, name in enumerate(names)}
    return {
        "labels": names,
        "per_label": per_label,
        "macro_f1": round(float(f1[present].mean()), 4) if present.any() else 0.0,
        "accuracy": round(float(tp.sum() / max(len(t), 1)), 4),
        "documents": int(len(t)),
        "confusion": confusion.tolist(),
    }


def format_report(report: dict[str, Any], title: str = "") -> str:
    """The report as aligned text: a per-label table, then the confusion matrix."""
    names = report["labels"]
    width = max([9, *map(len, names)])
    lines = [title] if title else []
    lines.append(f"{'label':<{width}} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for name in names:
        s = report["per_label"][name]
        lines.append(f"{name:<{width}} {s['precision']:>9.3f} {s['recall']:>7.3f} {s['f1']:>6.3f} {s['support']:>8}")
    lines.append(f"macro-F1 {report['macro_f1']:.3f}   accuracy {report['accuracy']:.3f}   "
                 f"({report['documents']} documents)")
    lines.append("confusion (rows: true, columns: predicted)")
    lines.append(" " * (width + 1) + " ".join(f"{n[:8]:>8}" for n in names))
    for name, row in zip(names, report["confusion"]):
        lines.append(f"{name:<{width}} " + " ".join(f"{c:>8}" for c in row))
    return "\n".join(lines)


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as Spearman's rho needs)."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    first = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks starts+1 .. ends
    out = np.empty(len(x))
    out[order] = avg[group]
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson's r of the tie-averaged ranks); NaN if either is constant."""
    ra, rb = ranks(a), ranks(b)
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])

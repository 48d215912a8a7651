"""Classification scores: per-label precision, recall and F1, macro-F1 and a confusion matrix, and their
bootstrap intervals.

Used by ``midtrain train-classifier`` on its held-out split and by ``benchmarks/bench_labels.py``
on a corpus from other sources. Counting is one ``np.add.at`` over label indices. ``bootstrap_interval`` and
``paired_difference`` redraw sources (or documents within them) to say how far a figure, or the gain between
two runs, could move by the luck of the sample.
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


def _metric(confusion: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` of each confusion matrix of a stack (rounds x labels x labels): macro-F1 over the labels
    with true documents, or accuracy."""
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(np.float64)
    total = confusion.sum(axis=(1, 2)).astype(np.float64)
    if metric == "accuracy":
        return np.divide(tp.sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
    support = confusion.sum(axis=2).astype(np.float64)
    predicted = confusion.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    return np.divide((f1 * present).sum(axis=1), present.sum(axis=1), out=np.zeros_like(total),
                     where=present.sum(axis=1) > 0)


def bootstrap_confusions(pairs: np.ndarray, groups: np.ndarray, strata: np.ndarray, cells: int, resample: str,
                         rounds: int, seed: int) -> np.ndarray:
    """Each round's confusion counts (``rounds x cells``) from each document's cell ``pairs`` (true x labels +
    predicted), seeded.

    ``resample="groups"``: whole groups (sources) are redrawn with replacement, each stratum (domain) keeping
    its number of groups, so a round is another set of sources like the one measured. ``"docs"``: documents are
    redrawn with replacement inside their group, so a round is another sample of the same sources.
    """
    rng = np.random.default_rng(seed)
    names, g = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(names), cells), dtype=np.float64)  # each group's confusion counts
    np.add.at(per_group, (g, pairs), 1.0)
    if resample == "groups":
        group_stratum = np.empty(len(names), dtype=object)
        group_stratum[g] = strata
        drawn = np.zeros((rounds, len(names)), dtype=np.float64)
        for stratum in sorted(set(group_stratum.tolist())):
            members = np.flatnonzero(group_stratum == stratum)
            picks = members[rng.integers(0, len(members), size=(rounds, len(members)))]
            np.add.at(drawn, (np.repeat(np.arange(rounds), len(members)), picks.ravel()), 1.0)
        return drawn @ per_group
    if resample != "docs":
        raise ValueError(f"resample={resample!r}: expected 'groups' or 'docs'")
    out = np.zeros((rounds, cells), dtype=np.float64)
    for k in range(len(names)):
        members = np.flatnonzero(g == k)
        onehot = np.zeros((len(members), cells), dtype=np.float64)
        onehot[np.arange(len(members)), pairs[members]] = 1.0
        out += rng.multinomial(len(members), np.full(len(members), 1.0 / len(members)), size=rounds) @ onehot
    return out


def _encoded(truth: Sequence[str], predicted: Sequence[str], groups: Sequence[str], names: list[str] | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(cell of each document, groups, each document's group's label, label names)`` for the bootstrap."""
    truth = np.asarray(truth, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    groups = np.asarray(groups, dtype=object)
    if not (truth.shape == predicted.shape == groups.shape):
        raise ValueError(f"{len(truth)} true labels, {len(predicted)} predictions and {len(groups)} groups")
    names = names or sorted(set(truth.tolist()) | set(predicted.tolist()))
    index = {name: i for i, name in enumerate(names)}
    pair = np.array([index[t] * len(names) + index[p] for t, p in zip(truth.tolist(), predicted.tolist())],
                    dtype=np.int64)
    _, first, g = np.unique(groups, return_index=True, return_inverse=True)
    return pair, groups, truth[first][g], names


def bootstrap_interval(truth: Sequence[str], predicted: Sequence[str], groups: Sequence[str],
                       metric: str = "macro_f1", resample: str = "groups", rounds: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict[str, Any]:
    """A percentile bootstrap interval of ``metric`` (``macro_f1`` or ``accuracy``), JSON-able.

    Why: a benchmark's figure moves when its sources do (stop 41 saw the code-language figure move by 0.008
    with a few security updates of the training text); the interval says how far a figure can move by the
    luck of which sources (``resample="groups"``) or documents (``"docs"``) were measured, so a target missed
    or met by less than that is read as such. Groups are stratified by their documents' true label (every
    document of a group is assumed to share it; the first one's is taken). Each round's confusion matrix is
    the draw counts times the groups' (or documents') confusion counts, so 1,000 rounds over 20,000 documents
    take well under a second.
    """
    _check(metric, level, rounds)
    pair, groups, strata, names = _encoded(truth, predicted, groups)
    values = _rounds(pair, groups, strata, len(names), metric, resample, rounds, seed)
    full = _metric(np.bincount(pair, minlength=len(names) ** 2).reshape(1, len(names), len(names)), metric)[0]
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"metric": metric, "value": round(float(full), 4), "low": round(float(lo), 4),
            "high": round(float(hi), 4), "level": level, "rounds": rounds, "resample": resample, "seed": seed,
            "groups": int(len(set(groups.tolist())))}


def paired_difference(truth: Sequence[str], before: Sequence[str], after: Sequence[str], groups: Sequence[str],
                      metric: str = "macro_f1", resample: str = "groups", rounds: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict[str, Any]:
    """``metric(after) - metric(before)`` on the same documents, with a paired percentile bootstrap interval:
    both predictions are scored on the same draws each round, so what the two runs share (which sources were
    drawn) cancels, and an experiment's gain is compared with its own noise rather than with the spread of
    either figure. JSON-able."""
    _check(metric, level, rounds)
    names = sorted({*np.asarray(truth, dtype=object).tolist(), *np.asarray(before, dtype=object).tolist(),
                    *np.asarray(after, dtype=object).tolist()})
    pair_a, groups_a, strata, _ = _encoded(truth, before, groups, names)
    pair_b, _, _, _ = _encoded(truth, after, groups, names)
    diffs = (_rounds(pair_b, groups_a, strata, len(names), metric, resample, rounds, seed)
             - _rounds(pair_a, groups_a, strata, len(names), metric, resample, rounds, seed))
    cells = len(names) ** 2
    full = [_metric(np.bincount(p, minlength=cells).reshape(1, len(names), len(names)), metric)[0]
            for p in (pair_a, pair_b)]
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"metric": metric, "before": round(float(full[0]), 4), "after": round(float(full[1]), 4),
            "difference": round(float(full[1] - full[0]), 4), "low": round(float(lo), 4),
            "high": round(float(hi), 4), "share_above_zero": round(float((diffs > 0).mean()), 4), "level": level,
            "rounds": rounds, "resample": resample, "seed": seed}


def _check(metric: str, level: float, rounds: int) -> None:
    if metric not in ("macro_f1", "accuracy"):
        raise ValueError(f"metric={metric!r}: expected 'macro_f1' or 'accuracy'")
    if not 0 < level < 1 or rounds < 1:
        raise ValueError(f"level={level}, rounds={rounds}: expected 0 < level < 1 and at least one round")


def _rounds(pair: np.ndarray, groups: np.ndarray, strata: np.ndarray, labels: int, metric: str, resample: str,
            rounds: int, seed: int) -> np.ndarray:
    """``metric`` in each bootstrap round (the draws depend on ``groups``, ``strata`` and ``seed`` only)."""
    confusion = bootstrap_confusions(pair, groups, strata, labels ** 2, resample, rounds, seed)
    return _metric(confusion.reshape(rounds, labels, labels), metric)

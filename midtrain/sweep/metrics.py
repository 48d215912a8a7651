"""How well predicted losses rank and match measured ones (numpy only; the tests check them against scipy).

- :func:`spearman`: Pearson correlation of the ranks, ties given their average rank (scipy's ``spearmanr``);
- :func:`kendall`: Kendall's τ-b, which corrects for ties (scipy's ``kendalltau`` default);
- :func:`relative_errors`: ``|predicted − measured| / |measured|`` per run;
- :func:`pairwise_accuracy`: the share of pairs of runs the prediction orders as measured (DataDecide's
  "decision accuracy", arXiv 2504.11393); pairs measured equal are left out;
- :func:`regret`: what choosing by prediction costs: the measured loss of the predicted-best run minus
  the best measured loss.
"""

from __future__ import annotations

import math

import numpy as np


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing the mean of the ranks they span."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def spearman(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Spearman's ρ (NaN with fewer than 2 runs or a constant side)."""
    return _pearson(average_ranks(predicted), average_ranks(measured))


def kendall(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Kendall's τ-b: ``(concordant − discordant) / sqrt((n0 − ties_p)(n0 − ties_m))``, O(n²)."""
    p, m = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    n = len(p)
    if n < 2:
        return math.nan
    i, j = np.triu_indices(n, k=1)
    sp, sm = np.sign(p[i] - p[j]), np.sign(m[i] - m[j])
    s = float(np.sum(sp * sm))
    denominator = math.sqrt(float(np.count_nonzero(sp)) * float(np.count_nonzero(sm)))
    return s / denominator if denominator > 0 else math.nan


def relative_errors(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    p, m = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    return np.abs(p - m) / np.maximum(np.abs(m), 1e-12)


def pairwise_accuracy(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Share of pairs (measured unequal) whose predicted order matches the measured order (ties predicted: ½)."""
    p, m = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    i, j = np.triu_indices(len(p), k=1)
    sm = np.sign(m[i] - m[j])
    keep = sm != 0
    if not keep.any():
        return math.nan
    sp = np.sign(p[i] - p[j])[keep]
    return float(np.mean(np.where(sp == 0, 0.5, (sp == sm[keep]).astype(np.float64))))


def regret(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Measured loss of the run the prediction ranks best, minus the best measured loss (≥ 0)."""
    p, m = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    if len(p) == 0:
        return math.nan
    return float(m[int(np.argmin(p))] - m.min())


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator > 0 else math.nan

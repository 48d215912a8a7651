"""A stacked domain combiner, measured leave-one-source-out (issue 14; tried, not shipped).

    python benchmarks/bench_labels.py --parts loso --save-probs loso.npz     # ~15 min on 2 cores
    python benchmarks/bench_domain_stack.py loso.npz [--l2 0.1 1 10]

Input: every training document's class probabilities from the leave-one-source-out model that never
saw its source. The combiner is a multinomial logistic regression over the log probabilities and the
domain labeller's seven shape signals (LaTeX, digits, math symbols and questions per KB, code-shaped
and step lines, mean line length), each domain and each source in it weighted alike. For every
source S it is fitted on the other sources' rows and scores S's rows. (The other sources' rows came
from models that did see S, a second-order leak that favours the combiner.) Printed: macro-F1 and the
sources under 0.70 recall, for the fastText argmax and for the combiner.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_labels import topical_sources  # noqa: E402
from scripts.labeldata import registry  # noqa: E402
from midtrain.curation.labels.domain import shape_signals  # noqa: E402
from midtrain.curation.labels.evaluation import classification_report  # noqa: E402
from midtrain.curation.labels.text_windows import text_windows  # noqa: E402


def features(probs: np.ndarray, sig: dict[str, np.ndarray]) -> np.ndarray:
    logs = [np.log1p(sig[k]) for k in ("latex_per_kb", "digits_per_kb", "math_symbols_per_kb", "questions_per_kb",
                                        "mean_line_bytes")]
    return np.column_stack([np.log(probs + 1e-3), *logs, sig["code_line_fraction"], sig["step_lines_fraction"]])


def balanced_weights(sources: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    w = np.zeros(len(y))
    for c in range(classes):
        names = sorted(set(sources[y == c].tolist()))
        for name in names:
            rows = sources == name
            w[rows] = 1.0 / rows.sum() / len(names)
    return w / w.sum() * len(y)


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, classes: int, l2: float):
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.column_stack([(x - mu) / sd, np.ones(len(x))])
    onehot = np.eye(classes)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta.reshape(z.shape[1], classes)
        logits = z @ weights
        logits -= logits.max(1, keepdims=True)
        lse = np.log(np.exp(logits).sum(1))
        p = np.exp(logits - lse[:, None])
        grad = z.T @ ((p - onehot) * w[:, None])
        grad[:-1] += 2 * l2 * weights[:-1]
        value = -(w * ((logits * onehot).sum(1) - lse)).sum() + l2 * (weights[:-1] ** 2).sum()
        return value, grad.ravel()

    theta = minimize(loss, np.zeros(z.shape[1] * classes), jac=True, method="L-BFGS-B").x
    return mu, sd, theta.reshape(z.shape[1], classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("probs", type=Path, help="bench_labels.py --save-probs output")
    parser.add_argument("--l2", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--no-shape", action="store_true", help="the log probabilities alone")
    args = parser.parse_args()
    saved = np.load(args.probs)
    train, heldout = topical_sources()
    table = registry.corpus_table(train + heldout)  # the table whose rows ``index`` counts
    texts = table.column("text").take(pa.array(saved["index"]))
    sig = shape_signals(text_windows(pa.array(texts.to_pylist(), pa.large_string()), 512, 512))
    columns = [str(c) for c in saved["columns"]]
    probs, src = saved["probs"], saved["sources"]
    y = np.array([columns.index(t) for t in saved["truth"]])
    x = np.log(probs + 1e-3) if args.no_shape else features(probs, sig)

    def show(name: str, pred: np.ndarray) -> None:
        report = classification_report([columns[i] for i in y], [columns[i] for i in pred], labels=columns)
        low = sorted(s for s in set(src.tolist()) if (pred[src == s] == y[src == s]).mean() < 0.70)
        print(f"{name:<22} macro-F1 {report['macro_f1']:.3f}  per domain "
              f"{ {c: report['per_label'][c]['f1'] for c in columns} }  sources < 0.70: {len(low)} {low}")

    show("fastText argmax", probs.argmax(1))
    for l2 in args.l2:
        pred = np.zeros(len(y), int)
        for name in sorted(set(src.tolist())):
            rows = src == name
            mu, sd, weights = fit(x[~rows], y[~rows], balanced_weights(src[~rows], y[~rows], len(columns)),
                                  len(columns), l2)
            z = np.column_stack([(x[rows] - mu) / sd, np.ones(rows.sum())])
            pred[rows] = (z @ weights).argmax(1)
        show(f"stacked, l2 {l2:g}", pred)


if __name__ == "__main__":
    main()

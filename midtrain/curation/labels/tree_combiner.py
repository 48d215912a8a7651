"""A quality combiner made of regression trees: the code and math models' score from their signals (stop 60's E64).

The prose, code and math quality scores each come from a combiner that reads the same signals (grade
probabilities of the type's fastText model, structure, order, bracket and cohesion signals;
``quality.quality_features``). Until stop 60 all three were a ridge fit over every signal and every product of
two. For code and math a gradient-boosted tree ensemble ranks a training source it never saw much better
(leave-one-source-out Spearman against the graded labels: code 0.749 -> 0.836, math 0.606 -> 0.723; prose
gained only 0.007 and keeps its ridge). Trees can say "a cut end matters only when the brackets are also left
open" without a product for each pair.

The ensemble is fitted with LightGBM at training time (``scripts/train_default_classifiers.py``) and stored in
the type's ``.json`` card as plain arrays (``to_card``), so the labeller never imports LightGBM: a numba kernel
walks the trees (``TreeCombiner.predict``). It follows LightGBM's own prediction exactly (same comparisons, the
trees summed in order in float64), which a test checks against ``Booster.predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

NAN_AS_ZERO, NAN_RIGHT, NAN_LEFT = -1, 0, 1
"""Where a NaN signal goes at a split: compared as 0.0 (LightGBM's ``missing_type`` None), or always to one side
(``missing_type`` NaN, by ``default_left``)."""


@dataclass(frozen=True)
class TreeCombiner:
    """Trees stored node by node, all trees in one set of arrays. Node ``i`` splits on signal ``feature[i]``
    (``x <= threshold[i]`` goes to ``left[i]``, otherwise ``right[i]``) or, where ``feature[i]`` is -1, is a leaf
    worth ``value[i]``. ``roots`` holds each tree's first node; the prediction is the sum of one leaf per tree."""

    feature: np.ndarray  # int32
    threshold: np.ndarray  # float64
    left: np.ndarray  # int32
    right: np.ndarray  # int32
    value: np.ndarray  # float64
    nan_goes: np.ndarray  # int8: NAN_AS_ZERO, NAN_RIGHT or NAN_LEFT
    roots: np.ndarray  # int32
    signals: int
    """How many signals (columns) a row must have."""

    def predict(self, signals: np.ndarray) -> np.ndarray:
        """The raw score of each row of ``signals`` (``(n, self.signals)``), before clipping to 0-5."""
        x = np.ascontiguousarray(signals, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.signals:
            raise ValueError(f"a tree combiner of {self.signals} signals: got an array of shape {x.shape}")
        return _ensemble_sum(x, self.feature, self.threshold, self.left, self.right, self.value, self.nan_goes,
                             self.roots)


@numba.njit(cache=True)
def _ensemble_sum(x: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                  value: np.ndarray, nan_goes: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Per row, the sum in tree order of the leaf each tree reaches (LightGBM's ``NumericalDecision``)."""
    out = np.empty(x.shape[0], np.float64)
    for i in range(x.shape[0]):
        total = 0.0
        for r in range(roots.shape[0]):
            node = roots[r]
            while feature[node] >= 0:
                v = x[i, feature[node]]
                if np.isnan(v):
                    if nan_goes[node] == NAN_LEFT:
                        node = left[node]
                        continue
                    if nan_goes[node] == NAN_RIGHT:
                        node = right[node]
                        continue
                    v = 0.0
                node = left[node] if v <= threshold[node] else right[node]
            total += value[node]
        out[i] = total
    return out


def from_lightgbm(dump: dict[str, Any]) -> TreeCombiner:
    """The trees of a LightGBM regression model, from ``Booster.dump_model()``. Anything this module cannot walk
    exactly as LightGBM does (several classes, averaged trees, categorical splits, zero read as missing) is an
    error that says what."""
    if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
        raise ValueError("a tree combiner is one regression: got a model of several classes")
    if dump.get("average_output"):
        raise ValueError("a tree combiner sums its trees: got a model that averages them (a random forest)")
    nodes: dict[str, list] = {"feature": [], "threshold": [], "left": [], "right": [], "value": [], "nan_goes": []}

    def add(node: dict[str, Any]) -> int:
        at = len(nodes["feature"])
        for key in nodes:
            nodes[key].append(0)
        if "leaf_value" in node:
            nodes["feature"][at], nodes["value"][at], nodes["nan_goes"][at] = -1, float(node["leaf_value"]), 0
            return at
        if node.get("decision_type") != "<=":
            raise ValueError(f"a tree combiner splits numbers with '<=': got {node.get('decision_type')!r}")
        missing = node.get("missing_type", "None")
        if missing not in ("None", "NaN"):
            raise ValueError(f"a tree combiner cannot follow missing_type {missing!r} (train with zero_as_missing off)")
        nodes["feature"][at] = int(node["split_feature"])
        nodes["threshold"][at] = float(node["threshold"])
        nodes["nan_goes"][at] = NAN_AS_ZERO if missing == "None" else (NAN_LEFT if node["default_left"] else NAN_RIGHT)
        nodes["left"][at] = add(node["left_child"])
        nodes["right"][at] = add(node["right_child"])
        return at

    roots = []
    for tree in dump["tree_info"]:
        if tree.get("num_cat", 0):
            raise ValueError("a tree combiner has no categorical splits")
        roots.append(add(tree["tree_structure"]))
    return _combiner(nodes, roots, int(dump["max_feature_idx"]) + 1)


def _combiner(nodes: dict[str, list], roots: list[int], signals: int) -> TreeCombiner:
    return TreeCombiner(feature=np.asarray(nodes["feature"], np.int32),
                        threshold=np.asarray(nodes["threshold"], np.float64),
                        left=np.asarray(nodes["left"], np.int32), right=np.asarray(nodes["right"], np.int32),
                        value=np.asarray(nodes["value"], np.float64),
                        nan_goes=np.asarray(nodes["nan_goes"], np.int8),
                        roots=np.asarray(roots, np.int32), signals=signals)


CARD_KEYS = ("feature", "threshold", "left", "right", "value", "nan_goes")


def to_card(trees: TreeCombiner) -> dict[str, Any]:
    """``trees`` as JSON-ready lists (floats as Python writes them, which read back to the same bits)."""
    card: dict[str, Any] = {key: getattr(trees, key).tolist() for key in CARD_KEYS}
    card.update(roots=trees.roots.tolist(), signals=trees.signals)
    return card


def from_card(card: dict[str, Any]) -> TreeCombiner:
    """The inverse of :func:`to_card`; a card whose arrays disagree (lengths, a child or signal out of range, a
    node reached twice) is an error naming what is wrong, not a crash in the kernel."""
    missing = [key for key in (*CARD_KEYS, "roots", "signals") if key not in card]
    if missing:
        raise ValueError(f"a tree combiner card lacks {missing}")
    trees = _combiner({key: card[key] for key in CARD_KEYS}, card["roots"], int(card["signals"]))
    n = len(trees.feature)
    if any(len(getattr(trees, key)) != n for key in CARD_KEYS):
        raise ValueError(f"a tree combiner card's node arrays differ in length ({[len(card[k]) for k in CARD_KEYS]})")
    split = trees.feature >= 0
    if (trees.feature >= trees.signals).any():
        raise ValueError(f"a tree combiner card splits on a signal beyond its {trees.signals}")
    children = np.concatenate([trees.left[split], trees.right[split], trees.roots])
    if len(trees.roots) == 0 or ((children < 0) | (children >= n)).any() or len(np.unique(children)) != n:
        raise ValueError("a tree combiner card's nodes do not form trees (each node reached once from a root)")
    return trees

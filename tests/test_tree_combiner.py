"""The quality tree combiner (code and math since stop 60): its walk equals LightGBM's own prediction and a slow
reference, its card round-trips and rejects broken arrays, training is deterministic, and the shipped code and
math scores come from it."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.quality import (COHESION_SIGNALS, combiner, document_brackets, document_order_cohesion,
                                              document_structure, grade_probabilities, model_name, quality_features,
                                              reads_cohesion, score_quality, text_window)
from midtrain.curation.labels.text_windows import windows_and_lines
from midtrain.curation.labels.tree_combiner import (NAN_AS_ZERO, NAN_LEFT, NAN_RIGHT, TreeCombiner, from_card,
                                                    from_lightgbm, to_card)

lightgbm = pytest.importorskip("lightgbm")


def reference_walk(trees: TreeCombiner, row: np.ndarray) -> float:
    """One row, one tree at a time, in plain Python: the slow twin of the numba kernel."""
    total = 0.0
    for root in trees.roots.tolist():
        node = root
        while trees.feature[node] >= 0:
            v = float(row[trees.feature[node]])
            goes = int(trees.nan_goes[node])
            if np.isnan(v) and goes != NAN_AS_ZERO:
                node = int(trees.left[node] if goes == NAN_LEFT else trees.right[node])
                continue
            v = 0.0 if np.isnan(v) else v
            node = int(trees.left[node] if v <= trees.threshold[node] else trees.right[node])
        total += float(trees.value[node])
    return total


def fitted_booster(rows: int = 800, rounds: int = 30):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 5))
    x[rng.random(rows) < 0.1, 0] = np.nan  # a signal missing in training: its splits send NaN to one side
    y = np.nan_to_num(x[:, 0]) * 2 + x[:, 1] ** 2 + rng.normal(size=rows) * 0.1
    params = {"objective": "regression", "num_leaves": 7, "min_data_in_leaf": 5, "verbose": -1,
              "deterministic": True, "force_row_wise": True, "num_threads": 1, "seed": 0}
    return lightgbm.train(params, lightgbm.Dataset(x, y, params={"verbose": -1}), num_boost_round=rounds)


def test_the_walk_equals_lightgbm_predict_bit_for_bit():
    booster = fitted_booster()
    trees = from_lightgbm(booster.dump_model())
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 5)) * 2
    x[rng.random(500) < 0.2, 0] = np.nan  # missing where training had NaN
    x[rng.random(500) < 0.2, 1] = np.nan  # missing where it had none: LightGBM reads it as 0.0
    assert {NAN_AS_ZERO, NAN_LEFT} <= set(trees.nan_goes.tolist())
    assert np.array_equal(trees.predict(x), booster.predict(x))


def test_a_card_round_trips_through_json():
    trees = from_lightgbm(fitted_booster().dump_model())
    again = from_card(json.loads(json.dumps(to_card(trees))))
    x = np.random.default_rng(2).normal(size=(200, 5))
    assert np.array_equal(again.predict(x), trees.predict(x))
    for key in ("feature", "threshold", "left", "right", "value", "nan_goes", "roots"):
        assert np.array_equal(getattr(again, key), getattr(trees, key)), key


def test_broken_cards_and_models_are_named_errors():
    card = to_card(from_lightgbm(fitted_booster(rounds=3).dump_model()))
    with pytest.raises(ValueError, match="lacks"):
        from_card({k: v for k, v in card.items() if k != "roots"})
    with pytest.raises(ValueError, match="differ in length"):
        from_card({**card, "value": card["value"][:-1]})
    split = next(i for i, f in enumerate(card["feature"]) if f >= 0)
    with pytest.raises(ValueError, match="do not form trees"):
        from_card({**card, "left": [split if i == split else c for i, c in enumerate(card["left"])]})
    with pytest.raises(ValueError, match="beyond"):
        from_card({**card, "signals": 1})
    with pytest.raises(ValueError, match="shape"):
        from_card(card).predict(np.zeros((3, 4)))
    dump = fitted_booster(rounds=2).dump_model()
    with pytest.raises(ValueError, match="several classes"):
        from_lightgbm({**dump, "num_class": 3})
    with pytest.raises(ValueError, match="averages"):
        from_lightgbm({**dump, "average_output": True})


@st.composite
def random_trees(draw) -> TreeCombiner:
    """A few random trees over 3 signals, node by node (leaves at depth 4 at most)."""
    nodes: dict[str, list] = {k: [] for k in ("feature", "threshold", "left", "right", "value", "nan_goes")}

    def add(depth: int) -> int:
        at = len(nodes["feature"])
        for key in nodes:
            nodes[key].append(0)
        if depth == 4 or draw(st.booleans()):
            nodes["feature"][at] = -1
            nodes["value"][at] = draw(st.floats(-3, 3, allow_nan=False))
            return at
        nodes["feature"][at] = draw(st.integers(0, 2))
        nodes["threshold"][at] = draw(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0]))
        nodes["nan_goes"][at] = draw(st.sampled_from([NAN_AS_ZERO, NAN_LEFT, NAN_RIGHT]))
        nodes["left"][at] = add(depth + 1)
        nodes["right"][at] = add(depth + 1)
        return at

    roots = [add(0) for _ in range(draw(st.integers(1, 4)))]
    return from_card({**nodes, "roots": roots, "signals": 3})


@settings(max_examples=60, deadline=None)
@given(trees=random_trees(), rows=st.lists(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0, np.nan]),
                                                    min_size=3, max_size=3), min_size=1, max_size=8))
def test_the_kernel_equals_the_slow_walk(trees, rows):
    x = np.array(rows, np.float64)
    assert trees.predict(x).tolist() == [reference_walk(trees, row) for row in x]


def test_training_the_trees_twice_gives_the_same_card():
    from scripts.train_default_classifiers import fit_trees

    rng = np.random.default_rng(3)
    signals = rng.random((600, COHESION_SIGNALS))
    grades = np.clip(np.round(signals[:, 0] * 5 + rng.normal(size=600) * 0.5), 0, 5).astype(int)
    assert to_card(fit_trees(grades, signals)) == to_card(fit_trees(grades, signals))


def test_the_shipped_code_and_math_scores_come_from_their_trees():
    """``score_quality`` of code and math documents is the clipped tree sum of their signals; prose keeps its ridge."""
    assert isinstance(combiner("quality", "code"), TreeCombiner) and isinstance(combiner("quality", "math"),
                                                                                TreeCombiner)
    assert not isinstance(combiner("quality", "prose"), TreeCombiner)
    texts = ["def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n" * 3,
             "int main(void) {\n  int x = 0;\n  for (;;) { x++; }\n",
             "\\begin{theorem} For every $n$, $n^2 \\ge 0$. \\end{theorem}\n\\begin{proof} Square. \\end{proof}\n",
             "Let $x = 2$. Then $x^2 = 4$, so the answer is 4."]
    domains = ["code", "code", "math", "math"]
    got = score_quality(texts, domains).column("quality_score").to_numpy()
    arr = pa.array(texts, pa.large_string())
    dup, clean = document_structure(arr)
    order, cohesion = document_order_cohesion(arr)
    brackets = document_brackets(arr)
    for qtype, rows in (("code", [0, 1]), ("math", [2, 3])):
        trees = combiner("quality", qtype)
        assert reads_cohesion(trees) and trees.signals == COHESION_SIGNALS
        _, lines = windows_and_lines(arr.take(pa.array(rows)), *text_window("quality", qtype))
        features = quality_features(grade_probabilities(model_name("quality", qtype), lines), dup[rows], clean[rows],
                                    tuple(o[rows] for o in order), tuple(b[rows] for b in brackets),
                                    tuple(c[rows] for c in cohesion))
        want = np.clip([reference_walk(trees, row) for row in features[:, :-1]], 0, 5).astype(np.float32)
        assert np.array_equal(got[rows], want), qtype


def test_a_card_with_trees_is_written_compactly_and_reads_back_equal():
    from scripts.train_default_classifiers import card_json

    report = {"combiner_trees": to_card(from_lightgbm(fitted_booster().dump_model())), "ridge_alpha": 1e-5,
              "config": {"head": 512}}
    text = card_json(report)
    assert json.loads(text) == report
    assert text.count("\n") < 20  # one line per tree array, not one per number
    assert json.loads(card_json({"combiner": [0.5, 1.0]})) == {"combiner": [0.5, 1.0]}


def test_left_out_scores_come_from_trees_that_never_saw_the_source():
    from scripts.train_default_classifiers import fit_trees, trees_left_out

    rng = np.random.default_rng(4)
    signals = rng.random((300, COHESION_SIGNALS))
    grades = np.clip(np.round(signals[:, 1] * 5), 0, 5).astype(int)
    groups = [f"s{i % 3}/doc{i}" for i in range(300)]
    got = trees_left_out(grades, signals, groups)
    for k in range(3):
        rows = np.array([i % 3 == k for i in range(300)])
        want = np.clip(fit_trees(grades[~rows], signals[~rows]).predict(signals[rows]), 0, 5)
        assert np.array_equal(got[rows], want)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=6),
       domain=st.sampled_from(["code", "math", "web", "reasoning"]))
def test_any_text_gets_a_finite_score_in_range_and_its_tier(texts, domain):
    """The tree path (code, math) and the ridge path (prose) on arbitrary text, empty and odd scripts included."""
    table = score_quality(texts, [domain] * len(texts))
    scores = table.column("quality_score").to_numpy()
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 5).all()
    tiers = table.column("quality_tier").to_numpy().astype(np.float64)
    assert (np.abs(tiers - scores) <= 0.5 + 1e-6).all()  # the rounding of the float64 score stored as float32

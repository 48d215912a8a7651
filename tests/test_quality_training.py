"""The quality training script's pieces: source folds, the threshold rule, the boundary cut."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts.labeldata.source import html_to_text
from scripts.labeldata.training_sets import head_at_boundary
from scripts.train_default_classifiers import (RIDGE_ALPHAS, THRESHOLDS, choose_alpha, choose_thresholds,
                                               fit_combiner, ridge_left_out, source_folds)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefghij"), st.integers(0, 3)), min_size=1, max_size=60),
       st.integers(1, 6))
def test_source_folds_keep_each_source_whole_and_are_deterministic(rows, folds):
    groups = [f"src-{s}/g{g}" for s, g in rows]
    fold = source_folds(groups, folds)
    assert ((fold >= 0) & (fold < folds)).all()
    for name in {g.split("/")[0] for g in groups}:
        assert len({f for g, f in zip(groups, fold.tolist()) if g.startswith(name + "/")}) == 1
    assert (source_folds(list(groups), folds) == fold).all()
    sources = len({g.split("/")[0] for g in groups})
    assert len(set(fold.tolist())) == min(sources, folds)  # dealt round robin: no fold left empty


def _scores(web: list[float], junk: list[float], reasoning: list[float]):
    scores = np.array(web + junk + reasoning)
    grades = np.array([5] * len(web) + [0] * len(junk) + [5] * len(reasoning))
    groups = [f"news/{i}" for i in range(len(web))] + [f"spam/{i}" for i in range(len(junk))] + \
             [f"puzzles/{i}" for i in range(len(reasoning))]
    return scores, grades, groups, {"news": "web", "spam": "spam", "puzzles": "reasoning"}


def test_thresholds_follow_the_written_rule():
    # web prose all 3.2, junk all 1.7: 1.75 is the lowest threshold meeting both targets.
    chosen = choose_thresholds(*_scores([3.2] * 20, [1.7] * 20, [1.6] * 19 + [0.5]))
    assert chosen["web"] == 1.75
    assert chosen["reasoning"] == 1.5  # 95% of reasoning is >= 1.5, 0% >= 1.75
    assert set(chosen["table"]) == {f"{t:g}" for t in THRESHOLDS}
    assert chosen["table"]["1.75"] == {"web_kept": 1.0, "junk_dropped": 1.0, "reasoning_kept": 0.0}
    assert chosen["table"]["1.5"]["junk_dropped"] == 0.0


def test_thresholds_fall_back_to_the_smallest_shortfall():
    # No threshold keeps 90% of prose and drops 85% of junk: prose 2.6-3.4, junk 2.4-3.1.
    web = list(np.linspace(2.6, 3.4, 20))
    junk = list(np.linspace(2.4, 3.1, 20))
    chosen = choose_thresholds(*_scores(web, junk, [4.0] * 5))
    table = chosen["table"]
    shortfall = {t: max(0.90 - r["web_kept"], 0.85 - r["junk_dropped"], 0.0) for t, r in table.items()}
    assert min(shortfall.values()) > 0
    assert shortfall[f"{chosen['web']:g}"] == min(shortfall.values())
    assert chosen["reasoning"] == 3.5


def test_good_scores_decide_the_keep_side_and_scores_the_junk_side():
    """With ``good_scores`` (E89: the good documents scored by combiners that never saw their source), the
    web and reasoning keep rates read them and the junk drop rate reads ``scores``."""
    scores, grades, groups, kinds = _scores([3.2] * 20, [1.7] * 20, [2.6] * 20)
    good = scores.copy()
    good[:20] = 2.1  # the web prose, left out, scores lower
    good[40:] = 2.2  # and so does the reasoning
    good[20:40] = 4.9  # a junk row of good_scores is never read
    chosen = choose_thresholds(scores, grades, groups, kinds, good)
    assert chosen["web"] == 1.75 and chosen["reasoning"] == 2.0
    assert chosen["table"]["2.25"] == {"web_kept": 0.0, "junk_dropped": 1.0, "reasoning_kept": 0.0}
    assert choose_thresholds(scores, grades, groups, kinds)["reasoning"] == 2.5  # the same scores for both
    assert choose_thresholds(scores, grades, groups, kinds, scores) == choose_thresholds(scores, grades, groups, kinds)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(RIDGE_ALPHAS))
def test_ridge_left_out_equals_a_fit_without_the_source(seed, alpha):
    """Each source's left-out scores equal a ridge fitted from scratch on the other sources alone (the
    constant unpenalised, the penalty per example), clipped to 0-5."""
    rng = np.random.default_rng(seed)
    sources, per = 5, 6
    grades = rng.integers(0, 6, sources * per)
    features = np.column_stack([rng.normal(grades / 2, 1.0), rng.normal(0, 1, (len(grades), 3)),
                                np.ones(len(grades))])
    groups = [f"s{i // per}/{i}" for i in range(len(grades))]
    left = ridge_left_out(grades, features, groups, (alpha,))[alpha]
    for s in range(sources):
        rows = np.array([g.startswith(f"s{s}/") for g in groups])
        x, y = features[~rows], grades[~rows].astype(np.float64)
        penalty = np.diag([alpha * len(y)] * (x.shape[1] - 1) + [0.0])
        weights = np.linalg.solve(x.T @ x + penalty + 1e-9 * np.eye(x.shape[1]), x.T @ y)
        assert np.allclose(left[rows], np.clip(features[rows] @ weights, 0, 5), atol=1e-6)


def test_head_at_boundary_ends_cleanly_when_it_can():
    text = "A first sentence. " * 300 + "word " * 2000
    cut = head_at_boundary(text, 8000)
    assert len(cut) <= 8000 and cut.endswith(".")
    assert head_at_boundary("short text", 8000) == "short text"
    lines = "no punctuation here\n" * 1000
    assert head_at_boundary(lines, 8000).endswith("here") and len(head_at_boundary(lines, 8000)) < 8000
    assert head_at_boundary("x" * 9000, 8000) == "x" * 8000


def test_ridge_is_chosen_by_left_out_sources():
    """Few examples per source and many noise features: the unpenalised fit chases the noise, and
    scoring each source with a combiner fitted without it prefers a stronger penalty."""
    rng = np.random.default_rng(0)
    sources, per, noise = 8, 4, 25
    grades = rng.integers(0, 6, sources * per)
    signal = grades / 5 + rng.normal(0, 0.5, len(grades))
    features = np.column_stack([signal, rng.normal(0, 1, (len(grades), noise)), np.ones(len(grades))])
    groups = [f"s{i // per}/{i}" for i in range(len(grades))]
    alpha, table = choose_alpha(grades, features, groups)
    assert set(table) == {f"{a:g}" for a in RIDGE_ALPHAS}
    assert alpha > RIDGE_ALPHAS[0] and table[f"{alpha:g}"] > table[f"{RIDGE_ALPHAS[0]:g}"] + 0.1
    assert choose_alpha(grades, features, groups) == (alpha, table)
    # The constant is not shrunk: a huge penalty leaves the mean grade.
    weights = fit_combiner(grades, features, 1e6)
    assert np.allclose(weights[:-1], 0, atol=1e-3) and abs(weights[-1] - grades.mean()) < 1e-2


def test_html_to_text_drops_navigation_scripts_and_tags():
    page = ('<html><head><style>p {color: red}</style><script>var x = "<b>";</script></head><body>'
            '<div class="navheader"><a href="a.html">Prev</a> Up</div>'
            '<div class="sect1"><p>Groups &amp; rings:&nbsp;<i>G</i> &lt; H.</p></div>'
            '<div class="toc">1.2 Contents</div></body></html>')
    text = html_to_text(page, ("navheader", "toc"))
    assert text == "Groups & rings:\xa0G < H."
    assert "Prev" in html_to_text(page)  # nothing dropped unless asked


def test_training_junk_is_built_from_training_prose_only():
    # seo-keyword-stuffing and markov-word-salad train the prose quality model; until stop 39 they were
    # built from the held-out SOTU addresses too. The held-out shuffled-words still reads every base source.
    from scripts.labeldata import junk_sources, registry

    training = junk_sources.base_sources(True)
    assert training and not set(training) & set(registry.HELDOUT)
    assert set(training) < set(junk_sources.base_sources(False))
    assert set(junk_sources.base_sources(False)) & set(registry.HELDOUT)
    sources = {s.name: s for s in junk_sources.SOURCES}
    assert {sources["seo-keyword-stuffing"].origin, sources["markov-word-salad"].origin} == \
        {"labeldata.prose_sources (5 training sources)"}
    assert len(training) == 5

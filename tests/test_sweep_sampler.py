"""The swarm sampler: mixtures on the simplex, inside the epoch caps (the planner agrees), floored,
deduplicated, with anchors and held-out runs, and the same plan from the same seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.errors import ConfigError
from midtrain.mixers import load_schedule, plan_budget
from midtrain.sweep.sampler import (describe_plan, draw_mixtures, fill_within, floor_weights, plan_sweep,
                                    prior_weights, round_to_units, run_epochs, training_schedule)
from helpers.sweep_corpora import make_sized_corpus

SIZES = {"code": 400_000, "math": 100_000, "web": 1_000_000}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep_corpora")
    train = make_sized_corpus(root / "train", SIZES)
    held = make_sized_corpus(root / "held", {d: 5_000 for d in SIZES}, seed=1)
    return train, held


@pytest.fixture(scope="module")
def spec(corpora):
    return plan_sweep(*corpora, runs=40, holdout=10, tokens=400_000, max_epochs=4.0, seed=3)


def _matrix(spec, runs=None):
    return np.array([[r.weights[d] for d in spec.domains] for r in (runs or spec.runs)])


def test_runs_by_role_and_names(spec):
    roles = [r.role for r in spec.runs]
    assert roles.count("fit") == 40 and roles.count("heldout") == 10
    names = [r.name for r in spec.runs if r.role == "anchor"]
    assert sorted(set(names)) == ["cap:code", "cap:math", "cap:web", "prior", "uniform"]
    assert all(names.count(n) == 3 for n in set(names))  # seeds_per_anchor
    assert sorted({r.seed for r in spec.runs if r.name == "prior"}) == [3, 4, 5]
    assert len({r.run_id for r in spec.runs}) == len(spec.runs)


def test_every_mixture_is_on_the_simplex_at_four_decimals(spec):
    W = _matrix(spec)
    assert (W >= 0).all()
    units = np.rint(W * 1e4)
    assert np.allclose(W * 1e4, units, atol=1e-6)
    assert (units.sum(axis=1) == 10_000).all()


def test_caps_hold_and_the_planner_agrees(spec):
    """Closed-form epochs (base on the prior + the anneal) equal plan_budget's, and none passes the cap."""
    for run in spec.runs:
        schedule = load_schedule(training_schedule(spec, run.weights), domain_tokens=spec.domain_tokens)
        plan = plan_budget(schedule, spec.domain_tokens, max_epochs=spec.max_epochs)
        assert plan.ok, (run.name, plan.violations)
        ours = run_epochs(spec, run.weights)
        assert {s.domain: s.epochs for s in plan.summary} == pytest.approx(ours, rel=1e-9)
    # the smallest domain is the binding one: some draw takes it to within 1% of its cap
    assert max(run_epochs(spec, r.weights)["math"] for r in spec.runs) == pytest.approx(4.0, rel=1e-2)


def test_cap_anchor_is_the_largest_feasible_share(spec):
    cap_math = next(r for r in spec.runs if r.name == "cap:math")
    headroom = (4.0 * SIZES["math"] - spec.base_tokens * spec.prior["math"]) / spec.tokens
    assert cap_math.weights["math"] == math.floor(headroom * 1e4) / 1e4
    rest = cap_math.weights["code"] / cap_math.weights["web"]
    assert rest == pytest.approx(spec.prior["code"] / spec.prior["web"], rel=1e-3)  # rest in prior proportions
    assert next(r for r in spec.runs if r.name == "cap:web").weights["web"] == 1.0  # web's cap allows a whole run


def test_fit_and_heldout_weights_are_floored(spec):
    W = _matrix(spec, [r for r in spec.runs if r.role in ("fit", "heldout")])
    assert ((W == 0) | (W >= 0.01 - 1e-4)).all()
    assert (W == 0).any()  # small concentrations give sparse mixtures


def test_prior_is_token_shares_to_a_power(spec):
    shares = np.array([SIZES[d] for d in spec.domains], dtype=float)
    expected = np.sqrt(shares) / np.sqrt(shares).sum()
    assert np.allclose([spec.prior[d] for d in spec.domains], expected)
    assert np.allclose(prior_weights(shares, 0.0), 1 / 3)


def test_same_seed_same_plan_other_seed_other_plan(corpora, spec):
    again = plan_sweep(*corpora, runs=40, holdout=10, tokens=400_000, max_epochs=4.0, seed=3)
    assert again == spec
    other = plan_sweep(*corpora, runs=40, holdout=10, tokens=400_000, max_epochs=4.0, seed=4)
    fit_ids = {r.run_id for r in spec.runs if r.role == "fit"}
    assert fit_ids.isdisjoint(r.run_id for r in other.runs if r.role == "fit")


def test_pretrain_mode_has_no_base(corpora):
    spec = plan_sweep(*corpora, runs=8, holdout=2, tokens=400_000, mode="pretrain", seeds_per_anchor=1)
    assert spec.base_tokens == 0
    assert max(run_epochs(spec, r.weights)["math"] for r in spec.runs) <= 4.0
    with pytest.raises(ConfigError, match="--base-tokens: only anneal mode"):
        plan_sweep(*corpora, runs=8, holdout=2, tokens=400_000, mode="pretrain", base_tokens=10)


def test_no_mixture_fits_names_the_binding_caps(corpora):
    with pytest.raises(ConfigError) as err:
        plan_sweep(*corpora, runs=8, holdout=2, tokens=10_000_000, max_epochs=1.0, mode="pretrain")
    text = str(err.value)
    assert "no mixture fits the epoch caps" in text
    assert "math <= 0.0100" in text and "web <= 0.1000" in text and "code <= 0.0400" in text


def test_a_base_over_the_cap_is_named(corpora):
    with pytest.raises(ConfigError, match=r"--base-tokens: the base proxy alone exceeds --max-epochs for math "
                                          r"\(324,555 drawn by the base > 2 x 100,000 unique\); lower"):
        plan_sweep(*corpora, runs=8, holdout=2, tokens=100_000, base_tokens=2_000_000, max_epochs=2.0)


def test_heldout_corpus_must_have_every_domain(corpora, tmp_path):
    held = make_sized_corpus(tmp_path / "held", {"code": 5_000, "web": 5_000})
    with pytest.raises(ConfigError, match="--heldout .* has no tokens of domain math"):
        plan_sweep(corpora[0], held, runs=8, holdout=2, tokens=400_000)


def test_too_many_runs_for_a_tight_cap_is_named(corpora):
    # the caps allow 1.02 of a run in all: only a thin slice of mixtures fits, so rejection runs dry
    with pytest.raises(ConfigError, match=r"only \d+ distinct mixtures of 5000 fit the epoch caps.*binding caps"):
        plan_sweep(*corpora, runs=5000, holdout=0, tokens=1_470_000, max_epochs=1.0, mode="pretrain",
                   seeds_per_anchor=1)


def test_dry_run_summary(spec):
    text = describe_plan(spec)
    assert "runs by role: fit 40, heldout 10, anchor 15" in text
    assert "max epochs per domain (cap 4): code" in text
    assert "estimated GPU time:" in text and "2M tok/s" in text
    assert "26M in swarm runs (400K each) + 800K for the base proxy" in text


# --- properties of the building blocks ------------------------------------------------------------
simplex = st.integers(2, 7).flatmap(lambda n: st.lists(st.floats(0.001, 1.0), min_size=n, max_size=n))


@settings(max_examples=200, deadline=None)
@given(simplex, st.floats(0.0, 0.2), st.data())
def test_floor_then_round_stays_on_the_simplex_inside_caps(raw, min_weight, data):
    w = np.array(raw) / sum(raw)
    upper = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=len(w), max_size=len(w))))
    floored = floor_weights(w, min_weight)
    assert math.isclose(floored.sum(), 1.0) and ((floored == 0) | (floored >= min_weight)).all()
    units = round_to_units(floored, upper)
    if units is not None:
        assert units.sum() == 10_000
        assert (units / 1e4 <= upper + 1e-12).all()
        assert ((units == 0) == (floored == 0)).all() or (units[floored == 0] == 0).all()
        assert np.abs(units / 1e4 - floored).max() < 2e-4 * len(w)
    elif (floored <= upper).all() and upper.sum() > 1 + 1e-3 * len(w):
        # rounding may only fail when the caps leave no room at 4 decimals for the present domains
        assert np.floor(upper[floored > 0] * 1e4).sum() < 10_000


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**31 - 1), st.floats(0.3, 1.0))
def test_draws_are_distinct_and_inside_the_caps(n, seed, slack):
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.ones(n))
    upper = np.minimum(fill_within(prior, np.ones(n)) + slack * rng.random(n), 1.0)
    draws = draw_mixtures(rng, prior, upper, 20, min_weight=0.01, exclude=set(), domains=tuple("abcdef"[:n]))
    W = np.array(draws)
    assert len({tuple(np.rint(w * 1e4)) for w in W}) == 20
    assert (W <= upper + 1e-12).all() and np.allclose(W.sum(axis=1), 1.0)

"""The optimiser finds a convex toy's analytic optimum, honours constraints and caps, says clearly when
nothing is feasible, and emits a schedule that `midtrain plan` takes as it is."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from midtrain.errors import ConfigError
from midtrain.mixers import load_schedule, plan_budget
from midtrain.sweep.fit import SweepFit, TargetFit
from midtrain.sweep.laws import DMLLaw
from midtrain.sweep.objective import parse_constraint, parse_objective
from midtrain.sweep.optimize import emit_schedule, optimize_mix, read_optimized
from midtrain.sweep.spec import RunResult, SweepSpec, append_result, make_run, write_sweep

DOMAINS = ("a", "b", "c")
RATES = {"a": 2.0, "b": 3.0, "c": 4.0}
"""The toy law: L_k = exp(-t_k w_k), each domain's loss falls with its own share; sum_k L_k is convex."""


def _toy(directory, *, mode="pretrain", tokens=10**6, sizes=None, prior=None):
    prior = prior or {"a": 0.5, "b": 0.3, "c": 0.2}
    anchors = tuple(make_run(role="anchor", name="prior", weights=prior, seed=s, proxy="s14m") for s in range(2))
    spec = SweepSpec(version=1, corpus="/c", heldout="/h", mode=mode, domains=DOMAINS, prior=prior,
                     domain_tokens=sizes or {d: 10**8 for d in DOMAINS}, tokens=tokens,
                     base_tokens=2 * tokens if mode == "anneal" else 0, max_epochs=1.0, seed=0, runs=anchors)
    write_sweep(directory, spec)
    targets = {d: TargetFit(name=d, terms={d: 1.0}, law=DMLLaw(c=0.0, t=-RATES[d] * np.eye(3)[k]), replicates=[],
                            cv={}) for k, d in enumerate(DOMAINS)}
    fit = SweepFit(domains=DOMAINS, proxy="s14m", targets=targets, fit_runs=[], cv_folds=5, model="dml", seed=0)
    (directory / "fit.json").write_text(json.dumps(fit.to_dict()))
    return spec


def _analytic(rates: dict[str, float], total: float = 1.0) -> dict[str, float]:
    """argmin sum_k exp(-t_k w_k) s.t. sum w = total: t_k exp(-t_k w_k) = lambda (KKT, interior)."""
    t = np.array([rates[d] for d in rates])
    log_lambda = (np.sum(np.log(t) / t) - total) / np.sum(1 / t)
    return dict(zip(rates, (np.log(t) - log_lambda) / t))


def test_finds_the_analytic_optimum(tmp_path):
    _toy(tmp_path)
    mix = optimize_mix(tmp_path, minimize="a+b+c", prior_pull=0.0, candidates=20_000)
    expected = _analytic(RATES)
    assert expected == pytest.approx({"a": 0.3192, "b": 0.3479, "c": 0.3329}, abs=1e-4)
    assert mix.weights == pytest.approx(expected, abs=1e-3)
    assert mix.method == "slsqp" and sum(mix.weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert read_optimized(tmp_path)["weights"] == mix.weights


def test_a_binding_constraint_moves_the_optimum_to_its_kkt_point(tmp_path):
    _toy(tmp_path)
    bound = math.exp(-2 * 0.6)  # L_a <= bound  <=>  w_a >= 0.6
    mix = optimize_mix(tmp_path, minimize="a+b+c", subject_to=[f"a<={bound:.6f}"], prior_pull=0.0, candidates=20_000)
    rest = _analytic({"b": 3.0, "c": 4.0}, total=0.4)
    assert mix.weights["a"] == pytest.approx(0.6, abs=1e-3)
    assert mix.weights["b"] == pytest.approx(rest["b"], abs=2e-3)
    assert mix.weights["c"] == pytest.approx(rest["c"], abs=2e-3)
    assert mix.constraints[0]["mean"] <= bound + 1e-9


def test_prior_pull_draws_the_mix_to_the_prior(tmp_path):
    spec = _toy(tmp_path)
    mix = optimize_mix(tmp_path, minimize="a+b+c", prior_pull=100.0, candidates=5_000)
    assert mix.weights == pytest.approx(spec.prior, abs=0.01)


def test_base_is_the_measured_prior_anchor(tmp_path):
    spec = _toy(tmp_path)
    with pytest.raises(ConfigError, match="'base' is the prior anchor's measured a, but no result of a 'prior' anchor"):
        optimize_mix(tmp_path, minimize="b+c", subject_to=["a<=base*1.0"])
    for run, loss_a in zip(spec.runs, (0.36, 0.38)):
        append_result(tmp_path, RunResult(run_id=run.run_id, seed=run.seed, proxy="s14m", weights=run.weights,
                                          heldout_loss={"a": loss_a, "b": 1.0, "c": 1.0}, train_loss=1.0, tokens=1,
                                          seconds=1.0, step_time_ms=1.0))
    mix = optimize_mix(tmp_path, minimize="b+c", subject_to=["a<=base*1.0"], prior_pull=0.0, candidates=5_000)
    assert mix.base == {"a": pytest.approx(0.37)}
    assert mix.constraints[0]["bound"] == pytest.approx(0.37)
    assert mix.weights["a"] == pytest.approx(-math.log(0.37) / 2, abs=2e-3)  # the bound binds


def test_an_impossible_bound_is_named(tmp_path):
    _toy(tmp_path)
    with pytest.raises(ConfigError) as err:
        optimize_mix(tmp_path, minimize="b+c", subject_to=["a<=0.1"], candidates=5_000)
    text = str(err.value)
    assert "no mixture inside the epoch caps meets every --subject-to bound" in text
    assert "a<=0.1: bound 0.1000, lowest predicted a + 2 sigma within the epoch caps is 0.13" in text


def test_a_cap_that_makes_a_bound_impossible_is_named(tmp_path):
    _toy(tmp_path, sizes={"a": 300_000, "b": 10**8, "c": 10**8})  # 1 epoch of a is 0.3 of a 1M-token run
    with pytest.raises(ConfigError) as err:
        optimize_mix(tmp_path, minimize="b+c", subject_to=["a<=0.30119"], candidates=5_000)
    assert "lowest predicted a + 2 sigma within the epoch caps is 0.5488" in str(err.value)
    assert "binding caps: a <= 0.3000" in str(err.value)


def test_the_optimum_respects_the_caps(tmp_path):
    _toy(tmp_path, sizes={"a": 10**8, "b": 200_000, "c": 10**8})
    mix = optimize_mix(tmp_path, minimize="a+b+c", prior_pull=0.0, candidates=5_000)
    assert mix.weights["b"] <= 0.2
    assert mix.weights["b"] == pytest.approx(0.2, abs=1e-3)  # the unconstrained optimum wants 0.35


@pytest.mark.parametrize("mode", ["anneal", "pretrain"])
def test_emitted_schedule_round_trips_through_the_planner(tmp_path, mode):
    spec = _toy(tmp_path, mode=mode, sizes={d: 4_000_000 for d in DOMAINS})
    mix = optimize_mix(tmp_path, minimize="a+b+c", prior_pull=0.0, candidates=5_000)
    path = emit_schedule(spec, mix, tmp_path / "mix.yaml")
    text = path.read_text()
    assert text.startswith("# midtrain sweep optimize: minimise a+b+c") and "# predicted a+b+c:" in text
    schedule = load_schedule(path, domain_tokens=spec.domain_tokens)
    plan = plan_budget(schedule, spec.domain_tokens, max_epochs=spec.max_epochs)
    assert plan.ok
    assert schedule.weights_at(schedule.total_tokens - 1) == pytest.approx(mix.weights)
    if mode == "anneal":
        assert [p.name for p in schedule.phases] == ["base", "anneal"]
        assert schedule.phases[1].start == spec.base_tokens and schedule.total_tokens == 3 * spec.tokens
        assert schedule.weights_at(0) == pytest.approx(spec.prior)
        scaled = load_schedule(emit_schedule(spec, mix, tmp_path / "big.yaml", total_tokens=30 * spec.tokens))
        assert scaled.phases[1].start == 20 * spec.tokens  # the anneal keeps its third of the run
    else:
        assert len(schedule.phases) == 1


@pytest.mark.parametrize("text, message", [
    ("maths+code", "--minimize: unknown domain 'maths' in 'maths+code' (the sweep's domains: a, b, c)"),
    ("a+", "--minimize: cannot read '' in 'a+'"),
    ("a*b", "--minimize: cannot read 'a*b'"),
    ("0*a", "--minimize: the factor of 'a' must be positive"),
])
def test_objective_errors(text, message):
    with pytest.raises(ConfigError) as err:
        parse_objective(text, DOMAINS)
    assert message in str(err.value)


def test_constraints_parse_and_errors():
    assert parse_constraint("a <= base * 1.02", DOMAINS).bound(3.0) == pytest.approx(3.06)
    assert parse_constraint("a<=1.02*base", DOMAINS).bound(3.0) == pytest.approx(3.06)
    assert parse_constraint("a+b<=base-0.1", DOMAINS).bound(3.0) == pytest.approx(2.9)
    assert parse_constraint("a<=base", DOMAINS).bound(3.0) == 3.0
    assert parse_constraint("2*a<=4.5", DOMAINS).bound(None) == 4.5
    with pytest.raises(ConfigError, match="only upper bounds"):
        parse_constraint("a>=base", DOMAINS)
    with pytest.raises(ConfigError, match="cannot read the bound 'base\\*\\*2'"):
        parse_constraint("a<=base**2", DOMAINS)
    with pytest.raises(ConfigError, match="unknown domain 'z'"):
        parse_constraint("z<=1", DOMAINS)

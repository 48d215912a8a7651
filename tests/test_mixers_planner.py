"""The planner's tokens, epochs and exhaustion points against independent calculations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from midtrain.errors import ConfigError
from midtrain.mixers import load_schedule, plan_budget

# 1,000 tokens: constant [0, 400), linear ramp [400, 600), anneal [600, 1000) with web x3.
RAMP_AND_ANNEAL = {
    "total_tokens": 1000,
    "phases": [
        {"name": "stable", "end": 400, "weights": {"web": 0.5, "math": 0.5}},
        {"name": "ramp", "end": 600, "ramp": "linear", "to": {"web": 0.1, "math": 0.9}},
        {"name": "anneal", "weights": {"base": "previous", "upweight": {"web": 3}}},
    ],
}
SIZES = {"math": 450, "web": 150}


def _row(plan, phase, domain):
    return next(r for r in plan.rows if r.phase == phase and r.domain == domain)


def _summary(plan, domain):
    return next(s for s in plan.summary if s.domain == domain)


def test_tokens_and_epochs_per_phase_match_hand_calculation():
    plan = plan_budget(load_schedule(RAMP_AND_ANNEAL), SIZES)
    # web: 400*0.5 = 200; ramp 200*(0.5+0.1)/2 = 60; anneal 400*0.25 = 100
    assert [_row(plan, p, "web").tokens for p in ("stable", "ramp", "anneal")] == pytest.approx([200, 60, 100])
    # math: 200; 200*(0.5+0.9)/2 = 140; 400*0.75 = 300
    assert [_row(plan, p, "math").tokens for p in ("stable", "ramp", "anneal")] == pytest.approx([200, 140, 300])
    assert _row(plan, "ramp", "web").epochs == pytest.approx(60 / 150)
    assert _row(plan, "anneal", "web").cumulative_epochs == pytest.approx(360 / 150)
    assert _summary(plan, "math").epochs == pytest.approx(640 / 450)


def test_exhaustion_points_match_hand_calculation():
    plan = plan_budget(load_schedule(RAMP_AND_ANNEAL), SIZES, warn_epochs=2.0)
    web = _summary(plan, "web")
    assert web.exhausted_at == 301      # 0.5 * t > 150 first at t = 301
    # two epochs = 300 tokens: 260 by token 600, then 40 more at 0.25 -> 760; first exceeding: 761
    assert web.warn_at == 761
    # math: 450 tokens; 200 + 140 = 340 by token 600, then 110 more at 0.75 -> 746.67; first exceeding: 747
    assert _summary(plan, "math").exhausted_at == 747


def test_exhaustion_inside_a_linear_ramp_solves_the_quadratic():
    plan = plan_budget(load_schedule(RAMP_AND_ANNEAL), {"math": 300, "web": 150})
    # math in the ramp: 200 + 200*(0.5u + (0.9 - 0.5)u^2/2) = 300  ->  0.2u^2 + 0.5u - 0.5 = 0
    u = (-0.5 + np.sqrt(0.25 + 4 * 0.2 * 0.5)) / (2 * 0.2)
    assert _summary(plan, "math").exhausted_at == int(np.floor(400 + 200 * u)) + 1 == 554


def _brute_force(schedule, total, sizes, threshold_epochs):
    """Independent twin: per-token midpoint sums of weights_at, token by token."""
    xs = np.arange(total) + 0.5
    w = np.stack([schedule.phases[schedule.phase_index_at(int(x))].weights_at(x) for x in xs])
    cum = np.cumsum(w, axis=0)
    out = {}
    for k, d in enumerate(schedule.domains):
        over = np.nonzero(cum[:, k] > threshold_epochs * sizes[d])[0]
        out[d] = (cum[-1, k], int(over[0]) + 1 if len(over) else None)
    return out


def test_cosine_ramp_schedule_matches_token_by_token_sums():
    definition = {"total_tokens": 20_000, "phases": [
        {"name": "pretrain", "end": "40%", "weights": {"web": 0.7, "code": 0.2, "math": 0.1}},
        {"name": "ramp", "length": "30%", "ramp": "cosine", "to": {"web": 0.3, "code": 0.3, "math": 0.4}},
        {"name": "anneal", "length": "20%", "weights": {"base": "previous", "upweight": {"math": 2, "code": 1.5}}},
        {"name": "long", "seq_len": 8192, "weights": {"web": 0.5, "code": 0.25, "math": 0.25}}]}
    sizes = {"web": 9_000, "code": 2_500, "math": 1_800}
    schedule = load_schedule(definition, domain_tokens=sizes)
    plan = plan_budget(schedule, sizes, warn_epochs=2.0)
    once, twice = _brute_force(schedule, 20_000, sizes, 1.0), _brute_force(schedule, 20_000, sizes, 2.0)
    for s in plan.summary:
        assert s.tokens == pytest.approx(once[s.domain][0], abs=1e-6)   # midpoint rule: exact-ish on cosines
        assert s.exhausted_at == once[s.domain][1]
        assert s.warn_at == twice[s.domain][1]
    assert sum(s.tokens for s in plan.summary) == pytest.approx(20_000)


def test_hard_cap_is_reported_with_its_crossing_point():
    plan = plan_budget(load_schedule(RAMP_AND_ANNEAL), SIZES, max_epochs=2.0)
    assert not plan.ok
    assert [v.split(":")[0] for v in plan.violations] == ["web"]
    assert _summary(plan, "web").cap_at == 761 and _summary(plan, "math").cap_at is None


def test_warning_above_four_epochs_by_default():
    plan = plan_budget(load_schedule({"weights": {"web": 1.0}}), {"web": 100}, 500)
    assert plan.ok and len(plan.warnings) == 1 and plan.warnings[0].startswith("web: 5.00 epochs > 4")
    assert _summary(plan, "web").warn_at == 401


def test_json_and_table_carry_the_same_numbers():
    plan = plan_budget(load_schedule(RAMP_AND_ANNEAL), SIZES)
    body = json.loads(plan.to_json())
    assert body["domains_summary"][1]["exhausted_at"] == 301
    assert body["rows"][0] == {"phase": "stable", "domain": "math", "start": 0, "end": 400, "tokens": 200.0,
                               "unique_tokens": 450, "epochs": 200 / 450, "cumulative_epochs": 200 / 450}
    table = plan.table()
    assert "stable" in table and "anneal" in table and "301" in table


def test_open_ended_schedule_needs_the_run_length():
    with pytest.raises(ConfigError, match="total_tokens: the plan needs the run's length"):
        plan_budget(load_schedule({"weights": {"web": 1.0}}), {"web": 100})


def test_domains_the_corpus_lacks_are_refused():
    with pytest.raises(ConfigError, match="the corpus has no domain 'math'"):
        plan_budget(load_schedule(RAMP_AND_ANNEAL), {"web": 150})

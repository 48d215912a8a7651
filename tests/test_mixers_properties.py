"""Property tests: any valid schedule is a simplex everywhere, continuous where it promises,
deterministic, round-trips through to_dict, and the planner's counts add up."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.mixers import load_schedule, plan_budget

DOMAINS = ["code", "long", "math", "reasoning", "web"]


@st.composite
def mixtures(draw, k):
    raw = draw(st.lists(st.integers(0, 1000), min_size=k, max_size=k).filter(lambda xs: sum(xs) > 0))
    total = sum(raw)
    return {d: x / total for d, x in zip(DOMAINS[:k], raw)}


@st.composite
def schedules(draw, open_end=False):
    """A valid definition with 1-5 phases over 1-5 domains; with ``open_end`` the last phase is
    constant and has no end, and the schedule no total (it runs forever)."""
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n))
    phases = []
    for i, length in enumerate(lengths):
        last_open = open_end and i == n - 1
        kinds = ["constant", "linear", "cosine", "anneal"] if i else ["constant", "linear"]
        kind = draw(st.sampled_from([c for c in kinds if not last_open or c in ("constant", "anneal")]))
        phase = {} if last_open else {"length": length}
        if kind == "constant":
            phase["weights"] = draw(mixtures(k))
        elif kind == "anneal":
            phase["weights"] = {"base": "previous", "upweight": {DOMAINS[0]: draw(st.floats(0.5, 4.0))}}
        else:
            phase.update(ramp=kind, to=draw(mixtures(k)))
            phase["from"] = "previous" if i and draw(st.booleans()) else draw(mixtures(k))
        phases.append(phase)
    if open_end:
        return {"domains": DOMAINS[:k], "phases": phases}
    return {"domains": DOMAINS[:k], "total_tokens": sum(lengths), "phases": phases}


@settings(max_examples=150, deadline=None)
@given(schedules(), st.lists(st.integers(0, 60_000), min_size=1, max_size=20))
def test_weights_are_a_simplex_everywhere(definition, positions):
    s = load_schedule(definition)
    for t in positions:
        w = s.weights_vector_at(t)
        assert np.all(w >= 0) and abs(math.fsum(w.tolist()) - 1.0) < 1e-12
        assert list(s.weights_at(t)) == list(s.domains)


@settings(max_examples=100, deadline=None)
@given(schedules())
def test_ramps_are_continuous_and_from_previous_joins_without_a_jump(definition):
    s = load_schedule(definition)
    for i, (p, raw) in enumerate(zip(s.phases, definition["phases"])):
        if p.shape == "constant":
            continue
        # Lipschitz bound of the ramp: |dw/dt| <= |g - f| * (1 or π/2) / L
        slope = np.abs(p.end_weights - p.start_weights) * (math.pi / 2) / (p.end - p.start) + 1e-12
        for t in range(p.start, p.end - 1, max(1, (p.end - p.start) // 50)):
            assert np.all(np.abs(s.weights_vector_at(t + 1) - s.weights_vector_at(t)) <= slope)
        if raw.get("from") == "previous":
            previous = s.phases[i - 1]
            assert np.array_equal(s.weights_vector_at(p.start), previous.weights_at(previous.end))


@settings(max_examples=100, deadline=None)
@given(st.one_of(schedules(), schedules(open_end=True)))
def test_to_dict_round_trip_and_determinism(definition):
    s = load_schedule(definition)
    again = load_schedule(s.to_dict())
    assert again.to_dict() == s.to_dict() and again.fingerprint() == s.fingerprint()
    assert load_schedule(definition).fingerprint() == s.fingerprint()
    end = s.total_tokens if s.total_tokens is not None else s.change_points()[-1] + 10**6
    for t in s.change_points() + [end - 1, end]:
        assert np.array_equal(again.weights_vector_at(t), s.weights_vector_at(t))


@settings(max_examples=100, deadline=None)
@given(schedules(), st.integers(1, 10**6))
def test_plan_counts_add_up(definition, unique):
    s = load_schedule(definition)
    plan = plan_budget(s, {d: unique for d in s.domains})
    for phase in plan.phases:
        drawn = sum(r.tokens for r in plan.rows if r.phase == phase["name"])
        assert math.isclose(drawn, phase["end"] - phase["start"], rel_tol=1e-9)
    assert math.isclose(sum(x.tokens for x in plan.summary), s.total_tokens, rel_tol=1e-9)
    for x in plan.summary:
        crossed = x.exhausted_at is not None
        assert crossed == (x.tokens > unique * (1 + 1e-9)) or math.isclose(x.tokens, unique, rel_tol=1e-6)

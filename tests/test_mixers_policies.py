"""Adaptive policies: updates against hand-computed numbers, state dicts, exact resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from midtrain.errors import ConfigError
from midtrain.mixers import DoReMiPolicy, Exp3Policy


def _doremi():
    return DoReMiPolicy(["math", "web"], [0.5, 0.5], reference_loss=[2.0, 3.0], step_size=1.0, smoothing=0.1)


def test_doremi_first_update_by_hand():
    policy = _doremi()
    # mean losses 3.0 and 2.0; excess vs reference (2, 3) clipped at 0: λ = (1, 0)
    w = policy.update(np.array([30.0, 20.0]), np.array([10, 10]))
    a = 0.5 * math.exp(1) / (0.5 * math.exp(1) + 0.5)              # softmax(log α + η λ)
    expected = [0.9 * a + 0.05, 0.9 * (1 - a) + 0.05]               # (1 - c) α + c / K
    assert w.tolist() == pytest.approx(expected, abs=1e-15)
    assert policy.average_weights.tolist() == pytest.approx(expected)  # ᾱ after t = 1 is α


def test_doremi_keeps_the_old_excess_for_an_unseen_domain_and_averages():
    policy = _doremi()
    w1 = policy.update(np.array([30.0, 20.0]), np.array([10, 10]))
    # web unseen: its λ stays 0 (from update 1); math mean 2.5 -> λ = 0.5
    w2 = policy.update(np.array([25.0, 0.0]), np.array([10, 0]))
    z = w1[0] * math.exp(0.5) + w1[1]
    a = w1[0] * math.exp(0.5) / z
    expected = [0.9 * a + 0.05, 0.9 * (1 - a) + 0.05]
    assert w2.tolist() == pytest.approx(expected, abs=1e-15)
    assert policy.average_weights.tolist() == pytest.approx(((w1 + np.array(expected)) / 2).tolist())


def test_doremi_ignores_loss_below_the_reference():
    policy = DoReMiPolicy(["a", "b"], [0.3, 0.7], reference_loss=[5.0, 5.0], smoothing=0.0)
    assert policy.update(np.array([10.0, 10.0]), np.array([10, 10])).tolist() == pytest.approx([0.3, 0.7])


def test_exp3_updates_by_hand():
    policy = Exp3Policy(["code", "web"], [0.5, 0.5], reward_scale=0.1, seed=0)
    # t = 1: ε_prev = 1/2, ε = min(1/2, sqrt(ln 2 / 2)) = 1/2 -> (1 - 2ε)·softmax + ε = uniform
    assert policy.update(np.array([30.0, 20.0]), np.array([10, 10])).tolist() == [0.5, 0.5]
    assert policy.rewards.tolist() == pytest.approx([0.1 * 3 / 0.5, 0.1 * 2 / 0.5])
    # t = 2: R = (0.6 + 0.8, 0.4 + 0.2); ε_prev = 1/2; ε = sqrt(ln 2 / 4)
    w = policy.update(np.array([40.0, 10.0]), np.array([10, 10]))
    eps = math.sqrt(math.log(2) / 4)
    soft = math.exp(0.5 * 1.4) / (math.exp(0.5 * 1.4) + math.exp(0.5 * 0.6))
    assert w.tolist() == pytest.approx([(1 - 2 * eps) * soft + eps, (1 - 2 * eps) * (1 - soft) + eps], abs=1e-15)


def test_exp3_rewards_only_domains_that_were_drawn():
    policy = Exp3Policy(["a", "b", "c"], [0.2, 0.3, 0.5])
    policy.update(np.array([6.0, 0.0, 0.0]), np.array([2, 0, 0]))
    assert policy.rewards.tolist() == pytest.approx([0.1 * 3 / 0.2, 0.0, 0.0])


def test_exp3_warmup_keeps_initial_weights():
    policy = Exp3Policy(["a", "b"], [0.25, 0.75], warmup_updates=2)
    for _ in range(2):
        assert policy.update(np.array([9.0, 1.0]), np.array([1, 1])).tolist() == [0.25, 0.75]
    assert policy.rewards.tolist() == [0.0, 0.0]


def _feed(rng, k):
    return rng.uniform(1, 5, size=k) * 100, rng.integers(0, 100, size=k).astype(float)


@pytest.mark.parametrize("make", [
    lambda: DoReMiPolicy(["code", "math", "web"], [0.2, 0.3, 0.5], reference_loss=[2.0, 2.5, 3.0], step_size=0.5),
    lambda: Exp3Policy(["code", "math", "web"], [0.2, 0.3, 0.5], seed=7),
])
def test_resume_from_state_dict_equals_uninterrupted_run(make):
    rng = np.random.default_rng(3)
    inputs = [_feed(rng, 3) for _ in range(12)]
    straight = make()
    outs = [straight.update(*x) for x in inputs]
    draws = straight.draw(5) if isinstance(straight, Exp3Policy) else None

    first = make()
    for x in inputs[:5]:
        first.update(*x)
    state = json.loads(json.dumps(first.state_dict()))   # through JSON, as a checkpoint would
    resumed = make()
    resumed.load_state_dict(state)
    rest = [resumed.update(*x) for x in inputs[5:]]
    assert all(np.array_equal(a, b) for a, b in zip(outs[5:], rest))
    if draws is not None:                                 # the seeded RNG resumes too
        assert np.array_equal(resumed.draw(5), draws)
    assert resumed.state_dict() == straight.state_dict()


def test_history_replays_to_the_same_weights():
    rng = np.random.default_rng(5)
    policy = Exp3Policy(["code", "math", "web"], [0.2, 0.3, 0.5], seed=1)
    for _ in range(8):
        policy.update(*_feed(rng, 3))
    replay = Exp3Policy(["code", "math", "web"], [0.2, 0.3, 0.5], seed=1)
    for h in policy.state_dict()["history"]:
        assert replay.update(np.array(h["loss_sum"]), np.array(h["token_count"])).tolist() == h["weights"]
    assert [s for s, _ in policy.weights_log()] == list(range(1, 9))


def test_every_update_is_a_simplex():
    rng = np.random.default_rng(11)
    policy = DoReMiPolicy(["a", "b", "c", "d"], [0.25] * 4, reference_loss=[1.0] * 4, step_size=5.0)
    for _ in range(50):
        w = policy.update(*_feed(rng, 4))
        assert np.all(w >= 0.001 / 4 * 0.999) and abs(w.sum() - 1) < 1e-12   # smoothing keeps c/K


def test_exp3_draws_are_seeded():
    a, b = Exp3Policy(["x", "y"], [0.5, 0.5], seed=3), Exp3Policy(["x", "y"], [0.5, 0.5], seed=3)
    assert np.array_equal(a.draw(100), b.draw(100))


def test_state_from_another_configuration_is_refused():
    state = _doremi().state_dict()
    other = DoReMiPolicy(["math", "web"], [0.5, 0.5], reference_loss=[2.0, 3.0], step_size=0.5, smoothing=0.1)
    with pytest.raises(ConfigError, match="resume with the same settings"):
        other.load_state_dict(state)


def test_inputs_must_be_in_domain_order_and_finite():
    with pytest.raises(ConfigError, match=r"must both have shape \(2,\)"):
        _doremi().update(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1]))
    with pytest.raises(ConfigError, match="finite"):
        _doremi().update(np.array([np.nan, 2.0]), np.array([1, 1]))

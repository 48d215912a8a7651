"""Temperature sampling and UniMax (arXiv 2304.09151) match their formulas on hand-worked sizes."""

from __future__ import annotations

import numpy as np
import pytest

from midtrain.mixers import load_schedule, temperature_weights, unimax_budgets, unimax_weights

SIZES = {"code": 600, "math": 100, "web": 300}   # q = 0.6, 0.1, 0.3 in sorted order code, math, web


def test_temperature_one_is_proportional_to_size():
    assert temperature_weights(np.array([600, 100, 300]), 1.0) == pytest.approx([0.6, 0.1, 0.3])


def test_temperature_two_takes_square_roots_of_shares():
    # p_k = q_k^(1/2) / sum: sqrt(.6), sqrt(.1), sqrt(.3) = .774597, .316228, .547723 ; sum 1.638548
    assert temperature_weights(np.array([600, 100, 300]), 2.0) == pytest.approx(
        [0.774597 / 1.638548, 0.316228 / 1.638548, 0.547723 / 1.638548], rel=1e-5)


def test_high_temperature_tends_to_uniform_and_empty_domains_get_zero():
    p = temperature_weights(np.array([10**9, 1, 0]), 1e6)
    assert p[2] == 0.0 and p[:2] == pytest.approx([0.5, 0.5], rel=1e-4)


def test_unimax_caps_small_domains_and_spreads_the_rest_uniformly():
    # budget 1200, N = 2 epochs; ascending: math (100), web (300), code (600)
    # math: min(1200/3, 200) = 200; web: min(1000/2, 600) = 500; code: min(500/1, 1200) = 500
    assert unimax_budgets(np.array([600, 100, 300]), 1200, 2.0).tolist() == [500.0, 200.0, 500.0]
    assert unimax_weights(np.array([600, 100, 300]), 1200, 2.0).tolist() == pytest.approx([500 / 1200, 200 / 1200,
                                                                                           500 / 1200])


def test_unimax_is_uniform_when_no_cap_binds():
    assert unimax_budgets(np.array([600, 100, 300]), 150, 4.0).tolist() == [50.0, 50.0, 50.0]


def test_temperature_mixture_in_a_schedule_uses_corpus_sizes():
    s = load_schedule({"weights": {"temperature": 2.0}}, domain_tokens=SIZES)
    assert s.domains == ("code", "math", "web")
    assert s.weights_vector_at(0) == pytest.approx(temperature_weights(np.array([600, 100, 300]), 2.0))


def test_temperature_over_a_subset_leaves_other_domains_at_zero():
    s = load_schedule({"domains": ["code", "math", "web"], "weights": {"temperature": 1.0, "domains": ["web", "math"]}},
                      domain_tokens=SIZES)
    assert s.weights_at(0) == pytest.approx({"code": 0.0, "math": 0.25, "web": 0.75})


def test_unimax_budget_defaults_to_the_phase_length():
    s = load_schedule({"total_tokens": 1200, "weights": {"unimax": {"max_epochs": 2}}}, domain_tokens=SIZES)
    assert s.weights_at(0) == pytest.approx({"code": 5 / 12, "math": 2 / 12, "web": 5 / 12})

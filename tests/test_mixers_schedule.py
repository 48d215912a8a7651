"""Schedules as pure functions of tokens seen: phases, ramps, anneals, positions, identity."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

from midtrain.mixers import EXAMPLE_SCHEDULE, Schedule, load_schedule

THREE_PHASES = {
    "total_tokens": "1K",
    "phases": [
        {"name": "stable", "end": 400, "weights": {"web": 0.5, "math": 0.5}},
        {"name": "ramp", "length": "20%", "ramp": "linear", "to": {"web": 0.1, "math": 0.9}},
        {"name": "anneal", "weights": {"base": "previous", "upweight": {"web": 3}}, "seq_len": 8192},
    ],
}


def test_constant_schedule_from_top_level_weights():
    s = load_schedule({"weights": {"web": 0.75, "code": 0.25}})
    assert s.domains == ("code", "web")
    assert s.weights_at(0) == {"code": 0.25, "web": 0.75}
    assert s.weights_at(10**15) == {"code": 0.25, "web": 0.75}
    assert s.change_points() == [0] and s.total_tokens is None and s.seq_len_at(123) is None


def test_phases_resolve_positions_in_tokens_and_fractions():
    s = load_schedule(THREE_PHASES)
    assert s.total_tokens == 1000
    assert s.change_points() == [0, 400, 600]
    assert [(p.start, p.end) for p in s.phases] == [(0, 400), (400, 600), (600, 1000)]


def test_linear_ramp_interpolates_between_mixtures():
    s = load_schedule(THREE_PHASES)
    assert s.weights_at(399) == {"math": 0.5, "web": 0.5}
    assert s.weights_at(400) == {"math": 0.5, "web": 0.5}          # from: previous by default
    w = s.weights_at(450)                                            # a quarter of the way
    assert w["web"] == pytest.approx(0.5 + 0.25 * (0.1 - 0.5))
    assert w["math"] == pytest.approx(0.5 + 0.25 * (0.9 - 0.5))


def test_cosine_ramp_follows_half_cosine():
    s = load_schedule({"phases": [{"end": 100, "ramp": "cosine", "from": {"a": 1.0}, "to": {"b": 1.0}},
                                  {"weights": "previous"}]})
    for t in (0, 10, 25, 50, 90):
        expected_b = (1 - math.cos(math.pi * t / 100)) / 2
        assert s.weights_at(t)["b"] == pytest.approx(expected_b, abs=1e-15)
    assert s.weights_at(100) == {"a": 0.0, "b": 1.0}


def test_anneal_upweights_the_previous_mixture_and_renormalises():
    s = load_schedule(THREE_PHASES)
    # ramp ends at web 0.1, math 0.9; web x3 -> 0.3 : 0.9 -> 0.25 : 0.75
    assert s.weights_at(600) == pytest.approx({"math": 0.75, "web": 0.25})
    assert s.seq_len_at(600) == 8192 and s.seq_len_at(599) is None


def test_wsd_anneal_shorthand_takes_the_last_fraction_of_the_run():
    s = load_schedule({"total_tokens": 10_000, "phases": [{"name": "stable", "weights": {"web": 0.9, "math": 0.1}}],
                       "anneal": {"last": "10%", "weights": {"web": 0.5, "math": 0.5}}})
    assert [(p.name, p.start, p.end) for p in s.phases] == [("stable", 0, 9000), ("anneal", 9000, 10_000)]
    assert s.weights_at(8999)["math"] == 0.1 and s.weights_at(9000)["math"] == 0.5


def test_total_tokens_argument_overrides_the_file_and_rescales_fractions():
    s = load_schedule(THREE_PHASES, total_tokens=10_000)
    assert s.change_points() == [0, 400, 2400]
    assert s.total_tokens == 10_000


def test_token_suffixes_are_exact():
    s = load_schedule({"total_tokens": "1.5T", "phases": [{"end": "500B", "weights": {"a": 1}},
                                                          {"end": "1.2T", "weights": {"b": 1}},
                                                          {"weights": {"a": 0.5, "b": 0.5}}]})
    assert s.change_points() == [0, 500 * 10**9, 1_200_000_000_000]
    assert s.total_tokens == 1_500_000_000_000


def test_weights_vector_follows_sorted_domain_order():
    s = load_schedule({"weights": {"web": 0.6, "code": 0.3, "math": 0.1}})
    v = s.weights_vector_at(5)
    assert v.dtype == np.float64 and v.tolist() == [0.3, 0.1, 0.6]
    v[:] = 0  # a fresh array: callers may mutate it without changing the schedule
    assert s.weights_vector_at(5).tolist() == [0.3, 0.1, 0.6]


def test_to_dict_round_trips_to_the_same_schedule():
    s = load_schedule(THREE_PHASES)
    d = s.to_dict()
    json.dumps(d)
    again = load_schedule(d)
    assert again.to_dict() == d and again.fingerprint() == s.fingerprint()
    for t in range(0, 1000, 7):
        assert np.array_equal(again.weights_vector_at(t), s.weights_vector_at(t))


def test_an_open_ended_schedule_round_trips_through_to_dict():
    s = load_schedule({"phases": [{"end": "1M", "weights": {"web": 1.0}},
                                  {"weights": {"web": 0.5, "code": 0.5}}]})
    d = s.to_dict()
    assert d["total_tokens"] is None and d["phases"][-1]["end"] is None
    again = load_schedule(d)
    assert again == s and again.fingerprint() == s.fingerprint()
    assert again.weights_at(10**12) == {"code": 0.5, "web": 0.5}


def test_fingerprint_is_stable_across_processes_and_hash_seeds():
    code = ("from midtrain.mixers import load_schedule, EXAMPLE_SCHEDULE;"
            "print(load_schedule(EXAMPLE_SCHEDULE).fingerprint())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip() for seed in ("1", "2")}
    assert runs == {load_schedule(EXAMPLE_SCHEDULE).fingerprint()}


def test_fingerprint_changes_with_the_definition():
    a = load_schedule(THREE_PHASES)
    b = load_schedule(THREE_PHASES, total_tokens=2000)
    assert a.fingerprint() != b.fingerprint()


def test_schedule_pickles_small_and_equal():
    s = load_schedule(EXAMPLE_SCHEDULE)
    blob = pickle.dumps(s)
    assert len(blob) < 4096
    t = pickle.loads(blob)
    assert t == s and t.weights_at(75 * 10**9) == s.weights_at(75 * 10**9)


def test_toml_and_yaml_definitions_are_equivalent(tmp_path):
    (tmp_path / "s.toml").write_text(
        'total_tokens = 1000\n[[phases]]\nend = 400\nweights = {web = 0.5, math = 0.5}\n'
        '[[phases]]\nramp = "linear"\nto = {web = 0.1, math = 0.9}\n')
    (tmp_path / "s.yaml").write_text(
        "total_tokens: 1000\nphases:\n  - {end: 400, weights: {web: 0.5, math: 0.5}}\n"
        "  - {ramp: linear, to: {web: 0.1, math: 0.9}}\n")
    assert load_schedule(tmp_path / "s.toml") == load_schedule(tmp_path / "s.yaml")


def test_missing_domain_is_an_error_naming_the_key_and_the_option():
    from midtrain.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^weights\.long: the corpus has no domain 'long'.*renormalise"):
        load_schedule({"weights": {"web": 0.5, "long": 0.5}}, domain_tokens={"web": 100})


def test_renormalise_drops_missing_domains_from_every_mixture():
    s = load_schedule(EXAMPLE_SCHEDULE, domain_tokens={"web": 10, "code": 10, "math": 10},
                      missing_domains="renormalise")
    assert s.domains == ("code", "math", "web")
    # long_context was long 0.40, web 0.30, code 0.12, math 0.12, reasoning 0.06 -> over 0.54
    assert s.weights_at(95 * 10**9) == pytest.approx({"code": 0.12 / 0.54, "math": 0.12 / 0.54, "web": 0.30 / 0.54})
    assert s.weights_at(0) == pytest.approx({"code": 0.15 / 0.93, "math": 0.08 / 0.93, "web": 0.70 / 0.93})


def test_corpus_domains_the_schedule_does_not_name_are_not_sampled():
    s = load_schedule({"weights": {"web": 1.0}}, domain_tokens={"web": 10, "code": 10})
    assert s.domains == ("web",)


def test_shipped_example_matches_the_examples_folder():
    from pathlib import Path

    repo_copy = Path(__file__).resolve().parents[1] / "examples" / "midtrain_schedule.yaml"
    assert repo_copy.read_bytes() == EXAMPLE_SCHEDULE.read_bytes()


def test_example_has_pretrain_ramp_anneal_and_long_context_phases():
    s = load_schedule(EXAMPLE_SCHEDULE)
    assert [p.name for p in s.phases] == ["pretrain", "ramp", "anneal", "long_context"]
    assert s.phases[1].shape == "cosine"
    before, after = s.weights_at(69_999_999_999), s.weights_at(70 * 10**9)
    assert after["math"] > before["math"] and after["code"] > before["code"]
    assert s.seq_len_at(0) == 4096 and s.seq_len_at(99 * 10**9) == 32768


def test_schedule_built_in_python_from_phases():
    from midtrain.mixers import Phase

    s = Schedule(("code", "web"), [Phase("a", 0, 100, np.array([0.5, 0.5]), np.array([0.5, 0.5])),
                                   Phase("b", 100, 200, np.array([0.5, 0.5]), np.array([1.0, 0.0]), "linear")],
                 total_tokens=200)
    assert s.weights_at(150) == {"code": 0.75, "web": 0.25}
    assert load_schedule(s.to_dict()) == s

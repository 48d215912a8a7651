"""Every schedule mistake is a ConfigError that names the key path and says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from midtrain.errors import ConfigError
from midtrain.mixers import Phase, Schedule, load_schedule


def _two_phases(**second):
    return {"total_tokens": 1000, "phases": [{"end": 500, "weights": {"web": 0.5, "math": 0.5}},
                                             {"weights": {"web": 0.5, "math": 0.5}, **second}]}


@pytest.mark.parametrize("definition, pattern", [
    ({"weights": {"web": 1.2, "math": -0.2}}, r"^weights\.math: weight must be >= 0, got -0\.2"),
    ({"weights": {"web": 0.5, "math": 0.4}}, r"^weights: weights sum to 0\.9, not 1"),
    ({"domains": ["web", "math"], "weights": {"web": 0.5, "maths": 0.5}}, r"^weights\.maths: unknown domain 'maths'"),
    ({"weights": {"web": "half", "math": 0.5}}, r"^weights\.web: expected a number, got str"),
    ({"weights": {"web": True}}, r"^weights\.web: expected a number, got bool"),
    (_two_phases(start=600), r"phases\[1\]\.start: .*leaves a gap"),
    (_two_phases(start=400), r"phases\[1\]\.start: .*overlaps the previous phase"),
    (_two_phases(end=900), r"phases\[1\]\.end: the last phase ends at 900 but total_tokens is 1,000"),
    (_two_phases(end=2000), r"phases\[1\]\.end: 2,000 is beyond total_tokens"),
    (_two_phases(seq_len=0), r"phases\[1\]\.seq_len: must be a positive integer"),
    (_two_phases(seq_len="long"), r"phases\[1\]\.seq_len: must be a positive integer"),
    (_two_phases(ramp="quadratic", to={"web": 1.0}), r"phases\[1\]: a phase needs exactly one of"),
    ({"phases": [{"end": 5, "ramp": "quadratic", "to": {"a": 1}}, {"weights": {"a": 1}}]},
     r"phases\[0\]\.ramp: must be 'linear' or 'cosine'"),
    ({"phases": [{"end": 5, "ramp": "linear", "to": {"a": 1}}, {"weights": {"a": 1}}]},
     r"phases\[0\]\.from: 'previous' .* first phase"),
    ({"phases": [{"end": "10%", "weights": {"a": 1}}, {"weights": {"a": 1}}]},
     r"phases\[0\]\.end: '10%' is a fraction of the total, but total_tokens is unknown"),
    ({"phases": [{"end": 1.5, "weights": {"a": 1}}, {"weights": {"a": 1}}]}, r"phases\[0\]\.end: a float is a fraction"),
    ({"phases": [{"weights": {"a": 1}}, {"weights": {"a": 1}}]}, r"phases\[0\]\.end: only the last phase may omit"),
    ({"phases": [{"end": 10, "weights": {"a": 1}, "wieghts": 1}]}, r"phases\[0\]\.wieghts: unknown phase key"),
    ({"weight": {"a": 1}}, r"weight: unknown top-level key"),
    ({"phases": "all web"}, r"phases: expected a non-empty list"),
    ({"weights": {"a": 1}, "missing_domains": "ignore"}, r"missing_domains: must be 'error' or 'renormalise'"),
    ({"weights": {"temperature": 2}}, r"weights: temperature sampling needs the corpus' domain sizes"),
    ({"phases": [{"name": "x", "end": 5, "weights": {"a": 1}}, {"name": "x", "weights": {"a": 1}}]},
     r"phases\[1\]\.name: phase name 'x' is used twice"),
])
def test_invalid_definition_names_the_key(definition, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_schedule(definition)


def test_errors_from_a_file_name_the_file(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("phases:\n  - {end: 10, weights: {web: 0.5, math: 0.5}}\n  - {start: 10, end: 20, "
                    "weights: {web: 0.5, math: 0.6}}\n")
    with pytest.raises(ConfigError, match=r"mix\.yaml: phases\[1\]\.weights: weights sum to 1\.1"):
        load_schedule(path)


def test_unparseable_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("phases: [ {end: 10\n")
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    assert "bad.yaml: cannot parse" in str(info.value) and "\n" not in str(info.value)


def test_unimax_over_capacity_is_explained():
    with pytest.raises(ConfigError, match=r"^weights\.unimax: unimax cannot spend 1,000 tokens within 2 epochs"):
        load_schedule({"total_tokens": 1000, "weights": {"unimax": {"max_epochs": 2}}},
                      domain_tokens={"a": 100, "b": 200})


def test_schedule_constructor_rejects_off_simplex_vectors():
    with pytest.raises(ConfigError, match=r"phases\[0\]\.start_weights: weights sum to 0\.9"):
        Schedule(("a", "b"), [Phase("p", 0, None, np.array([0.4, 0.5]), np.array([0.4, 0.5]))])


def test_cli_prints_one_line_for_a_bad_schedule(tmp_path, small_token_corpus, capsys):
    from midtrain.cli import main

    path = tmp_path / "mix.yaml"
    path.write_text("weights: {web: 0.7, code: 0.7}\n")
    assert main(["plan", str(path), "--corpus", str(small_token_corpus), "--total-tokens", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights sum to 1.4" in err

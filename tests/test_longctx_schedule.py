"""Long-context schedule keys: parsing, key-path errors, canonical form, planner report, ``rope-base``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.errors import ConfigError
from midtrain.mixers import load_schedule, plan_budget
from midtrain.mixers.longctx import long_context_rows, rope_base_lower_bound

W = {"web": 0.6, "code": 0.4}


def schedule(**phase):
    return load_schedule({"total_tokens": "2M", "phases": [
        {"name": "base", "end": "1M", "seq_len": 256, "weights": W},
        {"name": "long", "seq_len": 4096, "weights": W, **phase}]})


def test_keys_resolve_per_domain_and_round_trip():
    s = schedule(tokens_per_step=65536, length_upsample={"below": 4096, "keep": 0.1}, min_doc_tokens={"code": 128},
                 rope={"yarn": {"factor": 8, "original_max_position": 4096}})
    long = s.phases[1]
    assert long.tokens_per_step == 65536
    with pytest.raises(ConfigError, match="64,000 is not a multiple"):  # K is 10^3, as for every position
        schedule(tokens_per_step="64K")
    assert long.length_rule("web").key() == (0, 4096, 100_000_000)
    assert long.length_rule("code").key() == (128, 4096, 100_000_000)
    assert s.phases[0].length_rule("web") is None
    assert load_schedule(s.to_dict()) == s
    # schedules without the new keys keep their canonical form (and fingerprint)
    plain = load_schedule({"weights": W})
    assert set(plain.to_dict()["phases"][0]) == {"name", "start", "end", "weights"}


@pytest.mark.parametrize("phase, message", [
    ({"tokens_per_step": 1000}, r"phases\[1\]\.tokens_per_step: 1,000 is not a multiple of the phase's seq_len"),
    ({"tokens_per_step": 0}, r"phases\[1\]\.tokens_per_step: must be a positive integer"),
    ({"length_upsample": {"below": 4096}}, r"phases\[1\]\.length_upsample: expected \{below: N, keep: p\}"),
    ({"length_upsample": {"below": 4096, "keep": 1.5}}, r"phases\[1\]\.length_upsample\.keep: must be a probability"),
    ({"length_upsample": {"math": {"below": 1, "keep": 0.1}}}, r"phases\[1\]\.length_upsample\.math: unknown domain"),
    ({"min_doc_tokens": {"web": -3}}, r"phases\[1\]\.min_doc_tokens\.web: must be a non-negative integer"),
    ({"rope": {"theta": 0}}, r"phases\[1\]\.rope\.theta: must be a positive number"),
    ({"rope": {"yarn": {"factor": 0.5, "original_max_position": 4096}}}, r"phases\[1\]\.rope\.yarn\.factor"),
    ({"rope": {"ntk": 2}}, r"phases\[1\]\.rope: expected"),
])
def test_bad_keys_name_their_path(phase, message):
    with pytest.raises(ConfigError, match=message):
        schedule(**phase)


def test_anneal_shorthand_takes_the_long_context_keys():
    s = load_schedule({"total_tokens": "1M", "phases": [{"name": "stable", "weights": W}],
                       "anneal": {"last": "10%", "weights": W, "seq_len": 2048, "tokens_per_step": 8192,
                                  "rope": {"theta": 5e5}}})
    assert (s.phases[-1].seq_len, s.phases[-1].tokens_per_step, s.phases[-1].rope) == (2048, 8192, {"theta": 5e5})


@given(st.floats(0.01, 0.99), st.floats(0.0, 1.0))
@settings(max_examples=40, deadline=None)
def test_upsampling_moves_the_long_share_as_predicted(s, keep):
    # two documents sizes: "long" ones (>= below) hold a share s of the tokens
    n_long = 100
    long_tokens = 8000 * n_long
    short_total = long_tokens * (1 - s) / s
    lengths = np.array([8000] * n_long + [1000] * max(1, int(round(short_total / 1000))), np.int64)
    s_real = long_tokens / lengths.sum()
    sch = schedule(length_upsample={"below": 4096, "keep": keep})
    row = next(r for r in long_context_rows(sch, {"web": lengths, "code": lengths}) if r.phase == "long")
    assert row.long_share == pytest.approx(s_real)
    assert row.long_share_after == pytest.approx(s_real / (s_real + keep * (1 - s_real)))


def test_planner_warns_about_a_low_rope_base_and_reports_batches():
    sch = schedule(tokens_per_step=8192, rope={"theta": 10_000})
    lengths = {"web": np.full(100, 5000), "code": np.full(100, 300)}
    plan = plan_budget(sch, {"web": 500_000, "code": 30_000}, doc_lengths=lengths)
    assert any("phases[1].rope.theta: 1e+04 is below the lower bound 3.22e+04" in w for w in plan.warnings)
    rows = {(r.phase, r.domain): r for r in plan.long_context}
    assert rows[("long", "web")].global_batch == 2 and rows[("long", "code")].share_quarter == 0.0
    assert "long context" in plan.table() and json.loads(plan.to_json())["long_context"]
    assert not plan_budget(schedule(rope={"theta": 1e6}), {"web": 500_000, "code": 30_000}).rope_warnings


def test_rope_base_command():
    assert rope_base_lower_bound(32768) == pytest.approx(0.0424 * 32768 ** 1.628)
    out = subprocess.run([sys.executable, "-m", "midtrain.cli", "rope-base", "16384"], capture_output=True, text=True)
    assert out.returncode == 0 and float(out.stdout) == pytest.approx(rope_base_lower_bound(16384), rel=1e-3)
    table = subprocess.run([sys.executable, "-m", "midtrain.cli", "rope-base"], capture_output=True, text=True).stdout
    assert "131,072" in table
    bad = subprocess.run([sys.executable, "-m", "midtrain.cli", "rope-base", "-5"], capture_output=True, text=True)
    assert bad.returncode == 2

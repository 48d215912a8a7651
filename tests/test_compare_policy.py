"""``benchmarks/compare_policy.py``: the keep-policy rule's flags on two ``bench_quality.py --json`` runs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_policy.py"


def _module():
    spec = importlib.util.spec_from_file_location("compare_policy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(keep_math: float, drop_spam: float, drop_salad: float, brown: float) -> dict:
    part = {"good": {"brown-corpus": brown, "pari-doc": keep_math}, "bad": {"sms": drop_spam, "salad": drop_salad},
            "long": {}, "kept_by_domain": {"math": {"rate": keep_math, "documents": 300},
                                           "web": {"rate": brown, "documents": 300}},
            "dropped_by_kind": {"spam": {"rate": drop_spam, "documents": 100},
                                "word-salad": {"rate": drop_salad, "documents": 300}}}
    return {"policy_train": part}


def test_flags_follow_the_one_point_rule():
    compare = _module().compare
    got = compare(_run(0.90, 0.95, 0.90, 0.50), _run(0.91, 0.94, 0.889, 0.45))["policy_train"]
    assert got["flags"] == ["keep web: keep fell", "drop word-salad: drop fell > 1 pt"]
    assert set(got["moved"]) == {"brown-corpus"}  # 5 points; the others moved under 3
    same = compare(_run(0.9, 0.9, 0.9, 0.5), _run(0.9, 0.89, 0.9, 0.5))["policy_train"]
    assert same["flags"] == []  # exactly one point less is allowed


def test_the_script_reads_two_files_and_names_a_bad_one(tmp_path):
    for name, run in (("a", _run(0.9, 0.95, 0.9, 0.5)), ("b", _run(0.8, 0.95, 0.9, 0.5))):
        (tmp_path / f"{name}.json").write_text(json.dumps(run))
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                           "--json", str(out)], capture_output=True, text=True, check=True)
    assert "keep math" in done.stdout and "keep fell" in done.stdout
    assert json.loads(out.read_text())["policy_train"]["flags"] == ["keep math: keep fell"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"policy_train": {"good": {}, "bad": {}}}))
    bad = subprocess.run([sys.executable, str(SCRIPT), str(old), str(tmp_path / "b.json")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "old.json" in bad.stderr and "per-domain" in bad.stderr


def test_a_file_that_is_not_json_is_named(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(SystemExit, match="broken.json"):
        _module().load(broken)

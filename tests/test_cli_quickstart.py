"""The two commands a newcomer runs: ``midtrain --help`` everywhere, and ``midtrain quickstart``."""

from __future__ import annotations

import json
import subprocess
import sys

from midtrain.cli import build_parser
from midtrain.corpus import validate


def midtrain(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midtrain.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def test_every_command_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"quickstart", "validate", "stats"} <= set(commands)
    for name in commands:
        result = midtrain(name, "--help")
        assert result.returncode == 0, (name, result.stderr)
        assert "usage: midtrain" in result.stdout


def test_quickstart_builds_a_valid_sample_corpus(tmp_path):
    out = tmp_path / "qs"
    result = midtrain("quickstart", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert validate(out / "text") == []
    domains = summary["stages"]["text_corpus"]["stats"]["domains"]
    assert {"web", "code", "math"} <= set(domains)
    assert sum(d["bytes"] for d in domains.values()) > 2_000_000


def test_quickstart_default_folder_is_in_the_current_directory(tmp_path):
    result = midtrain("quickstart", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "midtrain-quickstart" / "summary.json").is_file()


def test_stats_json(tmp_path, small_token_corpus):
    result = midtrain("stats", str(small_token_corpus), "--json")
    stats = json.loads(result.stdout)
    assert stats["domains"]["web"]["documents"] == 100
    assert stats["unit"] == "tokens"


def test_user_error_is_one_line(tmp_path):
    result = midtrain("stats", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "manifest.json" in result.stderr

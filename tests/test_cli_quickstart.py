"""``midtrain quickstart`` end to end, its default output folder, and one-line errors from the CLI."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from midtrain.cli import build_parser, main
from midtrain.corpus import validate
from midtrain.quickstart import DEFAULT_OUTPUT


@pytest.mark.slow
def test_quickstart_builds_a_valid_sample_corpus(tmp_path):
    out = tmp_path / "qs"
    result = subprocess.run([sys.executable, "-m", "midtrain.cli", "quickstart", "--output", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert validate(out / "text") == []
    domains = summary["stages"]["text_corpus"]["stats"]["domains"]
    assert {"web", "code", "math"} <= set(domains)
    assert sum(d["bytes"] for d in domains.values()) > 2_000_000


def test_quickstart_default_folder_is_in_the_current_directory():
    from midtrain.quickstart.run import run_quickstart

    assert build_parser().parse_args(["quickstart"]).output == DEFAULT_OUTPUT == "midtrain-quickstart"
    assert inspect.signature(run_quickstart).parameters["output"].default == DEFAULT_OUTPUT
    assert not Path(DEFAULT_OUTPUT).is_absolute()


def test_stats_json(small_token_corpus, capsys):
    assert main(["stats", str(small_token_corpus), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["domains"]["web"]["documents"] == 100
    assert stats["unit"] == "tokens"


def test_user_error_is_one_line(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "manifest.json" in err

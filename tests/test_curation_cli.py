"""``midtrain curate`` and ``midtrain refilter`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys


def midtrain(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midtrain.cli", *args], capture_output=True, text=True, timeout=300)


def test_curate_then_refilter_from_the_command_line(tmp_path, sample_raw):
    config = tmp_path / "curate.yaml"
    config.write_text("pipeline: [normalise, signals, thresholds]\nexecutor: {workers: 2}\n")
    result = midtrain("curate", f"{sample_raw / 'python_docs.jsonl'}=web", f"{sample_raw / 'champ.jsonl'}=math",
                      "--output", str(tmp_path / "out"), "--config", str(config))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "records in:" in result.stdout and "(adds up)" in result.stdout
    curated = json.loads((tmp_path / "out" / "report.json").read_text())["totals"]

    result = midtrain("refilter", str(tmp_path / "out"), "--output", str(tmp_path / "re"),
                      "--set", "c4.min_num_sentences=1")
    assert result.returncode == 0, result.stderr[-2000:]
    refiltered = json.loads((tmp_path / "re" / "report.json").read_text())["totals"]
    assert refiltered["input_records"] == curated["input_records"]
    assert refiltered["kept"] > curated["kept"]


def test_a_config_mistake_is_one_line_naming_the_key(tmp_path, sample_raw):
    config = tmp_path / "curate.yaml"
    config.write_text("executor: {workers: many}\n")
    result = midtrain("curate", str(sample_raw / "champ.jsonl"), "--output", str(tmp_path / "out"),
                      "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"midtrain curate: error: {config}.executor.workers: expected an integer, got str ('many')"]

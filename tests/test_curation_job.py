"""The curate job end to end on the quickstart sample: corpus, report, determinism, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datatrove.pipeline.base import PipelineStep

from midtrain.corpus import Manifest, read_text_shard, validate
from midtrain.curation import curate
from midtrain.errors import ConfigError, MidtrainError

HINTS = {"python_docs": "web", "python_stdlib": "code", "mpmath_docs": "math", "champ": "math"}
# Readers -> normalise -> writer: the job machinery without the (slower) labels and rules.
LIGHT = {"pipeline": ["normalise"], "output": {"shard_size_mb": 0.2}}


def sample_inputs(sample_raw: Path) -> list[tuple[Path, str]]:
    return [(sample_raw / f"{name}.jsonl", domain) for name, domain in HINTS.items()]


def shard_bytes(corpus: Path) -> dict[str, bytes]:
    """Every shard of a corpus by path (data and rejected), with its bytes."""
    m = Manifest.read(corpus)
    return {s.path: (corpus / s.path).read_bytes() for s in [*m.shards, *m.rejected]}


class CrashOnTask(PipelineStep):
    """Passes documents through; on task ``rank``, raises after ``after`` documents while ``flag`` exists."""

    name = "crash for tests"

    def __init__(self, rank: int, flag: str, after: int = 100) -> None:
        super().__init__()
        self.rank, self.flag, self.after = rank, flag, after

    def run(self, data, rank: int = 0, world_size: int = 1):
        for i, doc in enumerate(data):
            if rank == self.rank and i >= self.after and os.path.exists(self.flag):
                raise RuntimeError("simulated crash in the middle of a task")
            yield doc


def test_curate_writes_a_valid_corpus_per_domain_with_a_balanced_report(tmp_path, sample_raw):
    report = curate(sample_inputs(sample_raw), tmp_path / "out", LIGHT)
    out = tmp_path / "out"
    assert validate(out) == []
    assert report.balanced
    raw_records = sum(1 for name in HINTS for _ in open(sample_raw / f"{name}.jsonl"))
    assert report.input_records == raw_records
    assert set(report.kept) == {"web", "code", "math"}
    body = json.loads((out / "report.json").read_text())
    assert body["totals"] == {"input_records": raw_records, "kept": report.kept_documents,
                              "rejected": report.rejected_documents, "invalid": 0, "balanced": True}
    assert (out / "funnel.png").stat().st_size > 10_000
    assert "![funnel](funnel.png)" in (out / "report.md").read_text()
    web = read_text_shard(out / Manifest.read(out).shards[-1].path)
    assert {"id", "text", "domain", "source", "domain_hint"} <= set(web.column_names)


def test_shards_are_cut_at_the_configured_size_and_named_per_task(tmp_path, sample_raw):
    curate(sample_inputs(sample_raw), tmp_path / "out", LIGHT)
    m = Manifest.read(tmp_path / "out")
    web = [s for s in m.shards if s.domain == "web"]
    assert len(web) > 3  # 1.1 MB of python_docs at 0.2 MB per shard
    assert all(s.path.startswith("data/web/t00000-") for s in web)
    assert all(s.text_bytes < 200_000 + 150_000 for s in web)  # cut after the shard passes the size


def test_worker_count_does_not_change_a_byte(tmp_path, sample_raw):
    curate(sample_inputs(sample_raw), tmp_path / "one", LIGHT, workers=1)
    curate(sample_inputs(sample_raw), tmp_path / "two", LIGHT, workers=2)
    assert shard_bytes(tmp_path / "one") == shard_bytes(tmp_path / "two")


def test_a_crashed_job_resumes_to_the_uninterrupted_corpus(tmp_path, sample_raw):
    flag = tmp_path / "crash"
    flag.touch()
    cfg = {"pipeline": ["normalise", {"test_curation_job:CrashOnTask": {"rank": 2, "flag": str(flag)}}],
           "output": {"shard_size_mb": 0.05}}
    out = tmp_path / "out"
    with pytest.raises(MidtrainError, match=r"2 of 4 tasks did not finish \(first: task 2, log .*task_00002.log\)"):
        curate(sample_inputs(sample_raw), out, cfg)
    assert not (out / "manifest.json").exists()
    partial = sorted(p.name for p in (out / "data" / "math").glob("t00002-*.arrow"))
    assert partial, "the crashed task had written shards before the crash"
    done_before = {p: p.stat().st_mtime_ns for p in (out / "data").glob("*/t0000[01]-*.arrow")}

    flag.unlink()
    report = curate(sample_inputs(sample_raw), out, cfg)
    clean = tmp_path / "clean"
    curate(sample_inputs(sample_raw), clean, cfg)
    assert shard_bytes(out) == shard_bytes(clean)
    assert {p: p.stat().st_mtime_ns for p in done_before} == done_before  # finished tasks were not redone
    assert report.balanced and validate(out) == []
    ids = [i for s in Manifest.read(out).shards for i in read_text_shard(out / s.path).column("id").to_pylist()]
    assert len(ids) == len(set(ids)) == report.kept_documents


def test_rerunning_a_finished_job_changes_nothing(tmp_path, sample_raw):
    out = tmp_path / "out"
    curate(sample_inputs(sample_raw), out, LIGHT)
    before = {**shard_bytes(out), "manifest": (out / "manifest.json").read_bytes()}
    curate(sample_inputs(sample_raw), out, LIGHT, workers=2)
    assert {**shard_bytes(out), "manifest": (out / "manifest.json").read_bytes()} == before


def test_another_job_in_the_same_output_is_refused(tmp_path, sample_raw):
    out = tmp_path / "out"
    curate(sample_inputs(sample_raw)[:1], out, LIGHT)
    with pytest.raises(ConfigError, match=r"holds a curate job with another configuration \(differs in: inputs"):
        curate(sample_inputs(sample_raw), out, LIGHT)
    report = curate(sample_inputs(sample_raw), out, LIGHT, overwrite=True)
    assert set(report.kept) == {"web", "code", "math"}


def test_bad_records_are_counted_and_the_counts_add_up(tmp_path, sample_raw):
    good = (sample_raw / "python_docs.jsonl").read_bytes().splitlines()[:20]
    big = json.dumps({"id": "big", "text": "A sentence that goes on and on. " * 1_600_000}).encode()
    assert len(big) > 50_000_000
    lines = [*good[:10], b'{"text": "cut', b'{"text": "\xfe\xff"}', b'{"id": "no text"}', b'{"text": ""}',
             b'{"text": "   \\n\\t "}', big, *good[10:]]
    (tmp_path / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    report = curate([(tmp_path / "bad.jsonl", "web")], tmp_path / "out", LIGHT)
    assert report.input_records == 26
    assert report.invalid == {"malformed_json": 1, "invalid_utf8": 1, "missing_text": 1}
    assert report.rejected == {"web": {"normalise": {"empty": 2}}}
    assert report.kept_documents == 21 and report.balanced
    assert [(e["file"], e["line"]) for e in report.invalid_examples] == [
        ("bad.jsonl", "line 11"), ("bad.jsonl", "line 12"), ("bad.jsonl", "line 13")]
    rejected = read_text_shard(tmp_path / "out" / Manifest.read(tmp_path / "out").rejected[0].path)
    assert rejected.column("step").to_pylist() == ["normalise"] * 2
    assert rejected.column("reason").to_pylist() == ["empty"] * 2


def test_a_script_without_main_guard_is_refused_before_workers_start(tmp_path, sample_raw):
    script = tmp_path / "job.py"
    script.write_text(f"from midtrain.curation import curate\n"
                      f"curate([{str(sample_raw / 'champ.jsonl')!r}, {str(sample_raw / 'mpmath_docs.jsonl')!r}], "
                      f"{str(tmp_path / 'out')!r}, {{'pipeline': ['normalise']}}, workers=2)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "put the call under `if __name__ == \"__main__\":`" in result.stderr


def test_dedup_stage_runs_after_the_pipeline_and_the_counts_still_add_up(tmp_path, sample_raw):
    twin = tmp_path / "champ_again.jsonl"
    twin.write_bytes((sample_raw / "champ.jsonl").read_bytes())
    report = curate([(sample_raw / "champ.jsonl", "math"), (twin, "math")], tmp_path / "out",
                    {**LIGHT, "dedup": {"fuzzy": False}})
    assert report.rejected["math"]["exact_dedup"] == {"duplicate_of": 270}
    assert report.kept_documents == 270 and report.balanced
    assert validate(tmp_path / "out") == [] and not (tmp_path / "out" / "stages").exists()
    assert report.steps()[-1] == "exact_dedup"


def test_decontamination_stage_drops_documents_holding_an_eval_item(tmp_path, sample_raw):
    champ = [json.loads(line) for line in (sample_raw / "champ.jsonl").read_text().splitlines()]
    eval_set = tmp_path / "exam.jsonl"
    eval_set.write_text("\n".join(json.dumps({"id": f"q{i}", "question": p["text"][:400]})
                                  for i, p in enumerate(champ[:3])) + "\n")
    report = curate([(sample_raw / "champ.jsonl", "math")], tmp_path / "out",
                    {**LIGHT, "decontaminate": {"against": [str(eval_set)]}})
    assert report.balanced
    out = tmp_path / "out"
    rejected = {i: r for s in Manifest.read(out).rejected if s.path.startswith("rejected/math")
                for i, r in zip(read_text_shard(out / s.path).column("id").to_pylist(),
                                read_text_shard(out / s.path).column("reason").to_pylist())}
    # the three problems themselves, plus any other problem sharing a 13-gram with them
    assert {p["id"] for p in champ[:3]} <= {i for i, r in rejected.items() if r.startswith("contaminated=exam:")}
    assert sum(report.rejected["math"]["decontaminate"].values()) == len(rejected)


@pytest.mark.parametrize("section", [{"dedup": {}}, {"decontaminate": {"against": ["exam.jsonl"]}}])
def test_a_corpus_stage_on_slurm_is_refused_before_any_work(tmp_path, sample_raw, section):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"config.(dedup|decontaminate): runs on the local or ray executor, not slurm"):
        curate([(sample_raw / "champ.jsonl", "math")], out, {**LIGHT, **section}, executor="slurm")
    assert not out.exists()


def test_corpus_stage_settings_are_checked(tmp_path, sample_raw):
    with pytest.raises(ConfigError, match=r"config.dedup.treshold: unknown key \(known: .*threshold"):
        curate([(sample_raw / "champ.jsonl", "math")], tmp_path / "out", {**LIGHT, "dedup": {"treshold": 0.5}})

"""Kill a running ``midtrain curate`` and rerun the same command: same corpus, finished tasks kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from datatrove.pipeline.base import PipelineStep

from midtrain.corpus import Manifest, validate

TESTS = Path(__file__).parent


class PauseOnTask(PipelineStep):
    """Passes documents through; on task ``rank`` it stops after ``after`` documents while ``flag`` exists."""

    name = "pause for tests"

    def __init__(self, rank: int, flag: str, after: int = 150) -> None:
        super().__init__()
        self.rank, self.flag, self.after = rank, flag, after

    def run(self, data, rank: int = 0, world_size: int = 1):
        for i, doc in enumerate(data):
            while rank == self.rank and i == self.after and os.path.exists(self.flag):
                time.sleep(0.05)
            yield doc


def curate_cli(sample_raw: Path, out: Path, config: Path, **kwargs) -> subprocess.Popen:
    inputs = [f"{sample_raw / 'python_docs.jsonl'}=web", f"{sample_raw / 'python_stdlib.jsonl'}=code",
              f"{sample_raw / 'mpmath_docs.jsonl'}=math", f"{sample_raw / 'champ.jsonl'}=math"]
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "midtrain.cli", "curate", *inputs, "--output", str(out),
                             "--config", str(config)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, **kwargs)


def test_killed_job_rerun_equals_uninterrupted_run(tmp_path, sample_raw):
    flag = tmp_path / "pause"
    config = tmp_path / "curate.yaml"
    config.write_text(f"pipeline:\n  - normalise\n  - 'test_curation_resume:PauseOnTask': {{rank: 2, flag: '{flag}'}}\n"
                      "output: {shard_size_mb: 0.05}\n")
    out = tmp_path / "out"
    flag.touch()
    proc = curate_cli(sample_raw, out, config)
    deadline = time.time() + 120
    while not list((out / "data" / "math").glob("t00002-*.arrow")):  # task 2 is half written
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "task 2 never started writing"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    finished = sorted(p.name for p in (out / "job" / "completions").iterdir())
    assert finished == ["00000", "00001"]
    kept_files = {p: p.stat().st_mtime_ns for p in (out / "data").glob("*/t0000[01]-*.arrow")}

    flag.unlink()
    assert curate_cli(sample_raw, out, config).wait(timeout=300) == 0
    assert curate_cli(sample_raw, tmp_path / "clean", config).wait(timeout=300) == 0
    assert validate(out) == []
    resumed, clean = Manifest.read(out), Manifest.read(tmp_path / "clean")
    assert [(s.path, s.checksum) for s in resumed.shards] == [(s.path, s.checksum) for s in clean.shards]
    assert {p: p.stat().st_mtime_ns for p in kept_files} == kept_files  # tasks 0 and 1 were not redone
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.arrow"))
    assert on_disk == sorted(s.path for s in resumed.shards)  # no leftover of the killed attempt

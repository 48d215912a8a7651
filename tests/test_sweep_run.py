"""``run_sweep`` end to end on a tiny token corpus (CPU, float32): every run gets one result, a killed
sweep resumed with ``resume=True`` trains only what is missing and measures what an uninterrupted
sweep measures, and the anneal base is trained once and reused."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers.loader_corpora import make_token_corpus
from midtrain.errors import ConfigError
from midtrain.sweep import spec as sweep_spec
from midtrain.sweep.sampler import plan_sweep
from midtrain.sweep.spec import read_results, read_sweep, write_sweep
from midtrain.sweep.train import TrainSettings, lr_at, plan_groups, run_sweep
from helpers.torch_threads import one_thread  # noqa: F401  (autouse fixture)

TINY = {"hidden": 32, "layers": 2, "heads": 4, "intermediate": 64}
SEQ, BATCH, STEPS = 64, 2, 6
SETTINGS = TrainSettings(lr=3e-3, heldout_rows=4)


@pytest.fixture(autouse=True)
def tiny_proxy(monkeypatch):
    monkeypatch.setitem(sweep_spec.PROXIES, "tiny", TINY)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    """Two domains (so four anchors: prior, uniform and each domain at its cap)."""
    root = tmp_path_factory.mktemp("sweep_corpora")
    domains = ("code", "web")
    train = make_token_corpus(root / "train", docs_per_shard=30, shards=1, seed=0, vocab=128, domains=domains)
    held = make_token_corpus(root / "heldout", docs_per_shard=8, shards=1, seed=1, vocab=128, domains=domains)
    return train, held


def plan(out: Path, corpora: tuple[Path, Path], mode: str) -> list[str]:
    """A 2 + 1 run swarm plus anchors (one seed each): 7 runs of 6 steps (8 for the anneal base)."""
    spec = plan_sweep(*corpora, runs=2, holdout=1, proxy="tiny", tokens=STEPS * SEQ * BATCH, mode=mode,
                      base_tokens=8 * SEQ * BATCH if mode == "anneal" else None, max_epochs=4.0, seed=0,
                      seq_len=SEQ, batch_size=BATCH, seeds_per_anchor=1)
    write_sweep(out, spec)
    return [r.run_id for r in spec.runs]


def losses(directory: Path) -> dict[str, tuple[float, dict[str, float]]]:
    results, problems = read_results(directory, read_sweep(directory))
    assert problems == []
    return {r.run_id: (r.train_loss, r.heldout_loss) for r in results}


@pytest.fixture(scope="module")
def anneal_whole(tmp_path_factory, corpora) -> Path:
    """An anneal sweep run without interruption, groups of 3."""
    out = tmp_path_factory.mktemp("anneal_whole")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sweep_spec.PROXIES, "tiny", TINY)
        plan(out, corpora, "anneal")
        run_sweep(out, group=3, device="cpu", compile=False, progress=False, settings=SETTINGS)
    return out


def test_pretrain_sweep_writes_one_result_per_run_and_needs_resume_to_continue(tmp_path, corpora):
    ids = plan(tmp_path, corpora, "pretrain")
    report = run_sweep(tmp_path, group=3, device="cpu", compile=False, progress=False, settings=SETTINGS)
    assert sorted(report.trained) == sorted(ids) and not report.failed
    assert [g.members for g in report.groups] == [3, 3, 3]  # 3 + 3 + 1 runs, the last padded
    spec = read_sweep(tmp_path)
    results, _ = read_results(tmp_path, spec)
    assert [r.run_id for r in results] == ids  # groups run in the sweep's order
    for r in results:
        assert r.tokens == STEPS * SEQ * BATCH and r.proxy == "tiny"
        assert set(r.heldout_loss) == set(spec.domains)
        assert all(3.0 < v < 6.0 for v in r.heldout_loss.values())  # ln 128 = 4.85 at init
        assert r.seconds > 0 and r.step_time_ms > 0
    assert len({tuple(r.heldout_loss.values()) for r in results}) > 1  # one init seed: the data differs
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(tmp_path, group=3, device="cpu", compile=False, progress=False, settings=SETTINGS)
    again = run_sweep(tmp_path, group=3, device="cpu", resume=True, compile=False, progress=False, settings=SETTINGS)
    assert again.trained == [] and sorted(again.skipped) == sorted(ids)


def test_anneal_sweep_resumed_after_a_kill_equals_the_uninterrupted_one(tmp_path, corpora, anneal_whole, capsys):
    ids = plan(tmp_path, corpora, "anneal")
    first = [r.run_id for r in plan_groups(list(read_sweep(tmp_path).runs), 3)[0]]
    part = run_sweep(tmp_path, group=3, device="cpu", compile=False, run_ids=first, progress=False,
                     settings=SETTINGS)
    assert part.trained == first
    base = tmp_path / "checkpoints" / "base-tiny.pt"
    stamp = base.stat().st_mtime_ns
    rest = run_sweep(tmp_path, group=3, device="cpu", resume=True, compile=False, progress=True, settings=SETTINGS)
    assert sorted(rest.trained) == sorted(set(ids) - set(first)) and sorted(rest.skipped) == sorted(first)
    assert "reused" in capsys.readouterr().out and base.stat().st_mtime_ns == stamp
    assert losses(tmp_path) == losses(anneal_whole)  # exactly: same seeds, same groups, float32 on CPU


def test_a_crash_inside_a_group_loses_only_unwritten_runs(tmp_path, corpora, anneal_whole, monkeypatch):
    """Results already appended stay; the resumed sweep trains each missing run once, to the same losses
    (to float32 rounding: the runs after the crash sit in other groups than in the uninterrupted sweep)."""
    import midtrain.sweep.train as train

    ids = plan(tmp_path, corpora, "anneal")
    real_append, calls = train.append_result, []

    def append_then_die(directory, result):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        calls.append(result.run_id)
        real_append(directory, result)

    monkeypatch.setattr(train, "append_result", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tmp_path, group=3, device="cpu", compile=False, progress=False, settings=SETTINGS)
    monkeypatch.setattr(train, "append_result", real_append)
    rest = run_sweep(tmp_path, group=3, device="cpu", resume=True, compile=False, progress=False, settings=SETTINGS)
    assert sorted(rest.trained) == sorted(set(ids) - set(calls))
    crash, whole = losses(tmp_path), losses(anneal_whole)
    assert sorted(crash) == sorted(whole)
    for run_id, (train_loss, held) in whole.items():
        assert crash[run_id][0] == pytest.approx(train_loss, rel=1e-5)
        assert crash[run_id][1] == pytest.approx(held, rel=1e-5)


def test_a_base_checkpoint_of_other_settings_is_refused(tmp_path, corpora, anneal_whole):
    plan(tmp_path, corpora, "anneal")
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(anneal_whole / "checkpoints" / "base-tiny.pt", tmp_path / "checkpoints")
    with pytest.raises(ConfigError, match="base-tiny.pt.*delete it"):
        run_sweep(tmp_path, device="cpu", compile=False, progress=False,
                  settings=dataclasses.replace(SETTINGS, lr=1e-2))


def test_bad_arguments_are_named(tmp_path, corpora):
    plan(tmp_path, corpora, "pretrain")
    with pytest.raises(ConfigError, match="--runs: rnope"):
        run_sweep(tmp_path, device="cpu", run_ids=["rnope"], progress=False)
    with pytest.raises(ConfigError, match="--group"):
        run_sweep(tmp_path, group=0, device="cpu", progress=False)
    body = json.loads((tmp_path / "sweep.json").read_text())
    body["tokens"] = 10  # less than one step of 2 x 64 tokens
    (tmp_path / "sweep.json").write_text(json.dumps(body))
    with pytest.raises(ConfigError, match="tokens 10 is less than one step"):
        run_sweep(tmp_path, device="cpu", compile=False, progress=False, settings=SETTINGS)


def test_groups_are_balanced_and_keep_the_order():
    runs = list(range(40))
    assert [len(g) for g in plan_groups(runs, 16)] == [14, 14, 12]
    assert sum(plan_groups(runs, 16), []) == runs
    assert [len(g) for g in plan_groups(runs[:5], 16)] == [5]


def test_learning_rate_schedules():
    s = TrainSettings(lr=1.0, warmup=0.1, final_lr=0.1, decay=0.2)
    assert [lr_at(i, 10, s, "anneal") for i in (0, 9)] == [1.0, pytest.approx(0.1)]
    assert [lr_at(i, 10, s, "constant") for i in (0, 1, 9)] == [1.0, 1.0, 1.0]
    assert lr_at(0, 100, s, "cosine") == pytest.approx(0.1) and lr_at(10, 100, s, "cosine") == 1.0
    assert lr_at(99, 100, s, "cosine") == pytest.approx(0.1, abs=1e-3)
    assert lr_at(79, 100, s, "wsd") == 1.0 and lr_at(90, 100, s, "wsd") == pytest.approx(0.5)
    assert torch.tensor([lr_at(i, 100, s, "cosine") for i in range(10, 100)]).diff().le(0).all()

"""`midtrain sweep` end to end on CPU: plan on a tiny token corpus, results from a planted law (as
`sweep run` would append them, plus a broken line and a NaN), fit, optimize, confirm, report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from midtrain.cli import main
from midtrain.mixers import load_schedule, plan_budget
from midtrain.sweep.spec import RunResult, append_result, read_sweep
from helpers.sweep_corpora import dml_loss, make_sized_corpus

C = np.array([2.0, 1.5, 3.0])
T = np.array([[-1.2, 0.3, 0.4], [0.2, -2.0, 0.5], [0.3, 0.2, -0.8]])
"""Planted law over (code, math, web): each domain's loss falls with its own share."""


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep_cli")
    train = make_sized_corpus(root / "train", {"code": 400_000, "math": 100_000, "web": 1_000_000})
    held = make_sized_corpus(root / "held", {"code": 5_000, "math": 5_000, "web": 5_000}, seed=1)
    return train, held


def _measure(directory, roles, rng):
    """Append a result from the planted law (plus seed noise) for every run of ``roles``."""
    spec = read_sweep(directory)
    for r in spec.runs:
        if r.role in roles:
            w = np.array([[r.weights[d] for d in spec.domains]])
            loss = dml_loss(w, C, T)[0] + rng.normal(0, 0.002, 3)
            append_result(directory, RunResult(run_id=r.run_id, seed=r.seed, proxy=r.proxy, weights=r.weights,
                                               heldout_loss=dict(zip(spec.domains, loss.tolist())), train_loss=3.0,
                                               tokens=spec.tokens, seconds=1.0, step_time_ms=10.0))


def test_plan_fit_optimize_report(corpora, tmp_path, capsys):
    sweep = tmp_path / "sw"
    assert main(["sweep", "plan", str(corpora[0]), "--heldout", str(corpora[1]), "--runs", "24", "--holdout", "10",
                 "--tokens", "400K", "--mode", "anneal", "--max-epochs", "4", "--out", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "runs by role: fit 24, heldout 10, anchor 15" in out and "estimated GPU time" in out
    spec = read_sweep(sweep)
    assert len(list((sweep / "schedules").glob("*.yaml"))) == len(spec.runs)

    rng = np.random.default_rng(0)
    _measure(sweep, ("fit", "heldout", "anchor"), rng)
    with open(sweep / "results.jsonl", "a") as f:
        f.write('{"run_id": "r12", "seed": 0, "pro\n')
        bad = json.loads((sweep / "results.jsonl").read_text().splitlines()[0])
        bad["heldout_loss"]["web"] = math.nan
        f.write(json.dumps(bad) + "\n")
    lines = len((sweep / "results.jsonl").read_text().splitlines())

    assert main(["sweep", "fit", str(sweep), "--cv", "5", "--bootstrap", "10", "--objective", "math+code"]) == 0
    captured = capsys.readouterr()
    assert f"results.jsonl:{lines - 1}: line: not valid JSON" in captured.err
    assert f"results.jsonl:{lines}: heldout_loss.web: nan is not a finite loss" in captured.err
    assert "dml*" in captured.out and (sweep / "fit.json").is_file()

    mix_yaml = tmp_path / "mix.yaml"
    assert main(["sweep", "optimize", str(sweep), "--minimize", "math+code", "--subject-to", "web<=base*1.02",
                 "--emit", str(mix_yaml), "--candidates", "20000"]) == 0
    out = capsys.readouterr().out
    assert "chosen mix" in out and "added 3 confirm runs" in out
    schedule = load_schedule(mix_yaml, domain_tokens=spec.domain_tokens)
    assert plan_budget(schedule, spec.domain_tokens, max_epochs=4.0).ok
    optimized = json.loads((sweep / "optimized.json").read_text())
    assert schedule.weights_at(schedule.total_tokens - 1) == pytest.approx(optimized["weights"])

    _measure(sweep, ("confirm",), rng)  # what `sweep run --resume` would add
    assert main(["sweep", "report", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy (10 held-out runs" in out
    metrics = json.loads((sweep / "report" / "metrics.json").read_text())
    assert metrics["heldout"]["math+code"]["spearman"] >= 0.95
    chosen = metrics["chosen_vs_baselines"]
    assert chosen["mixes"]["optimized"]["source"] == "measured" and chosen["mixes"]["optimized"]["n"] == 3
    assert chosen["gain_over_prior"]["measured"] and chosen["gain_over_prior"]["seed_sigmas"] > 2
    assert chosen["mixes"]["optimized"]["constraints"][0]["holds"]  # web bound met as measured


def test_plan_refuses_to_overwrite_and_accepts_output_spellings(corpora, tmp_path, capsys):
    args = ["sweep", "plan", str(corpora[0]), "--heldout", str(corpora[1]), "--runs", "4", "--tokens", "100K"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "--output", str(tmp_path / "a")]) == 2
    assert "sweep.json: exists; pass --force" in capsys.readouterr().err
    assert main([*args, "--output", str(tmp_path / "a"), "--force"]) == 0


def test_user_mistakes_are_one_line_errors(corpora, tmp_path, capsys):
    assert main(["sweep", "fit", str(tmp_path)]) == 2
    assert "sweep.json: not found" in capsys.readouterr().err
    assert main(["sweep", "plan", str(corpora[0]), "--heldout", str(corpora[1]), "--runs", "4", "--tokens", "50M",
                 "--mode", "pretrain", "--max-epochs", "1", "-o", str(tmp_path / "x")]) == 2
    assert "no mixture fits the epoch caps" in capsys.readouterr().err

"""Ranking metrics agree with scipy (ties included); pairwise accuracy and regret on known cases; the
report folder has its files, Olmix's CSV layout and honest labels (measured vs predicted)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from midtrain.sweep.fit import fit_sweep
from midtrain.sweep.metrics import average_ranks, kendall, pairwise_accuracy, regret, relative_errors, spearman
from midtrain.sweep.report import write_report
from midtrain.sweep.spec import RunResult, add_runs, append_result, make_run, read_results, read_sweep
from helpers.sweep_corpora import DOMAINS, planted_sweep

values = st.lists(st.integers(0, 6).map(float), min_size=3, max_size=30)  # small integers: many ties


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_spearman_and_kendall_match_scipy_with_ties(data):
    a = np.array(data.draw(values))
    b = np.array(data.draw(st.lists(st.integers(0, 6).map(float), min_size=len(a), max_size=len(a))))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert kendall(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
    assert average_ranks(a) == pytest.approx(stats.rankdata(a))


def test_pairwise_accuracy_regret_and_relative_error():
    measured = np.array([1.0, 2.0, 3.0, 4.0])
    assert pairwise_accuracy(measured * 2, measured) == 1.0
    assert pairwise_accuracy(-measured, measured) == 0.0
    assert pairwise_accuracy(np.array([1.0, 3.0, 2.0, 4.0]), measured) == pytest.approx(5 / 6)
    assert pairwise_accuracy(np.array([1.0, 1.0, 3.0, 4.0]), measured) == pytest.approx(5.5 / 6)  # a tie: half
    assert regret(np.array([2.0, 1.0, 3.0, 4.0]), measured) == 1.0  # picks the second-best run
    assert regret(measured, measured) == 0.0
    assert relative_errors(np.array([1.01, 1.98]), np.array([1.0, 2.0])) == pytest.approx([0.01, 0.01])


def test_report_writes_its_files_and_labels_sources(tmp_path):
    spec = planted_sweep(tmp_path)
    fit_sweep(tmp_path, model="dml", cv=5, objectives=["math+code"], bootstrap=10)
    report = write_report(tmp_path)
    folder = tmp_path / "report"
    for name in ("report.md", "metrics.json", "predicted_vs_measured.png", "ratios.csv", "metrics.csv",
                 "olmix_fit.yaml"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["objective"] == "math+code" and metrics["heldout_rows"] == 16
    for target in ("code", "math", "web", "math+code"):
        assert metrics["heldout"][target]["spearman"] >= 0.95
        assert metrics["heldout"][target]["median_rel_error"] <= 0.01
    assert list(metrics["rho_vs_runs"]) == ["8", "16", "32", "43"]
    mixes = metrics["chosen_vs_baselines"]["mixes"]
    assert mixes["prior"]["source"] == "measured" and mixes["prior"]["n"] == 3
    assert "optimized" not in mixes and "uniform" not in mixes  # no optimize run, no uniform anchor
    assert "prior      measured" in report.text
    with open(folder / "ratios.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["run", "name", "index", *DOMAINS] and len(rows) == 1 + len(spec.runs)
    assert sum(float(x) for x in rows[1][3:]) == pytest.approx(1.0)
    with open(folder / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert header == ["run", "name", "index", "heldout_loss:code", "heldout_loss:math", "heldout_loss:web",
                      "heldout_loss:wiki", "objective:math+code"]


def test_transfer_compares_proxies_on_shared_mixtures(tmp_path):
    spec = planted_sweep(tmp_path)
    fit_sweep(tmp_path, model="linlog", cv=5, bootstrap=0)
    held = [r for r in spec.runs if r.role == "heldout"][:8]
    big = [make_run(role="transfer", name=f"transfer-{i}", weights=r.weights, seed=0, proxy="s42m")
           for i, r in enumerate(held)]
    add_runs(tmp_path, big)
    measured = {res.run_id: res for res in read_results(tmp_path)[0]}
    for small, large in zip(held, big):
        losses = {d: v * 0.8 for d, v in measured[small.run_id].heldout_loss.items()}  # same ranking, lower losses
        append_result(tmp_path, RunResult(run_id=large.run_id, seed=0, proxy="s42m", weights=large.weights,
                                          heldout_loss=losses, train_loss=1.0, tokens=1, seconds=1.0,
                                          step_time_ms=1.0))
    report = write_report(tmp_path)
    assert report.metrics["transfer"]["s42m"] == {"n": 8, "spearman": pytest.approx(1.0),
                                                  "pairwise_accuracy": pytest.approx(1.0)}
    assert read_sweep(tmp_path).runs[-1].proxy == "s42m"

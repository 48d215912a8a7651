"""Mixing laws recover planted laws; CV picks the right family from the fit runs alone; bootstrap σ is
honest; LightGBM is optional; bad result lines are named and skipped, never fitted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from midtrain.errors import ConfigError
from midtrain.sweep.fit import fit_sweep, group_folds, load_fit
from midtrain.sweep.laws import DMLLaw, LinLogLaw, fit_law
from midtrain.sweep.metrics import spearman
from midtrain.sweep.objective import parse_objective
from midtrain.sweep.spec import RunResult, SweepSpec, append_result, make_run, write_sweep
from helpers.sweep_corpora import C, DOMAINS, T, dml_loss, mixtures, planted_sweep

def test_dml_recovers_a_planted_law():
    X, X_test = mixtures(48, 0), mixtures(64, 1)
    rng = np.random.default_rng(2)
    for i in range(3):
        y = dml_loss(X, C[i:i + 1], T[i:i + 1])[:, 0] + rng.normal(0, 0.002, len(X))
        law = DMLLaw.fit(X, y)
        assert law.c == pytest.approx(C[i], abs=0.03)
        assert law.t == pytest.approx(T[i], abs=0.05)
        truth = dml_loss(X_test, C[i:i + 1], T[i:i + 1])[:, 0]
        assert spearman(law.predict(X_test), truth) >= 0.98
        assert np.max(np.abs(law.predict(X_test) / truth - 1)) < 0.005


def test_linlog_recovers_a_planted_law():
    a, b = np.array([0.10, -0.20, 0.05, 0.0]), np.array([-0.05, -0.02, -0.01, -0.03])
    X, X_test = mixtures(48, 0), mixtures(64, 1)
    truth = lambda X: 3.0 + X @ a + np.log(X + 1e-3) @ b  # noqa: E731
    y = truth(X) + np.random.default_rng(3).normal(0, 0.002, len(X))
    law = LinLogLaw.fit(X, y)
    assert spearman(law.predict(X_test), truth(X_test)) >= 0.98
    # the log terms are identifiable; the linear ones only up to a constant (weights sum to one)
    assert law.coef[4:] == pytest.approx(b, abs=0.005)
    shift = (law.coef[:4] - a).mean()
    assert law.coef[:4] - shift == pytest.approx(a, abs=0.03)
    assert law.intercept + shift == pytest.approx(3.0, abs=0.03)


def test_linlog_without_noise_is_exact():
    X = mixtures(30, 4)
    y = 1.0 + X @ np.array([0.3, 0.1, -0.2, 0.0]) + np.log(X + 1e-3) @ np.array([-0.04, 0.0, -0.01, -0.02])
    law = LinLogLaw.fit(X, y)
    assert np.max(np.abs(law.predict(X) - y)) < 1e-4
    assert LinLogLaw.from_dict(json.loads(json.dumps(law.to_dict()))).predict(X) == pytest.approx(law.predict(X))


def test_groups_keep_seeds_of_one_mixture_in_one_fold():
    X = np.vstack([mixtures(10, 0), np.repeat(mixtures(2, 1), 3, axis=0)])
    fold = group_folds(X, 5, seed=0)
    assert len(set(fold[10:13])) == 1 and len(set(fold[13:16])) == 1
    assert set(fold) == set(range(5))


def test_lgbm_missing_is_a_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_lightgbm(name, *args, **kwargs):
        if name == "lightgbm":
            raise ImportError("No module named 'lightgbm'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lightgbm)
    with pytest.raises(ConfigError, match="pip install lightgbm"):
        fit_law("lgbm", mixtures(10, 0), np.ones(10))


# --- fit_sweep on a sweep folder ----------------------------------------------------------------
def test_auto_picks_dml_on_dml_data_and_never_reads_heldout_runs(tmp_path):
    spec = planted_sweep(tmp_path)
    fitted = fit_sweep(tmp_path, model="auto", cv=5, objectives=["math+code"], bootstrap=20)
    held = {r.run_id for r in spec.runs if r.role == "heldout"}
    assert held.isdisjoint(fitted.fit_runs) and len(fitted.fit_runs) == 43
    for d in ("code", "math", "web"):
        assert fitted.targets[d].law.kind == "dml"
        assert set(fitted.targets[d].cv) == {"linlog", "dml"} or "lgbm" in fitted.targets[d].cv
        assert fitted.targets[d].cv["dml"]["spearman"] > 0.98
    assert load_fit(tmp_path).to_dict() == json.loads((tmp_path / "fit.json").read_text())
    # held-out ranking of a directly fitted objective and of the sum of the domain laws
    X = np.array([[r.weights[d] for d in DOMAINS] for r in spec.runs if r.role == "heldout"])
    truth = dml_loss(X, C, T)[:, :2].sum(axis=1)
    loaded = load_fit(tmp_path)
    for name in ("math+code", "code+math"):
        mean, sigma = loaded.predict(parse_objective(name, DOMAINS), X)
        assert spearman(mean, truth) >= 0.98 and (sigma > 0).all()


def test_bootstrap_sigma_covers_the_planted_truth(tmp_path):
    spec = planted_sweep(tmp_path, noise=0.01)
    fitted = fit_sweep(tmp_path, model="dml", cv=5, bootstrap=50)
    X = np.array([[r.weights[d] for d in DOMAINS] for r in spec.runs if r.role == "heldout"])
    mean, sigma = fitted.predict(parse_objective("math", DOMAINS), X)
    inside = np.abs(mean - dml_loss(X, C, T)[:, 1]) <= 2.5 * sigma
    assert inside.mean() >= 0.8


def test_auto_picks_linlog_on_linlog_data(tmp_path):
    planted_sweep(tmp_path, law="linlog", noise=0.001)
    fitted = fit_sweep(tmp_path, model="auto", cv=5, bootstrap=0)
    assert [fitted.targets[d].law.kind for d in ("code", "math", "web")] == ["linlog"] * 3


def test_bad_results_are_named_and_skipped(tmp_path):
    spec = planted_sweep(tmp_path, extra_lines=['{"run_id": "r1", "seed"'])
    fit_run = next(r for r in spec.runs if r.role == "fit")
    good = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    lines[0] = json.dumps({**good, "heldout_loss": {**good["heldout_loss"], "math": float("nan")}})
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    fitted = fit_sweep(tmp_path, model="linlog", cv=5, bootstrap=0)
    assert fit_run.run_id not in fitted.fit_runs and len(fitted.fit_runs) == 42
    assert fitted.problems[0] == "results.jsonl:1: heldout_loss.math: nan is not a finite loss"
    assert fitted.problems[1].startswith(f"results.jsonl:{len(lines)}: line: not valid JSON")


def test_too_few_results_and_bad_flags(tmp_path):
    planted_sweep(tmp_path, n_fit=1, n_held=0)
    with pytest.raises(ConfigError, match="results.jsonl: 4 valid results of fit or anchor runs over 2 distinct "
                                          "mixtures; the fit needs at least 4"):
        fit_sweep(tmp_path, bootstrap=0)
    with pytest.raises(ConfigError, match="--cv: needs at least 2 folds"):
        fit_sweep(tmp_path, cv=1)
    with pytest.raises(ConfigError, match="--objective: unknown domain 'maths'"):
        fit_sweep(tmp_path, objectives=["maths+code"])


def test_lgbm_when_installed_fits_and_round_trips():
    pytest.importorskip("lightgbm")
    from midtrain.sweep.laws import law_from_dict

    X, X_test = mixtures(200, 0), mixtures(50, 1)
    truth = lambda X: dml_loss(X, C[:1], T[:1])[:, 0]  # noqa: E731
    law = fit_law("lgbm", X, truth(X))
    assert spearman(law.predict(X_test), truth(X_test)) >= 0.95
    again = law_from_dict(json.loads(json.dumps(law.to_dict())))
    assert again.predict(X_test) == pytest.approx(law.predict(X_test))

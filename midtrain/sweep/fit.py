"""Fitting the swarm: one mixing law per target, chosen by cross-validation, with bootstrap uncertainty.

Targets are each domain's held-out loss and any objective given (``math+code``: the sum, fitted as one
target). Rows are the results of the fit runs and the anchors on the swarm's proxy; the held-out runs
are never read here, so the report's held-out scores stay honest. For each target:

1. every candidate law (:mod:`midtrain.sweep.laws`) is scored by K-fold cross-validation over the fit
   rows, with the seeds of one mixture kept in the same fold (otherwise a fold would "predict" a
   mixture it trained on); ``auto`` keeps the law with the least out-of-fold squared error;
2. the chosen law is refitted on all rows, and on ``bootstrap`` resamples of them (50 by default):
   the spread of the replicates' predictions is the predictive σ the optimiser's margin uses.

``fit.json`` holds it all; :func:`load_fit` gives back a :class:`SweepFit` that predicts any objective
(a target fitted directly, else the sum of its domains' laws, replicate by replicate so σ keeps their
correlation).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from midtrain.errors import ConfigError
from midtrain.sweep.laws import KINDS, Law, fit_law, law_from_dict, lightgbm_available
from midtrain.sweep.metrics import relative_errors, spearman
from midtrain.sweep.objective import Objective, parse_objective
from midtrain.sweep.spec import RunResult, SweepSpec, atomic_write_text, read_results, read_sweep

FIT_FILE = "fit.json"
FIT_ROLES = ("fit", "anchor")
DEFAULT_BOOTSTRAP = 50
MIN_MIXTURES = 4


@dataclass
class TargetFit:
    """One target's chosen law, its bootstrap replicates and every candidate's CV scores."""

    name: str
    terms: dict[str, float]
    law: Law | None
    """None: the sum of the domains' laws predicts this objective better (``sum`` won the CV)."""
    replicates: list[Law]
    cv: dict[str, dict[str, float]]
    """``{kind: {"spearman", "median_rel_error", "rmse", "r2"}}`` out of fold."""
    out_of_fold: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Each kind's out-of-fold predictions (kept in memory only, to score sums of domain laws)."""

    @property
    def model(self) -> str:
        return self.law.kind if self.law is not None else "sum"

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean prediction, replicate predictions ``[len(replicates), len(X)]``)."""
        assert self.law is not None, "a 'sum' target is predicted by SweepFit from its domains"
        reps = np.stack([r.predict(X) for r in self.replicates]) if self.replicates else self.law.predict(X)[None]
        return self.law.predict(X), reps

    def to_dict(self) -> dict[str, Any]:
        return {"terms": self.terms, "model": self.model, "law": self.law.to_dict() if self.law else None,
                "cv": self.cv, "bootstrap": [r.to_dict() for r in self.replicates]}


@dataclass
class SweepFit:
    """Every target's law, over ``domains`` (mixture columns in that order)."""

    domains: tuple[str, ...]
    proxy: str
    targets: dict[str, TargetFit]
    fit_runs: list[str]
    cv_folds: int
    model: str
    seed: int
    problems: list[str] = field(default_factory=list)

    def matrix(self, mixtures: Sequence[dict[str, float]]) -> np.ndarray:
        return np.array([[m[d] for d in self.domains] for m in mixtures], dtype=np.float64)

    def predict(self, objective: Objective, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, σ) of ``objective`` at mixtures ``X``: its own law when fitted, else the sum of its domains'."""
        mean, reps = self.predict_samples(objective, X)
        return mean, reps.std(axis=0)

    def predict_samples(self, objective: Objective, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        own = self.targets.get(objective.name)
        if own is not None and own.law is not None:
            return own.predict(X)
        mean = np.zeros(len(X))
        reps: np.ndarray | float = 0.0
        for d, c in objective.terms:
            if d not in self.targets or self.targets[d].law is None:
                raise ConfigError(f"{FIT_FILE}: has no law for domain {d!r}; rerun `midtrain sweep fit`")
            m, r = self.targets[d].predict(X)
            mean = mean + c * m
            reps = reps + c * r
        return mean, np.asarray(reps)

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "domains": list(self.domains), "proxy": self.proxy, "model": self.model,
                "cv_folds": self.cv_folds, "seed": self.seed, "fit_runs": self.fit_runs, "problems": self.problems,
                "targets": {k: t.to_dict() for k, t in self.targets.items()}}


# --- rows ---------------------------------------------------------------------------------------
def fit_rows(spec: SweepSpec, results: list[RunResult], roles: Sequence[str] = FIT_ROLES
             ) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """(run ids, mixtures ``[n, D]``, per-domain losses) of the results of runs with ``roles`` on the
    swarm's proxy, mixtures taken from the sweep (the planned weights)."""
    proxy = spec.fit_proxy
    planned = {r.run_id: r for r in spec.runs if r.role in roles and r.proxy == proxy}
    rows = [res for res in results if res.run_id in planned]
    ids = [res.run_id for res in rows]
    X = np.array([[planned[i].weights[d] for d in spec.domains] for i in ids], dtype=np.float64)
    X = X.reshape(-1, len(spec.domains))
    losses = {d: np.array([res.heldout_loss[d] for res in rows], dtype=np.float64) for d in spec.domains}
    return ids, X, losses


def target_values(objective: Objective, losses: dict[str, np.ndarray]) -> np.ndarray:
    return sum(c * losses[d] for d, c in objective.terms)  # type: ignore[return-value]


def group_folds(X: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per row; rows with the same mixture (seeds of one anchor) share a fold."""
    keys = [tuple(np.round(x, 6)) for x in X]
    unique = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: int(rank % folds) for rank, i in enumerate(order)}
    return np.array([fold_of[k] for k in keys])


# --- fitting ------------------------------------------------------------------------------------
def cross_validate(kind: str, X: np.ndarray, y: np.ndarray, fold: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of ``kind`` for every row."""
    out = np.empty(len(y))
    for f in np.unique(fold):
        test = fold == f
        out[test] = fit_law(kind, X[~test], y[~test], seed=seed).predict(X[test])
    return out


def cv_scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    resid = predicted - y
    var = float(np.var(y))
    return {"spearman": spearman(predicted, y), "median_rel_error": float(np.median(relative_errors(predicted, y))),
            "rmse": float(np.sqrt(np.mean(resid**2))), "r2": 1.0 - float(np.mean(resid**2)) / var if var > 0 else 0.0}


def fit_target(name: str, terms: dict[str, float], X: np.ndarray, y: np.ndarray, *, kinds: Sequence[str],
               fold: np.ndarray, bootstrap: int, seed: int, sum_of_domains: np.ndarray | None = None) -> TargetFit:
    """CV every kind, keep the least out-of-fold error (ties: the earlier kind), refit, bootstrap.

    ``sum_of_domains`` (objectives of several domains): the out-of-fold predictions of the sum of the
    domains' chosen laws, a candidate named ``sum``; when it wins, the target keeps no law of its own.
    """
    oof = {k: cross_validate(k, X, y, fold, seed=seed) for k in kinds}
    if sum_of_domains is not None:
        oof["sum"] = sum_of_domains
    cv = {k: cv_scores(y, p) for k, p in oof.items()}
    order = list(oof)
    chosen = min(order, key=lambda k: (cv[k]["rmse"], order.index(k)))
    if chosen == "sum":
        return TargetFit(name=name, terms=terms, law=None, replicates=[], cv=cv, out_of_fold=oof)
    law = fit_law(chosen, X, y, seed=seed)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(y), len(y))
        replicates.append(law.refit(X[idx], y[idx]))
    return TargetFit(name=name, terms=terms, law=law, replicates=replicates, cv=cv, out_of_fold=oof)


def model_kinds(model: str) -> list[str]:
    """The candidate kinds for ``--model``: one kind, or ``auto`` (linlog, dml and lgbm when installed)."""
    if model == "auto":
        return ["linlog", "dml"] + (["lgbm"] if lightgbm_available() else [])
    if model not in KINDS:
        raise ConfigError(f"--model: unknown model {model!r} (known: {', '.join(KINDS)}, auto)")
    if model == "lgbm":
        from midtrain.sweep.laws import import_lightgbm

        import_lightgbm()
    return [model]


def fit_sweep(directory: str | os.PathLike, *, model: str = "auto", cv: int = 5, objectives: Sequence[str] = (),
              bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0, write: bool = True) -> SweepFit:
    """Fit every target of the sweep in ``directory`` and write ``fit.json`` (atomically).

    Results with problems are skipped and listed in :attr:`SweepFit.problems`. Valid fit rows over fewer
    than 4 distinct mixtures, or ``cv`` below 2, is a ConfigError.
    """
    spec = read_sweep(directory)
    if cv < 2:
        raise ConfigError(f"--cv: needs at least 2 folds, got {cv}")
    if bootstrap < 0:
        raise ConfigError(f"--bootstrap: must be >= 0, got {bootstrap}")
    kinds = model_kinds(model)
    parsed = [parse_objective(o, spec.domains, key="--objective") for o in objectives]
    results, problems = read_results(directory, spec)
    ids, X, losses = fit_rows(spec, results)
    groups = len({tuple(np.round(x, 6)) for x in X})
    if groups < MIN_MIXTURES:
        raise ConfigError(f"{Path(directory) / 'results.jsonl'}: {len(ids)} valid results of fit or anchor runs over "
                          f"{groups} distinct mixtures; the fit needs at least {MIN_MIXTURES} mixtures (run "
                          f"`midtrain sweep run {directory}` first)")
    folds = min(cv, groups)
    fold = group_folds(X, folds, seed)
    targets: dict[str, TargetFit] = {}
    for objective in [parse_objective(d, spec.domains) for d in spec.domains] + parsed:
        if objective.name in targets:
            continue
        y = target_values(objective, losses)
        summed = None
        if objective.name not in spec.domains:
            summed = sum(c * targets[d].out_of_fold[targets[d].model] for d, c in objective.terms)
        targets[objective.name] = fit_target(objective.name, dict(objective.terms), X, y, kinds=kinds, fold=fold,
                                             bootstrap=bootstrap, seed=seed, sum_of_domains=summed)
    fitted = SweepFit(domains=spec.domains, proxy=spec.fit_proxy, targets=targets, fit_runs=ids, cv_folds=folds,
                      model=model, seed=seed, problems=problems)
    if write:
        atomic_write_text(Path(directory) / FIT_FILE, json.dumps(fitted.to_dict(), indent=1) + "\n")
    return fitted


def load_fit(directory: str | os.PathLike) -> SweepFit:
    """Read ``fit.json`` back (ConfigError naming the file when it is missing or broken)."""
    path = Path(directory) / FIT_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run `midtrain sweep fit {directory}` first")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        targets = {name: TargetFit(name=name, terms={k: float(v) for k, v in t["terms"].items()},
                                   law=law_from_dict(t["law"]) if t["law"] else None,
                                   replicates=[law_from_dict(r) for r in t["bootstrap"]],
                                   cv=t["cv"]) for name, t in body["targets"].items()}
        return SweepFit(domains=tuple(body["domains"]), proxy=body["proxy"], targets=targets,
                        fit_runs=list(body["fit_runs"]), cv_folds=int(body["cv_folds"]), model=body["model"],
                        seed=int(body["seed"]), problems=list(body.get("problems", [])))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read it ({type(exc).__name__}: {exc}); rerun `midtrain sweep fit`") from None


def cv_table(fitted: SweepFit) -> str:
    """Out-of-fold scores per target and candidate law; ``*`` marks the law kept."""
    head = f"{'target':<20} {'model':<7} {'rho':>7} {'med.rel.err':>12} {'rmse':>9} {'r2':>7}"
    lines = [f"{len(fitted.fit_runs)} fit rows ({fitted.proxy}), {fitted.cv_folds}-fold CV grouped by mixture, "
             f"model {fitted.model}", head, "-" * len(head)]
    for name, t in fitted.targets.items():
        for kind, s in t.cv.items():
            mark = "*" if kind == t.model else " "
            lines.append(f"{name:<20} {kind + mark:<7} {s['spearman']:>7.3f} {s['median_rel_error']:>11.3%} "
                         f"{s['rmse']:>9.4f} {s['r2']:>7.3f}")
    return "\n".join(lines)

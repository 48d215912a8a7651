"""The best mix the fitted laws can vouch for: minimise an objective over the simplex, inside the epoch caps.

Search (after RegMix and Olmix):

1. candidates: Dirichlet draws around the prior (the sampler's concentrations), the swarm's own
   mixtures and the prior itself, keeping those inside the epoch caps;
2. each candidate's score is the predicted objective plus ``prior_pull · KL(w ‖ prior)`` (Olmix's
   0.05: the laws are only trusted near the mixtures they were fitted on); a candidate is feasible
   when every constraint holds with a margin, ``mean + margin·σ ≤ bound`` (σ from the bootstrap);
3. the best feasible candidate (or the mean of the best ``top_k``, if better) is polished with scipy's
   SLSQP under the same caps and constraints, rounded to 4 decimals inside the caps, and kept only if
   it is still feasible and no worse.

No feasible candidate is a ConfigError naming, for each bound, the lowest value the laws predict
within the caps, and the caps that mixture sits at.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from midtrain.errors import ConfigError
from midtrain.sweep.fit import SweepFit, load_fit
from midtrain.sweep.objective import Constraint, Objective, parse_constraint, parse_objective
from midtrain.sweep.sampler import (WEIGHT_DECIMALS, dirichlet_batch, round_to_units, sweep_caps,
                                    training_schedule)
from midtrain.sweep.spec import (RunResult, RunSpec, SweepSpec, atomic_write_text, make_run, read_results,
                                read_sweep)

OPTIMIZED_FILE = "optimized.json"
DEFAULT_PRIOR_PULL = 0.05
"""Olmix's KL weight (``proposer.kl_reg``-style regularisation toward the prior)."""
DEFAULT_MARGIN = 2.0
"""Bootstrap standard deviations a constraint must hold by."""
CHUNK = 20_000


@dataclass
class OptimizedMix:
    """The chosen mixture, what the laws predict for it and for the baselines, and how it was found."""

    weights: dict[str, float]
    objective: str
    constraints: list[dict[str, Any]]
    """Per constraint: text, bound, predicted mean and σ at the chosen mix, margin."""
    predicted: dict[str, dict[str, float]]
    """``{target: {"mean", "sigma"}}`` at the chosen mix: each domain and the objective."""
    baselines: dict[str, dict[str, Any]]
    """``prior`` and ``uniform``: weights and predicted objective (mean, σ)."""
    prior_pull: float
    margin: float
    candidates: int
    feasible: int
    method: str
    """``candidate``, ``top-k mean`` or ``slsqp``: where the kept mixture came from."""
    base: dict[str, float]
    """The measured ``base`` value of each constraint's objective (the prior anchor's mean over seeds)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def optimize_mix(directory: str | os.PathLike, *, minimize: str, subject_to: Sequence[str] = (),
                 prior_pull: float = DEFAULT_PRIOR_PULL, margin: float = DEFAULT_MARGIN, candidates: int = 100_000,
                 top_k: int = 16, seed: int = 0, write: bool = True) -> OptimizedMix:
    """Find the mix minimising ``minimize`` subject to ``subject_to`` with the laws of ``DIR/fit.json``;
    write ``DIR/optimized.json`` (atomically) unless ``write`` is false."""
    spec = read_sweep(directory)
    fitted = load_fit(directory)
    if tuple(fitted.domains) != tuple(spec.domains):
        raise ConfigError(f"{Path(directory) / 'fit.json'}: fitted over domains {list(fitted.domains)}, the sweep has "
                          f"{list(spec.domains)}; rerun `midtrain sweep fit`")
    if prior_pull < 0 or margin < 0 or candidates < 1 or top_k < 1:
        raise ConfigError("--prior-pull, --margin: must be >= 0; --candidates, --top-k: must be >= 1")
    objective = parse_objective(minimize, spec.domains)
    constraints = [parse_constraint(c, spec.domains) for c in subject_to]
    results, _ = read_results(directory, spec)
    base = {c.objective.name: measured_base(spec, results, c.objective) for c in constraints if c.uses_base}
    bounds = [c.bound(base.get(c.objective.name)) for c in constraints]
    problem = _Problem(spec, fitted, objective, constraints, bounds, prior_pull, margin)
    pool = candidate_pool(spec, problem.upper, candidates, seed)
    score, slack = problem.evaluate(pool)
    ok = (slack >= 0).all(axis=1)
    if not ok.any():
        raise ConfigError(infeasible_message(problem, pool, slack))
    order = np.flatnonzero(ok)[np.argsort(score[ok], kind="stable")]
    best, method = pool[order[0]], "candidate"
    mean_top = pool[order[:top_k]].mean(axis=0)
    s_top, k_top = problem.evaluate(mean_top[None])
    if (k_top >= 0).all() and s_top[0] < score[order[0]]:
        best, method = mean_top, "top-k mean"
    polished = problem.polish(best)
    if polished is not None:
        best, method = polished, "slsqp"
    weights = problem.rounded(best)
    return _result(directory, spec, fitted, problem, weights, base, len(pool), int(ok.sum()), method, write)


class _Problem:
    """The objective, the constraints and the caps as functions of a mixture matrix ``[n, D]``."""

    def __init__(self, spec: SweepSpec, fitted: SweepFit, objective: Objective, constraints: list[Constraint],
                 bounds: list[float], prior_pull: float, margin: float) -> None:
        self.spec, self.fitted, self.objective = spec, fitted, objective
        self.constraints, self.bounds = constraints, bounds
        self.prior = np.array([spec.prior[d] for d in spec.domains])
        self.upper = sweep_caps(spec)
        self.pull, self.margin = prior_pull, margin

    def kl(self, X: np.ndarray) -> np.ndarray:
        safe = np.maximum(X, 1e-300)
        return np.sum(np.where(X > 0, X * np.log(safe / self.prior), 0.0), axis=1)

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score ``[n]``, constraint slack ``[n, C]``: bound − (mean + margin·σ), ≥ 0 when it holds)."""
        score = np.empty(len(X))
        slack = np.empty((len(X), len(self.constraints)))
        for a in range(0, len(X), CHUNK):
            part = X[a:a + CHUNK]
            mean, _ = self.fitted.predict(self.objective, part)
            score[a:a + CHUNK] = mean + self.pull * self.kl(part)
            for j, (c, bound) in enumerate(zip(self.constraints, self.bounds)):
                m, s = self.fitted.predict(c.objective, part)
                slack[a:a + CHUNK, j] = bound - (m + self.margin * s)
        return score, slack

    def rounded(self, w: np.ndarray) -> np.ndarray:
        """``w`` clipped into the caps and rounded to 4 decimals summing to one (the sampler's rounding)."""
        w = np.clip(w, 0.0, self.upper)
        w = w / w.sum()
        units = round_to_units(w, self.upper)
        if units is None:  # rounding found no room: fall back to the unrounded clip
            return w
        return units / 10**WEIGHT_DECIMALS

    def polish(self, start: np.ndarray) -> np.ndarray | None:
        """SLSQP from ``start`` under the caps, the simplex and the margins; None unless it is still
        feasible after rounding and scores better than ``start``."""
        from scipy.optimize import minimize

        def score(w: np.ndarray) -> float:
            return float(self.evaluate(np.clip(w, 0, None)[None])[0][0])

        cons: list[dict[str, Any]] = [{"type": "eq", "fun": lambda w: float(np.sum(w) - 1.0)}]
        for j in range(len(self.constraints)):
            cons.append({"type": "ineq", "fun": _slack_fn(self, j)})
        try:
            sol = minimize(score, start, method="SLSQP", bounds=list(zip(np.zeros_like(self.upper), self.upper)),
                           constraints=cons, options={"maxiter": 200, "ftol": 1e-10})
        except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - SLSQP's own numerical failures
            return None
        return self.best_rounding(np.asarray(sol.x), start)

    def best_rounding(self, w: np.ndarray, start: np.ndarray) -> np.ndarray | None:
        """The best feasible 4-decimal mixture near ``w``, or None when none beats ``start``.

        Rounding can step just outside a bound the optimum sits on, so besides the plain rounding it
        tries every move of one 1e-4 unit between two domains, and points pulled back toward ``start``.
        """
        scale = 10**WEIGHT_DECIMALS
        base = self.rounded(w)
        tries = [base] + [self.rounded(start + f * (w - start)) for f in (0.99, 0.95, 0.8, 0.5)]
        units = np.rint(base * scale).astype(np.int64)
        cap_units = np.floor(self.upper * scale + 1e-9).astype(np.int64)
        for i in range(len(units)):
            for j in range(len(units)):
                if i != j and units[i] > 0 and units[j] < cap_units[j]:
                    moved = units.copy()
                    moved[i] -= 1
                    moved[j] += 1
                    tries.append(moved / scale)
        X = np.array(tries)
        score, slack = self.evaluate(X)
        ok = (slack >= 0).all(axis=1)
        s_old, _ = self.evaluate(self.rounded(start)[None])
        if not ok.any() or score[ok].min() >= s_old[0]:
            return None
        return X[np.flatnonzero(ok)[np.argmin(score[ok])]]


def _slack_fn(problem: _Problem, j: int) -> Callable[[np.ndarray], float]:
    return lambda w: float(problem.evaluate(np.clip(w, 0, None)[None])[1][0, j])


def candidate_pool(spec: SweepSpec, upper: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Dirichlet draws around the prior inside the caps, plus the swarm's mixtures and the prior."""
    rng = np.random.default_rng(seed)
    prior = np.array([spec.prior[d] for d in spec.domains])
    draws = dirichlet_batch(rng, prior, count)
    inside = draws[(draws <= upper + 1e-12).all(axis=1)]
    planned = np.array([[r.weights[d] for d in spec.domains] for r in spec.runs]).reshape(-1, len(spec.domains))
    pool = np.vstack([prior[None], planned, inside])
    return pool[(pool <= upper + 1e-12).all(axis=1)]


def measured_base(spec: SweepSpec, results: list[RunResult], objective: Objective) -> float | None:
    """The ``prior`` anchor's measured ``objective``, mean over its seeds (None without results)."""
    prior_ids = {r.run_id for r in spec.runs if r.role == "anchor" and r.name == "prior" and r.proxy == spec.fit_proxy}
    values = [objective.value(res.heldout_loss) for res in results if res.run_id in prior_ids]
    return float(np.mean(values)) if values else None


def infeasible_message(problem: _Problem, pool: np.ndarray, slack: np.ndarray) -> str:
    """Each constraint's bound against the lowest ``mean + margin·σ`` in the pool, and the caps that
    mixture sits at."""
    parts = []
    for j, (c, bound) in enumerate(zip(problem.constraints, problem.bounds)):
        i = int(np.argmax(slack[:, j]))
        lowest = bound - slack[i, j]
        at_cap = [f"{d} <= {u:.4f}" for d, u, w in zip(problem.spec.domains, problem.upper, pool[i])
                  if u < 1 and w >= u - 5e-3]
        mix = ", ".join(f"{d} {w:.3f}" for d, w in zip(problem.spec.domains, pool[i]))
        state = "holds" if slack[i, j] >= 0 else "cannot hold"
        parts.append(f"{c.text}: bound {bound:.4f}, lowest predicted {c.objective.name} + {problem.margin:g} sigma "
                     f"within the epoch caps is {lowest:.4f} ({state}; at {mix}"
                     + (f"; binding caps: {', '.join(at_cap)}" if at_cap else "") + ")")
    return (f"no mixture inside the epoch caps meets every --subject-to bound (of {len(pool):,} candidates): "
            + "; ".join(parts) + "; loosen the bound, lower --margin, or raise the sweep's --max-epochs")


def _result(directory: str | os.PathLike, spec: SweepSpec, fitted: SweepFit, problem: _Problem, w: np.ndarray,
            base: dict[str, float | None], n_pool: int, n_ok: int, method: str, write: bool) -> OptimizedMix:
    def predicted(objective: Objective, X: np.ndarray) -> dict[str, float]:
        m, s = fitted.predict(objective, X)
        return {"mean": float(m[0]), "sigma": float(s[0])}

    X = w[None]
    per_target = {d: predicted(parse_objective(d, spec.domains), X) for d in spec.domains}
    per_target[problem.objective.name] = predicted(problem.objective, X)
    constraints = []
    for c, bound in zip(problem.constraints, problem.bounds):
        constraints.append({"text": c.text, "objective": c.objective.name, "bound": bound,
                            **predicted(c.objective, X), "margin": problem.margin})
    uniform = np.full(len(spec.domains), 1.0 / len(spec.domains))
    baselines = {name: {"weights": dict(zip(spec.domains, v.tolist())), **predicted(problem.objective, v[None])}
                 for name, v in (("prior", problem.prior), ("uniform", uniform))}
    out = OptimizedMix(weights={d: float(x) for d, x in zip(spec.domains, w)}, objective=problem.objective.name,
                       constraints=constraints, predicted=per_target, baselines=baselines, prior_pull=problem.pull,
                       margin=problem.margin, candidates=n_pool, feasible=n_ok, method=method,
                       base={k: v for k, v in base.items() if v is not None})
    if write:
        atomic_write_text(Path(directory) / OPTIMIZED_FILE, json.dumps(out.to_dict(), indent=1) + "\n")
    return out


BASELINES = ("prior", "uniform")
"""The anchors the chosen mix is compared with (the report's ``gain_over_prior`` / ``gain_over_uniform``)."""


def confirm_runs(spec: SweepSpec, weights: Mapping[str, float], seeds: int, *,
                 baselines: bool = False) -> list[RunSpec]:
    """``confirm:optimized`` runs of ``weights`` at seeds ``spec.seed + 0 .. seeds-1``; with ``baselines``, also
    the ``prior`` and ``uniform`` anchors at the same seeds, with the weights and names of the sweep's own
    anchors, so new seeds join their seed groups and the report can pair every mixture by seed.

    A run already in the sweep has the same id, so :func:`midtrain.sweep.spec.add_runs` adds it once.
    """
    seed_list = [spec.seed + s for s in range(seeds)]
    runs = [make_run(role="confirm", name="confirm:optimized", weights=weights, seed=s, proxy=spec.fit_proxy)
            for s in seed_list]
    if baselines:
        for name in BASELINES:
            anchor = next((r for r in spec.runs if r.role == "anchor" and r.name == name), None)
            if anchor is not None:  # the planner drops a uniform anchor that rounds to the prior's mix
                runs += [make_run(role="anchor", name=name, weights=anchor.weights, seed=s, proxy=spec.fit_proxy)
                         for s in seed_list]
    return runs


def read_optimized(directory: str | os.PathLike) -> dict[str, Any] | None:
    """``DIR/optimized.json`` as written by :func:`optimize_mix`, or None when there is none."""
    path = Path(directory) / OPTIMIZED_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); rerun `midtrain sweep optimize`") from None


# --- the schedule ---------------------------------------------------------------------------------
def emit_schedule(spec: SweepSpec, mix: OptimizedMix, path: str | os.PathLike, *, total_tokens: int | None = None,
                  base_weights: Mapping[str, float] | None = None) -> Path:
    """Write the chosen mix as a schedule ``midtrain plan`` and the loader take as they are.

    Anneal mode: a ``base`` phase on the prior (or ``base_weights``) then the ``anneal`` phase on the
    chosen mix, in the proxy's proportions; pretrain mode: one phase. ``total_tokens`` rescales the run
    (default: the proxy's). The comments carry the predictions and their 2σ intervals.
    """
    import yaml

    body = training_schedule(spec, mix.weights, total_tokens=total_tokens)
    if base_weights is not None and spec.mode == "anneal":
        body["phases"][0]["weights"] = {d: float(base_weights[d]) for d in spec.domains}
    lines = [f"# midtrain sweep optimize: minimise {mix.objective} (prior pull {mix.prior_pull:g}, margin "
             f"{mix.margin:g} sigma; {mix.feasible:,} of {mix.candidates:,} candidates feasible; kept: {mix.method})",
             f"# swarm: {spec.mode} mode, proxy {spec.fit_proxy}, {spec.tokens:,} tokens per run"
             + (f" after a {spec.base_tokens:,}-token base on the prior" if spec.mode == "anneal" else "")]
    lines += [f"# predicted {name}: {p['mean']:.4f} +- {2 * p['sigma']:.4f} (2 sigma)"
              for name, p in mix.predicted.items()]
    for name, b in mix.baselines.items():
        lines.append(f"# predicted {mix.objective} at {name}: {b['mean']:.4f} +- {2 * b['sigma']:.4f}")
    for c in mix.constraints:
        lines.append(f"# constraint {c['text']}: bound {c['bound']:.4f}, predicted {c['mean']:.4f} + "
                     f"{c['margin']:g} x {c['sigma']:.4f}")
    text = "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
    out = Path(path)
    atomic_write_text(out, text)
    return out


def parse_mixture(text: str, domains: Sequence[str], key: str) -> dict[str, float]:
    """``web:0.6,code:0.3,math:0.1`` → a mixture over ``domains`` (renormalised; missing domains 0)."""
    out = {d: 0.0 for d in domains}
    try:
        for part in text.split(","):
            name, value = part.split(":")
            name = name.strip()
            if name not in out:
                raise ConfigError(f"{key}: unknown domain {name!r} (the sweep's domains: {', '.join(domains)})")
            out[name] = float(value)
    except ValueError:
        raise ConfigError(f"{key}: expected 'prior' or 'domain:weight,...', got {text!r}") from None
    total = math.fsum(out.values())
    if total <= 0 or any(v < 0 or not math.isfinite(v) for v in out.values()):
        raise ConfigError(f"{key}: weights must be >= 0 with a positive sum, got {text!r}")
    return {d: v / total for d, v in out.items()}

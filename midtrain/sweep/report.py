"""``midtrain sweep report``: how far the fitted laws can be trusted, and what the chosen mix is worth.

It reads the sweep folder and writes ``DIR/report/``:

- ``metrics.json`` and ``report.md``: per target (each domain's loss and the objective), on the held-out
  runs only: Spearman ρ, Kendall τ, median relative error, pairwise accuracy, regret, how often the
  measured loss falls inside the bootstrap ±2σ; ρ against the number of fit runs (the chosen law refitted
  on random subsets of 8, 16, 32, … fit rows); the seed noise of the anchors against the spread across
  mixtures; the chosen mix against the prior and uniform, **measured** where ``confirm`` and anchor runs
  have results, **predicted** otherwise, unpaired (the difference of the means in the pooled σ_seed) and
  paired by seed (per seed both sides measured, the difference; its mean and standard deviation); the
  rank agreement between proxies on shared mixtures (transfer);
- ``predicted_vs_measured.png``: one panel per target;
- ``ratios.csv`` and ``metrics.csv`` in Olmix's swarm format (``run,name,index`` then one column per
  domain weight / metric; ``olmix/fit/loaders.py`` at allenai/olmix 9586977) and ``olmix_fit.yaml``, a
  config with this corpus' priors, so ``olmix fit`` can cross-check the fit.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midtrain.sweep.fit import FIT_ROLES, SweepFit, fit_rows, load_fit, target_values
from midtrain.sweep.laws import fit_law
from midtrain.sweep.metrics import kendall, pairwise_accuracy, regret, relative_errors, spearman
from midtrain.sweep.objective import Objective, parse_objective
from midtrain.sweep.optimize import read_optimized
from midtrain.sweep.spec import RunResult, SweepSpec, atomic_write_text, read_results, read_sweep

REPORT_DIR = "report"
SUBSET_REPEATS = 3
"""Random subsets per size in the ρ-against-runs curve."""


@dataclass
class SweepReport:
    """What ``write_report`` computed and where it put it."""

    folder: Path
    metrics: dict[str, Any]
    text: str
    problems: list[str] = field(default_factory=list)


def write_report(directory: str | os.PathLike, *, seed: int = 0) -> SweepReport:
    """Compute every metric of the module docstring and write ``DIR/report/``."""
    spec = read_sweep(directory)
    fitted = load_fit(directory)
    results, problems = read_results(directory, spec)
    optimized = read_optimized(directory)
    objective = report_objective(spec, fitted, optimized)
    targets = [parse_objective(d, spec.domains) for d in spec.domains]
    targets += [o for o in [objective] if o.name not in spec.domains]
    _, X_ho, losses_ho = fit_rows(spec, results, roles=("heldout",))
    ids_fit, X_fit, losses_fit = fit_rows(spec, results, roles=FIT_ROLES)
    heldout = {t.name: heldout_scores(fitted, t, X_ho, target_values(t, losses_ho),
                                      sigma_seed=pooled_seed_sigma(spec, results, t)[0]) for t in targets}
    metrics: dict[str, Any] = {
        "fit_proxy": spec.fit_proxy, "domains": list(spec.domains), "objective": objective.name,
        "fit_rows": len(ids_fit), "heldout_rows": len(X_ho), "problems": problems,
        "models": {name: t.model for name, t in fitted.targets.items()},
        "heldout": heldout,
        "rho_vs_runs": rho_vs_runs(fitted, targets, X_fit, losses_fit, X_ho, losses_ho, seed=seed),
        "seed_noise": seed_noise(spec, results, objective, X_ho, losses_ho),
        "chosen_vs_baselines": chosen_vs_baselines(spec, fitted, results, objective, optimized),
        "transfer": transfer(spec, results, objective),
    }
    folder = Path(directory) / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "metrics.json", json.dumps(_jsonable(metrics), indent=1) + "\n")
    plot_predicted_vs_measured(fitted, targets, X_fit, losses_fit, X_ho, losses_ho,
                               folder / "predicted_vs_measured.png")
    write_olmix_csvs(spec, results, objective, folder)
    text = render_text(metrics)
    atomic_write_text(folder / "report.md", render_markdown(spec, metrics, text))
    return SweepReport(folder=folder, metrics=metrics, text=text, problems=problems)


def report_objective(spec: SweepSpec, fitted: SweepFit, optimized: dict[str, Any] | None) -> Objective:
    """The optimised objective, else the first objective fitted, else the sum of every domain's loss."""
    if optimized is not None:
        return parse_objective(optimized["objective"], spec.domains)
    for name in fitted.targets:
        if name not in spec.domains:
            return parse_objective(name, spec.domains)
    return parse_objective("+".join(spec.domains), spec.domains)


# --- held-out accuracy ----------------------------------------------------------------------------
def heldout_scores(fitted: SweepFit, target: Objective, X: np.ndarray, y: np.ndarray, *,
                   sigma_seed: float = math.nan) -> dict[str, Any]:
    """The law's predictions against the measured held-out losses (NaN scores with fewer than 3 runs).

    ``coverage_2sigma``: the share of runs measured within 2σ of the prediction, σ combining the
    bootstrap (the law's uncertainty) and ``sigma_seed`` (a single run's noise) when it is known.
    """
    if len(y) == 0:
        return {"n": 0}
    mean, sigma = fitted.predict(target, X)
    if not math.isnan(sigma_seed):
        sigma = np.sqrt(sigma**2 + sigma_seed**2)
    rel = relative_errors(mean, y)
    return {"n": int(len(y)), "spearman": spearman(mean, y), "kendall": kendall(mean, y),
            "median_rel_error": float(np.median(rel)), "max_rel_error": float(np.max(rel)),
            "pairwise_accuracy": pairwise_accuracy(mean, y), "regret": regret(mean, y),
            "coverage_2sigma": float(np.mean(np.abs(mean - y) <= 2 * sigma)),
            "measured_std": float(np.std(y))}


def rho_vs_runs(fitted: SweepFit, targets: list[Objective], X_fit: np.ndarray, losses_fit: dict[str, np.ndarray],
                X_ho: np.ndarray, losses_ho: dict[str, np.ndarray], *, seed: int) -> dict[str, dict[str, float]]:
    """``{size: {target: mean held-out ρ}}`` refitting each target's chosen law on random subsets of the
    fit rows of 8, 16, 32, … rows (and all of them)."""
    if len(X_ho) < 3:
        return {}
    n = len(X_fit)
    sizes = [s for s in (8, 16, 32, 64, 128, 256, 512) if s < n] + [n]
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        repeats = 1 if size == n else SUBSET_REPEATS
        subsets = [rng.choice(n, size=size, replace=False) for _ in range(repeats)]
        row: dict[str, float] = {}
        for t in targets:
            rhos = [spearman(_refit_predict(fitted, t, X_fit[idx], losses_fit, idx, X_ho, seed),
                             target_values(t, losses_ho)) for idx in subsets]
            row[t.name] = float(np.nanmean(rhos)) if not all(math.isnan(r) for r in rhos) else math.nan
        out[str(size)] = row
    return out


def _refit_predict(fitted: SweepFit, target: Objective, X: np.ndarray, losses: dict[str, np.ndarray], idx: np.ndarray,
                   X_ho: np.ndarray, seed: int) -> np.ndarray:
    """Refit ``target``'s law on rows ``idx`` and predict ``X_ho``: its own law when it was fitted as a
    target, else the sum of its domains' laws (as :meth:`SweepFit.predict` does)."""
    if target.name in fitted.targets and fitted.targets[target.name].law is not None:
        kind = fitted.targets[target.name].model
        return fit_law(kind, X, target_values(target, losses)[idx], seed=seed).predict(X_ho)
    return sum(c * fit_law(fitted.targets[d].model, X, losses[d][idx], seed=seed).predict(X_ho)
               for d, c in target.terms)  # type: ignore[return-value]


def seed_noise(spec: SweepSpec, results: list[RunResult], objective: Objective, X_ho: np.ndarray,
               losses_ho: dict[str, np.ndarray]) -> dict[str, float]:
    """The pooled standard deviation of ``objective`` over the seeds of each anchor mixture, against the
    spread across held-out mixtures (the research note asks for spread ≥ 5 σ_seed)."""
    sigma, dof = pooled_seed_sigma(spec, results, objective)
    spread = float(np.std(target_values(objective, losses_ho))) if len(X_ho) > 1 else math.nan
    return {"sigma_seed": sigma, "dof": dof, "heldout_spread": spread,
            "spread_over_sigma": spread / sigma if sigma and not math.isnan(sigma) and sigma > 0 else math.nan}


def pooled_seed_sigma(spec: SweepSpec, results: list[RunResult], objective: Objective) -> tuple[float, int]:
    """(σ over seeds pooled across the anchor and confirm mixtures, degrees of freedom); NaN without repeats."""
    groups = [v for v in _seed_groups(spec, results, objective, roles=("anchor", "confirm")).values() if len(v) > 1]
    dof = sum(len(v) - 1 for v in groups)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum(float(np.var(v, ddof=1)) * (len(v) - 1) for v in groups) / dof), dof


def _seed_groups(spec: SweepSpec, results: list[RunResult], objective: Objective,
                 roles: tuple[str, ...]) -> dict[tuple[str, tuple[float, ...]], list[float]]:
    """``{(run name, mixture): [objective per seed]}`` for runs of ``roles`` on the swarm's proxy."""
    planned = {r.run_id: r for r in spec.runs if r.role in roles and r.proxy == spec.fit_proxy}
    groups: dict[tuple[str, tuple[float, ...]], list[float]] = {}
    for res in results:
        if res.run_id in planned:
            run = planned[res.run_id]
            key = (run.name, _mix_key(spec, run.weights))
            groups.setdefault(key, []).append(objective.value(res.heldout_loss))
    return groups


def _mix_key(spec: SweepSpec, weights: dict[str, float]) -> tuple[float, ...]:
    return tuple(round(float(weights[d]), 6) for d in spec.domains)


def _measured(spec: SweepSpec, results: list[RunResult], objective: Objective, label: str,
              weights: dict[str, float]) -> list[float]:
    """Per-seed measured ``objective`` of a baseline: the ``prior``/``uniform`` anchors, or the ``confirm``
    runs of exactly the chosen mixture."""
    return list(measured_by_seed(spec, results, objective, label, weights).values())


def measured_by_seed(spec: SweepSpec, results: list[RunResult], objective: Objective, label: str,
                     weights: dict[str, float]) -> dict[int, float]:
    """``{seed: measured objective}`` of ``label`` (the runs :func:`_measured` reads), keyed by the run's seed."""
    role, name = ("confirm", None) if label == "optimized" else ("anchor", label)
    key = _mix_key(spec, weights)
    planned = {r.run_id: r for r in spec.runs if r.role == role and r.proxy == spec.fit_proxy
               and (name is None or r.name == name) and _mix_key(spec, r.weights) == key}
    return {planned[res.run_id].seed: objective.value(res.heldout_loss) for res in results if res.run_id in planned}


def paired_gain(chosen: dict[int, float], baseline: dict[int, float]) -> dict[str, Any]:
    """The chosen mix against a baseline by common random numbers: per seed both were measured with, the
    baseline's loss minus the chosen mix's (a positive gain: the chosen mix is better); their mean, their
    standard deviation (ddof 1), the mean in those standard deviations and the t statistic
    ``mean / (sd / sqrt(n))``. A seed only one side has is not used.

    Every anneal of one seed reads its data in the same order from the same base, so the seed moves
    every mixture together (the issue-16 H200 run: math loss 4.42-4.45 at seed 1, 4.97-5.0 at seeds 0
    and 2, whatever the mix); the difference cancels that shared part, the unpaired σ_seed keeps it.
    """
    seeds = sorted(set(chosen) & set(baseline))
    gains = np.array([baseline[s] - chosen[s] for s in seeds])
    mean = float(gains.mean()) if len(gains) else math.nan
    sd = float(np.std(gains, ddof=1)) if len(gains) > 1 else math.nan
    ratio = mean / sd if sd > 0 else math.nan
    return {"n": len(seeds), "mean_gain": mean, "sigma_diff": sd, "gain_over_sigma_diff": ratio,
            "t": ratio * math.sqrt(len(seeds)) if len(seeds) else math.nan,
            "per_seed": [{"seed": s, "chosen": chosen[s], "baseline": baseline[s], "gain": float(g)}
                         for s, g in zip(seeds, gains)]}


def _mix_entry(spec: SweepSpec, fitted: SweepFit, results: list[RunResult], objective: Objective, label: str,
               weights: dict[str, float]) -> dict[str, Any]:
    """Measured mean ± std over seeds when results exist, else the prediction (``source`` says which)."""
    values = _measured(spec, results, objective, label, weights)
    if values:
        return {"source": "measured", "mean": float(np.mean(values)), "n": len(values),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan}
    m, s = fitted.predict(objective, fitted.matrix([weights]))
    return {"source": "predicted", "mean": float(m[0]), "sigma": float(s[0]), "n": 0}


def chosen_vs_baselines(spec: SweepSpec, fitted: SweepFit, results: list[RunResult], objective: Objective,
                        optimized: dict[str, Any] | None) -> dict[str, Any]:
    """The chosen mix, the prior and uniform on the objective and on each constraint (measured where
    results exist, else predicted), and the chosen mix's margin over each baseline in seed σ."""
    mixes: dict[str, dict[str, float] | None] = {
        "optimized": optimized["weights"] if optimized else None,
        "prior": _anchor_weights(spec, "prior"), "uniform": _anchor_weights(spec, "uniform")}
    constraints = optimized.get("constraints", []) if optimized else []
    out: dict[str, Any] = {"objective": objective.name, "mixes": {}}
    for label, w in mixes.items():
        if w is None:
            continue
        entry = {"weights": w, **_mix_entry(spec, fitted, results, objective, label, w), "constraints": []}
        for c in constraints:
            value = _mix_entry(spec, fitted, results, parse_objective(c["objective"], spec.domains), label, w)
            entry["constraints"].append({"text": c["text"], "bound": c["bound"], "value": value["mean"],
                                         "source": value["source"], "holds": value["mean"] <= c["bound"]})
        out["mixes"][label] = entry
    fit_runs = _seed_groups(spec, results, objective, roles=("fit",))
    if fit_runs:
        best = min(fit_runs, key=lambda k: np.mean(fit_runs[k]))
        out["best_swarm_run"] = {"name": best[0], "mean": float(np.mean(fit_runs[best]))}
    chosen = out["mixes"].get("optimized")
    sigma, _ = pooled_seed_sigma(spec, results, objective)
    for label in ("prior", "uniform"):
        base = out["mixes"].get(label)
        if chosen is None or base is None:
            continue
        gain = base["mean"] - chosen["mean"]
        measured = chosen["source"] == base["source"] == "measured"
        # unpaired: the difference of the means over all seeds each side has, in the pooled seed σ
        out[f"gain_over_{label}"] = {"loss": gain, "sigma_seed": sigma,
                                     "seed_sigmas": gain / sigma if sigma > 0 else math.nan, "measured": measured}
        if measured:
            out[f"gain_over_{label}"]["paired"] = paired_gain(
                measured_by_seed(spec, results, objective, "optimized", chosen["weights"]),
                measured_by_seed(spec, results, objective, label, base["weights"]))
    return out


def _anchor_weights(spec: SweepSpec, name: str) -> dict[str, float] | None:
    for r in spec.runs:
        if r.role == "anchor" and r.name == name:
            return r.weights
    return None


def transfer(spec: SweepSpec, results: list[RunResult], objective: Objective) -> dict[str, Any]:
    """Rank agreement of ``objective`` between the swarm's proxy and every other proxy, on the mixtures
    both measured (seeds averaged)."""
    by_proxy: dict[str, dict[tuple[float, ...], list[float]]] = {}
    planned = {r.run_id: r for r in spec.runs}
    for res in results:
        run = planned[res.run_id]
        key = tuple(round(run.weights[d], 6) for d in spec.domains)
        by_proxy.setdefault(run.proxy, {}).setdefault(key, []).append(objective.value(res.heldout_loss))
    base = by_proxy.get(spec.fit_proxy, {})
    out = {}
    for proxy, values in by_proxy.items():
        if proxy == spec.fit_proxy:
            continue
        shared = sorted(set(values) & set(base))
        a = np.array([np.mean(base[k]) for k in shared])
        b = np.array([np.mean(values[k]) for k in shared])
        out[proxy] = {"n": len(shared), "spearman": spearman(a, b) if len(shared) > 2 else math.nan,
                      "pairwise_accuracy": pairwise_accuracy(a, b) if len(shared) > 1 else math.nan}
    return out


# --- outputs ------------------------------------------------------------------------------------
def plot_predicted_vs_measured(fitted: SweepFit, targets: list[Objective], X_fit: np.ndarray,
                               losses_fit: dict[str, np.ndarray], X_ho: np.ndarray, losses_ho: dict[str, np.ndarray],
                               path: Path) -> Path:
    """One panel per target: held-out runs (scored) and fit runs (in sample, grey) against y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(targets), 3)
    rows = math.ceil(len(targets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    for ax, t in zip(axes.flat, targets):
        for X, losses, style in ((X_fit, losses_fit, {"c": "0.7", "s": 12, "label": "fit (in sample)"}),
                                 (X_ho, losses_ho, {"c": "tab:blue", "s": 22, "label": "held out"})):
            if len(X):
                mean, sigma = fitted.predict(t, X)
                ax.errorbar(mean, target_values(t, losses), xerr=2 * sigma, fmt="none", ecolor=style["c"], lw=0.6)
                ax.scatter(mean, target_values(t, losses), **style)
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        rho = spearman(fitted.predict(t, X_ho)[0], target_values(t, losses_ho)) if len(X_ho) > 2 else math.nan
        ax.set_title(f"{t.name}  (held-out rho {rho:.3f})", fontsize=10)
        ax.set_xlabel("predicted loss (±2σ bootstrap)")
        ax.set_ylabel("measured loss")
    for ax in list(axes.flat)[len(targets):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_olmix_csvs(spec: SweepSpec, results: list[RunResult], objective: Objective, folder: Path) -> None:
    """``ratios.csv``/``metrics.csv`` (Olmix: ``run,name,index`` + domains / metrics, joined on ``run``) and
    ``olmix_fit.yaml`` with the priors and token counts. Metrics are held-out losses in nats/token, lower
    is better, like the BPB Olmix's examples minimise."""
    import yaml

    planned = {r.run_id: r for r in spec.runs}
    rows = [res for res in results if planned[res.run_id].proxy == spec.fit_proxy]
    metric_names = [f"heldout_loss:{d}" for d in spec.domains] + [f"objective:{objective.name}"]
    with open(folder / "ratios.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["run", "name", "index", *spec.domains])
        for i, res in enumerate(rows):
            run = planned[res.run_id]
            w.writerow([res.run_id, run.name, i, *(run.weights[d] for d in spec.domains)])
    with open(folder / "metrics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["run", "name", "index", *metric_names])
        for i, res in enumerate(rows):
            w.writerow([res.run_id, planned[res.run_id].name, i, *(res.heldout_loss[d] for d in spec.domains),
                        objective.value(res.heldout_loss)])
    config = {"swarm": {"ratios": "ratios.csv", "metrics": "metrics.csv"},
              "priors": {"relative_sizes": dict(spec.prior), "token_counts": dict(spec.domain_tokens)},
              "regression": {"type": "log_linear", "seed": 0},
              "proposer": {"type": "exact", "kl_reg": 0.05},
              "constraints": {"enabled": True, "target_tokens": spec.tokens, "repetition_factor": spec.max_epochs}}
    atomic_write_text(folder / "olmix_fit.yaml", "# olmix fit --config olmix_fit.yaml --output-dir olmix_out\n"
                      "# (held-out runs are in these CSVs too: drop rows named heldout-* to fit as midtrain does)\n"
                      + yaml.safe_dump(config, sort_keys=False))


def render_text(m: dict[str, Any]) -> str:
    """The console summary (also the body of report.md)."""
    lines = [f"held-out accuracy ({m['heldout_rows']} held-out runs; fit on {m['fit_rows']} runs, "
             f"proxy {m['fit_proxy']})",
             f"{'target':<20} {'model':<7} {'rho':>7} {'tau':>7} {'med.rel.err':>12} {'pair.acc':>9} {'regret':>8} "
             f"{'in 2sd':>7}"]
    for name, s in m["heldout"].items():
        if not s.get("n"):
            lines.append(f"{name:<20} (no held-out results)")
            continue
        lines.append(f"{name:<20} {m['models'].get(name, 'sum'):<7} {s['spearman']:>7.3f} {s['kendall']:>7.3f} "
                     f"{s['median_rel_error']:>11.3%} {s['pairwise_accuracy']:>9.3f} {s['regret']:>8.4f} "
                     f"{s['coverage_2sigma']:>6.0%}")
    if m["rho_vs_runs"]:
        names = list(next(iter(m["rho_vs_runs"].values())))
        lines += ["", "held-out rho against the number of fit runs",
                  f"{'runs':>6} " + " ".join(f"{n:>12}" for n in names)]
        for size, row in m["rho_vs_runs"].items():
            lines.append(f"{size:>6} " + " ".join(f"{row[n]:>12.3f}" for n in names))
    noise = m["seed_noise"]
    lines += ["", f"seed noise of {m['objective']}: sigma_seed {noise['sigma_seed']:.4f} ({noise['dof']} dof; pooled "
                  "over the seeds of each anchor and confirm mix, so it includes the seed effect every mix shares); "
                  f"spread across held-out mixtures {noise['heldout_spread']:.4f} = "
                  f"{noise['spread_over_sigma']:.1f} sigma"]
    chosen = m["chosen_vs_baselines"]
    lines += ["", f"{m['objective']}: chosen mix against the baselines"]
    for label, e in chosen["mixes"].items():
        spread = (f"+- {e['std']:.4f} over {e['n']} seeds" if e["source"] == "measured"
                  else f"+- {2 * e['sigma']:.4f} (2 sigma bootstrap)")
        mix = ", ".join(f"{d} {w:.3f}" for d, w in e["weights"].items())
        lines.append(f"  {label:<10} {e['source']:<9} {e['mean']:.4f} {spread}   [{mix}]")
        for c in e.get("constraints", []):
            lines.append(f"  {'':<10} {c['source']:<9} {c['text']}: {c['value']:.4f} vs bound {c['bound']:.4f} "
                         f"({'holds' if c['holds'] else 'BROKEN'})")
    if "best_swarm_run" in chosen:
        best = chosen["best_swarm_run"]
        lines.append(f"  best swarm run {best['name']}: {best['mean']:.4f} measured")
    for label in ("prior", "uniform"):
        g = chosen.get(f"gain_over_{label}")
        if not g:
            continue
        lines.append(f"  chosen beats {label} by {g['loss']:.4f} = {g['seed_sigmas']:.1f} sigma_seed "
                     f"(unpaired: difference of the means, in the pooled sigma_seed; "
                     f"{'measured' if g['measured'] else 'not both measured'})")
        p = g.get("paired")
        if p and p["n"]:
            per_seed = ", ".join(f"{q['seed']}: {q['gain']:+.4f}" for q in p["per_seed"])
            lines.append(f"  {'':<12}paired by seed ({p['n']} seeds both have): mean gain {p['mean_gain']:.4f}, "
                         f"sd of the differences {p['sigma_diff']:.4f} = {p['gain_over_sigma_diff']:.1f} sigma_diff "
                         f"(t {p['t']:.1f}); per seed {per_seed}")
    for proxy, t in m["transfer"].items():
        lines.append(f"transfer {m['fit_proxy']} -> {proxy}: rho {t['spearman']:.3f}, pairwise accuracy "
                     f"{t['pairwise_accuracy']:.3f} over {t['n']} mixtures")
    return "\n".join(lines)


def render_markdown(spec: SweepSpec, m: dict[str, Any], text: str) -> str:
    return (f"# Sweep report\n\nCorpus `{spec.corpus}`, {len(spec.runs)} planned runs, mode {spec.mode}, "
            f"{spec.tokens:,} tokens per run. Problems skipped: {len(m['problems'])}.\n\n"
            f"![predicted vs measured](predicted_vs_measured.png)\n\n```\n{text}\n```\n\n"
            "Measured numbers come from results.jsonl; predicted ones from fit.json (labelled). "
            "All metrics: metrics.json. Olmix cross-check: ratios.csv, metrics.csv, olmix_fit.yaml.\n")


def _jsonable(x: Any) -> Any:
    """NaN and inf as null, so metrics.json is strict JSON."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x

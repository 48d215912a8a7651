"""The planner's picture: weights over tokens (stacked area) above cumulative epochs per domain.

matplotlib is imported here only, with the Agg backend, so importing :mod:`midtrain.mixers` stays
light and plotting works on machines without a display.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from midtrain.mixers.planner import BudgetPlan
from midtrain.mixers.positions import format_tokens
from midtrain.mixers.schedule import Schedule

_POINTS_PER_PHASE = 200
"""Evaluation points per phase: ramps look smooth, and phase edges are added exactly."""


def plot_plan(schedule: Schedule, plan: BudgetPlan, path: str | os.PathLike) -> Path:
    """Write a two-panel PNG of ``plan`` to ``path`` (atomically) and return the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    xs = _positions(plan)
    weights = np.stack([schedule.weights_vector_at(int(x)) for x in xs[:-1]] +
                       [schedule.weights_vector_at(max(int(xs[-1]) - 1, 0))], axis=1)
    cumulative = _cumulative_epochs(schedule, plan, xs)

    colors = matplotlib.colormaps["tab10"].colors
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True, height_ratios=[1.1, 1],
                                      constrained_layout=True)
    top.stackplot(xs, weights, labels=plan.domains, colors=colors[:len(plan.domains)], alpha=0.9)
    top.set_ylim(0, 1)
    top.set_ylabel("weight (share of tokens)")
    marks = "dots: a domain passes one epoch" + ("; X: it breaks the cap" if plan.max_epochs is not None else "")
    fig.suptitle(f"Mixture schedule over {format_tokens(plan.total_tokens)} tokens ({marks})")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="domain")
    for phase in plan.phases:
        for ax in (top, bottom):
            ax.axvline(phase["start"], color="black", lw=0.8, ls=":")
        label = phase["name"] + (f"\nseq_len {phase['seq_len']}" if phase["seq_len"] else "")
        top.text((phase["start"] + phase["end"]) / 2, 1.01, label, ha="center", va="bottom", fontsize=8,
                 transform=top.get_xaxis_transform())

    for k, d in enumerate(plan.domains):
        color = colors[k % len(colors)]
        bottom.plot(xs, cumulative[k], color=color, lw=2, label=d)
        ran_out = plan.summary[k].exhausted_at
        if ran_out is not None:
            bottom.plot([ran_out], [1.0], "o", color=color, ms=7, mec="black", zorder=5)
        over_cap = plan.summary[k].cap_at
        if over_cap is not None:
            bottom.plot([over_cap], [plan.max_epochs], "X", color="red", ms=10, mec="black", zorder=6)
    bottom.axhline(1.0, color="grey", lw=1, ls="--")
    bottom.axhline(plan.warn_epochs, color="orange", lw=1, ls="--", label=f"warn ({plan.warn_epochs:g} epochs)")
    if plan.max_epochs is not None:
        bottom.axhline(plan.max_epochs, color="red", lw=1.2, ls="-", label=f"cap ({plan.max_epochs:g} epochs)")
    peak = max(float(cumulative.max()), plan.warn_epochs, plan.max_epochs or 0.0)
    if peak > 50:
        bottom.set_yscale("log")
        bottom.set_ylim(max(1e-3, float(cumulative[cumulative > 0].min(initial=1.0))), peak * 1.5)
    bottom.set_ylabel("cumulative epochs")
    bottom.set_xlabel("tokens seen")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_tokens(v)))
    bottom.set_xlim(0, plan.total_tokens)
    bottom.grid(alpha=0.3)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def _positions(plan: BudgetPlan) -> np.ndarray:
    points = []
    for phase in plan.phases:
        points.append(np.linspace(phase["start"], phase["end"], _POINTS_PER_PHASE, endpoint=False))
    points.append(np.array([float(plan.total_tokens)]))
    return np.concatenate(points)


def _cumulative_epochs(schedule: Schedule, plan: BudgetPlan, xs: np.ndarray) -> np.ndarray:
    """Cumulative epochs at each x, from the same closed-form integrals the planner uses."""
    from midtrain.mixers.planner import phase_draw

    unique = np.array([s.unique_tokens for s in plan.summary], dtype=np.float64)
    out = np.zeros((len(plan.domains), len(xs)))
    done = np.zeros(len(plan.domains))
    phases = {p.name: p for p in schedule.phases}
    j = 0
    for spec in plan.phases:
        phase, a, b = phases[spec["name"]], spec["start"], spec["end"]
        while j < len(xs) and xs[j] <= b:
            out[:, j] = done + phase_draw(phase, a, int(xs[j])) if xs[j] > a else done
            j += 1
        done = done + phase_draw(phase, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(unique[:, None] > 0, out / unique[:, None], 0.0)

"""``funnel.png``: documents and bytes kept after each step, one panel pair per domain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from midtrain.curation.report import CurationReport


def plot_funnel(report: CurationReport, path: str | Path) -> Path:
    """Bars of documents (top row) and MB (bottom row) left after each step, per domain; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.funnel()
    domains = report.domains or ["(none)"]
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(2, len(domains), figsize=(max(4.5, 3.2 + 0.45 * len(steps)) * len(domains) / 1.6, 7.5),
                             squeeze=False, constrained_layout=True)
    for j, d in enumerate(domains):
        for i, (key, label, scale) in enumerate((("documents", "documents", 1), ("bytes", "MB", 1e6))):
            ax = axes[i][j]
            values = [r["domains"].get(d, {}).get(key, 0) / scale for r in rows]
            bars = ax.bar(range(len(steps)), values, color=["#4c72b0"] + ["#dd8452"] * (len(steps) - 1))
            start = values[0] if values and values[0] else 1
            for b, v in zip(bars, values):
                ax.annotate(f"{100 * v / start:.0f}%", (b.get_x() + b.get_width() / 2, v), ha="center",
                            va="bottom", fontsize=7)
            ax.set_xticks(range(len(steps)), steps, rotation=60, ha="right", fontsize=7)
            ax.set_ylabel(label)
            ax.set_ylim(0, max(values + [1e-9]) * 1.15)
            if i == 0:
                ax.set_title(f"{d}: {int(values[-1]):,} of {int(values[0]):,} kept")
    fig.suptitle("Curation funnel: left after each step (first bar: all documents)")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path

"""The evaluation's picture: loss by position per domain (left), the copy probe by distance (right).

matplotlib is imported here only, with the Agg backend (as in :mod:`midtrain.mixers.plot`), so the
package stays light and plotting works without a display.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def plot_loss_by_position(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a PNG of ``results`` (from :func:`~midtrain.longctx.evaluate.score_eval_set`) atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    copy = (results.get("copy") or {}).get("by_distance") or []
    fig, axes = plt.subplots(1, 2 if copy else 1, figsize=(13 if copy else 8, 4.8), squeeze=False,
                             width_ratios=[2, 1] if copy else None, constrained_layout=True)
    ax = axes[0, 0]
    curve = results["curve"]
    for name, losses in curve["losses"].items():
        style = {"color": "black", "lw": 2.2} if name == "all" else {"lw": 1.4}
        ax.plot(curve["positions"], losses, label=name, **style)
    for a, _ in results["buckets"][1:]:
        ax.axvline(a, color="grey", lw=0.8, ls=":")
    if "all" in results:
        for b in results["all"]["buckets"]:
            ax.hlines(b["loss"], b["start"], b["end"], color="black", lw=1, ls="--")
    ax.set_xlabel(f"position (mean over {curve['bin']} positions; dashed: bucket means of all domains)")
    ax.set_ylabel("loss (nats/token)")
    ax.set_xlim(0, results["seq_len"])
    ax.set_title(f"loss by position, seq_len {results['seq_len']}")
    ax.grid(alpha=0.3)
    if curve["losses"]:
        ax.legend(fontsize=8, frameon=False)
    if copy:
        right = axes[0, 1]
        distances = [c["distance"] for c in copy]
        right.plot(distances, [c["loss"] for c in copy], "o-", label="repeat (copy available)")
        right.plot(distances, [c["first_loss"] for c in copy], "s--", color="grey", label="first occurrence")
        right.set_xscale("log", base=2)
        right.set_xlabel("distance (tokens)")
        right.set_ylabel("loss on the span")
        right.set_title(f"copy probe, {results['copy']['span']}-token span")
        right.grid(alpha=0.3)
        right.legend(fontsize=8, frameon=False)
    pk = results.get("passkey")
    if pk:
        fig.suptitle(f"passkey accuracy {pk['accuracy']:.2f} ({pk['probes']} probes)", fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out

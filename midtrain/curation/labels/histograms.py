"""Score histograms of a labelled text corpus as one PNG: one panel per score column, one line per domain.

For the curation report and for eyeballing a threshold before ``refilter``: where the quality,
language and domain scores of each domain fall. Reads only the score columns, with polars.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from midtrain.corpus.manifest import Manifest, resolve_inside
from midtrain.errors import MidtrainError

SCORE_COLUMNS = ("quality_score", "language_score", "domain_score")
SCORE_RANGES = {"quality_score": 5.0}
"""Upper end of a score's range when it is not 1 (the quality score is 0-5)."""


def score_histograms(corpus_dir: str | os.PathLike, bins: int = 20,
                     columns: tuple[str, ...] = SCORE_COLUMNS) -> dict[str, dict[str, list[int]]]:
    """``{column: {domain: counts per bin over [0, top]}}`` for every score column the corpus has
    (``top`` is 5 for ``quality_score``, 1 for the probabilities)."""
    corpus_dir = Path(corpus_dir)
    manifest = Manifest.read(corpus_dir)
    paths = [str(resolve_inside(corpus_dir, s.path)) for s in manifest.shards]
    if not paths:
        return {}
    lf = pl.scan_ipc(paths)
    present = [c for c in columns if c in lf.collect_schema()]
    if not present:
        return {}
    df = lf.select(["domain", *present]).collect()
    out: dict[str, dict[str, list[int]]] = {}
    for col in present:
        out[col] = {}
        for (domain,), part in sorted(df.group_by("domain"), key=lambda kv: kv[0]):
            values = part[col].drop_nulls().to_numpy()
            top = SCORE_RANGES.get(col, 1.0)
            edges = np.linspace(0.0, top, bins + 1)
            out[col][domain] = np.histogram(np.clip(values, 0.0, top), bins=edges)[0].tolist()
    return out


def plot_score_histograms(corpus_dir: str | os.PathLike, out_png: str | os.PathLike, bins: int = 20) -> Path:
    """Write the histograms to ``out_png`` (matplotlib, Agg backend); return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hists = score_histograms(corpus_dir, bins)
    if not hists:
        raise MidtrainError(f"{corpus_dir}: no score columns ({', '.join(SCORE_COLUMNS)}) to plot; "
                            "was the corpus curated with the labelling steps?")
    fig, axes = plt.subplots(1, len(hists), figsize=(5 * len(hists), 3.6), squeeze=False)
    for ax, (col, per_domain) in zip(axes[0], hists.items()):
        top = SCORE_RANGES.get(col, 1.0)
        centres = (np.arange(bins) + 0.5) / bins * top
        for domain, counts in per_domain.items():
            ax.step(centres, counts, where="mid", label=f"{domain} ({sum(counts):,})")
        ax.set_title(col)
        ax.set_xlabel("score")
        ax.set_ylabel("documents")
        ax.set_xlim(0, top)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(out_png.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png

"""``stats``: per-domain documents, tokens, bytes and length percentiles, computed with polars.

Text corpora report lengths in UTF-8 bytes; token corpora in tokens (from the offsets, without
touching the tokens). Extra numeric signal columns of text corpora (quality score, language
score, ...) are summarised as their mean, so that labels show up here as soon as curation adds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from midtrain.corpus.manifest import Manifest, resolve_inside
from midtrain.corpus.shards import TokenShard

PERCENTILES = (0.1, 0.5, 0.9, 0.99)


def corpus_stats(corpus_dir: str | os.PathLike) -> dict[str, Any]:
    """A JSON-able summary: ``{"kind", "domains": {domain: {...}}, "total": {...}}``."""
    corpus_dir = Path(corpus_dir)
    manifest = Manifest.read(corpus_dir)
    frames = []
    by_domain: dict[str, list[Path]] = {}
    for shard in manifest.shards:
        by_domain.setdefault(shard.domain, []).append(resolve_inside(corpus_dir, shard.path))
    signal_means: dict[str, dict[str, float]] = {}
    for domain, paths in sorted(by_domain.items()):
        if manifest.kind == "token":
            lengths = np.concatenate([TokenShard(p).doc_lengths for p in paths]) if paths else np.zeros(0, np.int64)
        else:
            lf = pl.scan_ipc([str(p) for p in paths])
            schema = lf.collect_schema()
            numeric = [n for n, t in schema.items() if t.is_numeric() and n not in ("id",)]
            df = lf.select([pl.col("text").str.len_bytes().alias("length"), *[pl.col(n) for n in numeric]]).collect()
            lengths = df["length"].to_numpy()
            if numeric:
                signal_means[domain] = {n: _float(df[n].mean()) for n in numeric}
        frames.append(pl.DataFrame({"domain": [domain] * len(lengths), "length": lengths.astype(np.int64)}))
    unit = "tokens" if manifest.kind == "token" else "bytes"
    domains: dict[str, Any] = {}
    if frames:
        df = pl.concat(frames)
        agg = df.group_by("domain").agg(
            pl.len().alias("documents"),
            pl.col("length").sum().alias("total"),
            *[pl.col("length").quantile(q, interpolation="nearest").alias(f"p{int(q * 100)}") for q in PERCENTILES],
        ).sort("domain")
        for row in agg.iter_rows(named=True):
            d = row.pop("domain")
            entry = {"documents": row["documents"], unit: int(row["total"]),
                     "length_percentiles": {k: int(row[k]) for k in row if k.startswith("p")}}
            if manifest.kind == "token":
                entry["bytes_on_disk"] = manifest.domains[d]["bytes"]
            if d in signal_means:
                entry["signal_means"] = signal_means[d]
            domains[d] = entry
    total_docs = sum(e["documents"] for e in domains.values())
    total_len = sum(e[unit] for e in domains.values())
    return {"corpus": str(corpus_dir), "kind": manifest.kind, "unit": unit, "domains": domains,
            "total": {"documents": total_docs, unit: total_len}}


def format_stats(stats: dict[str, Any]) -> str:
    """The stats as an aligned text table."""
    unit = stats["unit"]
    head = f"{'domain':<12} {'documents':>10} {unit:>14} {'share':>7}   length p10 / p50 / p90 / p99 ({unit})"
    lines = [f"{stats['kind']} corpus {stats['corpus']}", head, "-" * len(head)]
    total = max(stats["total"][unit], 1)
    for d, e in stats["domains"].items():
        p = e["length_percentiles"]
        lines.append(f"{d:<12} {e['documents']:>10,} {e[unit]:>14,} {e[unit] / total:>7.1%}   "
                     f"{p['p10']:,} / {p['p50']:,} / {p['p90']:,} / {p['p99']:,}")
    lines.append(f"{'total':<12} {stats['total']['documents']:>10,} {stats['total'][unit]:>14,}")
    return "\n".join(lines)


def _float(x: Any) -> float | None:
    return None if x is None else round(float(x), 6)

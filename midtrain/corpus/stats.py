"""``stats``: per-domain documents, tokens, bytes and length percentiles, computed with polars.

Text corpora report lengths in UTF-8 bytes; token corpora in tokens (from the offsets, without
touching the tokens). Every domain gets a length histogram; token corpora also count the documents
a schedule's ``long`` would select by length (>= 32,768 tokens, :mod:`midtrain.corpus.lengths`).
A token corpus at a URL is summarised from its manifest and offsets
(:func:`~midtrain.corpus.remote.open_remote_corpus`, no token read); a text corpus at a URL by
reading each shard whole (as a local one is read whole). Extra numeric signal columns of text corpora (quality score, language
score, ...) are summarised as their mean, so that labels show up here as soon as curation adds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.lengths import DEFAULT_LONG_MIN_TOKENS, document_lengths
from midtrain.corpus.manifest import Manifest, resolve_inside
from midtrain.storage.objects import is_url

PERCENTILES = (0.1, 0.5, 0.9, 0.99)
LENGTH_EDGES = (0, 128, 512, 2048, 8192, 32_768, 131_072)
"""Lower edges of the length histogram's bins (the last is open). Powers of four, so that both
thresholds of ``long`` are edges: 32,768 tokens (the default ``long_min_tokens``) and 131,072
bytes (the 128 KiB rule curation used to label ``long`` documents by)."""


def _text_frames(corpus_dir: str | Path, paths: list[str]) -> pl.LazyFrame:
    """The text shards ``paths`` of a local corpus (scanned lazily) or of one at a URL (each read whole)."""
    if not is_url(corpus_dir):
        return pl.scan_ipc([str(resolve_inside(Path(corpus_dir), p)) for p in paths])
    import io

    from midtrain.corpus.remote import shard_url_inside
    from midtrain.storage.objects import read_object

    return pl.concat([pl.read_ipc(io.BytesIO(read_object(shard_url_inside(str(corpus_dir), p)))).lazy()
                      for p in paths], how="diagonal_relaxed")


def corpus_stats(corpus_dir: str | os.PathLike) -> dict[str, Any]:
    """A JSON-able summary: ``{"kind", "domains": {domain: {...}}, "total": {...}}``.

    ``corpus_dir`` is a folder, or the URL of a token corpus."""
    if is_url(corpus_dir):
        from midtrain.corpus.remote import read_manifest

        name = str(corpus_dir)
        manifest = read_manifest(name)
    else:
        corpus_dir = Path(corpus_dir)
        name = str(corpus_dir)
        manifest = Manifest.read(corpus_dir)
    frames = []
    by_domain: dict[str, list[str]] = {}
    for shard in manifest.shards:
        by_domain.setdefault(shard.domain, []).append(shard.path)
    token_lengths = document_lengths(corpus_dir) if manifest.kind == "token" else {}
    signal_means: dict[str, dict[str, float]] = {}
    histograms: dict[str, list[int]] = {}
    long_documents: dict[str, dict[str, int]] = {}
    for domain, paths in sorted(by_domain.items()):
        if manifest.kind == "token":
            lengths = token_lengths[domain]
        else:
            lf = _text_frames(corpus_dir, paths)
            schema = lf.collect_schema()
            numeric = [n for n, t in schema.items() if t.is_numeric() and n not in ("id",)]
            df = lf.select([pl.col("text").str.len_bytes().alias("length"), *[pl.col(n) for n in numeric]]).collect()
            lengths = df["length"].to_numpy()
            if numeric:
                signal_means[domain] = {n: _float(df[n].mean()) for n in numeric}
        frames.append(pl.DataFrame({"domain": [domain] * len(lengths), "length": lengths.astype(np.int64)}))
        histograms[domain] = np.bincount(np.searchsorted(LENGTH_EDGES, lengths, side="right") - 1,
                                         minlength=len(LENGTH_EDGES)).tolist()
        if manifest.kind == "token":
            long = lengths[lengths >= DEFAULT_LONG_MIN_TOKENS]
            long_documents[domain] = {"min_tokens": DEFAULT_LONG_MIN_TOKENS, "documents": len(long),
                                      "tokens": int(long.sum())}
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
                     "length_percentiles": {k: int(row[k]) for k in row if k.startswith("p")},
                     "length_histogram": {"edges": list(LENGTH_EDGES), "documents": histograms[d]}}
            if d in long_documents:
                entry["long_documents"] = long_documents[d]
            if manifest.kind == "token":
                entry["bytes_on_disk"] = manifest.domains[d]["bytes"]
            if d in signal_means:
                entry["signal_means"] = signal_means[d]
            domains[d] = entry
    total_docs = sum(e["documents"] for e in domains.values())
    total_len = sum(e[unit] for e in domains.values())
    return {"corpus": name, "kind": manifest.kind, "unit": unit, "domains": domains,
            "total": {"documents": total_docs, unit: total_len}}


def format_stats(stats: dict[str, Any]) -> str:
    """The stats as an aligned text table."""
    unit = stats["unit"]
    long = f" {'>=' + format(DEFAULT_LONG_MIN_TOKENS, ',') + ' tok':>14}" if stats["kind"] == "token" else ""
    head = f"{'domain':<12} {'documents':>10} {unit:>14} {'share':>7}{long}   length p10 / p50 / p90 / p99 ({unit})"
    lines = [f"{stats['kind']} corpus {stats['corpus']}", head, "-" * len(head)]
    total = max(stats["total"][unit], 1)
    for d, e in stats["domains"].items():
        p = e["length_percentiles"]
        n_long = f" {e['long_documents']['documents']:>14,}" if "long_documents" in e else ""
        lines.append(f"{d:<12} {e['documents']:>10,} {e[unit]:>14,} {e[unit] / total:>7.1%}{n_long}   "
                     f"{p['p10']:,} / {p['p50']:,} / {p['p90']:,} / {p['p99']:,}")
    lines.append(f"{'total':<12} {stats['total']['documents']:>10,} {stats['total'][unit]:>14,}")
    return "\n".join(lines)


def _float(x: Any) -> float | None:
    return None if x is None else round(float(x), 6)

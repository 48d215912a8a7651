"""The labelling audit of a curated corpus: what each source was labelled, and where to look.

For ``report.md`` (and ``report.json``): per source, the domain, code-language and quality-tier
distributions and the mean/std of the quality score; how often the input's own evidence (a
``domain_hint`` or a file extension) agrees with what the classifier alone would have said; and
the least confident classifier decisions, the first documents a person should read. It reads only
label columns (plus the first characters of the few sampled documents) of kept and rejected shards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from midtrain.corpus.manifest import Manifest, resolve_inside

LABEL_COLUMNS = ("source", "domain", "domain_rule", "domain_classifier", "domain_score", "code_language",
                 "quality_score", "quality_tier", "length_chars")
LOW_CONFIDENCE_SAMPLE = 10


def _scan(corpus_dir: Path, manifest: Manifest) -> pl.DataFrame | None:
    paths = [str(resolve_inside(corpus_dir, s.path)) for s in (*manifest.shards, *manifest.rejected)]
    if not paths:
        return None
    frames = []
    for path in paths:
        lf = pl.scan_ipc(path)
        schema = lf.collect_schema()
        if "domain_rule" not in schema:
            continue
        cols = [c for c in (*LABEL_COLUMNS, "id") if c in schema]
        frames.append(lf.select(cols).collect())
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def label_audit(corpus_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The audit as a JSON-able dict, or None when the corpus carries no label columns."""
    corpus_dir = Path(corpus_dir)
    manifest = Manifest.read(corpus_dir)
    df = _scan(corpus_dir, manifest)
    if df is None or df.height == 0:
        return None
    if "source" not in df.columns:
        df = df.with_columns(pl.lit("input").alias("source"))
    per_source: dict[str, Any] = {}
    for (source,), part in sorted(df.group_by("source"), key=lambda kv: str(kv[0])):
        entry: dict[str, Any] = {"documents": part.height,
                                 "domains": _counts(part, "domain"), "rules": _counts(part, "domain_rule")}
        if "code_language" in part.columns:
            entry["code_languages"] = _counts(part.filter(pl.col("code_language").is_not_null()), "code_language")
        if "quality_tier" in part.columns:
            entry["quality_tiers"] = {str(k): v for k, v in _counts(part, "quality_tier").items()}
        if "quality_score" in part.columns:
            q = part["quality_score"].drop_nulls()
            entry["quality_mean"] = round(float(q.mean()), 3) if len(q) else None
            entry["quality_std"] = round(float(q.std()), 3) if len(q) > 1 else None
        per_source[str(source)] = entry
    evidence = df.filter(pl.col("domain_rule").is_in(["hint", "extension"]))
    agreement = {}
    for (rule,), part in sorted(evidence.group_by("domain_rule"), key=lambda kv: kv[0]):
        agree = int((part["domain"] == part["domain_classifier"]).sum())
        agreement[rule] = {"documents": part.height, "classifier_agrees": agree,
                           "share": round(agree / part.height, 4) if part.height else None}
    low = (df.filter(pl.col("domain_rule").is_in(["classifier", "latex", "code_lines"]))
           .sort(["domain_score", "id"]).head(LOW_CONFIDENCE_SAMPLE))
    sample = [{"id": r.get("id"), "source": r["source"], "domain": r["domain"],
               "classifier": r["domain_classifier"], "score": round(float(r["domain_score"]), 3)}
              for r in low.iter_rows(named=True)]
    return {"per_source": per_source, "agreement": agreement, "low_confidence": sample}


def _counts(df: pl.DataFrame, column: str) -> dict[str, int]:
    if column not in df.columns or df.height == 0:
        return {}
    vc = df[column].value_counts(sort=True)
    return {str(row[0]): int(row[1]) for row in vc.iter_rows()}


def audit_markdown(audit: dict[str, Any] | None) -> list[str]:
    """The audit as ``report.md`` lines (empty when there is none)."""
    if not audit:
        return []
    lines = ["", "## Labelling audit", "",
             "Per source: the labels it received (every document, kept or rejected), quality tiers and score.", "",
             "| source | documents | domains | code languages | quality tiers | quality mean ± std |",
             "|---|---:|---|---|---|---|"]
    for name, e in audit["per_source"].items():
        fmt = lambda d: ", ".join(f"{k} {v}" for k, v in list(d.items())[:6]) or "–"  # noqa: E731
        q = "–" if e.get("quality_mean") is None else f"{e['quality_mean']:.2f} ± {e.get('quality_std') or 0:.2f}"
        lines.append(f"| {name} | {e['documents']:,} | {fmt(e['domains'])} | {fmt(e.get('code_languages', {}))} "
                     f"| {fmt(e.get('quality_tiers', {}))} | {q} |")
    lines += ["", "Agreement of the input's own evidence with the classifier (which would have decided alone):", ""]
    if audit["agreement"]:
        lines += ["| evidence | documents | classifier agrees | share |", "|---|---:|---:|---:|"]
        for rule, a in audit["agreement"].items():
            lines.append(f"| {rule} | {a['documents']:,} | {a['classifier_agrees']:,} | {a['share']:.1%} |")
    else:
        lines.append("No document carried a domain hint or a known file extension.")
    lines += ["", f"Least confident classifier decisions (first {LOW_CONFIDENCE_SAMPLE}; read these first):", "",
              "| id | source | domain | classifier | score |", "|---|---|---|---|---:|"]
    for s in audit["low_confidence"]:
        lines.append(f"| `{s['id']}` | {s['source']} | {s['domain']} | {s['classifier']} | {s['score']:.3f} |")
    return lines

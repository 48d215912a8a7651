"""``refilter``: new thresholds over a curated corpus in one pass, from the stored signals alone.

Tag first, filter later pays off here: every kept document and every document a threshold
rejected carries its rule signals as typed columns, so re-deciding is an Arrow scan, with no text
read by a rule and no document object built. Documents rejected by other steps (empty after
normalisation, duplicates, contamination) are carried over unchanged, and so are the readers'
counts, so the new corpus's report still adds up. Revived documents were never deduplicated:
run ``midtrain dedup`` again if thresholds were loosened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from midtrain.corpus import CorpusWriter, Manifest, read_text_shard
from midtrain.corpus.manifest import resolve_inside
from midtrain.curation.decide import Decisions, decide, decision_steps, load_decisions, signals_of
from midtrain.curation.report import CurationReport, build_report, write_report
from midtrain.errors import ConfigError


def refilter(corpus: str | os.PathLike, output: str | os.PathLike, thresholds: dict[str, Any] | None = None
             ) -> CurationReport:
    """Write ``output``: ``corpus`` re-decided with ``thresholds`` (published defaults when None).

    ``thresholds`` is the mapping of the pipeline's ``thresholds`` step (see
    :mod:`midtrain.curation.decide`).
    """
    src, out = Path(corpus), Path(output)
    if out.resolve() == src.resolve():
        raise ConfigError(f"--output: {out} is the input corpus; refilter writes a new corpus")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--output: {out} exists and is not empty; choose a new folder")
    manifest = Manifest.read(src)
    if "curation" not in manifest.extra:
        raise ConfigError(f"{src}: not a corpus written by midtrain curate (its manifest has no curation counts)")
    decisions = load_decisions(thresholds)
    threshold_steps = pa.array(sorted(decision_steps()), pa.string())

    writer = CorpusWriter(out, "text")
    for shard in manifest.shards:
        table = read_text_shard(resolve_inside(src, shard.path))
        _decide(writer, shard.domain, table, decisions)
    for shard in manifest.rejected:
        table = read_text_shard(resolve_inside(src, shard.path))
        by_rule = pc.is_in(table.column("step"), value_set=threshold_steps)
        carried = table.filter(pc.invert(by_rule))
        if carried.num_rows:
            writer.write_rejected(shard.domain, carried)
        again = table.filter(by_rule).drop_columns(["step", "reason"])
        _decide(writer, shard.domain, again, decisions)
    extra = dict(manifest.extra)
    extra["refilter"] = {"from": str(src), "thresholds": thresholds or {}}
    writer.finish(extra)
    report = build_report(out)
    write_report(report, out)
    return report


def _decide(writer: CorpusWriter, domain: str, table: pa.Table, decisions: Decisions) -> None:
    if not table.num_rows:
        return
    steps, reasons = decide(signals_of(table), table.column("domain").combine_chunks(), decisions)
    rejected = pc.is_valid(steps)
    kept = table.filter(pc.invert(rejected))
    if kept.num_rows:
        writer.write_table(domain, kept)
    dropped = table.filter(rejected)
    if dropped.num_rows:
        dropped = dropped.append_column("step", pc.filter(steps, rejected)).append_column(
            "reason", pc.filter(reasons, rejected))
        writer.write_rejected(domain, dropped)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["gopher_quality.min_doc_words=30"]`` -> ``{"gopher_quality": {"min_doc_words": 30}}``."""
    tree: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key or key.startswith(".") or key.endswith("."):
            raise ConfigError(f"--set {item!r}: expected RULE.PARAM=VALUE, e.g. gopher_quality.min_doc_words=30")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part} is set both as a value and as a group")
        node[leaf] = value
    return tree


def thresholds_from_file(path: str | os.PathLike) -> dict[str, Any]:
    """Thresholds from a YAML file: a curate config (its ``thresholds`` step) or a thresholds mapping."""
    from midtrain.curation.config import load_config

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if "pipeline" not in data:
        return data.get("thresholds", data)
    cfg = load_config(path)
    for step in cfg.pipeline or []:
        if step.name == "thresholds":
            return step.params
    raise ConfigError(f"{path}.pipeline: has no 'thresholds' step to take thresholds from")

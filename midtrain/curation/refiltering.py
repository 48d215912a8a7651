"""``refilter``: new thresholds over a curated corpus in one pass, from the stored signals alone.

Tag first, filter later pays off here: every kept document and every document a threshold
rejected carries its rule signals as typed columns, so re-deciding is an Arrow scan, with no text
read by a rule and no document object built. Documents rejected by other steps (empty after
normalisation, duplicates, contamination) are carried over unchanged, and so are the readers'
counts, so the new corpus's report still adds up. Revived documents were never deduplicated:
run ``midtrain dedup`` again if thresholds were loosened.

Both ends may be URLs. A corpus at a URL is read through fsspec, one shard at a time, each fetched
whole (ranged reads with retries) and checked against the manifest's ``xxh3_128`` before it is
decoded: refilter reads every byte of every shard anyway, so fetching whole shards costs no extra
transfer, needs no local copy of the input (no disk space, nothing stale to manage), and a
corrupted or half-replaced object fails with its URL instead of feeding wrong rows into the new
corpus. An output URL is written to a local work folder
(:func:`midtrain.storage.objects.work_dir_for`, or ``work_dir``) and published with the manifest
last (:func:`midtrain.curation.job.publish`); rerunning the same command after an interrupted
publish publishes the finished work folder again without recomputing it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from midtrain.corpus import CorpusError, CorpusWriter, Manifest, ShardInfo, read_text_shard
from midtrain.corpus.manifest import resolve_inside
from midtrain.curation.decide import Decisions, decide, decision_steps, load_decisions, signals_of
from midtrain.curation.report import CurationReport, build_report, write_report
from midtrain.curation.urls import is_url
from midtrain.errors import ConfigError

_IN_PROGRESS = ".midtrain-refilter"
"""Marker a refilter writes in its (work) folder while it runs: a rerun may clear what it left."""


def refilter(corpus: str | os.PathLike, output: str | os.PathLike, thresholds: dict[str, Any] | None = None,
             *, overwrite: bool = False, work_dir: str | os.PathLike | None = None) -> CurationReport:
    """Write ``output``: ``corpus`` re-decided with ``thresholds`` (published defaults when None).

    ``thresholds`` is the mapping of the pipeline's ``thresholds`` step (see
    :mod:`midtrain.curation.decide`). ``corpus`` and ``output`` may be URLs (see the module
    docstring); a URL output is built in ``work_dir`` (default
    :func:`midtrain.storage.objects.work_dir_for`), and one that already holds a corpus is refused
    unless ``overwrite``.
    """
    src = str(corpus) if is_url(str(corpus)) else Path(corpus)
    url = str(output) if is_url(str(output)) else None
    if url is not None or isinstance(src, str):
        same = str(output).rstrip("/") == str(src).rstrip("/")
    else:
        same = Path(output).resolve() == src.resolve()
    if same:
        raise ConfigError(f"--output: {output} is the input corpus; refilter writes a new corpus")
    request = {"from": str(src), "thresholds": thresholds or {}}
    if url is None:
        out = Path(output)
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"--output: {out} exists and is not empty; choose a new folder")
        return _refilter_into(src, out, thresholds, request)

    from midtrain.curation.job import check_url_output, publish
    from midtrain.storage.objects import work_dir_for

    check_url_output(url, overwrite)
    out = work_dir_for(url, work_dir)
    if _finished(out, request):
        report = build_report(out)  # finished here; only the publish was interrupted
    else:
        _clear_work(out)
        report = _refilter_into(src, out, thresholds, request)
    from dataclasses import replace

    report = replace(report, output=url)
    write_report(report, out)
    publish(out, url, overwrite=overwrite)
    return report


def _finished(out: Path, request: dict) -> bool:
    """Whether ``out`` holds the finished corpus of this very refilter (same input and thresholds)."""
    if (out / _IN_PROGRESS).exists() or not (out / "manifest.json").is_file():
        return False
    try:
        done = Manifest.read(out).extra.get("refilter")
    except CorpusError:
        return False
    return json.loads(json.dumps(done, default=str)) == json.loads(json.dumps(request, default=str))


def _clear_work(out: Path) -> None:
    """Empty a work folder that an earlier refilter left (interrupted, or another request); refuse others."""
    if not out.exists() or not any(out.iterdir()):
        return
    ours = (out / _IN_PROGRESS).exists()
    if not ours and (out / "manifest.json").is_file():
        try:
            ours = "refilter" in Manifest.read(out).extra
        except CorpusError:
            ours = False
    if not ours:
        raise ConfigError(f"--work-dir: {out} exists, is not empty and holds no refilter work; choose another "
                          "--work-dir")
    shutil.rmtree(out)


def _refilter_into(src: Path | str, out: Path, thresholds: dict[str, Any] | None, request: dict) -> CurationReport:
    """The refilter itself: ``src`` (a folder or a URL) re-decided into the empty or new folder ``out``."""
    manifest, read_shard = _open_source(src)
    if "curation" not in manifest.extra:
        raise ConfigError(f"{src}: not a corpus written by midtrain curate (its manifest has no curation counts)")
    decisions = load_decisions(thresholds)
    threshold_steps = pa.array(sorted(decision_steps()), pa.string())

    out.mkdir(parents=True, exist_ok=True)
    (out / _IN_PROGRESS).write_text("refilter in progress\n")
    writer = CorpusWriter(out, "text")
    for shard in manifest.shards:
        table = read_shard(shard)
        _decide(writer, shard.domain, table, decisions)
    for shard in manifest.rejected:
        table = read_shard(shard)
        by_rule = pc.is_in(table.column("step"), value_set=threshold_steps)
        carried = table.filter(pc.invert(by_rule))
        if carried.num_rows:
            writer.write_rejected(shard.domain, carried)
        again = table.filter(by_rule).drop_columns(["step", "reason"])
        _decide(writer, shard.domain, again, decisions)
    extra = dict(manifest.extra)
    extra["refilter"] = request
    writer.finish(extra)
    report = build_report(out)
    write_report(report, out)
    (out / _IN_PROGRESS).unlink()
    return report


def _open_source(src: Path | str) -> tuple[Manifest, Callable[[ShardInfo], pa.Table]]:
    """The manifest of the input corpus and a function reading one of its shards (verified, for a URL)."""
    if isinstance(src, Path):
        return Manifest.read(src), lambda shard: read_text_shard(resolve_inside(src, shard.path))
    from midtrain.corpus.remote import read_manifest

    return read_manifest(src), lambda shard: _read_remote_shard(src, shard)


def _read_remote_shard(url: str, shard: ShardInfo) -> pa.Table:
    """One text shard at a URL, fetched whole and checked against its manifest checksum, decoded."""
    import xxhash

    from midtrain.corpus.remote import shard_url_inside
    from midtrain.corpus.shards import TEXT_COLUMNS
    from midtrain.storage.objects import read_object

    shard_url = shard_url_inside(url, shard.path)
    data = read_object(shard_url)
    actual = f"xxh3_128:{xxhash.xxh3_128_hexdigest(data)}"
    if len(data) != shard.bytes or actual != shard.checksum:
        raise CorpusError(f"{shard_url}: {len(data)} bytes, checksum {actual}; the manifest says {shard.bytes} "
                          f"bytes, {shard.checksum}: the object is corrupted or was replaced")
    try:
        table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise CorpusError(f"{shard_url}: cannot decode record batches ({exc})") from None
    missing = [c for c in TEXT_COLUMNS if c not in table.column_names]
    if missing:
        raise CorpusError(f"{shard_url}: text shard lacks column(s) {missing}")
    return table


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

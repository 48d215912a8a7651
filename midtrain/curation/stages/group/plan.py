"""The plan of a grouping run: which documents form each group, in which order, in which output shard.

Made in the calling process from the small per-shard member tables (ids, lengths, references;
never the texts), so that a user mistake -- an id without a package part, a duplicate path, a
document longer than ``max_chars`` -- is a :class:`ConfigError` naming the record before any text
moves. A document is a *node*: nodes number the input's documents in manifest order (shards by
path, rows in order), as in dedup. The plan assigns every node one *slot*, its position in the
output: groups one after another, members in group order. Groups are written domain by domain in
plan order, a new shard ``data/<domain>/<k:05d>.arrow`` whenever the current one holds
``shard_size_mb`` million characters.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from midtrain.corpus.shards import open_ipc_file, write_arrow_file
from midtrain.curation.stages.group.layout import majority, repo_block_chars, split_id
from midtrain.curation.stages.group.order import csr, dependency_order, order_stats
from midtrain.curation.stages.group.paths import greedy_paths, neighbour_lists
from midtrain.curation.stages.group.resolve import PackageFiles
from midtrain.curation.stages.group.steps import MEMBER_SCHEMA, GroupJob
from midtrain.errors import ConfigError


@dataclass
class Members:
    """Every input document's metadata, by node."""

    ids: list[str]
    sources: list[str | None]
    chars: np.ndarray
    domains: list[str]
    shard: np.ndarray
    row: np.ndarray
    refs: list[list[str] | None]
    parsers: list[str | None]

    def where(self, job: GroupJob, node: int) -> str:
        """``<corpus>/<shard path> row <r> (id '<id>')``: how an error names a record."""
        shard = job.shards[int(self.shard[node])]
        return f"{Path(job.corpus) / shard.path} row {int(self.row[node])} (id {self.ids[node]!r})"


@dataclass
class Plan:
    """Groups in output order: ``order`` lists nodes group after group, ``sizes`` their counts."""

    order: np.ndarray
    sizes: np.ndarray
    ids: list[str]
    domains: list[str]
    sources: list[str | None]
    chars: np.ndarray
    """Characters of each group's text."""
    counts: dict[str, Any] = field(default_factory=dict)


def load_members(job: GroupJob) -> Members:
    """The member tables of every input shard, concatenated in node order."""
    tables, shard, row, domains = [], [], [], []
    for s in job.shards:
        reader, _ = open_ipc_file(job.shard_file("members", s, ".arrow"))
        tables.append(reader.read_all())
        shard.append(np.full(s.rows, s.index, np.int64))
        row.append(np.arange(s.rows, dtype=np.int64))
        domains += [s.domain] * s.rows
    table = pa.concat_tables(tables) if tables else MEMBER_SCHEMA.empty_table()
    return Members(ids=table.column("id").to_pylist(), sources=table.column("source").to_pylist(),
                   chars=table.column("chars").to_numpy(), domains=domains,
                   shard=np.concatenate(shard) if shard else np.zeros(0, np.int64),
                   row=np.concatenate(row) if row else np.zeros(0, np.int64),
                   refs=table.column("refs").to_pylist(), parsers=table.column("parser").to_pylist())


def plan_repo(job: GroupJob, m: Members) -> Plan:
    """Packages from the ids, files in dependency order, cut into parts of at most ``max_chars``."""
    cfg = job.config
    n = len(m.ids)
    split = []
    for node, doc_id in enumerate(m.ids):
        parts = split_id(doc_id or "", cfg.package_depth)
        if parts is None:
            raise ConfigError(f"{m.where(job, node)}: the id has no package part; group_by: repo reads ids written "
                              f"<package>/<relative path> (package_depth={cfg.package_depth} leading parts name the "
                              "package); rename the documents or use --package-depth")
        split.append(parts)
    nodes = sorted(range(n), key=lambda v: split[v])  # sorted position -> node
    packages, paths = [split[v][0] for v in nodes], [split[v][1] for v in nodes]
    for a in range(1, n):
        if packages[a] == packages[a - 1] and paths[a] == paths[a - 1]:
            raise ConfigError(f"{m.where(job, nodes[a])}: the same id as {m.where(job, nodes[a - 1])}; a package "
                              "cannot hold two files with one path (deduplicate the ids first)")
    starts = [0] + [a for a in range(1, n) if packages[a] != packages[a - 1]] + [n]
    edges, external = [], 0
    for lo, hi in zip(starts[:-1], starts[1:]):
        ignored = frozenset(f for f in range(hi - lo) if m.parsers[nodes[lo + f]] == "go-ignored")
        files = PackageFiles(packages[lo], paths[lo:hi], outside=ignored)
        for f in range(hi - lo):
            deps, missed = files.dependencies(f, m.refs[nodes[lo + f]] or [])
            external += missed
            edges += [(lo + d, lo + f) for d in sorted(deps)]
    edge_array = np.array(edges, np.int64).reshape(-1, 2)
    starts_array = np.array(starts, np.int64)
    order, breaks = dependency_order(starts_array, *csr(n, edge_array))
    counts = order_stats(n, starts_array, edge_array, order, breaks)
    counts["external_references"] = external
    counts["parsers"] = dict(sorted(Counter(p or "none" for p in m.parsers).items()))

    block = np.array([repo_block_chars(m.ids[nodes[s]], int(m.chars[nodes[s]])) for s in range(n)], np.int64)
    out_order, sizes, ids, domains, sources, chars = [], [], [], [], [], []
    split_packages = oversized = 0
    for lo, hi in zip(starts[:-1], starts[1:]):
        parts = _cut(job, m, [int(s) for s in order[lo:hi]], block, nodes)
        oversized += sum(1 for part in parts if len(part) == 1 and cfg.max_chars and block[part[0]] > cfg.max_chars)
        split_packages += len(parts) > 1
        for k, part in enumerate(parts, 1):
            members = [nodes[s] for s in part]
            out_order += members
            sizes.append(len(part))
            ids.append(packages[lo] if len(parts) == 1 else f"{packages[lo]}#{k}")
            domains.append(majority([m.domains[v] for v in members]))
            sources.append(_majority_or_none([m.sources[v] for v in members]))
            chars.append(int(block[part].sum()))
    counts.update(packages=len(starts) - 1, split_packages=split_packages, oversized=oversized)
    return Plan(order=np.array(out_order, np.int64), sizes=np.array(sizes, np.int64), ids=ids, domains=domains,
                sources=sources, chars=np.array(chars, np.int64), counts=counts)


def _cut(job: GroupJob, m: Members, files: list[int], block: np.ndarray, nodes: list[int]) -> list[list[int]]:
    """A package's files (sorted positions, in order) cut into consecutive parts of at most ``max_chars``."""
    limit = job.config.max_chars
    if limit is None:
        return [files]
    parts, current, total = [], [], 0
    for s in files:
        size = int(block[s])
        if size > limit:
            _oversized(job, m, nodes[s], size, "its header and text")
            if current:
                parts.append(current)
            parts.append([s])
            current, total = [], 0
            continue
        if current and total + size > limit:
            parts.append(current)
            current, total = [], 0
        current.append(s)
        total += size
    if current:
        parts.append(current)
    return parts


def _oversized(job: GroupJob, m: Members, node: int, size: int, what: str) -> None:
    if job.config.oversize == "error":
        raise ConfigError(f"{m.where(job, node)}: {what} take {size:,} characters, more than max_chars = "
                          f"{job.config.max_chars:,} for one group; raise --max-chars, drop the document first, or "
                          "pass --oversize alone to leave it in a group of its own")


def plan_similar(job: GroupJob, m: Members, pairs: np.ndarray, similarity: np.ndarray) -> Plan:
    """Greedy paths over the verified neighbour pairs (within a domain) in input order."""
    cfg = job.config
    n = len(m.ids)
    domain_code = np.unique(np.array(m.domains, object), return_inverse=True)[1] if n else np.zeros(0, np.int64)
    same = domain_code[pairs[:, 0]] == domain_code[pairs[:, 1]] if len(pairs) else np.zeros(0, bool)
    pairs, similarity = pairs[same], similarity[same]
    limit = -1 if cfg.max_chars is None else cfg.max_chars
    oversized = 0
    if cfg.max_chars is not None:
        for node in np.nonzero(m.chars > cfg.max_chars)[0]:
            _oversized(job, m, int(node), int(m.chars[node]), "its text")
            oversized += 1
    indptr, neighbours = neighbour_lists(n, pairs, similarity)
    order, sizes = greedy_paths(indptr, neighbours, m.chars.astype(np.int64), len(cfg.separator), cfg.max_docs, limit)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    first = order[starts]
    totals = np.add.reduceat(m.chars[order], starts) + len(cfg.separator) * (sizes - 1) if n else np.zeros(0, np.int64)
    sources = [_majority_or_none([m.sources[v] for v in order[a:a + k]]) for a, k in zip(starts, sizes)]
    counts = {"neighbour_pairs": int(len(pairs)), "oversized": oversized,
              "grouped_documents": int(sizes[sizes > 1].sum())}
    return Plan(order=order, sizes=sizes, ids=[m.ids[v] for v in first], domains=[m.domains[v] for v in first],
                sources=sources, chars=totals.astype(np.int64), counts=counts)


def _majority_or_none(values: list[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return majority(present) if present else None


def write_plan(job: GroupJob, m: Members, plan: Plan) -> None:
    """The plan as files the steps read: per input shard (row -> slot, output shard), per output shard."""
    cfg = job.config
    group_of_slot = np.repeat(np.arange(len(plan.sizes)), plan.sizes)
    # output shards: domain by domain, groups in plan order, a new shard past shard_size_mb
    shard_of_group = np.empty(len(plan.sizes), np.int64)
    keys: list[tuple[str, int]] = []
    fill: dict[str, tuple[int, int]] = {}  # domain -> (shard number, characters in it)
    for g, domain in enumerate(plan.domains):
        k, chars = fill.get(domain, (0, 0))
        if chars and chars + int(plan.chars[g]) > cfg.shard_chars:
            k, chars = k + 1, 0
        fill[domain] = (k, chars + int(plan.chars[g]))
        keys.append((domain, k))
    names = sorted(set(keys))
    index = {key: i for i, key in enumerate(names)}
    shard_of_group[:] = [index[key] for key in keys]
    outputs = [{"index": i, "path": f"data/{d}/{k:05d}.arrow", "domain": d} for i, (d, k) in enumerate(names)]

    out_of_slot = shard_of_group[group_of_slot]
    slot_of_node = np.empty(len(plan.order), np.int64)
    slot_of_node[plan.order] = np.arange(len(plan.order))
    for s in job.shards:
        nodes = np.arange(s.first_doc, s.first_doc + s.rows)
        slots = slot_of_node[nodes]
        table = pa.table({"row": np.arange(s.rows, dtype=np.int64), "slot": slots, "out": out_of_slot[slots]})
        write_arrow_file(job.shard_file("by_shard", s, ".arrow"), table, compression=None)
    ids = np.array(m.ids, object)
    for i in range(len(names)):
        slots = np.nonzero(out_of_slot == i)[0]
        write_arrow_file(job.out_file("by_out", i, ".arrow"),
                         pa.table({"slot": slots, "id": pa.array(ids[plan.order[slots]].tolist(), pa.string()),
                                   "group": group_of_slot[slots]}), compression=None)
        groups = np.nonzero(shard_of_group == i)[0]
        write_arrow_file(job.out_file("groups", i, ".arrow"),
                         pa.table({"id": pa.array([plan.ids[g] for g in groups], pa.string()),
                                   "domain": pa.array([plan.domains[g] for g in groups], pa.string()),
                                   "source": pa.array([plan.sources[g] for g in groups], pa.string()),
                                   "size": plan.sizes[groups]}), compression=None)
    path = job.path("plan", "outputs.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(outputs))


def length_summary(chars: np.ndarray) -> dict[str, float]:
    """Min, median, p90, max and mean characters of the groups."""
    if len(chars) == 0:
        return {"min": 0, "p50": 0, "p90": 0, "max": 0, "mean": 0.0}
    return {"min": int(chars.min()), "p50": int(np.percentile(chars, 50, method="lower")),
            "p90": int(np.percentile(chars, 90, method="lower")), "max": int(chars.max()),
            "mean": round(float(chars.mean()), 1)}

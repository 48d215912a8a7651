"""The four stages of corpus deduplication, each a datatrove ``PipelineStep`` run by an executor.

1. :class:`ComputeSignatures` (one task per group of input shards): stream each shard, write its
   MinHash signatures, band keys and document table (id, quality, exact-text hash) to the work
   folder. Shards are processed record batch by record batch; nothing else stays in memory.
2. :class:`FindDuplicatePairs` (one task per band): sort the band's keys, turn buckets into
   candidate pairs (and look them up in an index, if any), verify each candidate against the
   Jaccard estimated from the full signatures, keep the verified pairs.
3. :class:`BuildClusters` (one task): exact-hash pairs + verified pairs -> connected components
   -> one keeper per cluster (index documents, then quality, then id) -> removals per shard.
4. :class:`RemoveDuplicates` (one task per group of shards): rewrite each shard, kept rows to
   ``data/``, duplicates to ``rejected/`` with ``duplicate_of=<id>``.

Every file a stage writes is named by input shard or band, never by task, so the result does not
depend on the number of tasks or workers, and a re-run skips the tasks datatrove marked complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.pipeline.base import PipelineStep

from midtrain.corpus import CorpusError
from midtrain.corpus.shards import open_ipc_file, write_arrow_file
from midtrain.curation.dedup.clusters import choose_keepers, connected_components
from midtrain.curation.dedup.config import DedupConfig
from midtrain.curation.dedup.index import DOC_SCHEMA, DedupIndex
from midtrain.curation.dedup.lsh import band_keys, bucket_pairs, unique_pairs, verify_pairs
from midtrain.curation.dedup.minhash import minhash_signatures, permutations
from midtrain.curation.dedup.normalize import normalize_unicode
from midtrain.curation.dedup.rewrite import (InputShard, StreamingShardWriter, iter_batches, rejected_path,
                                             rejected_schema, with_reject_columns, write_part)
from midtrain.curation.dedup.shingles import arrow_buffers, whitespace_text_hashes

EXACT_STEP = "exact_dedup"
FUZZY_STEP = "minhash_dedup"


@dataclass(frozen=True)
class DedupPlan:
    """Everything a stage needs, picklable for any executor: paths, settings, the input shards."""

    corpus: str
    work: str
    output: str
    config: DedupConfig
    shards: tuple[InputShard, ...]
    index: str | None = None
    taken_rejected: frozenset[str] = frozenset()

    @property
    def total(self) -> int:
        return sum(s.rows for s in self.shards)

    def path(self, *parts: str) -> Path:
        return Path(self.work).joinpath(*parts)

    def open_index(self) -> DedupIndex | None:
        return DedupIndex(self.index, self.config) if self.index else None


class DedupStep(PipelineStep):
    """Base of the dedup stages: passes documents through untouched and works on the plan."""

    type = "🫂 - DEDUP"

    def __init__(self, plan: DedupPlan) -> None:
        super().__init__()
        self.plan = plan

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> Iterator:
        if data:
            yield from data
        with self.track_time():
            self.work(rank, world_size)

    def work(self, rank: int, world_size: int) -> None:
        raise NotImplementedError


class ComputeSignatures(DedupStep):
    """Stage 1: signatures, band keys and document table of every input shard of this task."""

    name = "MinHash signatures"

    def work(self, rank: int, world_size: int) -> None:
        for shard in self.plan.shards[rank::world_size]:
            self._shard(shard)
            self.stat_update("shards")
            self.stat_update("documents", value=shard.rows)

    def _shard(self, shard: InputShard) -> None:
        plan, cfg = self.plan, self.plan.config
        a, b = permutations(cfg.permutations, cfg.seed)
        name = f"{shard.index:05d}"
        tmp = f".tmp-{os.getpid()}"
        sig_path, key_path = plan.path("signatures", name + ".npy"), plan.path("bands", name + ".npy")
        sig_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        if cfg.fuzzy:
            sigs = np.lib.format.open_memmap(str(sig_path) + tmp, "w+", np.uint64, (shard.rows, cfg.permutations))
            keys = np.lib.format.open_memmap(str(key_path) + tmp, "w+", np.uint64, (shard.rows, cfg.bands))
        docs, at = [], 0
        for batch in iter_batches(Path(plan.corpus), shard, cfg.batch_rows, ["id", "text", cfg.quality_column]):
            end = at + batch.num_rows
            if end > shard.rows:
                break
            text = batch.column("text")
            exact = whitespace_text_hashes(*arrow_buffers(text)) if cfg.exact else np.zeros((batch.num_rows, 2), np.uint64)
            if cfg.fuzzy:
                sigs[at:end] = minhash_signatures(normalize_unicode(text), ngram=cfg.ngram, a=a, b=b)
                keys[at:end] = band_keys(sigs[at:end], cfg.bands, cfg.rows)
            if cfg.quality_column in batch.schema.names:
                quality = pc.fill_null(pc.cast(batch.column(cfg.quality_column), pa.float64()), np.nan)
            else:
                quality = pa.array(np.full(batch.num_rows, np.nan))
            docs.append(pa.table({"id": batch.column("id").cast(pa.string()), "quality": quality,
                                  "exact_hi": exact[:, 0], "exact_lo": exact[:, 1]}, schema=DOC_SCHEMA))
            at = end
        if at != shard.rows:
            raise CorpusError(f"{Path(plan.corpus) / shard.path}: holds a different number of rows than the "
                              f"manifest's {shard.rows}; run `midtrain validate` on the input")
        if cfg.fuzzy:
            for arr, path in ((sigs, sig_path), (keys, key_path)):
                arr.flush()
                os.replace(str(path) + tmp, path)
            del sigs, keys
        write_arrow_file(plan.path("docs", name + ".arrow"),
                         pa.concat_tables(docs) if docs else DOC_SCHEMA.empty_table(), compression=None)


class FindDuplicatePairs(DedupStep):
    """Stage 2: candidate pairs of every band of this task, verified against full signatures."""

    name = "LSH buckets + verification"

    def work(self, rank: int, world_size: int) -> None:
        for band in range(rank, self.plan.config.bands, world_size):
            self._band(band)

    def _band(self, band: int) -> None:
        plan, cfg = self.plan, self.plan.config
        n = plan.total
        keys = np.empty(n, np.uint64)
        for s in plan.shards:
            if s.rows:
                keys[s.first_doc:s.first_doc + s.rows] = np.load(plan.path("bands", f"{s.index:05d}.npy"), mmap_mode="r")[:, band]
        order = np.argsort(keys, kind="stable")
        parts = [bucket_pairs(keys[order], order.astype(np.int64), cfg.max_bucket_pairs)]
        index = plan.open_index()
        if index is not None and index.size:
            index_keys, index_docs = index.band(band)
            lo = np.searchsorted(index_keys, keys, "left")
            hi = np.searchsorted(index_keys, keys, "right")
            parts.append(_index_pairs(keys, lo, hi, np.asarray(index_docs), n, cfg.max_bucket_pairs))
        pairs = unique_pairs(np.concatenate(parts))
        verified = pairs[_verify(plan, index, pairs)] if len(pairs) else pairs
        self.stat_update("candidate_pairs", value=len(pairs))
        self.stat_update("verified_pairs", value=len(verified))
        out = plan.path("pairs", f"{band:03d}.npy")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}.npy")
        np.save(tmp, verified)
        os.replace(tmp, out)
        (out.with_suffix(".json")).write_text(json.dumps({"candidates": int(len(pairs)), "verified": int(len(verified))}))


@nb.njit(cache=True)
def _index_pairs(keys, lo, hi, index_docs, n, cap):
    total = 0
    for d in range(len(keys)):
        if keys[d] != 0:
            total += min(hi[d] - lo[d], cap)
    out = np.empty((total, 2), np.int64)
    m = 0
    for d in range(len(keys)):
        if keys[d] == 0:
            continue
        for j in range(lo[d], min(hi[d], lo[d] + cap)):
            out[m, 0] = d
            out[m, 1] = n + index_docs[j]
            m += 1
    return out


def gather_signatures(plan: DedupPlan, index: DedupIndex | None, nodes: np.ndarray) -> np.ndarray:
    """Signature rows of ``nodes`` (sorted; node ≥ total = index document), read from disk."""
    out = np.empty((len(nodes), plan.config.permutations), np.uint64)
    for s in plan.shards:
        lo, hi = np.searchsorted(nodes, [s.first_doc, s.first_doc + s.rows])
        if hi > lo:
            sigs = np.load(plan.path("signatures", f"{s.index:05d}.npy"), mmap_mode="r")
            out[lo:hi] = sigs[nodes[lo:hi] - s.first_doc]
    lo = np.searchsorted(nodes, plan.total)
    if lo < len(nodes):
        out[lo:] = index.signatures()[nodes[lo:] - plan.total]
    return out


def _verify(plan: DedupPlan, index: DedupIndex | None, pairs: np.ndarray) -> np.ndarray:
    nodes = np.unique(pairs)
    sigs = gather_signatures(plan, index, nodes)
    local = np.searchsorted(nodes, pairs)
    return verify_pairs(local, np.arange(len(nodes)), sigs, plan.config.threshold)


def gather_docs(plan: DedupPlan, index: DedupIndex | None, nodes: np.ndarray) -> pa.Table:
    """Document-table rows (id, quality, exact hashes) of ``nodes`` (sorted), in that order."""
    tables = []
    for s in plan.shards:
        lo, hi = np.searchsorted(nodes, [s.first_doc, s.first_doc + s.rows])
        if hi > lo:
            reader, _ = open_ipc_file(plan.path("docs", f"{s.index:05d}.arrow"))
            tables.append(reader.read_all().take(pa.array(nodes[lo:hi] - s.first_doc)))
    lo = np.searchsorted(nodes, plan.total)
    if lo < len(nodes):
        tables.append(index.docs().take(pa.array(nodes[lo:] - plan.total)))
    return pa.concat_tables(tables) if tables else DOC_SCHEMA.empty_table()


def star_keepers(members: np.ndarray, root: np.ndarray, pairs: np.ndarray, priority: np.ndarray,
                 quality: np.ndarray, ids: pa.Array, signatures: np.ndarray, threshold: float,
                 max_rounds: int = 8) -> np.ndarray:
    """The keeper of every cluster member, such that a removed document is a near-duplicate of it.

    Connected components chain: A~B and B~C put A and C in one cluster even when A and C are far
    apart, and removing C as a "duplicate of A" would be wrong. So a member is assigned to its
    cluster's keeper only if their signatures estimate Jaccard >= ``threshold``; the members that
    are not are clustered again among themselves (over the verified pairs between them), with
    keepers chosen the same way, for up to ``max_rounds`` rounds. What is left keeps itself.
    ``root`` is indexed by node; ``signatures`` rows follow ``members``.
    """
    keeper = members.copy()
    pending = np.arange(len(members))
    sub_root = root[members]
    k = signatures.shape[1]
    for _ in range(max_rounds):
        if len(pending) == 0:
            break
        chosen = choose_keepers(members[pending], sub_root[pending], priority[pending], quality[pending],
                                ids.take(pa.array(pending)))
        row = np.searchsorted(members, chosen)
        same = (signatures[pending] == signatures[row]).sum(axis=1)
        ok = same >= threshold * k - 1e-9
        keeper[pending[ok]] = chosen[ok]
        left = pending[~ok]
        if len(left) == len(pending) or len(left) < 2:
            break
        # re-cluster the members that matched no keeper, over the pairs among themselves
        nodes_left = members[left]
        inside = np.isin(pairs[:, 0], nodes_left) & np.isin(pairs[:, 1], nodes_left)
        local = np.searchsorted(nodes_left, pairs[inside])
        comp = connected_components(len(left), local)
        multi = np.bincount(comp, minlength=len(left))[comp] > 1
        pending = left[multi]
        sub_root[pending] = nodes_left[comp[multi]]
    return keeper


class BuildClusters(DedupStep):
    """Stage 3 (a single task): connected components over exact and verified pairs, keepers."""

    name = "duplicate clusters"

    def work(self, rank: int, world_size: int) -> None:
        plan, cfg = self.plan, self.plan.config
        if rank != 0:
            return
        index = plan.open_index()
        n = plan.total
        nodes = n + (index.size if index else 0)
        pairs = [np.load(plan.path("pairs", f"{b:03d}.npy")) for b in range(cfg.bands)] if cfg.fuzzy else []
        if cfg.exact:
            pairs.append(self._exact_pairs(index))
        pairs = unique_pairs(np.concatenate(pairs)) if pairs else np.zeros((0, 2), np.int64)
        root = connected_components(nodes, pairs)
        members = np.nonzero(np.bincount(root, minlength=nodes)[root] > 1)[0]
        info = gather_docs(plan, index, members)
        priority, quality = (members >= n).astype(np.int8), info.column("quality").to_numpy()
        if cfg.fuzzy:  # fuzzy clusters can chain: keep a member unless it is near its keeper
            keeper = star_keepers(members, root, pairs, priority, quality, info.column("id"),
                                  gather_signatures(plan, index, members), cfg.threshold)
        else:  # exact duplicates only: every member equals its keeper
            keeper = choose_keepers(members, root[members], priority, quality, info.column("id"))
        removed = (keeper != members) & (members < n)
        # keeper's row in ``info`` (members is sorted, keepers are members)
        keeper_row = np.searchsorted(members, keeper)
        hi, lo = info.column("exact_hi").to_numpy(), info.column("exact_lo").to_numpy()
        exact = cfg.exact & (hi == hi[keeper_row]) & (lo == lo[keeper_row])
        ids = info.column("id")
        for s in plan.shards:
            a, b = np.searchsorted(members, [s.first_doc, s.first_doc + s.rows])
            sel = np.nonzero(removed[a:b])[0] + a
            table = pa.table({"row": members[sel] - s.first_doc,
                              "duplicate_of": ids.take(pa.array(keeper_row[sel])),
                              "step": pa.array(np.where(exact[sel], EXACT_STEP, FUZZY_STEP).astype(object), pa.string())})
            write_arrow_file(plan.path("removals", f"{s.index:05d}.arrow"), table, compression=None)
        self.stat_update("clusters", value=int(len(np.unique(root[members]))))
        self.stat_update("removed", value=int(removed.sum()))

    def _exact_pairs(self, index: DedupIndex | None) -> np.ndarray:
        plan = self.plan
        his, los = [], []
        for s in plan.shards:
            reader, _ = open_ipc_file(plan.path("docs", f"{s.index:05d}.arrow"))
            t = reader.read_all()
            his.append(t.column("exact_hi").to_numpy())
            los.append(t.column("exact_lo").to_numpy())
        if index is not None and index.size:
            t = index.docs(["exact_hi", "exact_lo"])
            his.append(t.column("exact_hi").to_numpy())
            los.append(t.column("exact_lo").to_numpy())
        hi, lo = np.concatenate(his), np.concatenate(los)
        order = np.lexsort((lo, hi))
        same = (hi[order][1:] == hi[order][:-1]) & (lo[order][1:] == lo[order][:-1])
        k = np.nonzero(same)[0]
        first, second = order[k], order[k + 1]
        return np.stack([np.minimum(first, second), np.maximum(first, second)], axis=1).astype(np.int64)


class RemoveDuplicates(DedupStep):
    """Stage 4: rewrite each shard of this task without its duplicates (they go to ``rejected/``)."""

    name = "remove duplicates"

    def work(self, rank: int, world_size: int) -> None:
        for shard in self.plan.shards[rank::world_size]:
            self._shard(shard)

    def _shard(self, shard: InputShard) -> None:
        plan = self.plan
        name = f"{shard.index:05d}"
        reader, _ = open_ipc_file(plan.path("removals", name + ".arrow"))
        removals = reader.read_all()
        removed = np.zeros(shard.rows, bool)
        rows = removals.column("row").to_numpy()
        removed[rows] = True
        step = np.full(shard.rows, None, object)
        reason = np.full(shard.rows, None, object)
        step[rows] = removals.column("step").to_numpy(zero_copy_only=False)
        reason[rows] = np.array(["duplicate_of=" + i for i in removals.column("duplicate_of").to_pylist()], object)
        out = Path(plan.output)
        kept_writer = rejected_writer = None
        at = 0
        for batch in iter_batches(Path(plan.corpus), shard, plan.config.batch_rows):
            mask = removed[at:at + batch.num_rows]
            if kept_writer is None:
                kept_writer = StreamingShardWriter(out, shard.path, shard.domain, batch.schema)
                rejected_writer = StreamingShardWriter(out, rejected_path(shard, "dedup", set(plan.taken_rejected)),
                                                       shard.domain, rejected_schema(batch.schema))
            kept_writer.write(batch.filter(pa.array(~mask)))
            if mask.any():
                sel = np.nonzero(mask)[0] + at
                rejected_writer.write(with_reject_columns(batch.filter(pa.array(mask)), pa.array(step[sel], pa.string()),
                                                          pa.array(reason[sel], pa.string())))
            at += batch.num_rows
        kept = kept_writer.close() if kept_writer else None
        rejected = rejected_writer.close() if rejected_writer else None
        counts: dict[str, int] = {}
        for s in removals.column("step").to_pylist():
            counts[s] = counts.get(s, 0) + 1
        write_part(plan.path("parts", name + ".json"), [kept] if kept else [], [rejected] if rejected else [],
                   input=shard.rows, kept=int(shard.rows - removed.sum()),
                   rejected={s: {"duplicate_of": c} for s, c in sorted(counts.items())})

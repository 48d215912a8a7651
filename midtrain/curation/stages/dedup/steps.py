"""The four steps of corpus deduplication, each a datatrove ``PipelineStep`` run by an executor.

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

Every file a step writes is named by input shard or band, never by task, so the result does not
depend on the number of tasks or workers, and a re-run skips the tasks datatrove marked complete.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import CorpusError
from midtrain.corpus.shards import open_ipc_file, write_arrow_file
from midtrain.curation.stages.dedup.clusters import (choose_keepers, connected_components, gather_docs,
                                                     gather_signatures, star_keepers)
from midtrain.curation.stages.dedup.config import DedupConfig
from midtrain.curation.stages.dedup.index import DOC_SCHEMA, DedupIndex
from midtrain.curation.stages.dedup.lsh import band_keys, bucket_pairs, unique_pairs, verify_pairs
from midtrain.curation.stages.dedup.minhash import minhash_signatures, permutations
from midtrain.curation.stages.dedup.normalize import normalize_unicode
from midtrain.curation.stages.rewrite import InputShard, ShardRewrite, iter_batches, write_part
from midtrain.curation.stages.shingles import arrow_buffers, whitespace_text_hashes
from midtrain.curation.stages.step import StageJob, StageStep

EXACT_STEP = "exact_dedup"
FUZZY_STEP = "minhash_dedup"


@dataclass(frozen=True, kw_only=True)
class DedupJob(StageJob):
    """A dedup run: the stage job plus the settings and the index to dedup against, if any."""

    config: DedupConfig
    index: str | None = None

    def band_file(self, folder: str, band: int, suffix: str) -> Path:
        """The work file of LSH band ``band`` in ``folder`` (3 digits: at most 999 bands)."""
        return self.path(folder, f"{band:03d}{suffix}")

    def open_index(self) -> DedupIndex | None:
        return DedupIndex(self.index, self.config) if self.index else None


class DedupStep(StageStep):
    """Base of the dedup steps: works on a :class:`DedupJob`."""

    type = "🫂 - DEDUP"
    job: DedupJob


class ComputeSignatures(DedupStep):
    """Step 1: signatures, band keys and document table of every input shard of this task."""

    name = "MinHash signatures"

    def work(self, rank: int, world_size: int) -> None:
        for shard in self.job.shards[rank::world_size]:
            self._shard(shard)
            self.stat_update("shards")
            self.stat_update("documents", value=shard.rows)

    def _shard(self, shard: InputShard) -> None:
        job, cfg = self.job, self.job.config
        a, b = permutations(cfg.permutations, cfg.seed)
        tmp = f".tmp-{os.getpid()}"
        sig_path, key_path = job.shard_file("signatures", shard, ".npy"), job.shard_file("bands", shard, ".npy")
        sig_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        if cfg.fuzzy:
            sigs = np.lib.format.open_memmap(str(sig_path) + tmp, "w+", np.uint64, (shard.rows, cfg.permutations))
            keys = np.lib.format.open_memmap(str(key_path) + tmp, "w+", np.uint64, (shard.rows, cfg.bands))
        docs, at = [], 0
        for batch in iter_batches(Path(job.corpus), shard, cfg.batch_rows, ["id", "text", cfg.quality_column]):
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
            raise CorpusError(f"{Path(job.corpus) / shard.path}: holds a different number of rows than the "
                              f"manifest's {shard.rows}; run `midtrain validate` on the input")
        if cfg.fuzzy:
            for arr, path in ((sigs, sig_path), (keys, key_path)):
                arr.flush()
                os.replace(str(path) + tmp, path)
            del sigs, keys
        write_arrow_file(job.shard_file("docs", shard, ".arrow"),
                         pa.concat_tables(docs) if docs else DOC_SCHEMA.empty_table(), compression=None)


class FindDuplicatePairs(DedupStep):
    """Step 2: candidate pairs of every band of this task, verified against full signatures."""

    name = "LSH buckets + verification"

    def work(self, rank: int, world_size: int) -> None:
        for band in range(rank, self.job.config.bands, world_size):
            self._band(band)

    def _band(self, band: int) -> None:
        job, cfg = self.job, self.job.config
        n = job.total
        keys = np.empty(n, np.uint64)
        for s in job.shards:
            if s.rows:
                keys[s.first_doc:s.first_doc + s.rows] = np.load(job.shard_file("bands", s, ".npy"), mmap_mode="r")[:, band]
        order = np.argsort(keys, kind="stable")
        parts = [bucket_pairs(keys[order], order.astype(np.int64), cfg.max_bucket_pairs)]
        index = job.open_index()
        if index is not None and index.size:
            index_keys, index_docs = index.band(band)
            lo = np.searchsorted(index_keys, keys, "left")
            hi = np.searchsorted(index_keys, keys, "right")
            parts.append(_index_pairs(keys, lo, hi, np.asarray(index_docs), n, cfg.max_bucket_pairs))
        pairs = unique_pairs(np.concatenate(parts))
        verified = pairs[_verify(job, index, pairs)] if len(pairs) else pairs
        self.stat_update("candidate_pairs", value=len(pairs))
        self.stat_update("verified_pairs", value=len(verified))
        out = job.band_file("pairs", band, ".npy")
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


def _verify(job: DedupJob, index: DedupIndex | None, pairs: np.ndarray) -> np.ndarray:
    nodes = np.unique(pairs)
    sigs = gather_signatures(job, index, nodes)
    local = np.searchsorted(nodes, pairs)
    return verify_pairs(local, np.arange(len(nodes)), sigs, job.config.threshold)


class BuildClusters(DedupStep):
    """Step 3 (a single task): connected components over exact and verified pairs, keepers."""

    name = "duplicate clusters"

    def work(self, rank: int, world_size: int) -> None:
        job, cfg = self.job, self.job.config
        if rank != 0:
            return
        index = job.open_index()
        n = job.total
        nodes = n + (index.size if index else 0)
        pairs = [np.load(job.band_file("pairs", b, ".npy")) for b in range(cfg.bands)] if cfg.fuzzy else []
        if cfg.exact:
            pairs.append(self._exact_pairs(index))
        pairs = unique_pairs(np.concatenate(pairs)) if pairs else np.zeros((0, 2), np.int64)
        root = connected_components(nodes, pairs)
        members = np.nonzero(np.bincount(root, minlength=nodes)[root] > 1)[0]
        info = gather_docs(job, index, members)
        priority, quality = (members >= n).astype(np.int8), info.column("quality").to_numpy()
        if cfg.fuzzy:  # fuzzy clusters can chain: keep a member unless it is near its keeper
            keeper = star_keepers(members, root, pairs, priority, quality, info.column("id"),
                                  gather_signatures(job, index, members), cfg.threshold)
        else:  # exact duplicates only: every member equals its keeper
            keeper = choose_keepers(members, root[members], priority, quality, info.column("id"))
        removed = (keeper != members) & (members < n)
        # keeper's row in ``info`` (members is sorted, keepers are members)
        keeper_row = np.searchsorted(members, keeper)
        hi, lo = info.column("exact_hi").to_numpy(), info.column("exact_lo").to_numpy()
        exact = cfg.exact & (hi == hi[keeper_row]) & (lo == lo[keeper_row])
        ids = info.column("id")
        for s in job.shards:
            a, b = np.searchsorted(members, [s.first_doc, s.first_doc + s.rows])
            sel = np.nonzero(removed[a:b])[0] + a
            table = pa.table({"row": members[sel] - s.first_doc,
                              "duplicate_of": ids.take(pa.array(keeper_row[sel])),
                              "step": pa.array(np.where(exact[sel], EXACT_STEP, FUZZY_STEP).astype(object), pa.string())})
            write_arrow_file(job.shard_file("removals", s, ".arrow"), table, compression=None)
        self.stat_update("clusters", value=int(len(np.unique(root[members]))))
        self.stat_update("removed", value=int(removed.sum()))

    def _exact_pairs(self, index: DedupIndex | None) -> np.ndarray:
        job = self.job
        his, los = [], []
        for s in job.shards:
            reader, _ = open_ipc_file(job.shard_file("docs", s, ".arrow"))
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
    """Step 4: rewrite each shard of this task without its duplicates (they go to ``rejected/``)."""

    name = "remove duplicates"

    def work(self, rank: int, world_size: int) -> None:
        for shard in self.job.shards[rank::world_size]:
            self._shard(shard)

    def _shard(self, shard: InputShard) -> None:
        job = self.job
        reader, _ = open_ipc_file(job.shard_file("removals", shard, ".arrow"))
        removals = reader.read_all()
        removed = np.zeros(shard.rows, bool)
        rows = removals.column("row").to_numpy()
        removed[rows] = True
        step = np.full(shard.rows, None, object)
        reason = np.full(shard.rows, None, object)
        step[rows] = removals.column("step").to_numpy(zero_copy_only=False)
        reason[rows] = np.array(["duplicate_of=" + i for i in removals.column("duplicate_of").to_pylist()], object)
        rewrite = ShardRewrite(Path(job.output), shard, "dedup", job.taken_rejected)
        at = 0
        for batch in iter_batches(Path(job.corpus), shard, job.config.batch_rows):
            mask = removed[at:at + batch.num_rows]
            sel = np.nonzero(mask)[0] + at
            rewrite.write(batch, mask, pa.array(step[sel], pa.string()), pa.array(reason[sel], pa.string()))
            at += batch.num_rows
        kept, rejected = rewrite.close()
        counts = Counter(removals.column("step").to_pylist())
        write_part(job.shard_file("parts", shard, ".json"), kept, rejected, input=shard.rows,
                   kept=int(shard.rows - removed.sum()),
                   rejected={s: {"duplicate_of": c} for s, c in sorted(counts.items())})

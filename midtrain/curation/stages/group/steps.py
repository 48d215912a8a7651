"""The executor steps of grouping: read members, scatter texts to their output shard, write groups.

1. :class:`ReadMembers` (one task per group of input shards): each shard's ids, sources, lengths
   and, for ``repo``, the import references of every file (:mod:`.imports`) -> ``members/``.
   (``similar`` also runs dedup's signature and LSH steps on the same job folder.)
2. the plan (:mod:`.plan`, in the calling process: it reads only the small member tables, and a
   bad id or an oversized document is a :class:`ConfigError` there, not a failed task) assigns
   every document a slot: its group, its place in it, its output shard;
3. :class:`ScatterTexts` (one task per group of input shards): each shard's texts, split by the
   output shard they go to -> ``scatter/<out>/<in>.arrow``;
4. :class:`WriteGroups` (one task per group of output shards): gather an output shard's texts,
   join each group, write ``data/<domain>/<k>.arrow``.

Files are named by input or output shard, never by task, so the output is byte-identical for any
number of workers, and a re-run skips the tasks that finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import CorpusError
from midtrain.corpus.shards import describe_shard, open_ipc_file, write_arrow_file
from midtrain.curation.stages.group.config import GroupConfig
from midtrain.curation.stages.group.imports import file_references
from midtrain.curation.stages.group.layout import path_header
from midtrain.curation.stages.rewrite import InputShard, iter_batches, write_part
from midtrain.curation.stages.step import StageJob, StageStep

MEMBER_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("chars", pa.int64()),
                           ("refs", pa.list_(pa.string())), ("parser", pa.string())])
OUTPUT_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("domain", pa.string()),
                           ("source", pa.string()), ("members", pa.list_(pa.string()))])


@dataclass(frozen=True, kw_only=True)
class OutputShard:
    """One output shard: its number, path and domain."""

    index: int
    path: str
    domain: str


@dataclass(frozen=True, kw_only=True)
class GroupJob(StageJob):
    """A grouping run: the stage job plus its settings."""

    config: GroupConfig

    def out_file(self, folder: str, out: int, suffix: str) -> Path:
        return self.path(folder, f"{out:05d}{suffix}")

    def output_shards(self) -> list[OutputShard]:
        """The output shards the plan assigned (written by the plan, read by the steps)."""
        rows = json.loads(self.path("plan", "outputs.json").read_text())
        return [OutputShard(**r) for r in rows]


class GroupStep(StageStep):
    type = "🧩 - GROUP"
    job: GroupJob


class ReadMembers(GroupStep):
    """Step 1: per input shard, every document's id, source, length and import references."""

    name = "read members"

    def work(self, rank: int, world_size: int) -> None:
        for shard in self.job.shards[rank::world_size]:
            self._shard(shard)
            self.stat_update("documents", value=shard.rows)

    def _shard(self, shard: InputShard) -> None:
        job, cfg = self.job, self.job.config
        parts, at = [], 0
        for batch in iter_batches(Path(job.corpus), shard, cfg.batch_rows, ["id", "text", "source"]):
            ids = batch.column("id").cast(pa.string())
            text = batch.column("text")
            source = batch.column("source").cast(pa.string()) if "source" in batch.schema.names else \
                pa.nulls(batch.num_rows, pa.string())
            if cfg.group_by == "repo":
                found = [file_references(i or "", t or "") for i, t in zip(ids.to_pylist(), text.to_pylist())]
                refs = pa.array([r for r, _ in found], pa.list_(pa.string()))
                parser = pa.array([p for _, p in found], pa.string())
            else:
                refs = pa.nulls(batch.num_rows, pa.list_(pa.string()))
                parser = pa.nulls(batch.num_rows, pa.string())
            chars = pc.fill_null(pc.utf8_length(text), 0).cast(pa.int64())
            parts.append(pa.table([ids, source, chars, refs, parser], schema=MEMBER_SCHEMA))
            at += batch.num_rows
        if at != shard.rows:
            raise CorpusError(f"{Path(job.corpus) / shard.path}: holds {at} rows, the manifest says {shard.rows}; "
                              "run `midtrain validate` on the input")
        table = pa.concat_tables(parts) if parts else MEMBER_SCHEMA.empty_table()
        write_arrow_file(job.shard_file("members", shard, ".arrow"), table, compression=None)


class ScatterTexts(GroupStep):
    """Step 3: per input shard, its texts split by output shard, each with its slot in the output."""

    name = "scatter texts"

    def work(self, rank: int, world_size: int) -> None:
        for shard in self.job.shards[rank::world_size]:
            self._shard(shard)

    def _shard(self, shard: InputShard) -> None:
        job = self.job
        reader, _ = open_ipc_file(job.shard_file("by_shard", shard, ".arrow"))
        plan = reader.read_all()  # row, slot, out: this shard's rows, sorted by row
        rows, slots, outs = (plan.column(c).to_numpy() for c in ("row", "slot", "out"))
        texts, at = [], 0
        for batch in iter_batches(Path(job.corpus), shard, job.config.batch_rows, ["text"]):
            lo, hi = np.searchsorted(rows, [at, at + batch.num_rows])
            taken = batch.column("text").take(pa.array(rows[lo:hi] - at)).cast(pa.string())
            texts.append(pc.fill_null(taken, ""))
            at += batch.num_rows
        text = pa.chunked_array(texts, pa.string()).combine_chunks() if texts else pa.array([], pa.string())
        for out in np.unique(outs):
            sel = np.nonzero(outs == out)[0]
            table = pa.table({"slot": slots[sel], "text": text.take(pa.array(sel))})
            write_arrow_file(job.path("scatter", f"{out:05d}", f"{shard.index:05d}.arrow"), table, compression=None)


class WriteGroups(GroupStep):
    """Step 4: per output shard, join every group's texts and write the shard."""

    name = "write groups"

    def work(self, rank: int, world_size: int) -> None:
        for out in self.job.output_shards()[rank::world_size]:
            self._shard(out)

    def _shard(self, out: OutputShard) -> None:
        job, cfg = self.job, self.job.config
        reader, _ = open_ipc_file(job.out_file("by_out", out.index, ".arrow"))
        plan = reader.read_all()  # slot, id, group: this shard's members in output order
        reader, _ = open_ipc_file(job.out_file("groups", out.index, ".arrow"))
        groups = reader.read_all()  # id, domain, source, size: this shard's groups in order
        folder = job.path("scatter", f"{out.index:05d}")
        pieces = [open_ipc_file(p)[0].read_all() for p in sorted(folder.glob("*.arrow"))]
        scattered = pa.concat_tables(pieces)
        by_slot = scattered.take(pc.sort_indices(scattered.column("slot")))
        if not np.array_equal(by_slot.column("slot").to_numpy(), plan.column("slot").to_numpy()):
            raise CorpusError(f"{folder}: the scattered texts do not match the plan; delete {job.work} and rerun")
        texts = by_slot.column("text").to_pylist()
        ids = plan.column("id").to_pylist()
        sizes = groups.column("size").to_numpy()
        joined, members, at = [], [], 0
        for size in sizes:
            part_ids, part_texts = ids[at:at + size], texts[at:at + size]
            if cfg.group_by == "repo":
                joined.append("".join(f"{path_header(i)}{t}\n" for i, t in zip(part_ids, part_texts)))
            else:
                joined.append(cfg.separator.join(part_texts))
            members.append(part_ids)
            at += size
        table = pa.table([groups.column("id"), pa.array(joined, pa.string()), groups.column("domain"),
                          groups.column("source"), pa.array(members, pa.list_(pa.string()))], schema=OUTPUT_SCHEMA)
        write_arrow_file(Path(job.output) / out.path, table, compression="zstd")
        info = describe_shard(Path(job.output), out.path, out.domain, table, "text")
        write_part(job.out_file("parts", out.index, ".json"), [info], [], input=int(len(ids)), kept=int(len(sizes)))

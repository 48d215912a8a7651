"""Rewriting a text corpus shard by shard by a keep-mask: kept rows to ``data/``, the rest to ``rejected/``.

The output side of every corpus -> corpus stage. Each input data shard ``data/<domain>/X.arrow`` becomes the output shard of the same path (kept rows) plus
``rejected/<domain>/<step>-X.arrow`` (removed rows with ``step`` and ``reason`` columns). Shards
are streamed record batch by record batch, so memory is bounded by a batch, never a corpus. The
input's own rejected shards are carried over unchanged, so that input = kept + rejected + invalid
still adds up in the output manifest.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import CorpusError, Manifest, ShardInfo, file_checksum
from midtrain.corpus.manifest import resolve_inside
from midtrain.corpus.shards import open_ipc_file

REJECT_COLUMNS = ("step", "reason")


@dataclass(frozen=True)
class InputShard:
    """One data shard of the input corpus, with the global position of its first document."""

    index: int
    path: str
    domain: str
    rows: int
    first_doc: int


def input_shards(manifest: Manifest) -> list[InputShard]:
    """The input's data shards in manifest (path) order, numbered, with global document offsets."""
    shards, first = [], 0
    for i, s in enumerate(sorted(manifest.shards, key=lambda s: s.path)):
        shards.append(InputShard(i, s.path, s.domain, s.rows, first))
        first += s.rows
    return shards


def read_input_manifest(corpus_dir: str | os.PathLike) -> Manifest:
    """The input corpus's manifest; it must be a text corpus."""
    manifest = Manifest.read(corpus_dir)
    if manifest.kind != "text":
        raise CorpusError(f"{Path(corpus_dir) / 'manifest.json'}: is a {manifest.kind} corpus; "
                          "deduplication and decontamination need a text corpus")
    return manifest


def iter_batches(corpus_dir: Path, shard: InputShard, batch_rows: int,
                 columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Stream a shard's record batches (at most ``batch_rows`` rows each) through a memory map."""
    path = resolve_inside(corpus_dir, shard.path)
    reader, _ = open_ipc_file(path)
    names = reader.schema.names
    if "text" not in names or "id" not in names:
        raise CorpusError(f"{path}: text shard lacks 'id' or 'text' column (has {names})")
    for i in range(reader.num_record_batches):
        try:
            batch = reader.get_batch(i)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{path}: record batch {i} cannot be decoded ({exc})") from None
        if columns is not None:
            batch = batch.select([c for c in columns if c in names])
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


class StreamingShardWriter:
    """An Arrow IPC shard written batch by batch under a temporary name; ``close`` renames it.

    Nothing is written (and ``close`` returns ``None``) when no row ever arrives, so a shard whose
    rows were all removed leaves no empty file behind.
    """

    def __init__(self, corpus_dir: Path, rel_path: str, domain: str, schema: pa.Schema) -> None:
        self.path = corpus_dir / rel_path
        self.rel_path = rel_path
        self.domain = domain
        self.schema = schema
        self.rows = 0
        self.text_bytes = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._sink = None
        self._writer = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(self._tmp), "wb")
            self._writer = pa.ipc.new_file(self._sink, self.schema, options=pa.ipc.IpcWriteOptions(compression="zstd"))
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        self.text_bytes += int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)

    def close(self) -> ShardInfo | None:
        if self._writer is None:
            return None
        self._writer.close()
        self._sink.close()
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self._tmp, self.path)
        return ShardInfo(path=self.rel_path, domain=self.domain, rows=self.rows, tokens=0,
                         bytes=self.path.stat().st_size, checksum=file_checksum(self.path), text_bytes=self.text_bytes)


class ShardRewrite:
    """One input shard rewritten by a keep-mask, batch by batch.

    Kept rows go to the output shard of the input's path, removed rows to
    ``rejected/<domain>/<step>-<stem>.arrow`` with their ``step`` and ``reason`` columns. Both
    shards take the schema of the first batch written; a shard that receives no row is not written.
    """

    def __init__(self, output: Path, shard: InputShard, step: str, taken: frozenset[str]) -> None:
        self.output = output
        self.shard = shard
        self.step = step
        self.taken = taken
        self._kept: StreamingShardWriter | None = None
        self._rejected: StreamingShardWriter | None = None

    def write(self, batch: pa.RecordBatch, removed: np.ndarray, steps: pa.Array, reasons: pa.Array) -> None:
        """Write ``batch``'s rows; ``removed`` (bool per row) picks the rejected ones, ``steps`` and
        ``reasons`` hold one value per removed row."""
        if self._kept is None:
            shard = self.shard
            self._kept = StreamingShardWriter(self.output, shard.path, shard.domain, batch.schema)
            self._rejected = StreamingShardWriter(self.output, rejected_path(shard, self.step, set(self.taken)),
                                                  shard.domain, rejected_schema(batch.schema))
        self._kept.write(batch.filter(pa.array(~removed)))
        if removed.any():
            self._rejected.write(with_reject_columns(batch.filter(pa.array(removed)), steps, reasons))

    def close(self) -> tuple[list[ShardInfo], list[ShardInfo]]:
        """Rename the written shards into place; return ``(kept shards, rejected shards)``."""
        kept = self._kept.close() if self._kept else None
        rejected = self._rejected.close() if self._rejected else None
        return [kept] if kept else [], [rejected] if rejected else []


def rejected_path(shard: InputShard, step: str, taken: set[str]) -> str:
    """``rejected/<domain>/<step>-<stem>.arrow``, numbered if an input rejected shard has that name."""
    stem = Path(shard.path).stem
    rel = f"rejected/{shard.domain}/{step}-{stem}.arrow"
    n = 2
    while rel in taken:
        rel = f"rejected/{shard.domain}/{step}{n}-{stem}.arrow"
        n += 1
    return rel


def with_reject_columns(batch: pa.RecordBatch, step: pa.Array, reason: pa.Array) -> pa.RecordBatch:
    """``batch`` plus ``step`` and ``reason`` string columns (replacing any already there)."""
    keep = [n for n in batch.schema.names if n not in REJECT_COLUMNS]
    cols = [batch.column(n) for n in keep] + [step.cast(pa.string()), reason.cast(pa.string())]
    return pa.RecordBatch.from_arrays(cols, names=keep + list(REJECT_COLUMNS))


def rejected_schema(schema: pa.Schema) -> pa.Schema:
    fields = [f for f in schema if f.name not in REJECT_COLUMNS]
    return pa.schema(fields + [pa.field("step", pa.string()), pa.field("reason", pa.string())])


def write_part(path: Path, shards: list[ShardInfo], rejected_shards: list[ShardInfo], /, **extra: Any) -> None:
    """One shard's outcome (shards written, counts, ...) as JSON, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"shards": [asdict(s) for s in shards], "rejected_shards": [asdict(s) for s in rejected_shards], **extra}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(body, sort_keys=True))
    os.replace(tmp, path)


def read_parts(paths: list[Path]) -> list[dict[str, Any]]:
    """The part files at ``paths``, in order; a missing one means a task did not finish."""
    parts = []
    for path in paths:
        if not path.is_file():
            raise CorpusError(f"{path}: missing; a task did not finish (re-run the same command to resume)")
        parts.append(json.loads(path.read_text()))
    return parts


def finish_output(in_dir: Path, manifest: Manifest, out_dir: Path, parts: list[dict[str, Any]],
                  extra: dict[str, Any]) -> Manifest:
    """Copy the input's rejected shards, then write the output manifest (last)."""
    shards = [ShardInfo(**s) for p in parts for s in p["shards"]]
    rejected = [ShardInfo(**s) for p in parts for s in p["rejected_shards"]]
    for info in manifest.rejected:
        src = resolve_inside(in_dir, info.path)
        dst = out_dir / info.path
        if src.resolve() != dst.resolve():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        rejected.append(info)
    out = Manifest(kind="text", shards=sorted(shards, key=lambda s: s.path),
                   rejected=sorted(rejected, key=lambda s: s.path), extra={**manifest.extra, **extra})
    out.write(out_dir)
    return out


def check_output_dir(in_dir: Path, out_dir: Path) -> None:
    """Refuse to write over the input corpus."""
    if in_dir.resolve() == out_dir.resolve():
        raise CorpusError(f"{out_dir}: the output folder is the input corpus; choose another --output")

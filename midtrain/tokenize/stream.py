"""The encode stream: input shards -> batches -> Rust encoder -> packed output shards, kept busy.

Batches of about :data:`BATCH_BYTES` of text run through the tokenizer's batch API in a small
thread pool, :data:`ENCODE_DEPTH` at a time and straight across input-shard boundaries. The Rust
encoder releases the GIL, so while its threads work on the batches in flight, this thread reads
the next shard, flattens finished batches into arrays and writes output shards. Results are
consumed in submission order, so the output does not depend on timing.

Each input shard is packed into output shards ``data/<domain>/<stem>-<k>.arrow`` of whole
documents under the token budget (:func:`midtrain.tokenize.documents.shard_cuts`), then gets
its completion record.
"""

from __future__ import annotations

import glob
import json
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import CorpusWriter, read_text_shard
from midtrain.corpus.manifest import atomic_write_bytes
from midtrain.corpus.shards import TOKEN_METADATA_COLUMNS, token_table
from midtrain.tokenize.documents import add_special_tokens, shard_cuts
from midtrain.tokenize.tokenizer import BatchEncoder, TokenizerInfo

# Text per encode call. The bare encode_batch_fast loop on the benchmark corpus runs ~10% slower
# at 64 documents a batch than at 256+ (Rust threads idle at the tail of every batch); 4 MB is
# about 1M tokens, a fraction of a second of encoding.
BATCH_BYTES = 4 << 20
# Batches in flight: one per Rust thread's worth of tail, plus one so a shard write never starves it.
ENCODE_DEPTH = 3


class OutputShards:
    """Packs one input shard's encoded batches into output shards, then writes its completion record."""

    def __init__(self, task: dict[str, Any], info: TokenizerInfo, meta: pa.Table) -> None:
        """``meta``: the input shard's ``id`` and metadata columns (:data:`TOKEN_METADATA_COLUMNS`), one row a document."""
        self.task, self.info, self.meta = task, info, meta
        self.ids = meta.column("id")
        self.out, self.domain, self.budget = Path(task["out"]), task["domain"], task["shard_tokens"]
        # Output of an earlier, unfinished or outdated run over this input shard; exactly five
        # digits, so that input "a" never claims the output of input "a-b".
        pattern = f"{glob.escape(task['stem'])}-{'[0-9]' * 5}.arrow"
        for stale in glob.glob(str(self.out / "data" / glob.escape(self.domain) / pattern)):
            os.unlink(stale)
        self.writer = CorpusWriter(self.out, "token", tokenizer=info.manifest_entry())
        self.pending: list[tuple[np.ndarray, np.ndarray, pa.Table]] = []  # (tokens, doc lengths, id + metadata)
        self.pending_tokens = self.kept = 0
        self.bos = info.bos_id if info.add_bos else None
        self.eos = info.eos_id if info.add_eos else None

    def add(self, flat: np.ndarray, lengths: np.ndarray, start: int, stop: int) -> None:
        """Documents ``start:stop`` of the input shard, encoded: drop empties, add BOS/EOS, pack."""
        keep = lengths > 0
        tokens, offsets = add_special_tokens(flat, lengths[keep], bos_id=self.bos, eos_id=self.eos,
                                             dtype=self.info.dtype)
        self.pending.append((tokens, np.diff(offsets), self.meta.slice(start, stop - start).filter(pa.array(keep))))
        self.pending_tokens += len(tokens)
        self.kept += int(keep.sum())
        if self.pending_tokens > self.budget:
            self._flush(final=False)

    def finish(self) -> dict[str, Any]:
        """Write the last shard and the completion record; return the record."""
        if self.pending_tokens:
            self._flush(final=True)
        t = self.task
        record = {"input": t["input"], "input_checksum": t["input_checksum"], "fingerprint": t["fingerprint"],
                  "shard_tokens": self.budget, "input_documents": len(self.ids), "documents": self.kept,
                  "empty_skipped": len(self.ids) - self.kept, "shards": [asdict(s) for s in self.writer.shards]}
        atomic_write_bytes(Path(t["record"]), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        return record

    def _flush(self, *, final: bool) -> None:
        tokens = np.concatenate([p[0] for p in self.pending])
        lengths = np.concatenate([p[1] for p in self.pending])
        meta = pa.concat_tables([p[2] for p in self.pending]).combine_chunks()
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        cuts = [*shard_cuts(lengths, self.budget).tolist(), len(lengths)]
        # Every shard but the last is closed (its next document did not fit); the last stays open
        # for the next batch unless the input shard is done.
        done = len(cuts) - 1 if final else len(cuts) - 2
        for a, b in zip(cuts[:done], cuts[1:done + 1]):
            name = f"data/{self.domain}/{self.task['stem']}-{len(self.writer.shards):05d}.arrow"
            part = meta.slice(a, b - a)
            table = token_table(part.column("id"), tokens[offsets[a]:offsets[b]], offsets[a:b + 1] - offsets[a],
                                {n: part.column(n) for n in part.column_names if n != "id"})
            self.writer.write_table(self.domain, table, name)
        rest = cuts[done]
        self.pending = [] if final else [(tokens[offsets[rest]:], lengths[rest:], meta.slice(rest))]
        self.pending_tokens = 0 if final else int(offsets[-1] - offsets[rest])


def tokenize_input_shards(tasks: list[dict[str, Any]], info: TokenizerInfo, encoder: BatchEncoder,
                          pool: ThreadPoolExecutor, advance: Callable[[int], None]) -> Iterator[dict[str, Any]]:
    """Tokenize ``tasks`` (input shards) in order; yield each one's completion record when it is done."""
    in_flight: deque = deque()

    def consume():
        future, shard, start, stop, nbytes, last = in_flight.popleft()
        flat, lengths = future.result()
        shard.add(flat, lengths, start, stop)
        advance(nbytes)
        return shard.finish() if last else None

    for shard, texts, start, stop, nbytes, last in _batches(tasks, info):
        in_flight.append((pool.submit(encoder.encode_batch, texts), shard, start, stop, nbytes, last))
        if len(in_flight) >= ENCODE_DEPTH and (record := consume()) is not None:
            yield record
    while in_flight:
        if (record := consume()) is not None:
            yield record


def _batches(tasks: list[dict[str, Any]], info: TokenizerInfo):
    """``(OutputShards, texts, start, stop, text bytes, is last batch of its shard)`` for every batch."""
    for task in tasks:
        table = read_text_shard(task["input_path"])
        carried = [n for n in TOKEN_METADATA_COLUMNS if n in table.column_names]
        text = pc.fill_null(table.column("text").combine_chunks(), "")
        meta = pa.table({"id": table.column("id").combine_chunks().cast(pa.string()),
                         **{n: table.column(n).combine_chunks().cast(TOKEN_METADATA_COLUMNS[n]) for n in carried}})
        shard = OutputShards(task, info, meta)
        if len(text) == 0:
            yield shard, [], 0, 0, 0, True
            continue
        ends = np.cumsum(pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64))
        start = 0
        while start < len(text):
            before = int(ends[start - 1]) if start else 0
            stop = max(int(np.searchsorted(ends, before + BATCH_BYTES, "right")), start + 1)
            yield shard, text.slice(start, stop - start).to_pylist(), start, stop, int(ends[stop - 1]) - before, \
                stop == len(text)
            start = stop

"""The writer: kept documents to ``data/<domain>/``, rejected ones to ``rejected/<domain>/``.

Each task writes its own shards through :class:`midtrain.corpus.CorpusWriter` with the prefix
``t<rank>-``, so tasks never collide and a task's shard names depend only on its input: a
rerun (after a crash, or on Ray instead of locally) writes the same files with the same bytes.
A task first deletes whatever an earlier, interrupted attempt of the same task left behind, so
a resumed job never holds a document twice. Its shard list goes to ``job/tasks/<rank>.json``; the
driver writes the manifest from those lists after every task has finished.

Columns: ``id, text, domain, source, domain_hint``, every signal column the pipeline's steps
declare (typed, null where a step did not set it), and for rejected shards ``step`` and
``reason``, so ``midtrain refilter`` can re-decide from the stored signals alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from midtrain.corpus import CorpusWriter
from midtrain.corpus.manifest import atomic_write_bytes

BASE_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(), "text": pa.string(), "domain": pa.string(), "source": pa.string(),
    "domain_hint": pa.string(),
}


def task_prefix(rank: int) -> str:
    """The shard-name prefix of task ``rank``: tasks never write the same file."""
    return f"t{rank:05d}-"


class WriteCorpus(PipelineStep):
    """Write the task's documents as text-corpus shards of about ``shard_chars`` characters."""

    name = "midtrain corpus"
    type = "💽 - WRITER"

    def __init__(self, output_dir: str, job_dir: str, signal_columns: dict[str, pa.DataType],
                 shard_chars: int = 64 << 20) -> None:
        super().__init__()
        self.output_dir = output_dir
        self.job_dir = job_dir
        self.signal_columns = dict(signal_columns)
        self.shard_chars = shard_chars

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        remove_task_files(Path(self.output_dir), rank)
        writer = CorpusWriter(self.output_dir, "text", prefix=task_prefix(rank))
        buffers: dict[tuple[str, str], list[Document]] = {}
        sizes: dict[tuple[str, str], int] = {}
        for doc in data or ():
            folder = "rejected" if doc.metadata.get("reject_step") is not None else "data"
            key = (folder, doc.metadata["domain"])
            buffers.setdefault(key, []).append(doc)
            sizes[key] = sizes.get(key, 0) + len(doc.text)
            if sizes[key] >= self.shard_chars:
                self._write(writer, key, buffers.pop(key))
                sizes[key] = 0
            yield doc
        for key in sorted(buffers):
            self._write(writer, key, buffers[key])
        body = {"shards": [asdict(s) for s in writer.shards], "rejected": [asdict(s) for s in writer.rejected]}
        atomic_write_bytes(Path(self.job_dir) / "tasks" / f"{rank:05d}.json", (json.dumps(body) + "\n").encode())

    def _write(self, writer: CorpusWriter, key: tuple[str, str], docs: list[Document]) -> None:
        folder, domain = key
        table = documents_table(docs, self.signal_columns, rejected=folder == "rejected")
        with self.track_time("shard"):
            if folder == "rejected":
                writer.write_rejected(domain, table)
            else:
                writer.write_table(domain, table)
        self.stat_update(f"{folder}_documents", value=len(docs))


def documents_table(docs: list[Document], signal_columns: dict[str, pa.DataType], *, rejected: bool) -> pa.Table:
    """An Arrow table of documents with the corpus's typed columns (null where metadata is unset)."""
    columns = {
        "id": pa.array([d.id for d in docs], pa.string()),
        "text": pa.array([d.text for d in docs], pa.string()),
    }
    names = ["domain", "source", "domain_hint", *signal_columns]
    if rejected:
        names += ["reject_step", "reject_reason"]
    types = {**BASE_COLUMNS, **signal_columns, "reject_step": pa.string(), "reject_reason": pa.string()}
    for name in names:
        values = [d.metadata.get(name) for d in docs]
        try:
            columns[name] = pa.array(values, types[name])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TypeError(f"metadata[{name!r}] does not fit its declared type {types[name]} ({exc}); "
                            "the step that sets it must declare the right type in signal_schema") from None
    table = pa.table(columns)
    if rejected:
        table = table.rename_columns([{"reject_step": "step", "reject_reason": "reason"}.get(n, n)
                                      for n in table.column_names])
    return table


def remove_task_files(output_dir: Path, rank: int) -> None:
    """Delete shards and temporary files of an earlier, unfinished attempt of task ``rank``."""
    prefix = task_prefix(rank)
    for folder in ("data", "rejected"):
        root = output_dir / folder
        if not root.is_dir():
            continue
        for path in root.glob(f"*/{prefix}*.arrow"):
            path.unlink()
        for path in root.glob(f"*/.{prefix}*.arrow.tmp-*"):
            path.unlink()

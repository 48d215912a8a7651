"""Parquet, Arrow IPC (file or stream) and midtrain text-corpus shards into documents.

Only the text, id and domain-hint columns are read, a record batch at a time. The text column's
presence and type are checked when the job is planned (a config mistake fails before any task
runs); a null text is an invalid record, and a file that breaks mid-read makes its remaining
rows invalid (a Parquet footer knows how many; for Arrow, whose footer does not, one record
stands for the unreadable rest), so the counts still add up. A URL (:mod:`midtrain.curation.urls`)
is read through a seekable file object whose reads are ranged requests with retries; a local file
is memory-mapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document

from midtrain.curation.inputs import InputSpec, InputUnit
from midtrain.curation.readers.documents import documents_from_columns
from midtrain.curation.readers.log import ReadLog
from midtrain.curation.urls import is_url, open_url

BATCH_ROWS = 1024


def read_schema(path: Path | str, fmt: str) -> pa.Schema:
    """The schema of a Parquet or Arrow file (a path or a URL), reading only its footer or first message."""
    if fmt == "parquet":
        if is_url(path):
            with open_url(str(path)) as f:
                return pq.read_schema(f)
        return pq.read_schema(path)
    reader, source = _open_ipc(path)
    try:
        return reader.schema
    finally:
        source.close()


def _open_ipc(path: Path | str):
    source = pa.PythonFile(open_url(str(path)), mode="r") if is_url(path) else pa.memory_map(str(path))
    try:
        return pa.ipc.open_file(source), source
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_stream(source), source  # datasets' cache files are IPC streams


def read_columnar(spec: InputSpec, unit: InputUnit, log: ReadLog) -> Iterator[Document]:
    """Every document of one Parquet file, Arrow file or corpus shard."""
    path = unit.path if is_url(unit.path) else Path(unit.path)
    columns = [c for c in (spec.text_field, spec.id_field, spec.domain_field) if c]
    total, batches = _batches(path, unit.format, columns)
    done = 0
    try:
        for batch in batches:
            present = set(batch.schema.names)
            texts = batch.column(spec.text_field).to_pylist()
            ids = batch.column(spec.id_field).to_pylist() if spec.id_field in present else None
            hints = batch.column(spec.domain_field).to_pylist() if spec.domain_field in present else None
            yield from documents_from_columns(spec, unit, log, texts, ids, hints, done)
            done += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        rest = max(total - done, 1) if total >= 0 else 1
        log.record(spec.source, rest)
        log.add_invalid(spec.source, "unreadable", unit.rel, f"row {done}",
                        f"the remaining {rest} row(s) cannot be read ({type(exc).__name__}: {exc})", count=rest)


def _batches(path: Path | str, fmt: str, columns: list[str]) -> tuple[int, Iterator[pa.RecordBatch]]:
    if fmt == "parquet":
        pf = pq.ParquetFile(open_url(path) if isinstance(path, str) else path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        return pf.metadata.num_rows, pf.iter_batches(batch_size=BATCH_ROWS, columns=present)
    reader, source = _open_ipc(path)
    present = [c for c in columns if c in reader.schema.names]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            if isinstance(reader, pa.ipc.RecordBatchFileReader):
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i).select(present)
            else:
                for batch in reader:
                    yield batch.select(present)
        finally:
            source.close()

    return -1, batches()  # an IPC footer has no row count; counting would decode every batch

"""JSON Lines (plain, ``.gz``, ``.zst``) into documents, without losing a bad line silently.

datatrove's ``JsonlReader`` parses line by line with orjson and skips a malformed line with a
warning, and abandons the rest of a file at the first invalid UTF-8 byte. Here the file is read in
blocks of whole lines; Arrow's C++ JSON parser parses a block at once (the fast path), and only a
block that fails is re-parsed line by line to find which lines are bad and why. Every record is
counted; every bad one is logged with its file, line number and error. Decompression goes through
datatrove's fsspec ``DataFolder`` (compression inferred from the suffix); a URL input is streamed
with ranged requests that are retried (:func:`midtrain.curation.urls.open_url`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
from datatrove.data import Document

from midtrain.curation.inputs import InputSpec, InputUnit
from midtrain.curation.readers.documents import documents_from_columns
from midtrain.curation.readers.log import ReadLog
from midtrain.curation.urls import is_url, open_url

BLOCK_BYTES = 8 << 20
# Decompressed reads stay small so that a truncated file loses at most this much before the break.
READ_BYTES = 64 << 10
_SOLID = np.ones(256, dtype=bool)
_SOLID[[9, 10, 13, 32]] = False  # tab, newline, carriage return, space


def read_jsonl(spec: InputSpec, unit: InputUnit, log: ReadLog) -> Iterator[Document]:
    """Every document of one JSONL file; record index = position among non-blank lines."""
    first_line = 1  # 1-based number of the block's first line
    first_record = 0
    with _open(unit.path) as f:
        blocks = _line_blocks(f)
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except _Truncated as exc:  # truncated gzip/zstd, I/O errors: the lines before it were read
                log.record(spec.source)
                log.add_invalid(spec.source, "unreadable", unit.rel, f"line {first_line}",
                                f"the rest of the file cannot be read ({exc})")
                return
            starts, ends = record_spans(block)
            yield from _parse_block(spec, unit, log, block, starts, ends, first_line, first_record)
            first_line += block.count(b"\n")
            first_record += len(starts)


def _open(path: str) -> io.BufferedIOBase:
    """The decompressed bytes of a local file or an object at a URL."""
    if is_url(path):
        return open_url(path, decompress=True)
    from datatrove.io import get_datafolder

    local = Path(path)
    return get_datafolder(str(local.parent)).open(local.name, "rb", compression="infer")


class _Truncated(Exception):
    """The file broke off; raised after every complete line before the break was handed out."""


def _line_blocks(f: io.BufferedIOBase) -> Iterator[bytes]:
    """Blocks of whole lines of about ``BLOCK_BYTES`` (a longer line makes a longer block).

    Chunks are collected in a list and joined once per block, so a 50 MB line costs one copy.
    """
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = f.read(READ_BYTES)
        except (OSError, EOFError, ValueError) as exc:
            data = b"".join(parts)
            cut = data.rfind(b"\n")
            if cut >= 0:
                yield data[: cut + 1]
            raise _Truncated(f"{type(exc).__name__}: {exc}") from None
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        cut = chunk.rfind(b"\n")
        if size < BLOCK_BYTES or cut < 0:
            continue
        data = b"".join(parts)
        cut += size - len(chunk)
        yield data[: cut + 1]
        rest = data[cut + 1:]
        parts, size = ([rest] if rest else []), len(rest)
    if parts:
        yield b"".join(parts)


def record_spans(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the non-blank lines of ``block`` (vectorised with numpy).

    A blank line (only spaces, tabs, ``\\r``) is not a record: Arrow's parser skips it too, so the
    i-th parsed row is the i-th span.
    """
    arr = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    ends = newlines if (len(arr) and arr[-1] == 10) else np.append(newlines, len(arr))
    starts = np.concatenate(([0], newlines + 1))[: len(ends)]
    if not len(ends):
        return starts, ends
    solid = _SOLID[arr]
    # any non-whitespace byte in [start, next start); a zero-length line has none
    keep = np.logical_or.reduceat(solid, starts) & (ends > starts)
    return starts[keep], ends[keep]


def _line_numbers(block: bytes, starts: np.ndarray, first_line: int) -> np.ndarray:
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    return first_line + np.searchsorted(newlines, starts)


def _parse_block(spec: InputSpec, unit: InputUnit, log: ReadLog, block: bytes, starts: np.ndarray,
                 ends: np.ndarray, first_line: int, first_record: int) -> Iterator[Document]:
    table = _parse_fast(spec, block, len(starts))
    if table is not None:
        texts = table.column(0).to_pylist()
        ids = table.column(1).to_pylist() if spec.id_field else None
        hints = table.column(table.num_columns - 1).to_pylist() if spec.domain_field else None
        missing = [i for i, t in enumerate(texts) if t is None]
        if not missing:
            yield from documents_from_columns(spec, unit, log, texts, ids, hints, first_record, where="record")
            return
    # Slow path: some line is malformed, not UTF-8, has a mistyped field or lacks text.
    yield from _parse_lines(spec, unit, log, block, starts, ends, first_line, first_record)


def _parse_fast(spec: InputSpec, block: bytes, n_records: int) -> pa.Table | None:
    """Parse a whole block with Arrow; None when it fails or rows do not map 1:1 onto lines."""
    for id_type in (pa.string(), pa.int64()):
        fields = [(spec.text_field, pa.string())]
        if spec.id_field:
            fields.append((spec.id_field, id_type))
        if spec.domain_field:
            fields.append((spec.domain_field, pa.string()))
        options = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")
        try:
            table = pj.read_json(pa.BufferReader(block), parse_options=options,
                                 read_options=pj.ReadOptions(block_size=max(len(block) + 1, 1 << 20)))
            table.validate(full=True)  # the parser lets some invalid UTF-8 through; this catches it
        except (pa.ArrowInvalid, UnicodeDecodeError):
            continue
        if table.num_rows != n_records:  # e.g. two objects on one line
            return None
        if spec.id_field and id_type == pa.int64():
            table = table.set_column(1, spec.id_field, table.column(1).cast(pa.string()))
        return table.select([f[0] for f in fields])
    return None


def _parse_lines(spec: InputSpec, unit: InputUnit, log: ReadLog, block: bytes, starts: np.ndarray,
                 ends: np.ndarray, first_line: int, first_record: int) -> Iterator[Document]:
    """Line-by-line parsing of a failed block: each line becomes a document or an invalid entry."""
    lines = _line_numbers(block, starts, first_line)
    texts: list = []
    ids: list = []
    hints: list = []
    indices: list[int] = []
    source = spec.source
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        where = f"line {int(lines[k])}"
        record, error = _parse_line(spec, block[a:b])
        if error is not None:
            log.record(source)
            log.add_invalid(source, error[0], unit.rel, where, error[1])
            continue
        texts.append(record[0])
        ids.append(record[1])
        hints.append(record[2])
        indices.append(first_record + k)
    # one call per surviving line keeps record indices exact even with gaps
    for k, index in enumerate(indices):
        yield from documents_from_columns(spec, unit, log, texts[k:k + 1], ids[k:k + 1],
                                          hints[k:k + 1] if spec.domain_field else None, index, where="record")


def _parse_line(spec: InputSpec, raw: bytes) -> tuple[tuple, tuple[str, str] | None]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (), ("invalid_utf8", f"invalid UTF-8 at byte {exc.start} of the line ({exc.reason})")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return (), ("malformed_json", f"malformed JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(obj, dict):
        return (), ("malformed_json", f"a record must be a JSON object, got {type(obj).__name__}")
    text = obj.get(spec.text_field)
    if text is None:
        return (), ("missing_text", f"text field {spec.text_field!r} is missing or null (keys: {sorted(obj)[:10]})")
    if not isinstance(text, str):
        return (), ("not_text", f"text field {spec.text_field!r} is a {type(text).__name__}, not a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (), ("invalid_utf8", f"text has an unpaired surrogate escape at character {exc.start}")
    raw_id = obj.get(spec.id_field) if spec.id_field else None
    hint = obj.get(spec.domain_field) if spec.domain_field else None
    return (text, None if raw_id is None else str(raw_id), None if hint is None else str(hint)), None

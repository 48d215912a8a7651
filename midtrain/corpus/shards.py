"""Shard files: Arrow IPC *file* format, written atomically, read with memory maps.

Text shards hold one row per document (``id``, ``text``, ``domain``, ``source`` and typed signal
columns), zstd-compressed. Token shards are uncompressed and hold a single record batch, so the
``tokens`` column's flat values buffer *is* the token stream and its offsets *are* the document
boundaries: :class:`TokenShard` hands both out as numpy views into the memory map.
"""

from __future__ import annotations

import mmap
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import ShardInfo, file_checksum

TEXT_COLUMNS = ("id", "text", "domain", "source")
TOKEN_COLUMNS = ("id", "tokens")
_DOMAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_domain_name(domain: str) -> str:
    """Domains name folders, so they must be plain names (letters, digits, ``_.-``)."""
    if not isinstance(domain, str) or not _DOMAIN_NAME.match(domain):
        raise ValueError(f"domain {domain!r} is not a valid name: use letters, digits, '_', '.', '-'")
    return domain


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


TOKEN_METADATA_COLUMNS = {"source": pa.string(), "quality_tier": pa.int8()}
"""Per-document columns a token shard may carry after ``id`` and ``tokens``, copied from the text
corpus by ``midtrain tokenize`` when it has them: what the exposure ledger counts by."""


def token_table(ids: list[str] | pa.Array, tokens: np.ndarray, offsets: np.ndarray,
                metadata: dict[str, pa.Array] | None = None) -> pa.Table:
    """A token shard's table from a flat token array and int64 document offsets (len = docs + 1),
    with the :data:`TOKEN_METADATA_COLUMNS` given in ``metadata`` (one value per document)."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    tokens = np.ascontiguousarray(tokens)
    if tokens.dtype not in (np.uint16, np.uint32):
        raise TypeError(f"token ids must be uint16 or uint32, got {tokens.dtype}")
    col = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(tokens))
    columns = {"id": pa.array(ids, pa.string()), "tokens": col}
    for name, values in (metadata or {}).items():
        if name not in TOKEN_METADATA_COLUMNS:
            raise ValueError(f"{name!r} is not a token-shard metadata column ({sorted(TOKEN_METADATA_COLUMNS)})")
        columns[name] = pa.array(values).cast(TOKEN_METADATA_COLUMNS[name])
    return pa.table(columns)


def write_arrow_file(path: Path, table: pa.Table, *, compression: str | None) -> None:
    """Write ``table`` as an Arrow IPC file under a temporary name, fsync, rename.

    Token shards pass ``compression=None`` and a single-chunk table, so the file holds exactly one
    record batch that memory-maps with zero copies.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.OSFile(str(tmp), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema, options=options) as writer:
            writer.write_table(table, max_chunksize=None if compression else max(table.num_rows, 1))
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def describe_shard(corpus_dir: Path, rel_path: str, domain: str, table: pa.Table, kind: str) -> ShardInfo:
    """The manifest entry of a shard already written at ``corpus_dir / rel_path``."""
    path = corpus_dir / rel_path
    tokens = 0
    text_bytes = 0
    if kind == "token":
        tokens = len(table.column("tokens").combine_chunks().flatten()) if table.num_rows else 0
    else:
        import pyarrow.compute as pc

        lengths = pc.binary_length(table.column("text"))
        text_bytes = int(pc.sum(lengths).as_py() or 0)
    return ShardInfo(path=rel_path, domain=domain, rows=table.num_rows, tokens=tokens,
                     bytes=path.stat().st_size, checksum=file_checksum(path), text_bytes=text_bytes)


def open_ipc_file(path: Path) -> tuple[pa.ipc.RecordBatchFileReader, mmap.mmap | None]:
    """Open an Arrow IPC file through a read-only memory map; errors name the file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise CorpusError(f"{path}: shard is empty (0 bytes)")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise CorpusError(f"{path}: shard is missing") from None
    try:
        reader = pa.ipc.open_file(pa.py_buffer(mm))
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise CorpusError(f"{path}: not a readable Arrow IPC file, truncated or corrupted ({exc})") from None
    return reader, mm


def read_text_shard(path: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """Read a text shard (or some of its columns) into an Arrow table."""
    path = Path(path)
    reader, _ = open_ipc_file(path)
    try:
        table = reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise CorpusError(f"{path}: cannot decode record batches ({exc})") from None
    missing = [c for c in TEXT_COLUMNS if c not in table.column_names]
    if missing:
        raise CorpusError(f"{path}: text shard lacks column(s) {missing}")
    return table.select(columns) if columns else table


def check_token_schema(reader: pa.ipc.RecordBatchFileReader, name: str | os.PathLike) -> pa.DataType:
    """The token dtype of a shard's IPC file (``uint16`` or ``uint32``), after checking the layout
    every token shard has: a ``large_list`` column ``tokens`` and exactly one record batch. Errors
    name the shard (a path or a URL)."""
    schema = reader.schema
    if "tokens" not in schema.names or not pa.types.is_large_list(schema.field("tokens").type):
        raise CorpusError(f"{name}: token shard needs a 'tokens' column of type large_list<uint16|uint32>, "
                          f"schema is {schema}")
    value_type = schema.field("tokens").type.value_type
    if value_type not in (pa.uint16(), pa.uint32()):
        raise CorpusError(f"{name}: token ids must be uint16 or uint32, got {value_type}")
    if reader.num_record_batches != 1:
        raise CorpusError(f"{name}: token shard must hold exactly one record batch, found {reader.num_record_batches}")
    return value_type


class TokenShard:
    """A memory-mapped token shard: ``tokens`` and ``offsets`` are numpy views, nothing copied.

    Opening reads the IPC footer and the record batch metadata, never the tokens; the offsets are
    checked (start at 0, monotonic, end at ``len(tokens)``) so that a corrupted shard fails here
    rather than mid-training. ``doc(i)`` is ``tokens[offsets[i]:offsets[i + 1]]``.
    """

    def __init__(self, path: str | os.PathLike, *, check_offsets: bool = True) -> None:
        self.path = Path(path)
        reader, self._mmap = open_ipc_file(self.path)
        schema = reader.schema
        value_type = check_token_schema(reader, self.path)
        try:
            batch = reader.get_batch(0)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{self.path}: cannot decode the record batch ({exc})") from None
        col = batch.column(schema.get_field_index("tokens"))
        if col.buffers()[0] is not None and col.null_count:
            raise CorpusError(f"{self.path}: 'tokens' has null rows")
        self.num_docs = len(col)
        off_buf = col.buffers()[1]
        values = col.values
        val_buf = values.buffers()[1]
        self.dtype = np.dtype(np.uint16) if value_type == pa.uint16() else np.dtype(np.uint32)
        if off_buf is None or off_buf.size < 8 * (col.offset + self.num_docs + 1):
            raise CorpusError(f"{self.path}: offsets buffer is too short for {self.num_docs} documents")
        self.offsets = np.frombuffer(off_buf, dtype=np.int64, count=self.num_docs + 1, offset=8 * col.offset)
        n_values = len(values)
        if val_buf is None:
            if n_values:
                raise CorpusError(f"{self.path}: tokens buffer is missing")
            self.tokens = np.zeros(0, dtype=self.dtype)
        else:
            if val_buf.size < self.dtype.itemsize * (values.offset + n_values):
                raise CorpusError(f"{self.path}: tokens buffer is shorter than its declared length")
            self.tokens = np.frombuffer(val_buf, dtype=self.dtype, count=n_values,
                                        offset=self.dtype.itemsize * values.offset)
        self._batch = batch
        if check_offsets:
            self.check_offsets()

    def check_offsets(self) -> None:
        """Offsets start at 0, never decrease, and end exactly at the number of tokens."""
        off = self.offsets
        if len(off) == 0 or off[0] != 0:
            raise CorpusError(f"{self.path}: document offsets must start at 0")
        if off[-1] != len(self.tokens):
            raise CorpusError(f"{self.path}: last offset {int(off[-1])} != number of tokens {len(self.tokens)}")
        if len(off) > 1 and bool(np.any(off[1:] < off[:-1])):
            bad = int(np.argmax(off[1:] < off[:-1]))
            raise CorpusError(f"{self.path}: document offsets decrease at document {bad}")

    @property
    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def doc(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def ids(self) -> list[str]:
        return self._batch.column(self._batch.schema.get_field_index("id")).to_pylist()

    def column(self, name: str) -> pa.Array | None:
        """A per-document column other than ``tokens`` (an Arrow array over the map), or ``None``."""
        i = self._batch.schema.get_field_index(name)
        return None if i < 0 else self._batch.column(i)

    def metadata(self, name: str) -> list | None:
        """A per-document metadata column (``source``, ``quality_tier``), or ``None`` if the shard has none."""
        i = self._batch.schema.get_field_index(name)
        return None if i < 0 else self._batch.column(i).to_pylist()

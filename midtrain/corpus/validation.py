"""Validation: prove that a corpus folder is complete and uncorrupted (``midtrain validate``).

Checks, in order of cost: the manifest parses; every shard path is relative and stays inside the
folder (no ``..``, no absolute path, no symlink that leaves it); every shard exists with the
recorded size and checksum; it opens as an Arrow IPC file with the expected schema and row count;
for token shards, offsets start at 0, are monotonic and end at the token count, the token count
matches the manifest and every id is below the vocabulary size.

A token corpus at a URL (``s3://...``) gets the same checks through
:mod:`midtrain.corpus.remote` (:func:`validate_remote`): the manifest, each object's size, the
layout and offsets from its head, tail and offsets buffer; with checksums, one pass over each
object verifies its whole-file checksum, every block against ``block_checksums.json`` and the
vocabulary bound (without checksums no token is read, so the vocabulary is not checked). Text
corpora at URLs are not validated yet (the message says so).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import xxhash

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import Manifest, ShardInfo, file_checksum, resolve_inside
from midtrain.corpus.shards import TEXT_COLUMNS, TokenShard, open_ipc_file
from midtrain.storage.objects import is_url

REMOTE_BATCH_BLOCKS = 8
"""Blocks requested together (concurrent ranged GETs) while checksumming an object at a URL; with
4 MiB blocks, 32 MiB in memory at a time."""
_RANGE_BYTES = 8 << 20

if TYPE_CHECKING:
    from midtrain.corpus.remote import RemoteShard, RemoteTokenCorpus

_STRING_TYPES = (pa.string(), pa.large_string())


def validate(corpus_dir: str | os.PathLike, *, checksums: bool = True) -> list[str]:
    """Every problem found, one line each naming the shard; an empty list means the corpus is sound.

    ``corpus_dir`` is a folder or the URL of a token corpus (see the module docstring)."""
    if is_url(corpus_dir):
        return validate_remote(str(corpus_dir), checksums=checksums)
    corpus_dir = Path(corpus_dir)
    try:
        manifest = Manifest.read(corpus_dir)
    except CorpusError as exc:
        return [str(exc)]
    problems: list[str] = []
    seen: set[str] = set()
    for shard in [*manifest.shards, *manifest.rejected]:
        if shard.path in seen:
            problems.append(f"{corpus_dir / shard.path}: listed twice in the manifest")
            continue
        seen.add(shard.path)
        try:
            _validate_shard(corpus_dir, manifest, shard, checksums=checksums)
        except CorpusError as exc:
            problems.append(str(exc))
    return problems


def check_corpus(corpus_dir: str | os.PathLike, *, checksums: bool = True) -> Manifest:
    """Validate and return the manifest, or raise :class:`CorpusError` with every problem found."""
    problems = validate(corpus_dir, checksums=checksums)
    if problems:
        raise CorpusError("\n".join(problems))
    if is_url(corpus_dir):
        from midtrain.corpus.remote import read_manifest

        return read_manifest(str(corpus_dir))
    return Manifest.read(corpus_dir)


def _validate_shard(corpus_dir: Path, manifest: Manifest, shard: ShardInfo, *, checksums: bool) -> None:
    path = resolve_inside(corpus_dir, shard.path)
    if not path.is_file():
        raise CorpusError(f"{path}: shard is missing")
    size = path.stat().st_size
    if size != shard.bytes:
        raise CorpusError(f"{path}: size {size} bytes != {shard.bytes} in the manifest (truncated or rewritten)")
    if checksums:
        actual = file_checksum(path)
        if actual != shard.checksum:
            raise CorpusError(f"{path}: checksum mismatch ({actual} != manifest {shard.checksum}); the file is corrupted")
    if manifest.kind == "token" and shard in manifest.shards:
        _validate_token_shard(path, manifest, shard)
    else:
        _validate_text_shard(path, shard)


def _validate_text_shard(path: Path | str, shard: ShardInfo, data: bytes | None = None) -> None:
    """Schema and rows of a text (or rejected) shard: the file at ``path``, or ``data`` read from that URL."""
    if data is None:
        reader, _ = open_ipc_file(path)
    else:
        try:
            reader = pa.ipc.open_file(pa.py_buffer(data))
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{path}: not a readable Arrow IPC file, truncated or corrupted ({exc})") from None
    schema = reader.schema
    for name in TEXT_COLUMNS:
        if name not in schema.names:
            raise CorpusError(f"{path}: wrong schema, column '{name}' is missing (has {schema.names})")
        if schema.field(name).type not in _STRING_TYPES:
            raise CorpusError(f"{path}: wrong schema, column '{name}' is {schema.field(name).type}, expected string")
    rows = 0
    for i in range(reader.num_record_batches):
        try:
            rows += reader.get_batch(i).num_rows
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{path}: record batch {i} cannot be decoded ({exc})") from None
    if rows != shard.rows:
        raise CorpusError(f"{path}: {rows} rows != {shard.rows} in the manifest")


def _validate_token_shard(path: Path, manifest: Manifest, shard: ShardInfo) -> None:
    ts = TokenShard(path)
    if ts.num_docs != shard.rows:
        raise CorpusError(f"{path}: {ts.num_docs} documents != {shard.rows} in the manifest")
    if ts.num_tokens != shard.tokens:
        raise CorpusError(f"{path}: {ts.num_tokens} tokens != {shard.tokens} in the manifest")
    tok = manifest.tokenizer or {}
    if tok.get("dtype") and np.dtype(tok["dtype"]) != ts.dtype:
        raise CorpusError(f"{path}: token dtype {ts.dtype} != {tok['dtype']} in the manifest")
    vocab = tok.get("vocab_size")
    if vocab and ts.num_tokens and int(ts.tokens.max()) >= vocab:
        raise CorpusError(f"{path}: token id {int(ts.tokens.max())} is outside the vocabulary ({vocab})")


def validate_remote(url: str, *, checksums: bool = True) -> list[str]:
    """:func:`validate` for a corpus at ``url``: every problem, one line each naming the object's URL."""
    # the remote reader brings numba and fsspec: loaded only for a URL
    from midtrain.corpus.remote import open_remote_manifest, open_remote_shard, read_manifest

    try:
        manifest = read_manifest(url)
        if manifest.kind != "token":
            return _validate_remote_text(url, manifest, checksums=checksums)
        corpus, sums = open_remote_manifest(url)
    except CorpusError as exc:
        return [str(exc)]
    problems: list[str] = []
    seen: set[str] = set()
    for info in [*manifest.shards, *manifest.rejected]:
        if info.path in seen:
            problems.append(f"{url.rstrip('/')}/{info.path}: listed twice in the manifest")
            continue
        seen.add(info.path)
        try:
            if info in manifest.shards:
                shard = open_remote_shard(corpus, info, sums.get(info.path))
                _validate_remote_tokens(corpus, shard, checksums=checksums)
            else:
                _validate_remote_object(corpus.path, info, checksums=checksums)
        except CorpusError as exc:
            problems.append(str(exc))
    return problems


def _validate_remote_text(url: str, manifest: Manifest, *, checksums: bool) -> list[str]:
    """:func:`validate` for a text corpus at ``url``: each shard read whole (a text shard is checked
    by decoding every record batch, as on disk), its size, checksum, schema and rows."""
    from midtrain.corpus.remote import shard_url_inside
    from midtrain.storage.objects import read_object

    problems: list[str] = []
    seen: set[str] = set()
    for info in [*manifest.shards, *manifest.rejected]:
        try:
            shard_url = shard_url_inside(url, info.path)
            if info.path in seen:
                raise CorpusError(f"{shard_url}: listed twice in the manifest")
            seen.add(info.path)
            data = read_object(shard_url)
            if len(data) != info.bytes:
                raise CorpusError(f"{shard_url}: size {len(data)} bytes != {info.bytes} in the manifest "
                                  "(truncated or rewritten)")
            if checksums and f"xxh3_128:{xxhash.xxh3_128_hexdigest(data)}" != info.checksum:
                raise CorpusError(f"{shard_url}: checksum mismatch; the object is corrupted")
            _validate_text_shard(shard_url, info, data)
        except CorpusError as exc:
            problems.append(str(exc))
    return problems


def _validate_remote_tokens(corpus: RemoteTokenCorpus, shard: RemoteShard, *, checksums: bool) -> None:
    """The dtype against the manifest; with ``checksums``, one pass over the object: the bytes before and
    after the token stream read in ranges, the stream by blocks (each verified against its block checksum
    as it arrives), all hashed in file order for the whole-file checksum, and the largest token id."""
    from midtrain.storage.objects import read_range

    layout, info = shard.layout, shard.info
    tok = corpus.manifest.tokenizer or {}
    if tok.get("dtype") and np.dtype(tok["dtype"]) != layout.dtype:
        raise CorpusError(f"{shard.url}: token dtype {layout.dtype} != {tok['dtype']} in the manifest")
    if not checksums:
        return
    values_end = layout.values_start + layout.num_tokens * layout.dtype.itemsize
    whole = xxhash.xxh3_128()
    for start in range(0, layout.values_start, _RANGE_BYTES):
        whole.update(read_range(shard.url, start, min(_RANGE_BYTES, layout.values_start - start)))
    blocks = -(-(values_end - layout.values_start) // corpus.block_bytes)
    top = -1
    for first in range(0, blocks, REMOTE_BATCH_BLOCKS):
        for data in corpus.read_blocks([(shard, k) for k in range(first, min(first + REMOTE_BATCH_BLOCKS, blocks))]):
            whole.update(data)
            if data:
                top = max(top, int(np.frombuffer(data, layout.dtype).max()))
    for start in range(values_end, layout.size, _RANGE_BYTES):
        whole.update(read_range(shard.url, start, min(_RANGE_BYTES, layout.size - start)))
    actual = f"xxh3_128:{whole.hexdigest()}"
    if actual != info.checksum:
        raise CorpusError(f"{shard.url}: checksum mismatch ({actual} != manifest {info.checksum}); "
                          "the object is corrupted")
    vocab = tok.get("vocab_size")
    if vocab and top >= vocab:
        raise CorpusError(f"{shard.url}: token id {top} is outside the vocabulary ({vocab})")


def _validate_remote_object(url: str, info: ShardInfo, *, checksums: bool) -> None:
    """A rejected shard at a URL: present, with the recorded size and, with ``checksums``, the recorded checksum."""
    from midtrain.corpus.remote import shard_url_inside
    from midtrain.storage.objects import object_size, read_range

    shard_url = shard_url_inside(url, info.path)
    size = object_size(shard_url)
    if size != info.bytes:
        raise CorpusError(f"{shard_url}: size {size} bytes != {info.bytes} in the manifest (truncated or rewritten)")
    if checksums:
        whole = xxhash.xxh3_128()
        for start in range(0, size, _RANGE_BYTES):
            whole.update(read_range(shard_url, start, min(_RANGE_BYTES, size - start)))
        if f"xxh3_128:{whole.hexdigest()}" != info.checksum:
            raise CorpusError(f"{shard_url}: checksum mismatch; the object is corrupted")

"""Validation: prove that a corpus folder is complete and uncorrupted (``midtrain validate``).

Checks, in order of cost: the manifest parses; every shard path is relative and stays inside the
folder (no ``..``, no absolute path, no symlink that leaves it); every shard exists with the
recorded size and checksum; it opens as an Arrow IPC file with the expected schema and row count;
for token shards, offsets start at 0, are monotonic and end at the token count, the token count
matches the manifest and every id is below the vocabulary size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import Manifest, ShardInfo, file_checksum, resolve_inside
from midtrain.corpus.shards import TEXT_COLUMNS, TokenShard, open_ipc_file

_STRING_TYPES = (pa.string(), pa.large_string())


def validate(corpus_dir: str | os.PathLike, *, checksums: bool = True) -> list[str]:
    """Every problem found, one line each naming the shard; an empty list means the corpus is sound."""
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


def _validate_text_shard(path: Path, shard: ShardInfo) -> None:
    reader, _ = open_ipc_file(path)
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

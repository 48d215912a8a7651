"""Opening a token corpus for reading: every shard memory-mapped and structurally checked.

Opening never reads tokens: it reads the manifest, each shard's IPC footer and its offsets. With
``checksums=True`` it also hashes every file (GB/s), which catches flipped bytes before training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import Manifest, file_checksum, resolve_inside
from midtrain.corpus.shards import TokenShard


class CorpusViews:
    """What every token corpus derives from its ``shards`` (per domain, in manifest order, each
    with ``doc_lengths`` and ``num_tokens``): shared by local and remote corpora."""

    shards: dict

    @property
    def domains(self) -> list[str]:
        return sorted(self.shards)

    def doc_lengths(self, domain: str) -> np.ndarray:
        """Token length of every document of ``domain``, shards concatenated in order."""
        parts = [s.doc_lengths for s in self.shards[domain]]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def num_tokens(self, domain: str) -> int:
        return sum(s.num_tokens for s in self.shards[domain])


@dataclass
class TokenCorpus(CorpusViews):
    """A token corpus: its manifest and, per domain, its shards in manifest order."""

    path: Path
    manifest: Manifest
    shards: dict[str, list[TokenShard]]


def open_token_corpus(path: str | os.PathLike, *, checksums: bool = False) -> TokenCorpus:
    """Open a token corpus; raises :class:`CorpusError` naming the shard on any inconsistency."""
    path = Path(path)
    manifest = Manifest.read(path)
    if manifest.kind != "token":
        raise CorpusError(f"{path}: is a {manifest.kind} corpus; tokenize it first (midtrain tokenize)")
    shards: dict[str, list[TokenShard]] = {}
    for info in manifest.shards:
        shard_path = resolve_inside(path, info.path)
        if not shard_path.is_file():
            raise CorpusError(f"{shard_path}: shard is missing")
        if shard_path.stat().st_size != info.bytes:
            raise CorpusError(f"{shard_path}: size {shard_path.stat().st_size} != {info.bytes} in the manifest "
                              "(truncated or rewritten)")
        if checksums and file_checksum(shard_path) != info.checksum:
            raise CorpusError(f"{shard_path}: checksum mismatch; the file is corrupted")
        shard = TokenShard(shard_path)
        if shard.num_docs != info.rows or shard.num_tokens != info.tokens:
            raise CorpusError(f"{shard_path}: {shard.num_docs} docs / {shard.num_tokens} tokens != manifest "
                              f"{info.rows} / {info.tokens}")
        shards.setdefault(info.domain, []).append(shard)
    if not shards:
        raise CorpusError(f"{path}: the corpus has no shards")
    return TokenCorpus(path=path, manifest=manifest, shards=shards)

"""The corpus manifest: what a corpus folder holds, and proof that it is complete.

A corpus is a folder with ``manifest.json`` and Arrow IPC shards under ``data/<domain>/``. The
manifest is written last (atomically), so a folder without one is an incomplete corpus. It lists
every shard with its rows, tokens, bytes and checksum, per-domain totals, and for token corpora
the tokenizer fingerprint.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import xxhash

from midtrain.corpus.errors import CorpusError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CorpusKind = Literal["text", "token"]
_CHECKSUM_CHUNK = 8 << 20


@dataclass(frozen=True)
class ShardInfo:
    """One shard as the manifest records it."""

    path: str
    """Relative to the corpus folder, e.g. ``data/code/00000.arrow``."""
    domain: str
    rows: int
    tokens: int
    """Token count for token shards; 0 for text shards."""
    bytes: int
    """Size of the shard file on disk."""
    checksum: str
    """``xxh3_128:<hex>`` of the file's bytes."""
    text_bytes: int = 0
    """UTF-8 bytes of the documents' text (text shards only)."""


@dataclass
class Manifest:
    """Everything a reader needs to trust a corpus folder without scanning it."""

    kind: CorpusKind
    shards: list[ShardInfo]
    format_version: int = FORMAT_VERSION
    rejected: list[ShardInfo] = field(default_factory=list)
    """Text corpora: shards under ``rejected/<domain>/`` holding every dropped document with
    ``step`` and ``reason`` columns. Not part of the data a reader trains on."""
    tokenizer: dict[str, Any] | None = None
    """Token corpora: ``{"fingerprint", "vocab_size", "bos_id", "eos_id", "dtype", "name"}``."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance (the curation report's counts, the tokenizer policy, ...)."""

    @property
    def domains(self) -> dict[str, dict[str, int]]:
        """Per-domain totals, in sorted domain order."""
        totals: dict[str, dict[str, int]] = {}
        for shard in sorted(self.shards, key=lambda s: s.domain):
            t = totals.setdefault(shard.domain, {"shards": 0, "rows": 0, "tokens": 0, "bytes": 0, "text_bytes": 0})
            t["shards"] += 1
            t["rows"] += shard.rows
            t["tokens"] += shard.tokens
            t["bytes"] += shard.bytes
            t["text_bytes"] += shard.text_bytes
        return totals

    def to_json(self) -> str:
        body = {
            "format_version": self.format_version,
            "kind": self.kind,
            "domains": self.domains,
            "tokenizer": self.tokenizer,
            "shards": [asdict(s) for s in self.shards],
            "rejected": [asdict(s) for s in self.rejected],
            "extra": self.extra,
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    def write(self, corpus_dir: str | os.PathLike) -> Path:
        """Write ``manifest.json`` atomically; call this after every shard is in place."""
        path = Path(corpus_dir) / MANIFEST_NAME
        atomic_write_bytes(path, self.to_json().encode())
        return path

    @classmethod
    def read(cls, corpus_dir: str | os.PathLike) -> "Manifest":
        """Read and structurally check a manifest; raises :class:`CorpusError` naming the problem."""
        path = Path(corpus_dir) / MANIFEST_NAME
        if not path.is_file():
            raise CorpusError(f"{path}: no manifest.json; the corpus is missing or incomplete")
        return cls.parse(path.read_bytes(), path)

    @classmethod
    def parse(cls, text: str | bytes, path: str | os.PathLike) -> "Manifest":
        """A manifest from its JSON text (read from ``path``, which errors name), structurally checked."""
        try:
            body = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{path}: manifest is not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise CorpusError(f"{path}: manifest must be a JSON object")
        version = body.get("format_version")
        if version != FORMAT_VERSION:
            raise CorpusError(f"{path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
        kind = body.get("kind")
        if kind not in ("text", "token"):
            raise CorpusError(f"{path}: kind must be 'text' or 'token', got {kind!r}")
        lists = {}
        for key in ("shards", "rejected"):
            lists[key] = []
            for i, raw in enumerate(body.get(key) or []):
                try:
                    lists[key].append(ShardInfo(**raw))
                except TypeError as exc:
                    raise CorpusError(f"{path}: {key}[{i}] is malformed ({exc})") from None
        return cls(kind=kind, shards=lists["shards"], rejected=lists["rejected"], format_version=version,
                   tokenizer=body.get("tokenizer"), extra=body.get("extra") or {})


def file_checksum(path: str | os.PathLike) -> str:
    """``xxh3_128`` of a file, streamed: fast enough (GB/s) to verify a corpus when it is opened."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(_CHECKSUM_CHUNK):
            h.update(chunk)
    return f"xxh3_128:{h.hexdigest()}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path``, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def resolve_inside(corpus_dir: Path, rel: str) -> Path:
    """Resolve a manifest path and refuse any that leaves the corpus folder.

    Absolute paths, ``..`` components and symlinks pointing outside are all rejected, so a
    crafted manifest cannot make a reader open arbitrary files.
    """
    if not rel or os.path.isabs(rel) or Path(rel).drive:
        raise CorpusError(f"{corpus_dir / MANIFEST_NAME}: shard path {rel!r} must be relative to the corpus folder")
    if ".." in Path(rel).parts:
        raise CorpusError(f"{corpus_dir / MANIFEST_NAME}: shard path {rel!r} escapes the corpus folder ('..')")
    root = corpus_dir.resolve()
    target = (corpus_dir / rel).resolve()
    if root != target and root not in target.parents:
        raise CorpusError(f"{corpus_dir / MANIFEST_NAME}: shard path {rel!r} resolves outside the corpus folder "
                          f"(to {target}); symlinks must stay inside")
    return corpus_dir / rel

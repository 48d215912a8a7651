"""Writing a corpus folder: shards first (each atomically), manifest last."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from midtrain.corpus.manifest import CorpusKind, Manifest, ShardInfo
from midtrain.corpus.shards import check_domain_name, describe_shard, token_table, write_arrow_file


class CorpusWriter:
    """Writes shards under ``data/<domain>/`` and, on :meth:`finish`, the manifest.

    Text shards are zstd-compressed; token shards are uncompressed single record batches so that
    readers memory-map them. Shard names are ``{prefix}{n:05d}.arrow``, numbered per domain; give
    each parallel task its own ``prefix`` so they never collide.
    """

    def __init__(self, output: str | os.PathLike, kind: CorpusKind, *, prefix: str = "",
                 tokenizer: dict[str, Any] | None = None) -> None:
        self.output = Path(output)
        self.kind = kind
        self.prefix = prefix
        self.tokenizer = tokenizer
        self.shards: list[ShardInfo] = []
        self.rejected: list[ShardInfo] = []
        self._counts: dict[tuple[str, str], int] = {}

    def next_path(self, domain: str, folder: str = "data") -> str:
        n = self._counts.get((folder, domain), 0)
        self._counts[(folder, domain)] = n + 1
        return f"{folder}/{domain}/{self.prefix}{n:05d}.arrow"

    def write_table(self, domain: str, table: pa.Table, rel_path: str | None = None) -> ShardInfo:
        """Write one shard of ``domain`` and remember its manifest entry."""
        check_domain_name(domain)
        rel = rel_path or self.next_path(domain)
        if self.kind == "token":
            table = table.combine_chunks()
        write_arrow_file(self.output / rel, table, compression="zstd" if self.kind == "text" else None)
        info = describe_shard(self.output, rel, domain, table, self.kind)
        self.shards.append(info)
        return info

    def write_rejected(self, domain: str, table: pa.Table, rel_path: str | None = None) -> ShardInfo:
        """Write one shard of dropped documents (text columns plus ``step`` and ``reason``)."""
        check_domain_name(domain)
        for name in ("step", "reason"):
            if name not in table.column_names:
                raise ValueError(f"a rejected shard needs a '{name}' column")
        rel = rel_path or self.next_path(domain, folder="rejected")
        write_arrow_file(self.output / rel, table, compression="zstd")
        info = describe_shard(self.output, rel, domain, table, "text")
        self.rejected.append(info)
        return info

    def write_tokens(self, domain: str, ids: list[str], tokens: np.ndarray, offsets: np.ndarray) -> ShardInfo:
        """Write one token shard from a flat token array and its document offsets."""
        return self.write_table(domain, token_table(ids, tokens, offsets))

    def finish(self, extra: dict[str, Any] | None = None) -> Manifest:
        """Write ``manifest.json`` (atomically, last) and return it."""
        manifest = Manifest(kind=self.kind, shards=sorted(self.shards, key=lambda s: s.path),
                            rejected=sorted(self.rejected, key=lambda s: s.path),
                            tokenizer=self.tokenizer, extra=extra or {})
        manifest.write(self.output)
        return manifest

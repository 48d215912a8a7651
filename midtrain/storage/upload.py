"""Uploading a finished local corpus to a URL: every shard first, ``manifest.json`` last.

Each object is uploaded whole (s3fs switches to a multipart upload for large files; S3 makes an
object visible only once complete), so a reader sees either no manifest — an incomplete corpus,
refused as on disk — or a manifest whose shards are all in place. Token corpora also get
``block_checksums.json`` and a document-checksum sidecar per shard (before the manifest), which let
a remote reader verify every block, or every document, of the token stream when it arrives
(:mod:`midtrain.corpus.remote`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import MANIFEST_NAME, Manifest, resolve_inside
from midtrain.corpus.remote import (BLOCK_BYTES, BLOCK_CHECKSUMS_NAME, DOC_CHECKSUMS_DIR, block_checksum, join_url,
                                    shard_block_checksums, shard_doc_checksums)
from midtrain.storage.objects import put_atomic, put_file_atomic


def upload_corpus(local_dir: str | os.PathLike, url: str, *, block_bytes: int = BLOCK_BYTES,
                  manifest: bool = True, extra_files: Sequence[str] = ()) -> Manifest:
    """Upload the corpus folder ``local_dir`` to ``url``: the shards (and rejected shards) its manifest
    lists, the ``extra_files`` that exist (paths relative to the folder, e.g. ``report.json``), then
    for token corpora each shard's document checksums (``doc_checksums/<shard>.xxh64``) and
    ``block_checksums.json``, then ``manifest.json``, last.

    ``manifest=False`` stops before the manifest (what a crash mid-upload leaves: an incomplete
    corpus). Files of the folder that are neither listed by the manifest nor in ``extra_files`` are
    not uploaded.
    """
    root = Path(local_dir)
    found = Manifest.read(root)
    for rel in extra_files:
        path = resolve_inside(root, rel)
        if path.is_file():
            put_file_atomic(str(path), join_url(url, rel))
    for info in [*found.shards, *found.rejected]:
        path = resolve_inside(root, info.path)
        if not path.is_file():
            raise CorpusError(f"{path}: shard is missing; the local corpus is incomplete")
        put_file_atomic(str(path), join_url(url, info.path))
    if found.kind == "token":
        sums = {}
        for info in found.shards:
            docs = shard_doc_checksums(root / info.path)
            rel = f"{DOC_CHECKSUMS_DIR}/{info.path}.xxh64"
            put_atomic(join_url(url, rel), docs)
            sums[info.path] = {"checksum": info.checksum, **shard_block_checksums(root / info.path, block_bytes),
                               "doc_checksums": {"path": rel, "xxh3_64": block_checksum(docs)}}
        body = {"format_version": 1, "block_bytes": block_bytes, "shards": sums}
        put_atomic(join_url(url, BLOCK_CHECKSUMS_NAME), (json.dumps(body, sort_keys=True) + "\n").encode())
    if manifest:
        put_atomic(join_url(url, MANIFEST_NAME), (root / MANIFEST_NAME).read_bytes())
    return found

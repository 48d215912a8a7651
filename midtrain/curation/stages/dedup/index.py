"""A dedup index: the stored signatures of a clean corpus, so new data dedups against it.

Deduplicating new data against an index needs no pass over the old documents: their MinHash
signatures, band keys (sorted per band, searched with binary search) and exact-text hashes are
read from the index folder. Index documents are never removed; a new document that is a
(verified) duplicate of one of them is. Layout::

    index.json           the signature settings (the signature scheme among them) and their
                         fingerprint (must match), document count
    docs.arrow           id, quality, exact_hi, exact_lo (one row per indexed document)
    signatures.npy       (documents, num_perm) uint64
    bands/BBB.keys.npy   band b's keys, sorted;  bands/BBB.docs.npy  the document of each key
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.corpus import CorpusError
from midtrain.corpus.shards import open_ipc_file, write_arrow_file
from midtrain.curation.stages.dedup.config import OLD_SIGNATURE_SCHEME, SIGNATURE_SCHEME, DedupConfig
from midtrain.curation.stages.dedup.lsh import band_keys
from midtrain.errors import ConfigError

INDEX_VERSION = 2
"""Version 2 stores the fingerprint as a hash beside the settings (version 1 stored only the settings)."""
DOC_SCHEMA = pa.schema([("id", pa.string()), ("quality", pa.float64()), ("exact_hi", pa.uint64()),
                        ("exact_lo", pa.uint64())])


class DedupIndex:
    """An index folder opened for reading; arrays are memory-mapped, never loaded whole."""

    def __init__(self, folder: str | os.PathLike, config: DedupConfig) -> None:
        self.folder = Path(folder)
        meta_path = self.folder / "index.json"
        if not meta_path.is_file():
            raise CorpusError(f"{meta_path}: no dedup index here (build one with `midtrain dedup ... --write-index DIR`)")
        meta = json.loads(meta_path.read_text())
        if meta.get("version") != INDEX_VERSION:
            raise CorpusError(f"{meta_path}: index version {meta.get('version')!r} is not supported (this "
                              f"midtrain writes version {INDEX_VERSION}); rebuild it with "
                              "`midtrain dedup ... --write-index DIR`")
        scheme = meta["settings"].get("scheme", OLD_SIGNATURE_SCHEME)  # indexes before issue 19 name none
        if scheme != SIGNATURE_SCHEME:
            raise ConfigError(f"{meta_path}: the index holds MinHash signatures of the {scheme!r} scheme, which this "
                              f"midtrain no longer computes (it computes {SIGNATURE_SCHEME!r}; the two do not "
                              "compare); rebuild the index from its corpus with `midtrain dedup ... --write-index DIR`")
        if meta["fingerprint"] != config.fingerprint():
            raise ConfigError(f"dedup: settings {config.signature_settings()} differ from the index's "
                              f"{meta['settings']} ({meta_path}); use the index's ngram/bands/rows/num_perm/seed")
        self.size = int(meta["documents"])

    def signatures(self) -> np.ndarray:
        return np.load(self.folder / "signatures.npy", mmap_mode="r")

    def band(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Sorted keys of band ``b`` and the index document of each."""
        return (np.load(self.folder / f"bands/{b:03d}.keys.npy", mmap_mode="r"),
                np.load(self.folder / f"bands/{b:03d}.docs.npy", mmap_mode="r"))

    def docs(self, columns: list[str] | None = None) -> pa.Table:
        reader, _ = open_ipc_file(self.folder / "docs.arrow")
        table = reader.read_all()
        return table.select(columns) if columns else table


def save_index(folder: str | os.PathLike, config: DedupConfig, total: int,
                parts: Iterable[tuple[np.ndarray, pa.Table]]) -> Path:
    """Write an index of ``total`` documents from ``(signatures, docs)`` parts, streamed.

    The folder is built under a temporary name and renamed into place, so a half-written index
    never looks complete. Memory: one band column (8 bytes per document) at a time.
    """
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "bands").mkdir(parents=True)
    sigs = np.lib.format.open_memmap(tmp / "signatures.npy", mode="w+", dtype=np.uint64,
                                     shape=(total, config.permutations))
    keys = np.lib.format.open_memmap(tmp / "keys.tmp.npy", mode="w+", dtype=np.uint64, shape=(total, config.bands))
    docs, at = [], 0
    for part_sigs, part_docs in parts:
        sigs[at:at + len(part_sigs)] = part_sigs
        keys[at:at + len(part_sigs)] = band_keys(np.ascontiguousarray(part_sigs), config.bands, config.rows)
        docs.append(part_docs.select(DOC_SCHEMA.names).cast(DOC_SCHEMA))
        at += len(part_sigs)
    if at != total:
        raise ValueError(f"index parts hold {at} documents, expected {total}")
    write_arrow_file(tmp / "docs.arrow", pa.concat_tables(docs) if docs else DOC_SCHEMA.empty_table(),
                     compression="zstd")
    for b in range(config.bands):
        column = np.array(keys[:, b])
        order = np.argsort(column, kind="stable")
        np.save(tmp / f"bands/{b:03d}.keys.npy", column[order])
        np.save(tmp / f"bands/{b:03d}.docs.npy", order.astype(np.int64))
    del keys
    (tmp / "keys.tmp.npy").unlink()
    sigs.flush()
    del sigs
    meta = {"version": INDEX_VERSION, "fingerprint": config.fingerprint(), "settings": config.signature_settings(),
            "documents": total}
    (tmp / "index.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


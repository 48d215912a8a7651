"""A token corpus at a URL (``s3://bucket/corpus``), read with byte-range requests and a block cache.

Opening reads ``manifest.json`` (refused when absent: the corpus is incomplete), and per shard:
its size, the first and last 16 KiB (Arrow magic, the record batch's metadata, the footer), and the
``tokens`` column's offsets buffer (8 bytes per document). The tokens are never downloaded whole:
:meth:`RemoteTokenCorpus.documents` serves single documents (neighbours read in one request) and
:meth:`RemoteTokenCorpus.blocks` fixed-size blocks of a shard's values buffer (the token stream),
each through a :class:`BlockCache`, bounded in bytes, least recently used out (blocks optionally
backed by a folder on local disk).

Where the buffers lie: the shard's head and tail are written into a sparse anonymous memory map
the size of the file and pyarrow opens that map as it opens a local shard; the record batch's
buffers come back as zero-copy views, and their addresses minus the map's base are their offsets
in the file. pyarrow computes the layout itself; the token pages of the map are never touched.

What is verified, and when:

- at open: the manifest (as :meth:`Manifest.read`), each object's size against the manifest, the
  offsets (start at 0, never decrease, end at the number of tokens), rows and tokens against the
  manifest; with ``checksums=True`` also every shard's whole-file ``xxh3_128``, which reads every
  shard once (as ``checksums=True`` does on disk);
- on every block's arrival (from the network or the disk cache): its ``xxh3_64`` against
  ``block_checksums.json``, the sidecar :func:`midtrain.storage.upload_corpus` writes before the
  manifest. The sidecar is tied to the manifest by each shard's whole-file checksum, so a stale
  one is refused. A corpus without the sidecar (written by another tool) serves unverified blocks
  unless opened with ``checksums=True``;
- on every document's arrival: its XXH64 against the shard's document-checksum sidecar
  (``doc_checksums/<shard>.xxh64``, 8 bytes per document, read on first use and itself checked
  against its ``xxh3_64`` in ``block_checksums.json``).
"""

from __future__ import annotations

import json
import mmap
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import xxhash
from numba import typed

from midtrain.corpus.doc_checksums import document_checksums, xxh64_ranges
from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import MANIFEST_NAME, Manifest, ShardInfo
from midtrain.corpus.reader import CorpusViews
from midtrain.corpus.shards import check_token_schema
from midtrain.storage.objects import exists, object_size, read_object, read_range, read_ranges

BLOCK_BYTES = 4 << 20
"""Bytes of the token stream per cached block (4 MiB: two million uint16 tokens); one ranged GET each."""
CACHE_BYTES = 1 << 30
"""Default memory budget of a :class:`BlockCache`."""
BLOCK_CHECKSUMS_NAME = "block_checksums.json"
DOC_CHECKSUMS_DIR = "doc_checksums"
"""Folder of the per-shard document-checksum sidecars (``<shard path>.xxh64``, 8 bytes per document)."""
RANGE_BYTES = 16 << 20
"""Largest ranged GET when documents are fetched: neighbouring documents are read together up to this."""
_HEAD = 16 << 10
"""Bytes read from each end of a shard to find its layout (grown when the metadata is larger)."""
_CHECKSUM_RANGE = 8 << 20


@dataclass(frozen=True)
class TokenLayout:
    """Where a token shard's ``tokens`` column lies in its file."""

    size: int
    """Bytes of the file."""
    offsets_start: int
    """File offset of the int64 document offsets (``num_docs + 1`` of them)."""
    values_start: int
    """File offset of the token stream."""
    num_docs: int
    num_tokens: int
    dtype: np.dtype
    columns: dict = field(default_factory=dict)
    """The other columns (``id``, ``source``, ``quality_tier``): name -> (type, length, null count,
    [(file offset, bytes) or None per buffer]), read on demand by :meth:`RemoteShard.column`."""


def locate_tokens(read: Callable[[int, int], bytes], size: int, name: str) -> TokenLayout:
    """The layout of a token shard of ``size`` bytes, reading only its head and tail with ``read(start, length)``.

    The head and tail go into a sparse memory map that pyarrow opens as a whole file (see the module
    docstring); if the metadata or the footer lies beyond them, both are read again four times larger.
    """
    if size < 12:
        raise CorpusError(f"{name}: {size} bytes is too small for an Arrow IPC file")
    head = min(size, _HEAD)
    while True:
        region = mmap.mmap(-1, size)
        try:
            region[:head] = read(0, head)
            if head < size:
                tail = min(size - head, head)
                region[size - tail:] = read(size - tail, tail)
            try:
                return _layout_in(region, size, name)
            except (pa.ArrowInvalid, pa.ArrowException, OSError, IndexError) as exc:
                if head >= size:
                    problem = f"{exc}"
                else:
                    problem = None
                    head = min(size, head * 4)
            if problem is not None:
                raise CorpusError(f"{name}: not a readable Arrow IPC file, truncated or corrupted ({problem})")
        finally:
            try:
                region.close()
            except BufferError:  # a failed read still holds a view; the map goes with it
                pass


def _layout_in(region: mmap.mmap, size: int, name: str) -> TokenLayout:
    base = pa.py_buffer(region)
    reader = pa.ipc.open_file(base)
    schema = reader.schema
    value_type = check_token_schema(reader, name)
    batch = reader.get_batch(0)
    col = batch.column(schema.get_field_index("tokens"))
    dtype = np.dtype(np.uint16) if value_type == pa.uint16() else np.dtype(np.uint32)
    off_buf, values = col.buffers()[1], col.values
    val_buf = values.buffers()[1]
    if off_buf is None:
        raise CorpusError(f"{name}: offsets buffer is missing")
    offsets_start = off_buf.address - base.address + 8 * col.offset
    values_start = (val_buf.address - base.address if val_buf is not None else 0) + dtype.itemsize * values.offset
    columns = {}
    for i, f in enumerate(schema):
        if f.name == "tokens":
            continue
        other = batch.column(i)
        if other.offset or pa.types.is_nested(other.type) or pa.types.is_dictionary(other.type):
            continue  # sliced, nested or dictionary columns are not read remotely
        spans = [None if b is None else (b.address - base.address, b.size) for b in other.buffers()]
        columns[f.name] = (other.type, len(other), other.null_count, spans)
    layout = TokenLayout(size=size, offsets_start=offsets_start, values_start=values_start, num_docs=len(col),
                         num_tokens=len(values), dtype=dtype, columns=columns)
    del batch, col, values, off_buf, val_buf, reader, base  # release the views before the map closes
    if offsets_start + 8 * (layout.num_docs + 1) > size or values_start + dtype.itemsize * layout.num_tokens > size:
        raise CorpusError(f"{name}: buffers run past the end of the file ({size} bytes); truncated or corrupted")
    return layout


def block_checksum(data: bytes | memoryview | np.ndarray) -> str:
    """``xxh3_64`` of one block's bytes, as hex."""
    return xxhash.xxh3_64_hexdigest(data)


class BlockCache:
    """Blocks of token streams, least recently used out above ``limit_bytes``; thread-safe.

    Blocks live in the numba list :attr:`table`, one slot each (a freed slot holds an empty array
    and is reused), so a compiled kernel can copy from them with slot numbers alone
    (:func:`midtrain.loaders.remote.gather_from_blocks`); hold :attr:`lock` while it does.

    With ``cache_dir``, every block fetched is also written there (under a temporary name, then
    renamed, so concurrent workers never read half a block) and read back instead of fetched after
    an eviction or in a later process: a resumed run then re-fetches nothing it had fetched before.
    Keys are content addresses (shard checksum, block index), so a changed shard never hits a stale
    block.
    """

    def __init__(self, limit_bytes: int = CACHE_BYTES, cache_dir: str | os.PathLike | None = None) -> None:
        self.limit_bytes = int(limit_bytes)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.table: typed.List | None = None
        """The blocks by slot (created with the first block, typed by its dtype)."""
        self._slots: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._free: list[int] = []
        self._empty: np.ndarray | None = None
        self._held = 0
        self.lock = threading.RLock()

    def get(self, key: tuple[str, int]) -> np.ndarray | None:
        slot = self.slot(key)
        return None if slot is None else self.table[slot]

    def slot(self, key: tuple[str, int]) -> int | None:
        """The slot of a cached block (now the most recently used), or ``None``."""
        with self.lock:
            slot = self._slots.get(key)
            if slot is not None:
                self._slots.move_to_end(key)
            return slot

    def put(self, key: tuple[str, int], block: np.ndarray) -> None:
        with self.lock:
            if key in self._slots:
                return
            if self.table is None:
                self._empty = block[:0]
                self.table = typed.List([self._empty])  # slot 0 stays empty
            if self._free:
                slot = self._free.pop()
                self.table[slot] = block
            else:
                slot = len(self.table)
                self.table.append(block)
            self._slots[key] = slot
            self._held += block.nbytes
            while self._held > self.limit_bytes and len(self._slots) > 1:
                _, old = self._slots.popitem(last=False)
                self._held -= self.table[old].nbytes
                self.table[old] = self._empty
                self._free.append(old)

    @property
    def held_bytes(self) -> int:
        return self._held

    def disk_path(self, key: tuple[str, int]) -> Path | None:
        if self.cache_dir is None:
            return None
        checksum, index = key
        return self.cache_dir / checksum.replace(":", "-") / f"{index:08d}.bin"

    def write_disk(self, key: tuple[str, int], data: bytes) -> None:
        path = self.disk_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)


class RemoteShard:
    """One token shard at a URL: its layout and offsets, its tokens by blocks.

    Offers what the loader's :class:`~midtrain.loaders.dataset.DomainIndex` reads of a local
    :class:`~midtrain.corpus.TokenShard` (``offsets``, ``num_docs``, ``num_tokens``, ``dtype``);
    ``tokens`` is an empty array: the tokens are read through :meth:`RemoteTokenCorpus.blocks`.
    """

    def __init__(self, url: str, info: ShardInfo, layout: TokenLayout, offsets: np.ndarray,
                 block_sums: list[str] | None, doc_sidecar: tuple[str, str] | None = None) -> None:
        self.url = url
        self.path = url
        self.info = info
        self.layout = layout
        self.offsets = offsets
        self.dtype = layout.dtype
        self.num_docs = layout.num_docs
        self.num_tokens = layout.num_tokens
        self.tokens = np.zeros(0, layout.dtype)
        self.block_sums = block_sums
        self.doc_sidecar = doc_sidecar
        """(URL, ``xxh3_64``) of the shard's document checksums, or ``None`` (the corpus has none)."""
        self._doc_sums: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def column(self, name: str) -> pa.Array | None:
        """A per-document column other than ``tokens`` (``id``, ``source``, ``quality_tier``), read with
        one ranged GET per buffer; ``None`` if the shard has no such column."""
        found = self.layout.columns.get(name)
        if found is None:
            return None
        dtype, length, nulls, spans = found
        buffers = [None if span is None else pa.py_buffer(read_range(self.url, span[0], span[1]) if span[1] else b"")
                   for span in spans]
        try:
            return pa.Array.from_buffers(dtype, length, buffers, null_count=nulls)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise CorpusError(f"{self.url}: column {name!r} cannot be decoded ({exc})") from None

    def ids(self) -> list[str]:
        """The documents' ids (the ``id`` column)."""
        col = self.column("id")
        if col is None:
            raise CorpusError(f"{self.url}: token shard has no 'id' column")
        return col.to_pylist()

    def metadata(self, name: str) -> list | None:
        """A per-document metadata column (``source``, ``quality_tier``), or ``None`` if the shard has none."""
        col = self.column(name)
        return None if col is None else col.to_pylist()

    def doc_sums(self, corpus: "RemoteTokenCorpus") -> np.ndarray | None:
        """The documents' XXH64 checksums, read (and verified) on first use; ``None`` without a sidecar."""
        if self.doc_sidecar is None:
            return None
        with self._lock:
            if self._doc_sums is None:
                url, expected = self.doc_sidecar
                data = read_object(url)
                corpus.metadata_bytes += len(data)
                if block_checksum(data) != expected or len(data) != 8 * self.num_docs:
                    raise CorpusError(f"{url}: document checksums do not match block_checksums.json "
                                      f"({len(data)} bytes for {self.num_docs} documents); the object is corrupted")
                self._doc_sums = np.frombuffer(data, "<u8")
            return self._doc_sums


class RemoteTokenCorpus(CorpusViews):
    """A token corpus at a URL; the same ``manifest``/``shards``/``domains`` as a local
    :class:`~midtrain.corpus.TokenCorpus`, plus block access to the tokens."""

    def __init__(self, url: str, manifest: Manifest, shards: dict[str, list[RemoteShard]], block_bytes: int,
                 cache: BlockCache) -> None:
        self.path = url
        self.manifest = manifest
        self.shards = shards
        self.block_bytes = block_bytes
        self.cache = cache
        self.bytes_fetched = 0
        """Bytes of token blocks read from the store so far, in this process."""
        self.metadata_bytes = 0
        """Bytes read at open (shard heads and tails, offsets; whole shards with ``checksums=True``)."""
        self.blocks_fetched = 0
        self.blocks_from_disk = 0
        """Blocks read back from the ``cache_dir`` instead of fetched."""
        self.bytes_used = 0
        """Bytes of tokens the loader copied out of blocks (its batches' tokens), in this process."""
        self.docs_fetched = 0
        self.pieces_used: set[tuple[str, int]] = set()
        """Keys of the blocks or documents the loader's batches copied from (not those only prefetched)."""
        self.doc_sidecars: dict[str, tuple[str, str]] = {}
        """Per shard path: (URL, ``xxh3_64``) of its document checksums (``block_checksums.json``)."""
        self.doc_cache = BlockCache(cache.limit_bytes)
        """Documents read one by one (``fetch="documents"``), keyed by (shard checksum, document)."""
        self._inflight: dict[tuple[str, int], threading.Event] = {}
        self._lock = threading.Lock()

    def block_tokens(self, dtype: np.dtype) -> int:
        """Tokens per block for a stream of ``dtype``."""
        return self.block_bytes // dtype.itemsize

    def blocks(self, wanted: list[tuple[RemoteShard, int]]) -> list[np.ndarray]:
        """Blocks ``(shard, index)`` as token arrays, fetching those not cached (concurrently, with
        retries); each verified against its checksum when it arrives."""
        return self._pieces(wanted, self.cache, self._fetch, "b")

    def documents(self, wanted: list[tuple[RemoteShard, int]]) -> list[np.ndarray]:
        """Documents ``(shard, index)`` as token arrays, fetching those not cached: neighbouring
        documents of a shard in one ranged GET (up to :data:`RANGE_BYTES`), the GETs concurrent, with
        retries; each document verified against its XXH64 checksum when it arrives."""
        return self._pieces(wanted, self.doc_cache, self._fetch_documents, "d")

    def _pieces(self, wanted: list[tuple[RemoteShard, int]], cache: BlockCache,
                fetch: Callable[[list[tuple[RemoteShard, int]], list, list[int]], None], kind: str) -> list[np.ndarray]:
        """``wanted`` from ``cache``; the missing ones fetched once even when threads ask together."""
        out: list[np.ndarray | None] = [None] * len(wanted)
        missing, waits = [], []
        for i, (shard, k) in enumerate(wanted):
            key = (shard.info.checksum, k)
            piece = cache.get(key)
            if piece is not None:
                out[i] = piece
                continue
            with self._lock:
                event = self._inflight.get((kind, *key))
                if event is None:
                    self._inflight[(kind, *key)] = threading.Event()
                    missing.append(i)
                else:
                    waits.append((i, event))
        try:
            fetch([wanted[i] for i in missing], out, missing)
        finally:
            with self._lock:
                for i in missing:
                    shard, k = wanted[i]
                    self._inflight.pop((kind, shard.info.checksum, k)).set()
        for i, event in waits:
            event.wait()
            shard, k = wanted[i]
            out[i] = cache.get((shard.info.checksum, k))
            if out[i] is None:  # the fetching thread failed, or the piece was evicted already
                out[i] = self._pieces([(shard, k)], cache, fetch, kind)[0]
        return out  # type: ignore[return-value]

    def _fetch_documents(self, wanted: list[tuple[RemoteShard, int]], out: list, positions: list[int]) -> None:
        """Fetch the documents ``wanted`` from the store into ``out[positions[j]]``, verified, and cache them."""
        if not wanted:
            return
        order = sorted(range(len(wanted)), key=lambda j: (wanted[j][0].url, wanted[j][1]))
        runs: list[list[int]] = []  # positions in ``wanted`` of consecutive documents of one shard
        for j in order:
            shard, d = wanted[j]
            if runs:
                prev_shard, prev_d = wanted[runs[-1][-1]]
                first_shard, first_d = wanted[runs[-1][0]]
                size = (shard.offsets[d + 1] - first_shard.offsets[first_d]) * shard.dtype.itemsize
                if prev_shard is shard and d == prev_d + 1 and size <= RANGE_BYTES:
                    runs[-1].append(j)
                    continue
            runs.append([j])
        urls, starts, lengths = [], [], []
        for run in runs:
            shard, d0 = wanted[run[0]]
            d1 = wanted[run[-1]][1] + 1
            item = shard.dtype.itemsize
            urls.append(shard.url)
            starts.append(shard.layout.values_start + int(shard.offsets[d0]) * item)
            lengths.append(int(shard.offsets[d1] - shard.offsets[d0]) * item)
        for run, start, data in zip(runs, starts, read_ranges(urls, starts, lengths)):
            shard, d0 = wanted[run[0]]
            d1 = wanted[run[-1]][1] + 1
            rel = (shard.offsets[d0:d1 + 1] - shard.offsets[d0]) * shard.dtype.itemsize
            sums = shard.doc_sums(self)
            if sums is not None:
                got = xxh64_ranges(np.frombuffer(data, np.uint8), rel[:-1], rel[1:])
                bad = np.flatnonzero(got != sums[d0:d1])
                if len(bad):
                    d = d0 + int(bad[0])
                    raise CorpusError(f"{shard.url}: checksum mismatch in document {d} (bytes "
                                      f"{start + int(rel[bad[0]])}-{start + int(rel[bad[0] + 1]) - 1}); "
                                      "the object is corrupted")
            tokens = np.frombuffer(data, shard.dtype)
            lo = (shard.offsets[d0:d1 + 1] - shard.offsets[d0])
            for k, j in enumerate(run):
                doc = tokens[lo[k]:lo[k + 1]]
                self.doc_cache.put((shard.info.checksum, d0 + k), doc)
                out[positions[j]] = doc
            with self._lock:
                self.bytes_fetched += len(data)
                self.docs_fetched += len(run)

    def _fetch(self, wanted: list[tuple[RemoteShard, int]], out: list, positions: list[int]) -> None:
        """Fetch ``wanted`` (from the disk cache, else the store) into ``out[positions[j]]``."""
        network = []
        for j, (shard, k) in enumerate(wanted):
            key = (shard.info.checksum, k)
            path = self.cache.disk_path(key)
            if path is not None and path.is_file():
                data = path.read_bytes()
                if self._verified(shard, k, data, where=str(path), raise_error=False):
                    with self._lock:
                        self.blocks_from_disk += 1
                    out[positions[j]] = self._admit(shard, k, data)
                    continue
            network.append(j)
        if not network:
            return
        for j, data in zip(network, self.read_blocks([wanted[j] for j in network])):
            shard, k = wanted[j]
            self.cache.write_disk((shard.info.checksum, k), data)
            out[positions[j]] = self._admit(shard, k, data)

    def read_blocks(self, wanted: list[tuple[RemoteShard, int]]) -> list[bytes]:
        """Blocks ``(shard, index)`` as bytes from the store (concurrent ranged GETs, with retries), each
        verified against its checksum; the cache is neither read nor filled (what one pass over a
        corpus, as ``midtrain validate`` makes, needs)."""
        urls, starts, lengths = [], [], []
        for shard, k in wanted:
            start, length = self._block_range(shard, k)
            urls.append(shard.url)
            starts.append(start)
            lengths.append(length)
        out = read_ranges(urls, starts, lengths)
        for (shard, k), data in zip(wanted, out):
            self._verified(shard, k, data, where=shard.url)
            with self._lock:
                self.bytes_fetched += len(data)
                self.blocks_fetched += 1
        return out

    def _block_range(self, shard: RemoteShard, k: int) -> tuple[int, int]:
        start = k * self.block_bytes
        total = shard.num_tokens * shard.dtype.itemsize
        if start >= total:
            raise IndexError(f"{shard.url}: block {k} is past the token stream")
        return shard.layout.values_start + start, min(self.block_bytes, total - start)

    def _verified(self, shard: RemoteShard, k: int, data: bytes, *, where: str, raise_error: bool = True) -> bool:
        if shard.block_sums is None:
            return True
        if k < len(shard.block_sums) and block_checksum(data) == shard.block_sums[k]:
            return True
        if raise_error:
            start, length = self._block_range(shard, k)
            raise CorpusError(f"{where}: checksum mismatch in bytes {start}-{start + length - 1} (block {k}); "
                              "the object is corrupted")
        return False

    def _admit(self, shard: RemoteShard, k: int, data: bytes) -> np.ndarray:
        block = np.frombuffer(data, dtype=shard.dtype)
        self.cache.put((shard.info.checksum, k), block)
        return block


def join_url(root: str, rel: str) -> str:
    return root.rstrip("/") + "/" + rel


def read_manifest(url: str) -> Manifest:
    """The manifest of the corpus at ``url``; a corpus without one is incomplete and refused."""
    manifest_url = join_url(url, MANIFEST_NAME)
    if not exists(manifest_url):
        raise CorpusError(f"{manifest_url}: no manifest.json; the corpus is missing or incomplete")
    return Manifest.parse(read_object(manifest_url), manifest_url)


def read_block_checksums(url: str, manifest: Manifest) -> tuple[int | None, dict[str, list[str]],
                                                                 dict[str, tuple[str, str]]]:
    """The block size, per-shard block checksums and per-shard document-checksum sidecars (URL,
    ``xxh3_64``) of ``block_checksums.json``, or ``(None, {}, {})`` when the corpus has none.
    Refused when a shard's whole-file checksum differs from the manifest's."""
    sums_url = join_url(url, BLOCK_CHECKSUMS_NAME)
    if not exists(sums_url):
        return None, {}, {}
    try:
        body = json.loads(read_object(sums_url))
        block_bytes = int(body["block_bytes"])
        entries = body["shards"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{sums_url}: malformed block checksums ({exc})") from None
    sums, docs = {}, {}
    for info in manifest.shards:
        entry = entries.get(info.path)
        if entry is None:
            continue
        if entry.get("checksum") != info.checksum:
            raise CorpusError(f"{sums_url}: block checksums of {info.path} are for another version of the shard "
                              f"({entry.get('checksum')} != {info.checksum} in the manifest)")
        sums[info.path] = list(entry["blocks"])
        sidecar = entry.get("doc_checksums")
        if sidecar is not None:
            try:
                docs[info.path] = (shard_url_inside(url, str(sidecar["path"])), str(sidecar["xxh3_64"]))
            except (KeyError, TypeError) as exc:
                raise CorpusError(f"{sums_url}: malformed doc_checksums entry of {info.path} ({exc})") from None
    return block_bytes, sums, docs


def open_remote_corpus(url: str, *, checksums: bool = False, block_bytes: int = BLOCK_BYTES,
                       cache_bytes: int = CACHE_BYTES, cache_dir: str | os.PathLike | None = None) -> RemoteTokenCorpus:
    """Open the token corpus at ``url`` (see the module docstring for what is read and verified).

    ``block_bytes`` applies when the corpus has no ``block_checksums.json``; otherwise its block size is used.
    """
    corpus, sums = open_remote_manifest(url, block_bytes=block_bytes, cache_bytes=cache_bytes, cache_dir=cache_dir)
    for info in corpus.manifest.shards:
        shard = open_remote_shard(corpus, info, sums.get(info.path), checksums=checksums)
        corpus.shards.setdefault(info.domain, []).append(shard)
    if not corpus.shards:
        raise CorpusError(f"{url}: the corpus has no shards")
    return corpus


def open_remote_manifest(url: str, *, block_bytes: int = BLOCK_BYTES, cache_bytes: int = CACHE_BYTES,
                         cache_dir: str | os.PathLike | None = None) -> tuple[RemoteTokenCorpus, dict[str, list[str]]]:
    """The corpus at ``url`` with its manifest and no shard opened yet, and its block checksums by shard path
    (:func:`open_remote_shard` opens each; validation does so shard by shard to report every problem)."""
    manifest = read_manifest(url)
    if manifest.kind != "token":
        raise CorpusError(f"{url}: is a {manifest.kind} corpus; tokenize it first (midtrain tokenize)")
    stored_block, sums, docs = read_block_checksums(url, manifest)
    corpus = RemoteTokenCorpus(url, manifest, {}, stored_block or block_bytes, BlockCache(cache_bytes, cache_dir))
    corpus.doc_sidecars = docs
    return corpus, sums


def open_remote_shard(corpus: RemoteTokenCorpus, info: ShardInfo, block_sums: list[str] | None, *,
                      checksums: bool = False) -> RemoteShard:
    """One shard of ``corpus``: its size against the manifest, its layout and offsets (read, checked),
    with ``checksums=True`` its whole-file checksum (reads the object once)."""
    shard_url = shard_url_inside(corpus.path, info.path)
    size = object_size(shard_url)
    if size != info.bytes:
        raise CorpusError(f"{shard_url}: size {size} != {info.bytes} in the manifest (truncated or rewritten)")

    def read(start: int, length: int) -> bytes:
        corpus.metadata_bytes += length
        return read_range(shard_url, start, length)

    layout = locate_tokens(read, size, shard_url)
    if layout.num_docs != info.rows or layout.num_tokens != info.tokens:
        raise CorpusError(f"{shard_url}: {layout.num_docs} docs / {layout.num_tokens} tokens != manifest "
                          f"{info.rows} / {info.tokens}")
    offsets = np.frombuffer(read(layout.offsets_start, 8 * (layout.num_docs + 1)), np.int64)
    _check_offsets(offsets, layout.num_tokens, shard_url)
    if checksums:
        _check_whole_file(shard_url, info, read)
    if block_sums is not None and len(block_sums) != -(-layout.num_tokens * layout.dtype.itemsize
                                                       // corpus.block_bytes):
        raise CorpusError(f"{join_url(corpus.path, BLOCK_CHECKSUMS_NAME)}: wrong number of blocks for {info.path}")
    return RemoteShard(shard_url, info, layout, offsets, block_sums, corpus.doc_sidecars.get(info.path))


def shard_url_inside(url: str, rel: str) -> str:
    """The URL of the shard ``rel`` of the corpus at ``url``; a path that would leave the corpus is refused."""
    if not rel or rel.startswith("/") or ".." in rel.split("/"):
        raise CorpusError(f"{join_url(url, MANIFEST_NAME)}: shard path {rel!r} must stay inside the corpus")
    return join_url(url, rel)


def _check_offsets(off: np.ndarray, num_tokens: int, name: str) -> None:
    if len(off) == 0 or off[0] != 0:
        raise CorpusError(f"{name}: document offsets must start at 0")
    if off[-1] != num_tokens:
        raise CorpusError(f"{name}: last offset {int(off[-1])} != number of tokens {num_tokens}")
    if len(off) > 1 and bool(np.any(off[1:] < off[:-1])):
        raise CorpusError(f"{name}: document offsets decrease at document {int(np.argmax(off[1:] < off[:-1]))}")


def _check_whole_file(url: str, info: ShardInfo, read: Callable[[int, int], bytes]) -> None:
    h = xxhash.xxh3_128()
    for start in range(0, info.bytes, _CHECKSUM_RANGE):
        h.update(read(start, min(_CHECKSUM_RANGE, info.bytes - start)))
    if f"xxh3_128:{h.hexdigest()}" != info.checksum:
        raise CorpusError(f"{url}: checksum mismatch; the object is corrupted")


def shard_block_checksums(path: str | os.PathLike, block_bytes: int = BLOCK_BYTES) -> dict:
    """The ``block_checksums.json`` entry of a local token shard: its layout and each block's ``xxh3_64``."""
    data = Path(path).read_bytes()
    layout = locate_tokens(lambda s, n: data[s:s + n], len(data), str(path))
    stream = memoryview(data)[layout.values_start:layout.values_start + layout.num_tokens * layout.dtype.itemsize]
    return {"values_start": layout.values_start,
            "blocks": [block_checksum(stream[i:i + block_bytes]) for i in range(0, len(stream), block_bytes)]}


def shard_doc_checksums(path: str | os.PathLike) -> bytes:
    """The document-checksum sidecar of a local token shard: XXH64 of each document, ``<u8`` bytes."""
    from midtrain.corpus.shards import TokenShard

    shard = TokenShard(path)
    return document_checksums(shard.tokens, shard.offsets).astype("<u8").tobytes()

"""Batches from a token corpus at a URL: gather each batch's tokens from cached documents or blocks.

A worker (or the in-process loader) turns a :class:`~midtrain.loaders.batches.PlannedBatch` into
the same :class:`~midtrain.loaders.batches.CompactBatch` that
:meth:`CompactBatch.gather <midtrain.loaders.batches.CompactBatch.gather>` makes from local
shards: every segment's tokens followed by its document's next token (or 0). What a batch needs is
fetched together (concurrent ranged GETs) through the corpus's caches, then a kernel
(:func:`gather_from_docs` or :func:`gather_from_blocks`) copies the segments out. The batch is then
written by the unchanged fill kernel with ``shards = [compact tokens]``, so remote and local
batches are byte-identical.

Two fetch units (``LoaderConfig.fetch``; ``auto``, the default, takes ``blocks`` when the whole
token stream fits in the block cache, else ``documents``):

- ``documents``: the documents the batch's segments lie in, neighbours of one shard in
  one request, each verified against its XXH64 checksum
  (:mod:`midtrain.corpus.doc_checksums`). A document is fetched once while it stays cached, so a
  partial epoch fetches the bytes it uses plus the rest of the documents still open and the
  prefetched batch; one request per document (or run of neighbours).
- ``blocks``: fixed blocks of a shard's token stream (4 MiB); far fewer requests, but documents
  come in a global shuffle, so until the cache holds the corpus most of each block is unused.

benchmarks/README.md ("Object storage (issue 18)") measures both.

Prefetch: :meth:`RemoteBatches.prefetch` fetches what the worker's next planned batch needs on a
background thread while the current one is written. (The worker so plans one batch earlier than
on local disk; a weight change that arrives in between is caught by the loader's ``STALE`` check
and costs a restart, never a wrong batch.)

Resume: a resumed loader re-plans from its snapshot and fetches what its first batches need;
nothing else is read. With ``documents`` that re-reads only the documents the interrupted run had
begun and not finished (one per domain with concat packing); with ``blocks`` and a ``cache_dir``
(``LoaderConfig.cache_dir``) the blocks fetched before the interruption are read back from local
disk (verified again), so a resume re-fetches none.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from numba import njit

from midtrain.corpus.remote import RemoteShard, RemoteTokenCorpus
from midtrain.loaders.batches import CompactBatch, PlannedBatch, RankSegments

_KEY = np.int64(1) << 40
"""Block keys are ``shard * _KEY + block`` (2**40 blocks of a shard is far beyond any corpus)."""


@njit(cache=True, nogil=True)
def gather_from_blocks(table, block_ptr: np.ndarray, block_slot: np.ndarray, block_tokens: int, src: np.ndarray,
                       copy_len: np.ndarray, length: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """Copy ``copy_len[i]`` tokens of a shard from ``src[i]`` to ``out[offsets[i]:]`` for every segment,
    then 0 when ``copy_len[i] == length[i]`` (the document ends with the segment).

    The blocks segment ``i`` spans, in order, are ``table[block_slot[block_ptr[i]:block_ptr[i + 1]]]``;
    a shard's block ``b`` holds its tokens ``[b * block_tokens, (b + 1) * block_tokens)``.
    """
    for i in range(src.shape[0]):
        o = offsets[i]
        t = src[i]
        end = src[i] + copy_len[i]
        j = block_ptr[i]
        first = src[i] // block_tokens
        while t < end:
            b = t // block_tokens
            block = table[block_slot[j + b - first]]
            lo = t - b * block_tokens
            n = min(end - t, block.shape[0] - lo)
            out[o:o + n] = block[lo:lo + n]
            o += n
            t += n
        if copy_len[i] == length[i]:
            out[offsets[i] + length[i]] = 0


@njit(cache=True, nogil=True)
def gather_from_docs(table, doc_slot: np.ndarray, rel: np.ndarray, copy_len: np.ndarray, length: np.ndarray,
                     offsets: np.ndarray, out: np.ndarray) -> None:
    """Copy ``copy_len[i]`` tokens of document ``table[doc_slot[i]]`` from its token ``rel[i]`` to
    ``out[offsets[i]:]`` for every segment, then 0 when ``copy_len[i] == length[i]``."""
    for i in range(rel.shape[0]):
        doc = table[doc_slot[i]]
        o = offsets[i]
        out[o:o + copy_len[i]] = doc[rel[i]:rel[i] + copy_len[i]]
        if copy_len[i] == length[i]:
            out[o + length[i]] = 0


def resolve_fetch(corpus: RemoteTokenCorpus) -> str:
    """``fetch="auto"``: ``blocks`` when every shard's token stream fits in the block cache together
    (each block is then fetched once per process and kept, so at most the corpus is read, in the
    fewest requests), else ``documents`` (a block would be evicted before most of it is used)."""
    stream = sum(s.num_tokens * s.dtype.itemsize for shards in corpus.shards.values() for s in shards)
    return "blocks" if stream <= corpus.cache.limit_bytes else "documents"


class RemoteBatches:
    """Materialises planned batches of a :class:`RemoteTokenCorpus` as compact batches.

    ``fetch="documents"`` reads the documents the batch's segments lie in, each once (cached while
    the cache has room), so the bytes fetched are the bytes the batches use plus the unused part of
    documents a batch only begins; ``fetch="blocks"`` reads fixed blocks of the token stream (fewer,
    larger requests; most of each block unused until the cache holds the corpus).
    """

    def __init__(self, corpus: RemoteTokenCorpus, shards: list[RemoteShard], fetch: str = "auto") -> None:
        if fetch not in ("auto", "documents", "blocks"):
            raise ValueError(f"fetch: must be 'auto', 'documents' or 'blocks', got {fetch!r}")
        if fetch == "auto":
            fetch = resolve_fetch(corpus)
        self.corpus = corpus
        self.shards = shards
        """The shards in the loader's shard-id order (:attr:`DomainIndex.shard_sources`)."""
        self.fetch = fetch
        self.dtype = shards[0].dtype if shards else np.dtype(np.uint16)
        self.block_tokens = corpus.block_tokens(self.dtype)
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: Future | None = None
        self._ahead_needs: tuple[int, tuple] | None = None

    def _doc_needs(self, seg: RankSegments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per segment: the tokens to copy, its start inside its document, its document's key
        (``shard * _KEY + document``); and the distinct keys."""
        continues = (seg.src + seg.length) < seg.doc_end
        copy_len = seg.length + continues
        doc = np.empty(len(seg.src), np.int64)
        start = np.empty(len(seg.src), np.int64)
        for sid in np.unique(seg.shard):
            here = seg.shard == sid
            offsets = self.shards[int(sid)].offsets
            d = np.searchsorted(offsets, seg.src[here], side="right") - 1
            doc[here] = d
            start[here] = offsets[d]
        keys = seg.shard.astype(np.int64) * _KEY + doc
        return copy_len, seg.src - start, keys, np.unique(keys)

    def _needs(self, seg: RankSegments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(copy_len, where, piece_keys, keys)``: tokens to copy per segment, where each segment's
        pieces are (its start in its document, or its first block in ``piece_keys``), every segment's
        piece keys, the distinct keys."""
        if self.fetch == "documents":
            return self._doc_needs(seg)
        return self._block_needs(seg)

    def _block_needs(self, seg: RankSegments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per segment: the tokens to copy and where its blocks start in ``block_keys``; every
        segment's block keys (``shard * _KEY + block``), segment after segment; the distinct keys."""
        continues = (seg.src + seg.length) < seg.doc_end
        copy_len = seg.length + continues
        first = seg.src // self.block_tokens
        last = np.maximum(seg.src + copy_len - 1, seg.src) // self.block_tokens
        counts = last - first + 1
        block_ptr = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=block_ptr[1:])
        within = np.arange(block_ptr[-1]) - np.repeat(block_ptr[:-1], counts)
        block_keys = np.repeat(seg.shard * _KEY + first, counts) + within
        return copy_len, block_ptr, block_keys, np.unique(block_keys)

    def _wanted(self, keys: np.ndarray) -> list[tuple[RemoteShard, int]]:
        return [(self.shards[int(k // _KEY)], int(k % _KEY)) for k in keys]

    def _cache_and_get(self):
        if self.fetch == "documents":
            return self.corpus.doc_cache, self.corpus.documents
        return self.corpus.cache, self.corpus.blocks

    def _fetch(self, keys: np.ndarray) -> None:
        cache, get = self._cache_and_get()
        missing = [(shard, k) for shard, k in self._wanted(keys) if cache.slot((shard.info.checksum, k)) is None]
        if missing:
            get(missing)

    def gather(self, batch: PlannedBatch) -> CompactBatch:
        """The batch's tokens, gathered from blocks, as :meth:`CompactBatch.gather` gathers them from shards."""
        seg = batch.segments
        n = len(seg.length)
        if self._ahead_needs is not None and self._ahead_needs[0] == batch.batch_index:
            copy_len, where, piece_keys, keys = self._ahead_needs[1]
        else:
            copy_len, where, piece_keys, keys = self._needs(seg)
        self._ahead_needs = None
        if self._ahead is not None:
            self._ahead.result()  # the prefetch of this batch's blocks (errors surface here)
            self._ahead = None
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(seg.length + 1, out=offsets[1:])
        tokens = np.empty(int(offsets[-1]), self.dtype)
        cache, get = self._cache_and_get()
        wanted = self._wanted(keys)
        while True:
            with cache.lock:  # nothing is evicted or a slot reused while the kernel reads
                slots = [cache.slot((shard.info.checksum, k)) for shard, k in wanted]
                if None not in slots:
                    slot = np.asarray(slots, np.int64)[np.searchsorted(keys, piece_keys)]
                    if n and self.fetch == "documents":
                        gather_from_docs(cache.table, slot, where, copy_len, seg.length, offsets, tokens)
                    elif n:
                        gather_from_blocks(cache.table, where, slot, self.block_tokens, seg.src, copy_len,
                                           seg.length, offsets, tokens)
                    break
            get([w for w, slot in zip(wanted, slots) if slot is None])
        self.corpus.bytes_used += int(copy_len.sum()) * self.dtype.itemsize
        self.corpus.pieces_used.update((shard.info.checksum, k) for shard, k in wanted)
        return CompactBatch.of(batch, tokens, offsets, copy_len > seg.length)

    def prefetch(self, batch: PlannedBatch) -> None:
        """Start fetching ``batch``'s blocks on a background thread; :meth:`gather` waits for them."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="midtrain-prefetch")
        if self._ahead is not None:
            self._ahead.result()
        needs = self._needs(batch.segments)
        self._ahead_needs = (batch.batch_index, needs)
        cache, _ = self._cache_and_get()
        if any(cache.slot((shard.info.checksum, k)) is None for shard, k in self._wanted(needs[3])):
            self._ahead = self._pool.submit(self._fetch, needs[3])  # else all cached: no hand-over to the thread

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # at most one prefetch is running
            self._pool = None

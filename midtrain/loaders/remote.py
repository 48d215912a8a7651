"""Batches from a token corpus at a URL: gather each batch's tokens from cached blocks.

A worker (or the in-process loader) turns a :class:`~midtrain.loaders.batches.PlannedBatch` into
the same :class:`~midtrain.loaders.batches.CompactBatch` that
:meth:`CompactBatch.gather <midtrain.loaders.batches.CompactBatch.gather>` makes from local
shards: every segment's tokens followed by its document's next token (or 0). The blocks a batch
needs are fetched together (concurrent ranged GETs) through the corpus's
:class:`~midtrain.corpus.remote.BlockCache`, then :func:`gather_from_blocks` copies the segments
out. The batch is then written by the unchanged fill kernel with ``shards = [compact tokens]``,
so remote and local batches are byte-identical.

Prefetch: :meth:`RemoteBatches.prefetch` fetches the blocks of the worker's next planned batch on
a background thread while the current one is written. (The worker so plans one batch earlier than
on local disk; a weight change that arrives in between is caught by the loader's ``STALE`` check
and costs a restart, never a wrong batch.)

Bytes: blocks are fixed-size pieces of a shard's token stream and documents come in a global
shuffle, so until the cache holds the corpus most documents cost a block fetch of their own
(benchmarks/README.md, "Object storage (issue 18)", measures it).

Resume: a resumed loader re-plans from its snapshot and fetches the blocks its first batches need;
nothing else is read. With a ``cache_dir`` (``LoaderConfig.cache_dir``) the blocks fetched before
the interruption are read back from local disk (verified again), so a resume re-fetches none.
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


class RemoteBatches:
    """Materialises planned batches of a :class:`RemoteTokenCorpus` as compact batches."""

    def __init__(self, corpus: RemoteTokenCorpus, shards: list[RemoteShard]) -> None:
        self.corpus = corpus
        self.shards = shards
        """The shards in the loader's shard-id order (:attr:`DomainIndex.shard_sources`)."""
        self.dtype = shards[0].dtype if shards else np.dtype(np.uint16)
        self.block_tokens = corpus.block_tokens(self.dtype)
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: Future | None = None
        self._ahead_needs: tuple[int, tuple] | None = None

    def _needs(self, seg: RankSegments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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

    def _fetch(self, keys: np.ndarray) -> None:
        cache = self.corpus.cache
        missing = [(shard, k) for shard, k in self._wanted(keys) if cache.slot((shard.info.checksum, k)) is None]
        if missing:
            self.corpus.blocks(missing)

    def gather(self, batch: PlannedBatch) -> CompactBatch:
        """The batch's tokens, gathered from blocks, as :meth:`CompactBatch.gather` gathers them from shards."""
        seg = batch.segments
        n = len(seg.length)
        if self._ahead_needs is not None and self._ahead_needs[0] == batch.batch_index:
            copy_len, block_ptr, block_keys, keys = self._ahead_needs[1]
        else:
            copy_len, block_ptr, block_keys, keys = self._needs(seg)
        self._ahead_needs = None
        if self._ahead is not None:
            self._ahead.result()  # the prefetch of this batch's blocks (errors surface here)
            self._ahead = None
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(seg.length + 1, out=offsets[1:])
        tokens = np.empty(int(offsets[-1]), self.dtype)
        cache = self.corpus.cache
        wanted = self._wanted(keys)
        while True:
            with cache.lock:  # no block is evicted or slot reused while the kernel reads
                slots = [cache.slot((shard.info.checksum, k)) for shard, k in wanted]
                if None not in slots:
                    block_slot = np.asarray(slots, np.int64)[np.searchsorted(keys, block_keys)]
                    if n:
                        gather_from_blocks(cache.table, block_ptr, block_slot, self.block_tokens, seg.src, copy_len,
                                           seg.length, offsets, tokens)
                    break
            self.corpus.blocks([w for w, slot in zip(wanted, slots) if slot is None])
        self.corpus.bytes_used += int(copy_len.sum()) * self.dtype.itemsize
        return CompactBatch.of(batch, tokens, offsets, copy_len > seg.length)

    def prefetch(self, batch: PlannedBatch) -> None:
        """Start fetching ``batch``'s blocks on a background thread; :meth:`gather` waits for them."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="midtrain-prefetch")
        if self._ahead is not None:
            self._ahead.result()
        needs = self._needs(batch.segments)
        self._ahead_needs = (batch.batch_index, needs)
        self._ahead = self._pool.submit(self._fetch, needs[3])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

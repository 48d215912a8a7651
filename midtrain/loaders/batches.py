"""From a planned batch to tensors: the three ways a batch is materialised, all with one kernel.

A :class:`PlannedBatch` is one of this rank's batches as the plan gives it: where its tokens lie
in the shards (:class:`RankSegments`), its global index, its sequence length and the plan state to
resume from after it. It becomes a batch dict in one of three ways, which give identical batches
because they all end in :func:`~midtrain.loaders.kernels.fill_batch`:

- :func:`fill`: fresh tensors (the in-process loader when the consumer holds every buffer);
- :class:`SlotWriter`: written into a slot of a :class:`~midtrain.loaders.ring.SlotRing` (a
  worker's shared memory, or the in-process loader's recycled buffers), then wrapped in place by
  :func:`from_slot`;
- :class:`CompactBatch`: a worker gathers the batch's tokens into one small array and sends it;
  the main process expands it with :func:`fill`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from midtrain.loaders.kernels import balance_rows, fill_batch, gather_segments
from midtrain.loaders.plan import BlockPlan, PlanState
from midtrain.loaders.ring import SlotBatch, SlotRing, batch_bytes

STALE = -2
"""``PlannedBatch.mixture`` of a batch whose block was planned from a state that a late weight change invalidated."""

if TYPE_CHECKING:
    from midtrain.loaders.config import LoaderConfig
    from midtrain.loaders.dataset import DomainIndex


@dataclass
class RankSegments:
    """The segments of this rank's rows of one global batch, in shard coordinates."""

    seq_ptr: np.ndarray
    """Row ``r`` holds segments ``seq_ptr[r]:seq_ptr[r + 1]``."""
    shard: np.ndarray
    src: np.ndarray
    """Token offset of each segment in its shard."""
    length: np.ndarray
    doc_end: np.ndarray
    """Shard offset where each segment's document ends (its next token is a label up to there)."""
    domain: np.ndarray
    """Domain index of each row."""
    pos: np.ndarray
    """Position id of each segment's first token."""
    scope: np.ndarray
    """Attention scope of each segment (its ``document_ids`` value): consecutive segments of one
    scope share a ``cu_seqlens`` span."""
    fingerprint: str | None = None
    """With context parallelism: :func:`sequences_fingerprint` of the full rows this rank slices."""


@dataclass(frozen=True, kw_only=True)
class PlannedBatch:
    """One batch to materialise, with what the loader reports alongside it."""

    segments: RankSegments
    batch_index: int
    """Global batch number (the same on every rank)."""
    seq_len: int
    """Tokens per row (the phase's ``seq_len`` or the loader's)."""
    resume: PlanState | None
    """The plan state the stream continues from once this batch is consumed."""
    mixture: int = -1
    """Which weights planned this batch's block: the index of the adaptive log entry (-1: the
    schedule's), or ``STALE`` when the worker planned past a weight change it learnt of too late.
    The loader checks it against its own log and restarts the workers on a mismatch."""
    extras: dict[str, Any] | None = None
    """``rope``, ``phase`` and ``cp`` as the batch dict reports them."""


def rank_rows(block: BlockPlan, sub_batch: int, config: LoaderConfig) -> np.ndarray:
    """The rows of ``block`` (global sequence indices, ascending) that this data-parallel rank
    reads from global batch ``sub_batch``: a contiguous slice, or, with ``balance="attention"``,
    the rows :func:`~midtrain.loaders.kernels.balance_rows` gives it by attention cost."""
    gbs = block.global_batch_size
    dp = config.data_parallel_size
    B = gbs // dp
    first = sub_batch * gbs
    dp_rank = config.data_parallel_rank
    if config.balance != "attention" or dp == 1 or config.doc_mask == "none":
        return np.arange(first + dp_rank * B, first + (dp_rank + 1) * B)
    return first + np.flatnonzero(balance_rows(attention_cost(block, first, gbs), dp, B) == dp_rank)


def attention_cost(block: BlockPlan, first: int, rows: int) -> np.ndarray:
    """Causal attention work of rows ``first:first + rows`` with document masks: the sum over
    each row's segments of ``len**2``."""
    a, b = block.seq_ptr[first], block.seq_ptr[first + rows]
    squares = block.seg_len[a:b].astype(np.float64) ** 2
    return np.add.reduceat(squares, block.seq_ptr[first:first + rows] - a) if b > a else np.zeros(rows)


def rank_segments(block: BlockPlan, sub_batch: int, config: LoaderConfig, index: DomainIndex) -> RankSegments:
    """Where the tokens of this rank's rows of global batch ``sub_batch`` of ``block`` are (for a
    context-parallel rank: its slice of every row)."""
    rows = rank_rows(block, sub_batch, config)
    counts = block.seq_ptr[rows + 1] - block.seq_ptr[rows]
    seq_ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(counts, out=seq_ptr[1:])
    seg = np.repeat(block.seq_ptr[rows] - seq_ptr[:-1], counts) + np.arange(seq_ptr[-1])
    gdoc = index.base[block.seg_domain[seg]] + block.seg_doc[seg]
    start = index.doc_offset[gdoc]
    length = block.seg_len[seg]
    row_of = np.repeat(np.arange(len(rows)), counts)
    if config.doc_mask == "none":  # one scope per row; positions run along the row
        ends = np.cumsum(length)
        pos = ends - length - (ends - length)[seq_ptr[:-1]][row_of]
        scope = np.zeros(len(seg), np.int64)
    else:
        pos = np.zeros(len(seg), np.int64)
        scope = np.arange(len(seg)) - seq_ptr[:-1][row_of]  # the segment's number in its row
    out = RankSegments(seq_ptr=seq_ptr, shard=index.doc_shard[gdoc], src=start + block.seg_begin[seg], length=length,
                       doc_end=start + index.doc_len[gdoc], domain=block.domain[rows], pos=pos, scope=scope)
    if config.cp_degree > 1:
        fingerprint = sequences_fingerprint(block.index, rows, out)
        out = context_parallel_slice(out, block.seq_len, config.cp_degree, config.context_parallel_rank,
                                     config.cp_split)
        out.fingerprint = fingerprint
    return out


def sequences_fingerprint(block: int, rows: np.ndarray, seg: RankSegments) -> str:
    """A 16-hex-digit digest of which sequences a rank reads (block, rows, and every segment's
    shard, offset and length): every rank of a context-parallel group must report the same."""
    h = hashlib.sha256(np.int64(block).tobytes())
    for array in (rows, seg.seq_ptr, seg.shard, seg.src, seg.length):
        h.update(np.ascontiguousarray(array, np.int64).tobytes())
    return h.hexdigest()[:16]


def cp_ranges(seq_len: int, degree: int, rank: int) -> list[tuple[int, int]]:
    """The token range of a sequence that context-parallel rank ``rank`` holds with the
    ``contiguous`` split: the ``rank``-th slice of ``seq_len / degree`` tokens."""
    width = seq_len // degree
    return [(rank * width, (rank + 1) * width)]


def context_parallel_slice(seg: RankSegments, seq_len: int, degree: int, rank: int, split: str) -> RankSegments:
    """This context-parallel rank's part of every row, positions continuing where the cuts fall
    and scopes kept, so that its ``cu_seqlens`` describe the pieces it holds.

    - ``contiguous``: tokens ``[rank x L/C, (rank + 1) x L/C)`` of the row (:func:`cp_ranges`).
    - ``head_tail``: *every document piece* of the row is cut into ``2C`` chunks, rank ``c``
      holding chunks ``c`` and ``2C - 1 - c`` (head then tail, piece after piece): the causal
      attention work of a document is then even across ranks. Chunk sizes inside a piece differ
      by at most one token; the spare tokens of successive pieces go to the ranks in turn, so
      every rank holds exactly ``L / C`` tokens of a full row and nothing is padded.

    Rows shorter than ``seq_len`` (best-fit padding) end in padding on every rank.
    """
    n_rows = len(seg.seq_ptr) - 1
    counts = np.diff(seg.seq_ptr)
    row_of = np.repeat(np.arange(n_rows), counts)
    ends = np.cumsum(seg.length)
    offset = ends - seg.length - (ends - seg.length)[seg.seq_ptr[:-1]][row_of] if len(ends) else ends
    if split == "contiguous":
        (a, b), = cp_ranges(seq_len, degree, rank)
        lo, hi = np.maximum(offset, a), np.minimum(offset + seg.length, b)
        idx = np.flatnonzero(hi > lo)
        cut, length = lo[idx] - offset[idx], hi[idx] - lo[idx]
    else:
        n = seg.length
        q, r = n // (2 * degree), n % (2 * degree)
        # rotation: the first spare token of a piece goes to the rank after the last one served
        spent = np.cumsum(r) - r
        rot = (spent - spent[seg.seq_ptr[:-1]][row_of]) % degree if len(r) else r

        def extras(c: int) -> np.ndarray:
            """Spare tokens rank ``c`` receives from each piece (0, 1 or 2)."""
            d = (c - rot) % degree
            return np.where(d < r, 1 + (r - 1 - d) // degree, 0)

        before_head = np.zeros_like(n)   # spare tokens in head chunks of ranks < rank
        upto_tail = np.zeros_like(n)     # spare tokens in tail chunks of ranks <= rank
        for c in range(rank + 1):
            e = extras(c)
            if c < rank:
                before_head += np.minimum(e, 1)
            upto_tail += e == 2
        e = extras(rank)
        head_start, head_len = rank * q + before_head, q + (e >= 1)
        tail_len = q + (e == 2)
        tail_start = n - (rank + 1) * q - upto_tail
        idx = np.repeat(np.arange(len(n)), 2)
        cut = np.stack([head_start, tail_start], axis=1).reshape(-1)
        length = np.stack([head_len, tail_len], axis=1).reshape(-1)
        keep = length > 0
        idx, cut, length = idx[keep], cut[keep], length[keep]
    row = row_of[idx]
    seq_ptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=n_rows), out=seq_ptr[1:])
    return RankSegments(seq_ptr=seq_ptr, shard=seg.shard[idx], src=seg.src[idx] + cut, length=length,
                        doc_end=seg.doc_end[idx], domain=seg.domain, pos=seg.pos[idx] + cut, scope=seg.scope[idx])


def fill_into(batch: PlannedBatch, shards, arrays: Sequence[np.ndarray], *, config: LoaderConfig,
              pad_id: int) -> tuple[np.ndarray, int]:
    """Write the batch's ``input_ids``, ``labels``, ``position_ids`` and ``document_ids``
    (``arrays``, each ``[B, seq_len]``) from ``shards`` (a numba list of token arrays, or a tuple of
    them); returns its
    ``cu_seqlens`` and longest segment."""
    seg = batch.segments
    B = len(seg.seq_ptr) - 1
    cu = np.empty(len(seg.length) + B + 1, np.int32)
    n, max_len = fill_batch(shards, seg.seq_ptr, seg.shard, seg.src, seg.length, seg.doc_end, seg.pos, seg.scope,
                            batch.seq_len, pad_id, config.mask_cross_document_labels, *arrays, cu)
    return cu[:n], int(max_len)


NO_EXTRAS = {"rope": None, "phase": None, "cp": None}


def batch_dict(tensors: tuple[torch.Tensor, ...], *, cu_seqlens: np.ndarray, max_seqlen: int, domain: np.ndarray,
               seq_len: int, batch_index: int, resume: PlanState | None, mixture: int = -1,
               extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """The batch as the loader yields it (``_resume`` and ``_mixture`` are popped by the loader)."""
    input_ids, labels, position_ids, document_ids = tensors
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "document_ids": document_ids,
        "cu_seqlens": torch.from_numpy(cu_seqlens),
        "max_seqlen": max_seqlen,
        "domain": torch.from_numpy(domain.astype(np.int64)),
        "seq_len": seq_len,
        "batch_index": batch_index,
        **(extras or NO_EXTRAS),
        "_resume": resume,
        "_mixture": mixture,
    }


def fill(batch: PlannedBatch, shards, *, config: LoaderConfig, pad_id: int) -> dict[str, Any]:
    """The batch in fresh tensors, gathered from ``shards`` (a numba list or a tuple of token arrays)."""
    B, L = len(batch.segments.seq_ptr) - 1, batch.seq_len
    tok_dtype = torch.int32 if config.compact else torch.int64
    tensors = tuple(torch.empty((B, L), dtype=dt) for dt in (tok_dtype, tok_dtype, tok_dtype, torch.int32))
    cu, max_len = fill_into(batch, shards, tuple(t.numpy() for t in tensors), config=config, pad_id=pad_id)
    return batch_dict(tensors, cu_seqlens=cu, max_seqlen=max_len, domain=batch.segments.domain, seq_len=L,
                      batch_index=batch.batch_index, resume=batch.resume, mixture=batch.mixture, extras=batch.extras)


def from_slot(ring: SlotRing, part: SlotBatch, lease: Any) -> dict[str, Any]:
    """The batch over a slot's memory (no copy), as the worker described it."""
    return batch_dict(ring.tensors(part, lease), cu_seqlens=part.cu_seqlens, max_seqlen=part.max_seqlen,
                      domain=part.domain, seq_len=part.seq_len, batch_index=part.batch_index, resume=part.resume,
                      mixture=part.mixture, extras=part.extras)


class SlotWriter:
    """One writer's side of a :class:`SlotRing`: fills consecutive batches of a message into its slots."""

    def __init__(self, ring: SlotRing, worker: int) -> None:
        self.ring = ring
        self.worker = worker
        self.slot: int | None = None
        self.offset = 0

    def write(self, batch: PlannedBatch, shards, *, config: LoaderConfig, pad_id: int) -> SlotBatch | None:
        """The batch written into a slot, or ``None`` (no free slot: the caller sends it compact)."""
        B = len(batch.segments.seq_ptr) - 1
        need = batch_bytes(B, batch.seq_len, config.compact)
        if need > self.ring.slot_bytes:
            return None
        if self.slot is None or self.offset + need > self.ring.slot_bytes:
            self.slot, self.offset = self.ring.acquire(self.worker), 0
            if self.slot is None:
                return None
        arrays = self.ring.arrays(self.worker, self.slot, self.offset, B, batch.seq_len)
        cu, max_len = fill_into(batch, shards, arrays, config=config, pad_id=pad_id)
        part = SlotBatch(worker=self.worker, slot=self.slot, offset=self.offset, batch_size=B, seq_len=batch.seq_len,
                         cu_seqlens=cu, max_seqlen=max_len, domain=batch.segments.domain,
                         batch_index=batch.batch_index, resume=batch.resume, mixture=batch.mixture, extras=batch.extras)
        self.offset += need
        return part

    def sent(self) -> None:
        """The message went out: its slots now belong to the main process until released."""
        self.slot, self.offset = None, 0


@dataclass
class CompactBatch:
    """A batch a worker sends by value: its tokens, gathered, and its segments.

    The fallback of the shared-memory slots (all of the worker's slots still held by the
    consumer, or no ring): one pickled message of 2–4 bytes per token (the corpus dtype) plus a
    few integers per segment, which the main process expands with the same kernel as the
    in-process path (:func:`fill`), so every path gives identical batches.
    """

    tokens: np.ndarray
    """Every segment's tokens followed by its document's next token (or 0 at a document's end)."""
    batch: PlannedBatch
    """The batch, its segments pointing into ``tokens``."""

    @classmethod
    def gather(cls, batch: PlannedBatch, shards) -> "CompactBatch":
        seg = batch.segments
        n = len(seg.length)
        dtype = shards[0].dtype if len(shards) else np.uint16
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(seg.length + 1, out=offsets[1:])
        tokens = np.empty(int(offsets[-1]), dtype)
        gather_segments(shards, seg.shard, seg.src, seg.length, seg.doc_end, offsets, tokens)
        return cls.of(batch, tokens, offsets, (seg.src + seg.length) < seg.doc_end)

    @classmethod
    def of(cls, batch: PlannedBatch, tokens: np.ndarray, offsets: np.ndarray,
           continues: np.ndarray) -> "CompactBatch":
        """``batch`` over ``tokens``, where segment ``i`` was copied to ``offsets[i]`` followed by its
        document's next token when ``continues[i]`` (the layout :meth:`gather` writes, and so does
        the remote loader's gather from its block cache)."""
        seg = batch.segments
        local = RankSegments(seq_ptr=seg.seq_ptr, shard=np.zeros(len(seg.length), np.int64), src=offsets[:-1],
                             length=seg.length, doc_end=offsets[:-1] + seg.length + continues, domain=seg.domain,
                             pos=seg.pos, scope=seg.scope)
        return cls(tokens=tokens, batch=dataclasses.replace(batch, segments=local))

    def expand(self, *, config: LoaderConfig, pad_id: int) -> dict[str, Any]:
        """The batch dict, in fresh tensors (in the main process)."""
        return fill(self.batch, (self.tokens,), config=config, pad_id=pad_id)  # a 1-tuple: no typed-list build

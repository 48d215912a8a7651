"""``PackedDataset``: the torch ``IterableDataset`` that materialises this (rank, worker)'s batches.

It yields whole batches (a DataLoader runs it with ``batch_size=None``): in a worker, one message
per group of ``batches_per_message`` consecutive global batches, each batch written into a
shared-memory slot of the :class:`~midtrain.loaders.ring.SlotRing` (a :class:`SlotBatch` says
where) or, when the worker has no free slot, sent as a :class:`CompactBatch`. Groups go to the
workers in turn; the rows ``rank * B : (rank + 1) * B`` of every global batch are this rank's.
Every process walks the same plan from the same snapshot; materialising is the only work that is
split. Without workers it yields the batch dicts, written into recycled private buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from numba import typed

from midtrain.corpus import TokenCorpus, open_token_corpus
from midtrain.corpus.lengths import (DEFAULT_LONG_MIN_TOKENS, resolve_long_min_tokens, select_documents,
                                     virtual_long)
from midtrain.loaders.kernels import fill_batch, gather_segments
from midtrain.loaders.plan import BlockPlan, GlobalPlan, PlanState, ScheduleLike
from midtrain.loaders.ring import SlotBatch, SlotRing, batch_bytes


IN_PROCESS_BUFFERS = 4
"""Batches the in-process loader can have out with the consumer before it allocates fresh tensors."""


@dataclass(frozen=True)
class LoaderConfig:
    """Everything that fixes the stream, apart from the position."""

    corpus: str
    """Path of the token corpus."""
    seq_len: int
    """Default sequence length; a schedule phase's own ``seq_len`` overrides it."""
    batch_size: int
    """Sequences per batch on each rank."""
    seed: int
    rank: int
    world_size: int
    packing: str = "concat"
    """``concat`` (concat-and-split) or ``best_fit`` (best-fit decreasing within a window)."""
    window: int = 4096
    """Documents per best-fit window."""
    block_batches: int = 1
    """Global batches per mixing block (weights change only at block boundaries)."""
    mask_cross_document_labels: bool = True
    """Label -100 where the next token belongs to another document."""
    pad_id: int | None = None
    """Token used for padding; defaults to the tokenizer's EOS id, else 0."""
    verify_checksums: bool = False
    """Hash every shard when the corpus is opened (catches flipped bytes; costs a read)."""
    compact: bool = False
    """int32 ``input_ids``/``labels``/``position_ids`` instead of int64: half the bytes to write per
    batch and to copy to the GPU; cast labels with ``.long()`` on the device if the loss needs it."""
    long_min_tokens: int | None = None
    """Tokens a document needs to belong to a schedule's ``long`` domain when the corpus has none
    (it is then selected by length across domains); ``None``: the schedule's ``long.min_tokens``,
    else ``midtrain.corpus.DEFAULT_LONG_MIN_TOKENS`` (32,768). Ignored when the corpus has ``long``."""

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size


class DomainIndex:
    """Per-document shard coordinates for every plan domain, concatenated in plan domain order.

    Memory is a few integers per document (never per token): length, shard id, start offset.
    A plan domain is a corpus domain, or, when the schedule names ``long`` and the corpus has no
    such domain, the virtual ``long``: every document of at least ``long_min_tokens`` tokens from
    every corpus domain, left out of its own domain (:func:`midtrain.corpus.select_documents`),
    so each document belongs to exactly one plan domain.
    """

    def __init__(self, corpus: TokenCorpus, domains: list[str],
                 long_min_tokens: int = DEFAULT_LONG_MIN_TOKENS) -> None:
        sources = [d for d in domains if d in corpus.shards]
        if virtual_long(domains, corpus.shards):  # long draws from every domain, scheduled or not
            sources += [d for d in sorted(corpus.shards) if d not in sources]
        self.shards = typed.List()
        length, offset, shard_id = {}, {}, {}
        sid = 0
        for d in sources:
            lengths, offsets, shard_ids = [], [], []
            for shard in corpus.shards[d]:
                self.shards.append(shard.tokens)
                lengths.append(np.diff(shard.offsets))
                offsets.append(shard.offsets[:-1])
                shard_ids.append(np.full(shard.num_docs, sid, np.int64))
                sid += 1
            length[d], offset[d], shard_id[d] = _concat(lengths), _concat(offsets), _concat(shard_ids)
        self.selection = select_documents(length, domains, long_min_tokens)
        """Which documents of which corpus domain make each plan domain."""
        self.present = [d for d in domains if d in self.selection.parts]
        columns: tuple[list, list, list] = ([], [], [])
        self.base = []
        base = 0
        for d in domains:
            self.base.append(base)
            for src, idx in self.selection.parts.get(d, ()):
                for out, by_domain in zip(columns, (length, offset, shard_id)):
                    out.append(by_domain[src] if idx is None else by_domain[src][idx])
                base += len(columns[0][-1])
        self.base = np.asarray(self.base, np.int64)
        self.doc_len, self.doc_offset, self.doc_shard = (_concat(c) for c in columns)
        if len(self.shards) == 0:
            self.shards.append(np.zeros(1, np.uint16))

    def lengths_by_domain(self, domains: list[str]) -> dict[str, np.ndarray]:
        ends = list(self.base[1:]) + [len(self.doc_len)]
        return {d: self.doc_len[self.base[i]:ends[i]] for i, d in enumerate(domains) if d in self.present}


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)


def corpus_fingerprint(corpus: TokenCorpus) -> str:
    """Identity of a token corpus: its shard checksums and tokenizer (as the manifest records them)."""
    import hashlib

    h = hashlib.sha256()
    for s in corpus.manifest.shards:
        h.update(f"{s.path}:{s.checksum}\n".encode())
    h.update(repr(sorted((corpus.manifest.tokenizer or {}).items())).encode())
    return h.hexdigest()[:16]


class PackedDataset(torch.utils.data.IterableDataset):
    """Yields this rank's (and this worker's) batches from a plan snapshot onwards."""

    def __init__(self, config: LoaderConfig, schedule: ScheduleLike, *, start_batch: int, snapshot: PlanState | None,
                 mixture_log: list[tuple[int, list[float]]], ring: SlotRing | None = None) -> None:
        super().__init__()
        self.config = config
        self.schedule = schedule
        self.start_batch = start_batch
        self.snapshot = snapshot
        self.mixture_log = list(mixture_log)
        self.ring = ring
        """Shared-memory slots the workers write finished batches into (else compact messages)."""
        self._opened: tuple[TokenCorpus, DomainIndex, GlobalPlan] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_opened"] = None  # memory maps and numba lists are reopened in each worker
        return state

    def open(self) -> tuple[TokenCorpus, DomainIndex, GlobalPlan]:
        if self._opened is None:
            corpus = open_token_corpus(self.config.corpus, checksums=self.config.verify_checksums)
            domains = list(self.schedule.domains)
            threshold = resolve_long_min_tokens(self.config.long_min_tokens,
                                                getattr(self.schedule, "long_min_tokens", None))
            index = DomainIndex(corpus, domains, threshold)
            plan = GlobalPlan(index.lengths_by_domain(domains), self.schedule, seed=self.config.seed,
                              seq_len=self.config.seq_len,
                              block_size=self.config.global_batch_size * self.config.block_batches,
                              global_batch_size=self.config.global_batch_size,
                              packing=self.config.packing, window=self.config.window, mixture_log=self.mixture_log,
                              long_min_tokens=index.selection.long_min_tokens)
            self._opened = (corpus, index, plan)
        return self._opened

    def pad_id(self) -> int:
        if self.config.pad_id is not None:
            return self.config.pad_id
        corpus, _, _ = self.open()
        eos = (corpus.manifest.tokenizer or {}).get("eos_id")
        return int(eos) if eos is not None else 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        _, index, plan = self.open()
        pad_id = self.pad_id()
        bb = self.config.block_batches
        state = self.snapshot or plan.initial_state()
        if state.block != self.start_batch // bb:
            raise ValueError(f"snapshot is for block {state.block}, but batch {self.start_batch} is in block "
                             f"{self.start_batch // bb}")
        group = self.batches_per_message if info is not None else 1
        writer = _SlotWriter(self.ring, worker) if self.ring is not None and info is not None else None
        if info is None:  # output buffers recycled once the consumer drops a batch (see SlotRing)
            local = _SlotWriter(SlotRing(1, IN_PROCESS_BUFFERS, batch_bytes(self.config.batch_size, self.max_seq_len,
                                                                             self.config.compact),
                                         self.config.compact, shared=False), 0)
        pending: list[CompactBatch | SlotBatch] = []
        while not plan.exhausted(state):
            block, after = plan.block(state)
            for g in range(block.index * bb, (block.index + 1) * bb):
                # workers take turns by messages of `group` consecutive global batches
                if g < self.start_batch or ((g - self.start_batch) // group) % workers != worker:
                    continue
                resume = after if (g + 1) % bb == 0 else state
                segments = rank_segments(block, g - block.index * bb, self.config, index)
                if info is None:
                    part = local.write(segments, index.shards, g, resume, block.seq_len, self.config, pad_id)
                    if part is not None:
                        local.sent()
                        batch = from_slot(local.ring, part, local.ring.lease(0, part.slot))
                    else:  # the consumer holds every buffer: fresh tensors
                        batch = fill(segments, index.shards, block.seq_len, self.config, pad_id, g, resume)
                    yield batch
                    del batch, part
                    continue
                part = writer.write(segments, index.shards, g, resume, block.seq_len, self.config, pad_id) \
                    if writer is not None else None
                pending.append(part or CompactBatch.gather(segments, index.shards, g, resume, block.seq_len))
                if len(pending) == group or (g - self.start_batch) % group == group - 1:
                    yield pending
                    pending = []
                    if writer is not None:
                        writer.sent()
            state = after
        if pending:
            yield pending

    @property
    def max_seq_len(self) -> int:
        """The longest sequence any phase of the schedule asks for."""
        phases = getattr(self.schedule, "phases", ())
        return max([self.config.seq_len] + [p.seq_len for p in phases if getattr(p, "seq_len", None)])

    @property
    def batches_per_message(self) -> int:
        """Batches a worker sends per message: at least ~64k tokens, so the fixed cost of a
        message (pickling, the queue, waking the main process: about 0.2 ms) is amortised."""
        return max(1, -(-(1 << 16) // (self.config.batch_size * self.config.seq_len)))


@dataclass
class RankSegments:
    """The segments of this rank's rows of one global batch, in shard coordinates."""

    seq_ptr: np.ndarray
    shard: np.ndarray
    src: np.ndarray
    length: np.ndarray
    doc_end: np.ndarray
    domain: np.ndarray


def rank_segments(block: BlockPlan, sub_batch: int, config: LoaderConfig, index: DomainIndex) -> RankSegments:
    """Where the tokens of this rank's rows of global batch ``sub_batch`` of ``block`` are."""
    B = config.batch_size
    first = sub_batch * config.global_batch_size + config.rank * B
    a, b = block.seq_ptr[first], block.seq_ptr[first + B]
    gdoc = index.base[block.seg_domain[a:b]] + block.seg_doc[a:b]
    start = index.doc_offset[gdoc]
    return RankSegments(seq_ptr=block.seq_ptr[first:first + B + 1] - a, shard=index.doc_shard[gdoc],
                        src=start + block.seg_begin[a:b], length=block.seg_len[a:b],
                        doc_end=start + index.doc_len[gdoc], domain=block.domain[first:first + B])


def fill_into(seg: RankSegments, shards, seq_len: int, config: LoaderConfig, pad_id: int, input_ids: np.ndarray,
              labels: np.ndarray, position_ids: np.ndarray, document_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Write the batch's ``[B, seq_len]`` arrays from ``shards`` (a numba list of token arrays);
    returns its ``cu_seqlens`` and longest segment."""
    B = len(seg.seq_ptr) - 1
    cu = np.empty(len(seg.length) + B + 1, np.int32)
    n, max_len = fill_batch(shards, seg.seq_ptr, seg.shard, seg.src, seg.length, seg.doc_end, seq_len, pad_id,
                            config.mask_cross_document_labels, input_ids, labels, position_ids, document_ids, cu)
    return cu[:n], int(max_len)


def batch_dict(tensors: tuple[torch.Tensor, ...], cu_seqlens: np.ndarray, max_seqlen: int, domain: np.ndarray,
               seq_len: int, batch_index: int, resume: PlanState) -> dict[str, Any]:
    """The batch as the loader yields it (``_resume`` is popped by the loader)."""
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
        "_resume": resume,
    }


def fill(seg: RankSegments, shards, seq_len: int, config: LoaderConfig, pad_id: int, batch_index: int,
         resume: PlanState) -> dict[str, Any]:
    """The batch in fresh tensors, gathered from ``shards`` (a numba list of token arrays)."""
    B, L = len(seg.seq_ptr) - 1, seq_len
    tok_dtype = torch.int32 if config.compact else torch.int64
    tensors = tuple(torch.empty((B, L), dtype=dt) for dt in (tok_dtype, tok_dtype, tok_dtype, torch.int32))
    cu, max_len = fill_into(seg, shards, L, config, pad_id, *(t.numpy() for t in tensors))
    return batch_dict(tensors, cu, max_len, seg.domain, L, batch_index, resume)


def from_slot(ring: SlotRing, part: SlotBatch, lease: Any) -> dict[str, Any]:
    """The batch over a slot's memory (no copy), as the worker described it."""
    return batch_dict(ring.tensors(part, lease), part.cu_seqlens, part.max_seqlen, part.domain, part.seq_len,
                      part.batch_index, part.resume)


class _SlotWriter:
    """A worker's side of the :class:`SlotRing`: fills consecutive batches of a message into its slots."""

    def __init__(self, ring: SlotRing, worker: int) -> None:
        self.ring = ring
        self.worker = worker
        self.slot: int | None = None
        self.offset = 0

    def write(self, seg: RankSegments, shards, batch_index: int, resume: PlanState, seq_len: int,
              config: LoaderConfig, pad_id: int) -> SlotBatch | None:
        """The batch written into a slot, or ``None`` (no free slot: the caller sends it compact)."""
        B = len(seg.seq_ptr) - 1
        need = batch_bytes(B, seq_len, config.compact)
        if need > self.ring.slot_bytes:
            return None
        if self.slot is None or self.offset + need > self.ring.slot_bytes:
            self.slot, self.offset = self.ring.acquire(self.worker), 0
            if self.slot is None:
                return None
        arrays = self.ring.arrays(self.worker, self.slot, self.offset, B, seq_len)
        cu, max_len = fill_into(seg, shards, seq_len, config, pad_id, *arrays)
        part = SlotBatch(worker=self.worker, slot=self.slot, offset=self.offset, batch_size=B, seq_len=seq_len,
                         cu_seqlens=cu, max_seqlen=max_len, domain=seg.domain,
                         batch_index=batch_index, resume=resume)
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
    segments: RankSegments
    batch_index: int
    resume: PlanState
    seq_len: int

    @classmethod
    def gather(cls, seg: RankSegments, shards, batch_index: int, resume: PlanState, seq_len: int) -> "CompactBatch":
        n = len(seg.length)
        dtype = shards[0].dtype if len(shards) else np.uint16
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(seg.length + 1, out=offsets[1:])
        tokens = np.empty(int(offsets[-1]), dtype)
        gather_segments(shards, seg.shard, seg.src, seg.length, seg.doc_end, offsets, tokens)
        continues = (seg.src + seg.length) < seg.doc_end
        local = RankSegments(seq_ptr=seg.seq_ptr, shard=np.zeros(n, np.int64), src=offsets[:-1], length=seg.length,
                             doc_end=offsets[:-1] + seg.length + continues, domain=seg.domain)
        return cls(tokens=tokens, segments=local, batch_index=batch_index, resume=resume, seq_len=seq_len)

    def expand(self, config: LoaderConfig, pad_id: int) -> dict[str, Any]:
        return fill(self.segments, typed.List([self.tokens]), self.seq_len, config, pad_id, self.batch_index,
                    self.resume)

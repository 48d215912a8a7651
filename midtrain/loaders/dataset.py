"""``PackedDataset``: the torch ``IterableDataset`` that materialises this (rank, worker)'s batches.

It yields whole batches (a DataLoader runs it with ``batch_size=None``), so a worker hands one
dict of tensors per batch to the main process instead of one item per sequence. Global batch
``g`` belongs to worker ``(g - start) % num_workers``; its rows ``rank * B : (rank + 1) * B`` are this
rank's. Every process walks the same plan from the same snapshot; materialising is the only work
that is split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from numba import typed

from midtrain.corpus import TokenCorpus, open_token_corpus
from midtrain.loaders.kernels import fill_batch
from midtrain.loaders.plan import BlockPlan, GlobalPlan, PlanState, ScheduleLike


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
    """int32 ``input_ids``/``labels``/``position_ids`` instead of int64: half the bytes to hand over
    from workers and to copy to the GPU; cast labels with ``.long()`` on the device if the loss needs it."""

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size


class DomainIndex:
    """Per-document shard coordinates for every domain, concatenated in plan domain order.

    Memory is a few integers per document (never per token): length, shard id, start offset.
    """

    def __init__(self, corpus: TokenCorpus, domains: list[str]) -> None:
        self.present = [d for d in domains if d in corpus.shards]
        self.shards = typed.List()
        lengths, shard_ids, offsets, self.base = [], [], [], []
        base = 0
        sid = 0
        for d in domains:
            self.base.append(base)
            for shard in corpus.shards.get(d, []):
                self.shards.append(shard.tokens)
                lengths.append(np.diff(shard.offsets))
                offsets.append(shard.offsets[:-1])
                shard_ids.append(np.full(shard.num_docs, sid, np.int64))
                base += shard.num_docs
                sid += 1
        self.base = np.asarray(self.base, np.int64)
        self.doc_len = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        self.doc_offset = np.concatenate(offsets).astype(np.int64) if offsets else np.zeros(0, np.int64)
        self.doc_shard = np.concatenate(shard_ids) if shard_ids else np.zeros(0, np.int64)
        if len(self.shards) == 0:
            self.shards.append(np.zeros(1, np.uint16))

    def lengths_by_domain(self, domains: list[str]) -> dict[str, np.ndarray]:
        ends = list(self.base[1:]) + [len(self.doc_len)]
        return {d: self.doc_len[self.base[i]:ends[i]] for i, d in enumerate(domains) if d in self.present}


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
                 mixture_log: list[tuple[int, list[float]]]) -> None:
        super().__init__()
        self.config = config
        self.schedule = schedule
        self.start_batch = start_batch
        self.snapshot = snapshot
        self.mixture_log = list(mixture_log)
        self._opened: tuple[TokenCorpus, DomainIndex, GlobalPlan] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_opened"] = None  # memory maps and numba lists are reopened in each worker
        return state

    def open(self) -> tuple[TokenCorpus, DomainIndex, GlobalPlan]:
        if self._opened is None:
            corpus = open_token_corpus(self.config.corpus, checksums=self.config.verify_checksums)
            domains = list(self.schedule.domains)
            index = DomainIndex(corpus, domains)
            plan = GlobalPlan(index.lengths_by_domain(domains), self.schedule, seed=self.config.seed,
                              seq_len=self.config.seq_len,
                              block_size=self.config.global_batch_size * self.config.block_batches,
                              packing=self.config.packing, window=self.config.window, mixture_log=self.mixture_log)
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
        while not plan.exhausted(state):
            block, after = plan.block(state)
            for g in range(block.index * bb, (block.index + 1) * bb):
                if g < self.start_batch or (g - self.start_batch) % workers != worker:
                    continue
                batch = materialise(block, g - block.index * bb, self.config, index, pad_id, shared=info is not None)
                batch["batch_index"] = g
                resume = after if (g + 1) % bb == 0 else state
                batch["_resume"] = resume
                yield batch
            state = after


def materialise(block: BlockPlan, sub_batch: int, config: LoaderConfig, index: DomainIndex,
                pad_id: int, *, shared: bool = False) -> dict[str, Any]:
    """Tensors for this rank's rows of global batch ``sub_batch`` of ``block``."""
    B, L = config.batch_size, block.seq_len
    first = sub_batch * config.global_batch_size + config.rank * B
    a, b = block.seq_ptr[first], block.seq_ptr[first + B]
    seq_ptr = block.seq_ptr[first:first + B + 1] - a
    gdoc = index.base[block.seg_domain[a:b]] + block.seg_doc[a:b]
    start = index.doc_offset[gdoc]
    seg_shard = index.doc_shard[gdoc]
    seg_src = start + block.seg_begin[a:b]
    seg_end = start + index.doc_len[gdoc]
    tok_dtype = torch.int32 if config.compact else torch.int64
    n_cu = int(b - a) + B + 1
    input_ids, labels, position_ids, document_ids, cu_t, domain = _allocate(
        [((B, L), tok_dtype), ((B, L), tok_dtype), ((B, L), tok_dtype), ((B, L), torch.int32), ((n_cu,), torch.int32),
         ((B,), torch.int64)], shared=shared)
    cu = cu_t.numpy()
    n, max_len = fill_batch(index.shards, seq_ptr, seg_shard, seg_src, block.seg_len[a:b], seg_end, L, pad_id,
                   config.mask_cross_document_labels, input_ids.numpy(), labels.numpy(), position_ids.numpy(),
                   document_ids.numpy(), cu)
    domain.numpy()[:] = block.domain[first:first + B]
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "document_ids": document_ids,
        "cu_seqlens": cu_t[:n],
        "max_seqlen": int(max_len),
        "domain": domain,
        "seq_len": L,
    }


def _allocate(specs: list[tuple[tuple[int, ...], torch.dtype]], *, shared: bool) -> list[torch.Tensor]:
    """Tensors for one batch; in a worker, all of them views of ONE shared-memory buffer.

    A DataLoader worker otherwise copies every tensor into its own shared-memory segment when the
    batch is pickled; one pre-shared buffer per batch makes the hand-off a single file descriptor
    (measured: about 3x fewer microseconds per batch than plain tensors, benchmarks/bench_loader.py).
    """
    sizes = [int(np.prod(shape)) * torch.empty((), dtype=dt).element_size() for shape, dt in specs]
    if not shared:
        return [torch.empty(shape, dtype=dt) for shape, dt in specs]
    aligned = [(s + 7) // 8 * 8 for s in sizes]
    buf = torch.empty(sum(aligned), dtype=torch.uint8).share_memory_()
    out, pos = [], 0
    for (shape, dt), size, step in zip(specs, sizes, aligned):
        out.append(buf[pos:pos + size].view(dt).view(shape))
        pos += step
    return out

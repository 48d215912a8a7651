"""``PackedDataset``: the torch ``IterableDataset`` that materialises this (rank, worker)'s batches.

It yields whole batches (a DataLoader runs it with ``batch_size=None``): in a worker, one message
per group of ``batches_per_message`` consecutive global batches, each batch written into a
shared-memory slot of the :class:`~midtrain.loaders.ring.SlotRing` (a
:class:`~midtrain.loaders.ring.SlotBatch` says where) or, when the worker has no free slot, sent
as a :class:`~midtrain.loaders.batches.CompactBatch`. Groups go to the
workers in turn; the rows ``rank * B : (rank + 1) * B`` of every global batch are this rank's.
Every process walks the same plan from the same snapshot; materialising is the only work that is
split. Without workers it yields the batch dicts, written into recycled private buffers.

Weight changes logged while it runs arrive through its :mod:`~midtrain.loaders.feed`: before
planning each block, the dataset appends the entries published since it last looked to its
plan's log. An entry for a block it has already planned means its plan state went wrong from
there; it then marks every later batch ``STALE`` and the loader restarts it (the main process
also checks each batch's log entry against its own log, which catches a block planned just before
an entry was published).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from numba import typed

from midtrain.corpus import TokenCorpus, open_token_corpus
from midtrain.corpus.remote import RemoteTokenCorpus, open_remote_corpus
from midtrain.errors import ConfigError
from midtrain.corpus.lengths import (DEFAULT_LONG_MIN_TOKENS, resolve_long_min_tokens, select_documents,
                                     virtual_long)
from midtrain.loaders.batches import STALE, CompactBatch, PlannedBatch, SlotWriter, fill, from_slot, rank_segments
from midtrain.loaders.config import LoaderConfig, batches_per_message
from midtrain.loaders.feed import LocalFeed, SharedFeed
from midtrain.loaders.plan import BlockPlan, GlobalPlan, PlanState, ScheduleLike
from midtrain.loaders.remote import RemoteBatches
from midtrain.loaders.ring import SlotBatch, SlotRing, batch_bytes
from midtrain.storage.objects import is_url


IN_PROCESS_BUFFERS = 4
"""Batches the in-process loader can have out with the consumer before it allocates fresh tensors."""


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
        self.shard_sources: list = []
        """The shard objects behind ``shards``, by shard id (the remote loader reads through them)."""
        length, offset, shard_id = {}, {}, {}
        sid = 0
        for d in sources:
            lengths, offsets, shard_ids = [], [], []
            for shard in corpus.shards[d]:
                self.shards.append(shard.tokens)
                self.shard_sources.append(shard)
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


def removal_masks(corpus: TokenCorpus, index: DomainIndex, domains: list[str], schedule: Any) -> list[dict[str, np.ndarray]]:
    """Per amendment of ``schedule`` (an :class:`~midtrain.loaders.amend.AmendedSchedule`): the
    documents removed so far, as a bool mask per plan domain. An id the corpus lacks is refused."""
    wanted = sorted({x for a in schedule.amendments for x in a.removed})
    where: dict[str, tuple[str, int]] = {}
    if wanted:
        import pyarrow as pa
        import pyarrow.compute as pc

        value_set = pa.array(wanted, pa.string())
        for d in domains:
            position = 0  # a plan domain's documents: its parts' documents, concatenated
            for src, idx in index.selection.parts.get(d, ()):
                # the id columns (at a URL: read with ranged GETs), matched by Arrow, not per document
                ids = pa.concat_arrays([shard.column("id").cast(pa.string()) for shard in corpus.shards[src]])
                if idx is not None:
                    ids = ids.take(pa.array(idx))
                hit = pc.index_in(ids, value_set=value_set)
                found = np.flatnonzero(pc.is_valid(hit).to_numpy(zero_copy_only=False))
                codes = pc.fill_null(hit, 0).to_numpy(zero_copy_only=False)
                for k in found.tolist():  # only the removed documents
                    where[wanted[int(codes[k])]] = (d, position + k)
                position += len(ids)
        missing = sorted(set(wanted) - set(where))
        if missing:
            raise ConfigError(f"remove: {len(missing)} document id(s) not in the corpus {corpus.path}: "
                              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    sizes = {d: len(v) for d, v in index.lengths_by_domain(domains).items()}
    out, masks = [], {}
    for a in schedule.amendments:
        masks = {d: m.copy() for d, m in masks.items()}
        for doc_id in a.removed:
            d, k = where[doc_id]
            masks.setdefault(d, np.zeros(sizes[d], bool))[k] = True
        out.append(masks)
    return out


def describe_plan(corpus: TokenCorpus, index: DomainIndex, plan: GlobalPlan, config: LoaderConfig) -> dict[str, Any]:
    """What a plan was built from, small enough for a state file: settings, per domain its documents,
    tokens and a hash of their lengths, the shards, the schedule. A refused resume compares two of
    these to say what differs (:func:`midtrain.loaders.amend.describe_difference`)."""
    import hashlib

    domains = {}
    for d, lengths in index.lengths_by_domain(list(plan.domains)).items():
        digest = hashlib.sha256(np.ascontiguousarray(lengths, np.int64).tobytes()).hexdigest()[:16]
        domains[d] = {"documents": int(len(lengths)), "tokens": int(lengths.sum()), "lengths": digest}
    schedule = plan.schedule
    return {"seed": plan.seed, "seq_len": plan.default_seq_len, "packing": plan.packing, "window": plan.window,
            "long_min_tokens": plan.long_min_tokens, "domains": domains,
            "shards": [f"{s.path}:{s.checksum}" for s in corpus.manifest.shards],
            "schedule": schedule.to_dict() if hasattr(schedule, "to_dict") else None}


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
                 mixture_log: list[tuple[int, list[float]]], ring: SlotRing | None = None,
                 feed: LocalFeed | SharedFeed | None = None) -> None:
        super().__init__()
        self.config = config.resolved()
        self.schedule = schedule
        self.start_batch = start_batch
        self.snapshot = snapshot
        self.mixture_log = list(mixture_log)
        self.ring = ring
        """Shared-memory slots the workers write finished batches into (else compact messages)."""
        self.feed = feed
        """Weight changes published after ``mixture_log`` was taken (``None``: none will be)."""
        self._opened: tuple[TokenCorpus, DomainIndex, GlobalPlan] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_opened"] = None  # memory maps and numba lists are reopened in each worker
        return state

    def open(self) -> tuple[TokenCorpus, DomainIndex, GlobalPlan]:
        if self._opened is None:
            if is_url(self.config.corpus):
                corpus = open_remote_corpus(self.config.corpus, checksums=self.config.verify_checksums,
                                            cache_bytes=self.config.cache_bytes, cache_dir=self.config.cache_dir)
            else:
                corpus = open_token_corpus(self.config.corpus, checksums=self.config.verify_checksums)
            domains = list(self.schedule.domains)
            threshold = resolve_long_min_tokens(self.config.long_min_tokens, self.schedule.long_min_tokens)
            index = DomainIndex(corpus, domains, threshold)
            plan = GlobalPlan(index.lengths_by_domain(domains), self.schedule, seed=self.config.seed,
                              seq_len=self.config.seq_len,
                              block_size=self.config.global_batch_size * self.config.block_batches,
                              global_batch_size=self.config.global_batch_size,
                              packing=self.config.packing, window=self.config.window, mixture_log=self.mixture_log,
                              long_min_tokens=index.selection.long_min_tokens,
                              data_parallel=self.config.data_parallel_size)
            if getattr(self.schedule, "amendments", None):
                plan.set_removals(removal_masks(corpus, index, domains, self.schedule))
            self._check_context_parallel()
            self._opened = (corpus, index, plan)
        return self._opened

    def pad_id(self) -> int:
        if self.config.pad_id is not None:
            return self.config.pad_id
        corpus, _, _ = self.open()
        eos = (corpus.manifest.tokenizer or {}).get("eos_id")
        return int(eos) if eos is not None else 0


    def __iter__(self) -> Iterator[Any]:
        info = torch.utils.data.get_worker_info()
        if isinstance(self.open()[0], RemoteTokenCorpus):
            return self._remote(0 if info is None else info.id, 1 if info is None else info.num_workers,
                                in_process=info is None)
        if info is None:
            return self._in_process()
        return self._in_worker(info.id, info.num_workers)

    def _in_process(self) -> Iterator[dict[str, Any]]:
        """Batch dicts, written into recycled private buffers (see :class:`SlotRing`) while the
        consumer has fewer than ``IN_PROCESS_BUFFERS`` of them out, else into fresh tensors."""
        _, index, plan = self.open()
        pad_id = self.pad_id()
        buffers = SlotRing(1, IN_PROCESS_BUFFERS, batch_bytes(*self.max_batch_tokens, self.config.compact),
                           self.config.compact, shared=False)
        writer = SlotWriter(buffers, 0)
        for planned in self._planned(index, plan, worker=0, workers=1, group=1):
            part = writer.write(planned, index.shards, config=self.config, pad_id=pad_id)
            if part is not None:
                writer.sent()
                batch = from_slot(buffers, part, buffers.lease(0, part.slot))
            else:  # the consumer holds every buffer: fresh tensors
                batch = fill(planned, index.shards, config=self.config, pad_id=pad_id)
            yield batch
            del batch, part  # drop this generator's references, so the buffer frees with the consumer's

    def _in_worker(self, worker: int, workers: int) -> Iterator[list[SlotBatch | CompactBatch]]:
        """Messages of ``batches_per_message`` consecutive batches: slot batches where this worker
        has a free slot of the shared ring, compact batches otherwise."""
        _, index, plan = self.open()
        pad_id = self.pad_id()
        group = self.batches_per_message
        writer = SlotWriter(self.ring, worker) if self.ring is not None else None
        pending: list[SlotBatch | CompactBatch] = []
        for planned in self._planned(index, plan, worker=worker, workers=workers, group=group):
            part = None if writer is None else writer.write(planned, index.shards, config=self.config, pad_id=pad_id)
            pending.append(part or CompactBatch.gather(planned, index.shards))
            if len(pending) == group or (planned.batch_index - self.start_batch) % group == group - 1:
                yield pending
                pending = []
                if writer is not None:
                    writer.sent()
        if pending:
            yield pending

    def _remote(self, worker: int, workers: int, *, in_process: bool) -> Iterator[Any]:
        """The batches of a corpus at a URL (:mod:`midtrain.loaders.remote`): each gathered from
        cached blocks into a compact batch, the next one's blocks prefetched meanwhile, then written
        as the local paths write theirs (a slot of the ring, or sent compact; in process: fresh
        tensors, as :class:`CompactBatch` expands)."""
        corpus, index, plan = self.open()
        pad_id = self.pad_id()
        group = 1 if in_process else self.batches_per_message
        remote = RemoteBatches(corpus, index.shard_sources, self.config.fetch)
        if in_process:  # recycled private buffers, as in _in_process
            buffers = SlotRing(1, IN_PROCESS_BUFFERS, batch_bytes(*self.max_batch_tokens, self.config.compact),
                               self.config.compact, shared=False)
            writer = SlotWriter(buffers, 0)
        else:
            writer = SlotWriter(self.ring, worker) if self.ring is not None else None
        pending: list[SlotBatch | CompactBatch] = []
        planned_batches = self._planned(index, plan, worker=worker, workers=workers, group=group)
        try:
            current = next(planned_batches, None)
            while current is not None:
                compact = remote.gather(current)
                following = next(planned_batches, None)
                if following is not None:
                    remote.prefetch(following)
                part = None if writer is None else writer.write(compact.batch, (compact.tokens,),
                                                                config=self.config, pad_id=pad_id)
                if in_process:
                    if part is not None:
                        writer.sent()
                        batch = from_slot(buffers, part, buffers.lease(0, part.slot))
                    else:  # the consumer holds every buffer: fresh tensors
                        batch = compact.expand(config=self.config, pad_id=pad_id)
                    yield batch
                    del batch, part  # as in _in_process: the buffer frees with the consumer's reference
                else:
                    pending.append(part or compact)
                    if len(pending) == group or (current.batch_index - self.start_batch) % group == group - 1:
                        yield pending
                        pending = []
                        if writer is not None:
                            writer.sent()
                current = following
            if pending:
                yield pending
        finally:
            remote.close()

    def _planned(self, index: DomainIndex, plan: GlobalPlan, *, worker: int, workers: int,
                 group: int) -> Iterator[PlannedBatch]:
        """This (rank, worker)'s batches from ``start_batch`` on: workers take turns by groups of
        ``group`` consecutive global batches."""
        bb = self.config.block_batches
        state = self.snapshot or plan.initial_state()
        if state.block != self.start_batch // bb:
            raise ValueError(f"snapshot is for block {state.block}, but batch {self.start_batch} is in block "
                             f"{self.start_batch // bb}")
        stale = False
        cp = self.config.cp_degree
        while not plan.exhausted(state):
            if self.feed is not None and not stale:
                stale = not self._follow(plan, state.block)
            block, after = plan.block(state)
            mixture = STALE if stale else plan.log_index(block.index)
            for g in range(block.index * bb, (block.index + 1) * bb):
                if g < self.start_batch or ((g - self.start_batch) // group) % workers != worker:
                    continue
                segments = rank_segments(block, g - block.index * bb, self.config, index)
                yield PlannedBatch(segments=segments, batch_index=g, seq_len=block.seq_len // cp,
                                   resume=after if (g + 1) % bb == 0 else state, mixture=mixture,
                                   extras=self._extras(block, segments.fingerprint))
            state = after

    def _extras(self, block: BlockPlan, fingerprint: str | None = None) -> dict[str, Any]:
        """What a batch reports beside its tensors: the phase's ``rope`` and name, and, with context
        parallelism, which slice of the sequences the tensors hold."""
        config = self.config
        cp = None
        if config.cp_degree > 1:
            cp = {"degree": config.cp_degree, "rank": config.context_parallel_rank, "split": config.cp_split,
                  "seq_len": block.seq_len, "fingerprint": fingerprint}
        return {"rope": block.rope, "phase": block.phase, "cp": cp}

    def _follow(self, plan: GlobalPlan, block: int) -> bool:
        """Append the weight changes published since the last look to the plan's log, before
        planning ``block``; ``False`` if one of them applies to a block already planned (or was lost)."""
        new = self.feed.since(len(plan.mixture_log))
        if new is None:
            return False
        plan.mixture_log.extend(new)
        return all(block_from >= block for block_from, _ in new)

    def _check_context_parallel(self) -> None:
        """Every phase's ``seq_len`` must split into the context-parallel ranks' equal ranges."""
        config = self.config
        if config.cp_degree == 1:
            return
        parts = config.cp_degree * (2 if config.cp_split == "head_tail" else 1)
        for i, phase in enumerate([None, *self.schedule.phases]):
            seq_len = (phase.seq_len if phase is not None else None) or config.seq_len
            if seq_len % parts:
                where = "seq_len" if phase is None else f"phases[{i - 1}].seq_len"
                raise ConfigError(f"{where}: {seq_len:,} does not split into {parts} equal chunks "
                                  f"(cp_degree {config.cp_degree}, cp_split {config.cp_split})")

    def _phase_shapes(self) -> list[tuple[int, int]]:
        """``(rows per rank, tokens per row)`` of every phase's batches (and of the loader default)."""
        config = self.config
        shapes = []
        for phase in [None, *self.schedule.phases]:
            seq_len = (phase.seq_len if phase is not None else None) or config.seq_len
            step = getattr(phase, "tokens_per_step", None)
            rows = step // seq_len // config.data_parallel_size if step else config.batch_size
            shapes.append((max(rows, 1), seq_len // config.cp_degree))
        return shapes

    @property
    def max_seq_len(self) -> int:
        """The longest sequence any phase of the schedule asks for."""
        return max([self.config.seq_len] + [p.seq_len for p in self.schedule.phases if p.seq_len])

    @property
    def max_batch_tokens(self) -> tuple[int, int]:
        """The ``(rows, tokens per row)`` of the largest batch of any phase: the size of a buffer slot."""
        return max(self._phase_shapes(), key=lambda s: s[0] * s[1])

    @property
    def batches_per_message(self) -> int:
        """Batches a worker sends per message (:func:`~midtrain.loaders.config.batches_per_message`)."""
        rows, width = max(self._phase_shapes(), key=lambda s: s[0] * s[1])
        return batches_per_message(rows, width)

"""``LoaderConfig``: every setting of a packed loader, checked once, and ``build()`` to make it.

The fields that fix the stream (corpus, seed, sequence length, packing, global batch, blocks,
long threshold) go into the loader's fingerprint through its plan, so a resumed run knows it reads
the same data; the others (workers, pinning, shared memory) change how fast batches arrive, never
which. ``mixture_lookahead`` decides only where future weight changes apply (its default follows
the number of workers: set it to compare adaptive streams across worker counts).
``config.build(schedule)`` returns the :class:`~midtrain.loaders.loader.PackedLoader`;
``build_loader(corpus, schedule, ...)`` is the same call with the fields as keyword arguments.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping

import numpy as np
import torch

from midtrain.corpus.lengths import check_long_min_tokens
from midtrain.errors import ConfigError

if TYPE_CHECKING:
    from midtrain.loaders.loader import PackedLoader
    from midtrain.loaders.plan import ScheduleLike
    from midtrain.mixers.policies import AdaptivePolicy

Packing = Literal["concat", "best_fit"]
DocMask = Literal["document", "none"]
CpSplit = Literal["head_tail", "contiguous"]
Balance = Literal["none", "attention"]
StartMethod = Literal["fork", "spawn", "forkserver"]
MIN_BLOCK_SEQUENCES = 256
"""Sequences a mixing block has at least when ``block_batches`` is left to the loader: a block's
planning costs a few hundred microseconds of numpy calls, amortised over that many sequences."""
MESSAGE_TOKENS = 1 << 16
"""Tokens of this rank a worker message holds at least (see :func:`batches_per_message`)."""


def batches_per_message(batch_size: int, seq_len: int) -> int:
    """Batches a worker sends per message: at least ``MESSAGE_TOKENS`` tokens, so the fixed cost of
    a message (pickling, the queue, waking the main process: about 0.2 ms) is amortised."""
    return max(1, -(-MESSAGE_TOKENS // (batch_size * seq_len)))


def default_mixture_lookahead(*, num_workers: int, prefetch_factor: int, batch_size: int, seq_len: int,
                              block_batches: int) -> int:
    """Blocks a weight change waits so that no worker has planned its first block yet.

    With the consumer at batch ``n``, the furthest batch any worker may be planning is
    ``n + 1 + G x (prefetch_factor x num_workers + 1)`` (``G`` batches per message): the torch
    ``DataLoader`` keeps ``prefetch_factor x num_workers`` messages requested beyond the last one the
    main process took, and the main process's background thread holds up to three batches ahead.
    The lookahead is that distance in blocks, rounded up; 0 without workers (the in-process loader
    plans a block only when the trainer asks for its first batch).
    """
    if num_workers == 0:
        return 0
    ahead = 1 + batches_per_message(batch_size, seq_len) * (prefetch_factor * num_workers + 1)
    return -(-ahead // block_batches)


@dataclass(frozen=True, kw_only=True)
class LoaderConfig:
    """Everything that makes a loader, apart from its schedule and adaptive policy.

    Fields left ``None`` are filled in by :meth:`resolved` (which :meth:`build` calls): the rank
    and world size from ``torch.distributed``, ``block_batches`` from the global batch size.
    """

    corpus: str
    """Path of the token corpus (a ``pathlib.Path`` is accepted and stored as a string), or its URL
    (``s3://bucket/corpus``: streamed with ranged reads, :mod:`midtrain.loaders.remote`)."""
    seq_len: int
    """Default sequence length in tokens; a schedule phase's own ``seq_len`` overrides it."""
    batch_size: int
    """Sequences per batch on each rank (the global batch is ``batch_size x world_size``)."""
    seed: int
    """Seed of every random choice (epoch orders, best-fit windows, slot shuffles); part of the
    fingerprint, so a resume must use the same one."""
    rank: int | None = None
    """This process's rank: it takes rows ``rank * batch_size : (rank + 1) * batch_size`` of every
    global batch. ``None``: ``torch.distributed``'s rank when initialised, else 0."""
    world_size: int | None = None
    """Number of ranks reading the stream. ``None``: ``torch.distributed``'s world size when
    initialised, else 1. A resume may change it if the global batch size stays the same."""
    packing: Packing = "concat"
    """``concat`` (concatenate documents, split at ``seq_len``) or ``best_fit`` (best-fit
    decreasing within a window of documents: fewer documents cut, a little padding)."""
    window: int = 4096
    """Documents per best-fit window."""
    block_batches: int | None = None
    """Global batches per mixing block (weights change only at block boundaries). ``None``: the
    fewest that make a block of at least 256 sequences. It must stay the same across a resume, so
    set it when the global batch size might not divide 256 the same way."""
    mask_cross_document_labels: bool = True
    """Label -100 where the next token belongs to another document."""
    pad_id: int | None = None
    """Token used for padding; ``None``: the tokenizer's EOS id, else 0."""
    verify_checksums: bool = False
    """Hash every shard when the corpus is opened (catches flipped bytes; costs a read)."""
    cache_bytes: int = 1 << 30
    """Corpus at a URL: memory for cached token blocks, per process (least recently used out)."""
    cache_dir: str | None = None
    """Corpus at a URL, ``fetch="blocks"``: a local folder that keeps every fetched block (shared by
    the workers), so evicted blocks and a resumed run's blocks are read back instead of fetched again."""
    fetch: str = "auto"
    """Corpus at a URL: ``documents`` reads each document a batch needs (neighbours together), so a
    partial epoch fetches about what it uses; ``blocks`` reads fixed 4 MiB blocks of the token
    stream (far fewer requests; until the cache holds the corpus most of each block goes unused);
    ``auto``: ``blocks`` when the whole token stream fits in ``cache_bytes`` (no block is fetched
    twice, and at most the corpus is read), else ``documents``. Batches are the same either way."""
    compact: bool = False
    """int32 ``input_ids``/``labels``/``position_ids`` instead of int64: half the bytes to write per
    batch and to copy to the GPU; cast labels with ``.long()`` on the device if the loss needs it."""
    long_min_tokens: int | None = None
    """Tokens a document needs to belong to a schedule's ``long`` domain when the corpus has none
    (it is then selected by length across domains); ``None``: the schedule's ``long.min_tokens``,
    else ``midtrain.corpus.DEFAULT_LONG_MIN_TOKENS`` (32,768). Ignored when the corpus has ``long``."""
    total_tokens: int | None = None
    """Token budget used to resolve a schedule given as a file or dict (positions written as
    fractions); the stream ends when the schedule's total is reached, else it is endless."""
    num_workers: int = 0
    """Worker processes that materialise batches (0: in the training process)."""
    prefetch_factor: int = 2
    """Messages each worker may have queued ahead (as in torch's ``DataLoader``)."""
    pin_memory: bool = False
    """Copy every batch into pinned memory (in a background thread) for asynchronous GPU copies."""
    shared_memory: bool = True
    """With workers, write batches into recycled shared-memory slots that reach the trainer
    without a copy; ``False``: send compact messages that the main process expands."""
    multiprocessing_context: StartMethod | None = None
    """How workers start (``fork``, ``spawn``, ``forkserver``), as in torch's ``DataLoader``;
    ``None``: the platform's default."""
    mixture_lookahead: int | None = None
    """Blocks between the current block and the first one a weight change (``update_mixture``,
    ``set_weights``) applies to: new weights apply from block
    ``batches_consumed // block_batches + 1 + mixture_lookahead``. Running workers plan blocks
    ahead; a change published for a block none of them has planned reaches them in place, through
    shared memory, without a restart. ``None``: :func:`default_mixture_lookahead`, the prefetch
    depth in blocks (0 without workers, so 1 + ... is the next block; with 2 workers, 2 prefetched
    messages each and blocks of at least 256 sequences, usually 1). It decides *where* changes
    apply, so set the same value to get the same stream with another number of workers; a
    resumed loader keeps the value of the state it loads. A value below the prefetch depth stays
    exact but restarts the workers when they have planned past a change
    (``PackedLoader.fallback_restarts`` counts those)."""
    doc_mask: DocMask = "document"
    """What ``document_ids`` and ``cu_seqlens`` mark: ``document`` (every document piece of a row is
    its own attention scope; a document written by the grouping stage is one scope for the whole
    group) or ``none`` (one scope per row, positions running along it: plain concatenation)."""
    cp_degree: int = 1
    """Context-parallel ranks per sequence. Ranks ``r`` with the same ``r // cp_degree`` form a
    context-parallel group: they read the same sequences (the global batch is ``batch_size x
    world_size / cp_degree`` sequences) and each gets its slice of every row (``cp_split``), with
    the ``position_ids`` of the full sequence and ``cu_seqlens`` of the pieces it holds; rows are
    ``seq_len / cp_degree`` tokens."""
    cp_split: CpSplit = "head_tail"
    """How a sequence is cut for context parallelism: ``head_tail`` (2 x cp_degree equal chunks,
    rank ``c`` holding chunks ``c`` and ``2 x cp_degree - 1 - c``: causal attention work even across
    ranks) or ``contiguous`` (rank ``c`` holds the ``c``-th slice). Documents are never padded."""
    balance: Balance = "none"
    """``attention``: the sequences of each global batch go to data-parallel ranks so that the sum
    of squared document lengths (causal attention work with document masks) is even, longest
    first; which sequences form the global batch is unchanged, so resumes stay exact. ``none``:
    rank ``r`` takes rows ``r x batch_size`` onwards."""
    online_updates: bool = True
    """Hand weight changes to running workers in place; ``False``: restart the workers from the
    current position after every change (the older behaviour; the same stream, slower)."""

    def __post_init__(self) -> None:
        if isinstance(self.corpus, os.PathLike):
            object.__setattr__(self, "corpus", os.fspath(self.corpus))
        if not isinstance(self.corpus, str) or not self.corpus:
            raise ConfigError(f"corpus: expected the path of a token corpus, got {self.corpus!r}")
        for name in ("seq_len", "batch_size", "window", "prefetch_factor", "cache_bytes"):
            _check_int(self, name, minimum=1)
        for name in ("seed", "num_workers"):
            _check_int(self, name, minimum=0)
        for name, minimum in (("rank", 0), ("world_size", 1), ("block_batches", 1), ("pad_id", 0),
                              ("total_tokens", 1), ("mixture_lookahead", 0)):
            if getattr(self, name) is not None:
                _check_int(self, name, minimum=minimum)
        if self.rank is not None and self.world_size is not None and self.rank >= self.world_size:
            raise ConfigError(f"rank: rank {self.rank} is outside world size {self.world_size}")
        if self.packing not in ("concat", "best_fit"):
            raise ConfigError(f"packing: must be 'concat' or 'best_fit', got {self.packing!r}")
        for name, allowed in (("doc_mask", ("document", "none")), ("cp_split", ("head_tail", "contiguous")),
                              ("balance", ("none", "attention")), ("fetch", ("auto", "documents", "blocks"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}: must be one of {', '.join(map(repr, allowed))}, got {getattr(self, name)!r}")
        _check_int(self, "cp_degree", minimum=1)
        if self.world_size is not None and self.world_size % self.cp_degree:
            raise ConfigError(f"cp_degree: world size {self.world_size} is not a multiple of cp_degree {self.cp_degree}")
        if self.long_min_tokens is not None:
            check_long_min_tokens(self.long_min_tokens)
        methods = multiprocessing.get_all_start_methods()
        if self.multiprocessing_context is not None and self.multiprocessing_context not in methods:
            raise ConfigError(f"multiprocessing_context {self.multiprocessing_context!r} is not a start method "
                              f"here (one of {methods})")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], path: str = "loader") -> "LoaderConfig":
        """A config from a dict (a YAML section, say): every key checked against its field's type;
        an error names the key path (``loader.batch_size: expected an integer, got str ('8')``)."""
        # imported here so that importing the loader never loads the curation package
        from midtrain.curation.typed_config import from_mapping

        return from_mapping(cls, dict(data) if isinstance(data, Mapping) else data, path)

    @property
    def data_parallel_size(self) -> int:
        """Ranks that read different sequences: ``world_size / cp_degree`` (of a resolved config)."""
        if self.world_size is None:
            raise ConfigError("world_size: not known yet; LoaderConfig.resolved() reads it from torch.distributed")
        return self.world_size // self.cp_degree

    @property
    def data_parallel_rank(self) -> int:
        """This rank's data-parallel coordinate: ``rank // cp_degree``."""
        return (self.rank or 0) // self.cp_degree

    @property
    def context_parallel_rank(self) -> int:
        """This rank's place in its context-parallel group: ``rank % cp_degree``."""
        return (self.rank or 0) % self.cp_degree

    @property
    def global_batch_size(self) -> int:
        """Sequences per global batch outside ``tokens_per_step`` phases: ``batch_size x
        data_parallel_size`` (of a resolved config)."""
        return self.batch_size * self.data_parallel_size

    def resolved(self) -> "LoaderConfig":
        """This config with rank, world size, ``block_batches`` and ``mixture_lookahead`` filled in
        (itself if they are set)."""
        rank, world_size = self.rank, self.world_size
        if rank is None or world_size is None:
            dist = torch.distributed.is_available() and torch.distributed.is_initialized()
            if rank is None:
                rank = torch.distributed.get_rank() if dist else 0
            if world_size is None:
                world_size = torch.distributed.get_world_size() if dist else 1
        if world_size % self.cp_degree:
            raise ConfigError(f"cp_degree: world size {world_size} is not a multiple of cp_degree {self.cp_degree}")
        block_batches = self.block_batches
        if block_batches is None:
            block_batches = max(1, -(-MIN_BLOCK_SEQUENCES // (self.batch_size * (world_size // self.cp_degree))))
        lookahead = self.mixture_lookahead
        if lookahead is None:
            lookahead = default_mixture_lookahead(num_workers=self.num_workers, prefetch_factor=self.prefetch_factor,
                                                  batch_size=self.batch_size, seq_len=self.seq_len,
                                                  block_batches=block_batches)
        if (rank, world_size, block_batches, lookahead) == (self.rank, self.world_size, self.block_batches,
                                                            self.mixture_lookahead):
            return self
        return dataclasses.replace(self, rank=rank, world_size=world_size, block_batches=block_batches,
                                   mixture_lookahead=lookahead)

    def build(self, schedule: ScheduleLike | str | os.PathLike[str] | Mapping[str, Any], *,
              policy: AdaptivePolicy | None = None) -> PackedLoader:
        """The loader this config describes, over ``schedule``.

        ``schedule`` is a schedule object (``midtrain.mixers.load_schedule``), a path to a schedule
        file or a dict; a file or dict is resolved against the corpus (its domain sizes, for
        temperature/UniMax mixtures and the missing-domain check) and ``total_tokens``. ``policy``
        (``midtrain.mixers.DoReMiPolicy``, ``Exp3Policy``) enables ``loader.update_mixture``.
        """
        # the loader module imports this one: import it when a loader is built
        from midtrain.loaders.loader import PackedLoader

        if not hasattr(schedule, "weights_vector_at"):
            from midtrain.mixers import load_schedule_for_corpus

            schedule, _ = load_schedule_for_corpus(schedule, self.corpus, total_tokens=self.total_tokens,
                                                   long_min_tokens=self.long_min_tokens)
        return PackedLoader(self.resolved(), schedule, policy=policy)


def _check_int(config: LoaderConfig, name: str, *, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ConfigError(f"{name}: must be {what}, got {value!r}")

"""The exposure ledger: which documents every global batch holds, and how often each document has
been seen, computed from the loader's plan alone (no batch materialised, no token read).

The loader's global order is a pure function of (corpus, schedule, seed, position): a block of
sequences is :meth:`~midtrain.loaders.plan.GlobalPlan.block` of the :class:`PlanState` before it.
So the ledger walks the *same* plan the loader walks (built by the loader itself, with a saved
state's mixture log loaded into it) block by block, and answers from the segments
``(domain, document, begin, length)`` of each sequence:

- :meth:`Ledger.batch`: the document ids, domains, sources and token spans of global batch ``K``,
  row by row, with the data-parallel rank that reads each row (as
  :func:`~midtrain.loaders.batches.rank_rows` assigns them, ``balance="attention"`` included).
  A full pass keeps the :class:`PlanState` at the start of every block (a few numbers each) and,
  once it reaches the end of a finite schedule, every block's segments (:class:`BlockStore`,
  about 20 bytes per segment), both saved in a cache folder under a key of the plan's identity:
  a lookup then slices the store (or, with the snapshots alone, plans that one block).
- :meth:`Ledger.exposure`: tokens served per document up to a step, hence how many times each
  document was seen in full and whether a visit was in progress at the step; a histogram (times
  seen -> documents) and tables per domain, per source (the shards' ``source`` column, which
  ``midtrain tokenize`` copies from the text corpus; else the shard) and per quality tier (the
  ``quality_tier`` column, when every shard has one); the documents cut at a sequence
  boundary; and the token balance: token slots = document tokens + padding (best-fit).
- :meth:`Ledger.seen`: every (step, row, span) where a document appeared before a step.

:class:`PlanLedger` does the walking in plan coordinates (plan domain, document number in it) and
needs only a :class:`~midtrain.loaders.plan.GlobalPlan` (document lengths, no corpus); the
benchmark uses it directly. :class:`Ledger` adds the corpus: ids, shards, ranks, the cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from midtrain import __version__
from midtrain.errors import ConfigError
from midtrain.loaders.batches import rank_rows
from midtrain.loaders.config import LoaderConfig
from midtrain.loaders.plan import BlockPlan, GlobalPlan, PlanState, ScheduleLike

LEDGER_CACHE_VERSION = 1
POSITION_KEYS = ("batches_consumed", "plan", "policy")
"""Keys of a loader state that say where a run stands, not which plan it follows (left out of the
cache key, so every state of one run shares one snapshot index)."""


# -- plan coordinates --------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchPlan:
    """Global batch ``batch``: rows ``first_row:first_row + rows`` of ``block``."""

    batch: int
    block: BlockPlan
    first_row: int
    rows: int

    @property
    def sub_batch(self) -> int:
        """The batch's number within its block."""
        return self.first_row // self.block.global_batch_size

    def segments(self, row: int) -> slice:
        """The block segments of the batch's row ``row`` (0-based within the batch)."""
        r = self.first_row + row
        return slice(int(self.block.seq_ptr[r]), int(self.block.seq_ptr[r + 1]))


@dataclass
class ExposureCounts:
    """Tokens served per document over global batches ``0..step-1``, in global document order
    (plan domains concatenated, as :attr:`PlanLedger.doc_base` numbers them)."""

    step: int
    sequences: int
    token_slots: int
    """Sequences x their seq_len: every token position the loader filled, padding included."""
    doc_len: np.ndarray
    doc_domain: np.ndarray
    tokens: np.ndarray
    """Tokens of each document served (all visits together)."""
    cut: np.ndarray
    """True where a document had a span shorter than itself: cut at a sequence boundary (the rest
    of it is in the next sequence of its domain, or after the step), never lost."""

    @property
    def document_tokens(self) -> int:
        return int(self.tokens.sum())

    @property
    def padding(self) -> int:
        """Token slots that hold no document (best-fit rows that are not full)."""
        return self.token_slots - self.document_tokens

    @property
    def full(self) -> np.ndarray:
        """Times each document was seen in full. Every visit serves the whole document (cut or
        not) before the stream moves past it, so this is ``tokens // length``."""
        return np.where(self.doc_len > 0, self.tokens // np.maximum(self.doc_len, 1), 0)

    @property
    def partial(self) -> np.ndarray:
        """True where a visit was in progress at the step (some, not all, of its tokens served)."""
        return (self.doc_len > 0) & (self.tokens % np.maximum(self.doc_len, 1) != 0)

    def histogram(self) -> dict[int, int]:
        """Times seen in full -> documents (documents of at least one token; 0 = never in full)."""
        counts = np.bincount(self.full[self.doc_len > 0])
        return {i: int(n) for i, n in enumerate(counts) if n}

    def table(self, labels: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
        """One row per group (``labels[doc]`` indexes ``names``): documents, unique and served
        tokens, epochs, documents seen at all / in full / in progress, most times seen, cut."""
        n = len(names)
        nonempty = self.doc_len > 0
        full = self.full

        def count(mask: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
            lab = labels if mask is None else labels[mask]
            w = None if weights is None else (weights if mask is None else weights[mask])
            return np.bincount(lab, weights=w, minlength=n)

        docs, unique, served = count(nonempty), count(None, self.doc_len), count(None, self.tokens)
        seen, in_full = count(self.tokens > 0), count(full > 0)
        partial, cut = count(self.partial), count(self.cut)
        most = np.zeros(n, np.int64)
        if len(labels):
            np.maximum.at(most, labels, full)
        return [{"name": names[i], "documents": int(docs[i]), "unique_tokens": int(unique[i]),
                 "tokens_served": int(served[i]), "epochs": float(served[i] / unique[i]) if unique[i] else 0.0,
                 "seen": int(seen[i]), "seen_in_full": int(in_full[i]), "in_progress": int(partial[i]),
                 "most_times_seen": int(most[i]), "cut": int(cut[i])} for i in range(n)]


@dataclass
class BlockStore:
    """The segments of every block of a finished plan, blocks one after another: a lookup slices
    them instead of planning the block again (packing a best-fit window costs milliseconds; a
    slice, microseconds). 18 bytes per segment and 10 per sequence: 28-33 MB for a 1B-token plan
    of 2,048-token rows (``benchmarks/bench_ledger.py``)."""

    block_rows: np.ndarray
    """Block ``b`` holds sequences ``block_rows[b]:block_rows[b + 1]``."""
    row_domain: np.ndarray
    seq_ptr: np.ndarray
    """Sequence ``i`` holds segments ``seq_ptr[i]:seq_ptr[i + 1]`` (over the whole plan)."""
    seg_domain: np.ndarray
    seg_doc: np.ndarray
    seg_begin: np.ndarray
    seg_len: np.ndarray

    FIELDS = ("block_rows", "row_domain", "seq_ptr", "seg_domain", "seg_doc", "seg_begin", "seg_len")

    @classmethod
    def of(cls, blocks: list[tuple[np.ndarray, ...]]) -> "BlockStore":
        """From each block's ``(domain, seq_ptr, seg_domain, seg_doc, seg_begin, seg_len)``, in block order."""
        rows = np.concatenate([[0], np.cumsum([len(b[0]) for b in blocks])]).astype(np.int64)
        segs = np.concatenate([[0], np.cumsum([b[1][-1] for b in blocks])]).astype(np.int64)
        seq_ptr = np.concatenate([[0]] + [b[1][1:] + base for b, base in zip(blocks, segs[:-1])]).astype(np.int64)
        cat = lambda i, dtype: (np.concatenate([b[i] for b in blocks]) if blocks else np.zeros(0)).astype(dtype)
        return cls(block_rows=rows, row_domain=cat(0, np.int16), seq_ptr=seq_ptr, seg_domain=cat(2, np.int16),
                   seg_doc=cat(3, np.int32), seg_begin=cat(4, np.int64), seg_len=cat(5, np.int32))

    @property
    def blocks(self) -> int:
        return len(self.block_rows) - 1

    def arrays(self, b: int) -> tuple[np.ndarray, ...]:
        """Block ``b``'s ``(domain, seq_ptr, seg_domain, seg_doc, seg_begin, seg_len)`` as the plan gives them."""
        r0, r1 = self.block_rows[b], self.block_rows[b + 1]
        s0, s1 = self.seq_ptr[r0], self.seq_ptr[r1]
        i64 = lambda a: a.astype(np.int64)
        return (i64(self.row_domain[r0:r1]), self.seq_ptr[r0:r1 + 1] - s0, i64(self.seg_domain[s0:s1]),
                i64(self.seg_doc[s0:s1]), self.seg_begin[s0:s1], i64(self.seg_len[s0:s1]))


class PlanLedger:
    """Walks a :class:`GlobalPlan` block by block, keeping the :class:`PlanState` at the start of
    every block it has planned, so any block can later be planned again on its own.

    ``doc_lengths`` is the dict the plan was built from; documents are numbered globally, plan
    domain after plan domain (as :class:`~midtrain.loaders.dataset.DomainIndex` numbers them).
    """

    def __init__(self, plan: GlobalPlan, doc_lengths: Mapping[str, np.ndarray], *, block_batches: int,
                 snapshots: list[PlanState] | None = None, store: BlockStore | None = None) -> None:
        self.plan = plan
        self.block_batches = int(block_batches)
        self.domains: list[str] = list(plan.domains)
        parts = [np.asarray(doc_lengths.get(d, np.zeros(0, np.int64)), np.int64) for d in self.domains]
        sizes = np.array([len(p) for p in parts], np.int64)
        self.doc_base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        """Global number of each plan domain's first document (one more entry: the total)."""
        self.doc_len = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        self.doc_domain = np.repeat(np.arange(len(self.domains)), sizes)
        self.snapshots: list[PlanState] = list(snapshots) if snapshots else [plan.initial_state()]
        """``snapshots[b]``: the plan state at the start of block ``b`` (the blocks walked so far)."""
        self.grown = False
        """True once a walk has added snapshots (the cache file is then worth rewriting)."""
        self.store = store if store is not None and store.blocks == len(self.snapshots) - 1 else None
        """Every block's segments, once a walk from block 0 has reached the end of a finite schedule."""
        self._walked: list[tuple[np.ndarray, ...]] = []
        """The segments of blocks ``0..len - 1``, planned in order (what the store is made of)."""
        self._last: tuple[int, BlockPlan] | None = None

    # -- blocks --------------------------------------------------------------------------------
    def block(self, b: int) -> BlockPlan:
        """Block ``b``, planned from its snapshot (the blocks before it are walked once, if needed)."""
        if self._last is not None and self._last[0] == b:
            return self._last[1]
        while len(self.snapshots) <= b:
            self.block(len(self.snapshots) - 1)
        state = self.snapshots[b]
        if self.plan.exhausted(state):
            raise ConfigError(self._beyond(b * self.block_batches))
        if self.store is not None and b < self.store.blocks:
            planned = self._from_store(b, state)
        else:
            planned, after = self.plan.block(state)
            if b + 1 == len(self.snapshots):
                self.snapshots.append(after)
                self.grown = True
            if b == len(self._walked) and self.plan.schedule.total_tokens is not None:
                self._walked.append((planned.domain, planned.seq_ptr, planned.seg_domain, planned.seg_doc,
                                     planned.seg_begin, planned.seg_len))
                if self.plan.exhausted(self.snapshots[-1]) and len(self._walked) == len(self.snapshots) - 1:
                    self.store, self._walked = BlockStore.of(self._walked), []
                    self.grown = True
        self._last = (b, planned)
        return planned

    def _from_store(self, b: int, state: PlanState) -> BlockPlan:
        """Block ``b`` from the store: its segments sliced, the rest from the schedule at its first token."""
        plan, tokens = self.plan, state.tokens
        phase = plan.phase_at(tokens)
        domain, seq_ptr, seg_domain, seg_doc, seg_begin, seg_len = self.store.arrays(b)
        return BlockPlan(index=b, seq_len=plan.seq_len_at(tokens), tokens_before=tokens,
                         global_batch_size=plan.global_batch_at(tokens), phase=getattr(phase, "name", None),
                         rope=getattr(phase, "rope", None), weights=plan.weights_at_block(b, tokens), domain=domain,
                         seq_ptr=seq_ptr, seg_domain=seg_domain, seg_doc=seg_doc, seg_begin=seg_begin, seg_len=seg_len)

    @property
    def total_batches(self) -> int | None:
        """Global batches of the whole schedule (``None``: the schedule has no token budget, the
        stream is endless). Walks the plan to its end the first time."""
        if self.plan.schedule.total_tokens is None:
            return None
        while not self.plan.exhausted(self.snapshots[-1]):
            self.block(len(self.snapshots) - 1)
        return (len(self.snapshots) - 1) * self.block_batches

    def _beyond(self, batch: int) -> str:
        total = self.total_batches
        return f"batch {batch} is beyond the schedule: it has {total:,} global batches (0..{total - 1:,})"

    def blocks(self, stop_batch: int) -> Iterator[tuple[BlockPlan, int]]:
        """Every block holding a global batch before ``stop_batch``, with how many of its batches are."""
        bb = self.block_batches
        b = 0
        while b * bb < stop_batch:
            yield self.block(b), min(bb, stop_batch - b * bb)
            b += 1

    def check_step(self, step: int | None, what: str = "step") -> int:
        """``step`` (a number of global batches from the start) checked against the schedule;
        ``None``: the whole schedule."""
        total = self.total_batches
        if step is None:
            if total is None:
                raise ConfigError(f"{what}: the schedule has no total_tokens, so the stream is endless; give a step")
            return total
        if step < 0:
            raise ConfigError(f"{what}: must be a non-negative number of global batches, got {step}")
        if total is not None and step > total:
            raise ConfigError(f"{what}: {step:,} is beyond the schedule's {total:,} global batches")
        return int(step)

    # -- questions -----------------------------------------------------------------------------
    def batch(self, batch: int) -> BatchPlan:
        """Global batch ``batch`` (numbered from the start of the run)."""
        if batch < 0:
            raise ConfigError(f"batch: must be a non-negative global batch number, got {batch}")
        total = self.total_batches
        if total is not None and batch >= total:
            raise ConfigError(self._beyond(batch))
        b, sub = divmod(int(batch), self.block_batches)
        block = self.block(b)
        gbs = block.global_batch_size
        return BatchPlan(batch=int(batch), block=block, first_row=sub * gbs, rows=gbs)

    def exposure(self, step: int | None = None) -> ExposureCounts:
        """Tokens served per document over global batches ``0..step-1`` (``None``: the whole schedule)."""
        step = self.check_step(step)
        docs, lens, cut = [], [], []
        sequences = slots = 0
        for block, n in self.blocks(step):
            rows = n * block.global_batch_size
            end = int(block.seq_ptr[rows])
            gdoc = self.doc_base[block.seg_domain[:end]] + block.seg_doc[:end]
            length = block.seg_len[:end]
            docs.append(gdoc)
            lens.append(length)
            cut.append(gdoc[length < self.doc_len[gdoc]])
            sequences += rows
            slots += rows * block.seq_len
        n_docs = len(self.doc_len)
        gdoc = np.concatenate(docs) if docs else np.zeros(0, np.int64)
        length = np.concatenate(lens) if lens else np.zeros(0, np.int64)
        # float64 weights are exact below 2**53 tokens per document
        tokens = np.bincount(gdoc, weights=length, minlength=n_docs).astype(np.int64)
        is_cut = np.zeros(n_docs, bool)
        if cut:
            is_cut[np.concatenate(cut)] = True
        return ExposureCounts(step=step, sequences=sequences, token_slots=slots, doc_len=self.doc_len,
                              doc_domain=self.doc_domain, tokens=tokens, cut=is_cut)

    def seen(self, doc: int, before_step: int) -> list[tuple[int, int, int, int]]:
        """``(batch, row in the global batch, begin, length)`` of every span of global document
        ``doc`` in global batches ``0..before_step-1``."""
        before_step = self.check_step(before_step, "before")
        k = int(self.doc_domain[doc])
        local = int(doc - self.doc_base[k])
        out = []
        for block, n in self.blocks(before_step):
            gbs = block.global_batch_size
            end = int(block.seq_ptr[n * gbs])
            hit = np.flatnonzero((block.seg_doc[:end] == local) & (block.seg_domain[:end] == k))
            if len(hit) == 0:
                continue
            seq = np.searchsorted(block.seq_ptr, hit, "right") - 1
            for s, i in zip(seq.tolist(), hit.tolist()):
                out.append((block.index * self.block_batches + s // gbs, s % gbs, int(block.seg_begin[i]),
                            int(block.seg_len[i])))
        return out


# -- over a token corpus ---------------------------------------------------------------------------
@dataclass(slots=True)
class Span:
    """A piece of one document in a sequence: tokens ``begin:begin + length`` of it."""

    doc: str
    """The document's ``id`` in the corpus."""
    domain: str
    source: str
    """The document's ``source`` (the token shard's column), else the shard it is stored in."""
    begin: int
    length: int
    doc_length: int

    @property
    def cut(self) -> bool:
        """Shorter than its document: the document continues in another sequence."""
        return self.length < self.doc_length


@dataclass(slots=True)
class Row:
    """One sequence of a global batch."""

    row: int
    """Its index in the global batch."""
    rank: int
    """The data-parallel rank that reads it (with context parallelism, every rank of that group)."""
    rank_row: int
    """Its row in that rank's batch tensors."""
    domain: str
    spans: list[Span]
    padding: int


@dataclass(frozen=True)
class BatchRecord:
    """What global batch ``batch`` holds, row by row."""

    batch: int
    block: int
    phase: str | None
    seq_len: int
    rows: list[Row]

    @property
    def document_tokens(self) -> int:
        return sum(s.length for r in self.rows for s in r.spans)

    @property
    def padding(self) -> int:
        return sum(r.padding for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(document_tokens=self.document_tokens, padding=self.padding)
        return out

    def text(self) -> str:
        lines = [f"batch {self.batch:,} (block {self.block:,}, phase {self.phase or '-'}, seq_len {self.seq_len:,}): "
                 f"{len(self.rows)} rows, {self.document_tokens:,} document tokens, {self.padding:,} padding"]
        for r in self.rows:
            spans = ", ".join(f"{s.doc}[{s.begin}:{s.begin + s.length}]"
                              + (f" of {s.doc_length} (cut)" if s.cut else "") for s in r.spans)
            pad = f" + {r.padding} padding" if r.padding else ""
            lines.append(f"  row {r.row:>4} rank {r.rank} ({r.rank_row:>3})  {r.domain:<8} {spans}{pad}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Appearance:
    """One span of a document in the stream (:meth:`Ledger.seen`)."""

    batch: int
    row: int
    rank: int
    begin: int
    length: int


@dataclass
class ExposureReport:
    """:class:`ExposureCounts` with names: per domain, per source, the cut documents' ids."""

    counts: ExposureCounts
    by_domain: list[dict[str, Any]]
    by_source: list[dict[str, Any]]
    cut_documents: list[str]
    ids: list[str] | None = field(default=None, repr=False)
    by_tier: list[dict[str, Any]] | None = None
    """Per ``quality_tier`` (``none`` for documents without one); ``None`` when the corpus has no tiers."""
    """Every document's id in global order, when a per-document listing was asked for."""

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        out = {"step": c.step, "sequences": c.sequences, "token_slots": c.token_slots,
               "document_tokens": c.document_tokens, "padding": c.padding,
               "histogram": {str(k): v for k, v in c.histogram().items()},
               "in_progress": int(c.partial.sum()), "by_domain": self.by_domain, "by_source": self.by_source,
               "quality_tier": self.by_tier, "cut_documents": self.cut_documents}
        if self.ids is not None:
            full, partial = c.full.tolist(), c.partial.tolist()
            out["documents"] = [{"id": d, "times_seen": full[i], "in_progress": partial[i],
                                 "tokens_served": int(c.tokens[i]), "cut": bool(c.cut[i])}
                                for i, d in enumerate(self.ids)]
        return out

    def text(self) -> str:
        c = self.counts
        lines = [f"exposure over global batches 0..{c.step - 1:,} ({c.sequences:,} sequences)",
                 f"token slots {c.token_slots:,} = document tokens {c.document_tokens:,} + padding {c.padding:,}",
                 "", "times seen in full -> documents"]
        lines += [f"  {k:>6}  {v:,}" for k, v in c.histogram().items()]
        lines.append(f"  (a visit in progress at the step: {int(c.partial.sum()):,} documents)")
        cols = ("documents", "unique_tokens", "tokens_served", "epochs", "seen", "seen_in_full", "in_progress",
                "most_times_seen", "cut")
        tables = [("domain", self.by_domain), ("source", self.by_source)]
        if self.by_tier is not None:
            tables.append(("quality tier", self.by_tier))
        for title, rows in tables:
            width = max([len(title)] + [len(r["name"]) for r in rows])
            lines += ["", f"{title:<{width}}  " + "  ".join(f"{h:>13}" for h in cols)]
            for r in rows:
                lines.append(f"{r['name']:<{width}}  " + "  ".join(
                    f"{r[h]:>13.3f}" if h == "epochs" else f"{r[h]:>13,}" for h in cols))
        if self.by_tier is None:
            lines += ["", "quality tier: the token corpus carries none (tokenize a corpus with quality_tier)"]
        lines += ["", f"documents cut at a sequence boundary: {len(self.cut_documents):,}"
                  + (f" (first: {', '.join(self.cut_documents[:5])})" if self.cut_documents else "")]
        return "\n".join(lines)


class Ledger:
    """The exposure ledger of a loader's plan over its token corpus.

    ``loader`` is a :class:`~midtrain.loaders.loader.PackedLoader`; its plan (with whatever a loaded
    state carried) is walked as is, so the ledger follows the stream the loader serves by
    construction. ``cache_dir``: where the snapshot index is kept between runs (``None``: only in
    memory). ``position``: the global batches a loaded state had consumed (the default step).
    """

    def __init__(self, loader: Any, *, cache_dir: str | os.PathLike | None = None, position: int | None = None) -> None:
        self.config: LoaderConfig = loader.config
        plan: GlobalPlan = loader._plan
        # the loader's own DomainIndex: the one its plan's documents are numbered by
        self.corpus, self.index = loader.corpus, loader.index
        lengths = self.index.lengths_by_domain(plan.domains)
        for d, stream in plan.streams.items():
            if not np.array_equal(stream.lengths, lengths.get(d)):
                raise ConfigError(f"domain {d!r}: the plan's documents differ from the corpus index; "
                                  "the ledger cannot name them")
        self.position = position
        self.key = self._cache_key(loader.state_dict())
        self.cache_path = Path(cache_dir) / f"ledger-{self.key}.json" if cache_dir is not None else None
        snapshots, store = self._load_cache()
        self.plan = PlanLedger(plan, lengths, block_batches=self.config.block_batches, snapshots=snapshots,
                               store=store)
        if not np.array_equal(self.plan.doc_base[:-1], self.index.base):
            raise ConfigError("the plan numbers documents unlike the corpus index; the ledger cannot name them")
        self.doc_row = self._doc_rows()
        root = Path(self.corpus.path)
        # a shard's place in the corpus: its manifest path (at a URL) or its path under the folder
        self.sources = [s.info.path if hasattr(s, "info") else os.path.relpath(s.path, root)
                        for s in self.index.shard_sources]
        self._ids: dict[int, Any] = {}
        self._label_cache: dict[str, tuple[np.ndarray, list[str]] | None] = {}

    # -- cache ---------------------------------------------------------------------------------
    @staticmethod
    def _cache_key(state: Mapping[str, Any]) -> str:
        """What fixes the plan: the loader state without its position, the ledger format, midtrain's version."""
        fields = {k: v for k, v in state.items() if k not in POSITION_KEYS}
        fields.update(ledger=LEDGER_CACHE_VERSION, midtrain=__version__)
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def _load_cache(self) -> tuple[list[PlanState] | None, BlockStore | None]:
        """The saved snapshot index and block store, if there are some for this plan (anything
        unreadable is ignored, and rebuilt by the next walk)."""
        if self.cache_path is None or not self.cache_path.is_file():
            return None, None
        try:
            data = json.loads(self.cache_path.read_text())
            if data.get("key") != self.key:
                return None, None
            snapshots = [PlanState.from_dict(s) for s in data["snapshots"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None, None
        if not snapshots or any(s.block != i for i, s in enumerate(snapshots)):
            return None, None
        store = None
        npz = self.cache_path.with_suffix(".npz")
        if npz.is_file():
            try:
                with np.load(npz) as arrays:
                    store = BlockStore(**{f: arrays[f] for f in BlockStore.FIELDS})
            except (OSError, ValueError, KeyError):
                store = None
        return snapshots, store

    def save(self) -> None:
        """Write the snapshot index (and the block store, once there is one) if a walk added to
        them: each to a temporary name, then renamed, the store first."""
        if self.cache_path is None or not self.plan.grown:
            return
        from midtrain.corpus.manifest import atomic_write_bytes

        store = self.plan.store
        try:
            if store is not None:
                npz = self.cache_path.with_suffix(".npz")
                tmp = npz.with_name(f".{npz.name}.tmp-{os.getpid()}")
                npz.parent.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as f:
                    np.savez(f, **{name: getattr(store, name) for name in BlockStore.FIELDS})
                os.replace(tmp, npz)
            body = {"key": self.key, "snapshots": [s.to_dict() for s in self.plan.snapshots]}
            atomic_write_bytes(self.cache_path, json.dumps(body, separators=(",", ":")).encode())
        except OSError as exc:  # the answers stand; only the next run's head start is lost
            print(f"midtrain ledger: cannot write the block index to {self.cache_path.parent} ({exc.strerror}); "
                  "continuing without it", file=sys.stderr)
            self.cache_path = None
        self.plan.grown = False

    # -- documents -----------------------------------------------------------------------------
    def _doc_rows(self) -> np.ndarray:
        """Each global document's row in its shard (``DomainIndex`` keeps token offsets, and empty
        documents share theirs), selected the way the index selects documents."""
        rows = {}
        for src in {src for parts in self.index.selection.parts.values() for src, _ in parts}:
            shards = self.corpus.shards[src]
            rows[src] = np.concatenate([np.arange(s.num_docs) for s in shards]) if shards else np.zeros(0, np.int64)
        out = [rows[src] if idx is None else rows[src][idx]
               for d in self.plan.domains for src, idx in self.index.selection.parts.get(d, ())]
        doc_row = np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)
        if len(doc_row) != len(self.index.doc_len):
            raise ConfigError("the corpus index and its shards disagree on the number of documents")
        return doc_row

    def _id_column(self, shard: int) -> Any:
        """Shard ``shard``'s ``id`` column (an Arrow array over the memory map, read once)."""
        col = self._ids.get(shard)
        if col is None:
            source = self.index.shard_sources[shard]
            col = source.column("id")  # over the memory map, or read with ranged GETs at a URL
            if col is None:
                raise ConfigError(f"{source.path}: token shard has no 'id' column")
            self._ids[shard] = col
        return col

    def doc_id(self, doc: int) -> str:
        """The corpus ``id`` of global document ``doc``."""
        return self._id_column(int(self.index.doc_shard[doc]))[int(self.doc_row[doc])].as_py()

    def doc_ids(self, docs: np.ndarray) -> list[str]:
        """The corpus ``id`` of every global document in ``docs`` (one Arrow ``take`` per shard)."""
        shard, row = self.index.doc_shard[docs], self.doc_row[docs]
        out: list[str] = [""] * len(docs)
        for s in np.unique(shard).tolist():
            where = np.flatnonzero(shard == s)
            for i, d in zip(where.tolist(), self._id_column(s).take(row[where]).to_pylist()):
                out[i] = d
        return out

    def all_ids(self) -> list[str]:
        """Every document's id, in global order."""
        out: list[str] = [""] * len(self.doc_row)
        for shard in np.unique(self.index.doc_shard).tolist():
            where = np.flatnonzero(self.index.doc_shard == shard)
            column = self._id_column(shard).to_pylist()
            for g, r in zip(where.tolist(), self.doc_row[where].tolist()):
                out[g] = column[r]
        return out

    def find(self, doc_id: str) -> int:
        """The global number of the document with this ``id``."""
        import pyarrow.compute as pc

        for shard in np.unique(self.index.doc_shard).tolist():
            row = pc.index(self._id_column(shard), doc_id).as_py()
            if row >= 0:
                hit = np.flatnonzero((self.index.doc_shard == shard) & (self.doc_row == row))
                if len(hit):
                    return int(hit[0])
        raise ConfigError(f"document id {doc_id!r} is not in the corpus {self.config.corpus} "
                          f"(domains {', '.join(self.plan.domains)})")

    # -- ranks ---------------------------------------------------------------------------------
    def _owners(self, planned: BatchPlan) -> tuple[np.ndarray, np.ndarray]:
        """Data-parallel rank of each row of the batch, and the row's place in that rank's batch."""
        config = self.config
        rank = np.zeros(planned.rows, np.int64)
        place = np.zeros(planned.rows, np.int64)
        for dp in range(config.data_parallel_size):
            rows = rank_rows(planned.block, planned.sub_batch, dataclasses.replace(config, rank=dp * config.cp_degree))
            rank[rows - planned.first_row] = dp
            place[rows - planned.first_row] = np.arange(len(rows))
        return rank, place

    # -- questions -----------------------------------------------------------------------------
    def batch(self, batch: int, rank: int | None = None) -> BatchRecord:
        """Global batch ``batch``: every row, or only those rank ``rank`` reads (in its order)."""
        if rank is not None and not 0 <= rank < self.config.world_size:
            raise ConfigError(f"rank: {rank} is outside world size {self.config.world_size}")
        planned = self.plan.batch(batch)
        block = planned.block
        owner, place = self._owners(planned)
        rows = range(planned.rows)
        if rank is not None:
            dp = rank // self.config.cp_degree
            rows = sorted((r for r in rows if owner[r] == dp), key=lambda r: place[r])
        # every segment of the batch at once: ids by one take per shard, then cut into rows
        a = int(block.seq_ptr[planned.first_row])
        seg = slice(a, int(block.seq_ptr[planned.first_row + planned.rows]))
        gdoc = self.plan.doc_base[block.seg_domain[seg]] + block.seg_doc[seg]
        ids = self.doc_ids(gdoc)
        doc_source = self._labels("source")
        sources = ([self.sources[i] for i in self.index.doc_shard[gdoc].tolist()] if doc_source is None
                   else [doc_source[1][i] for i in doc_source[0][gdoc].tolist()])
        begin, length = block.seg_begin[seg].tolist(), block.seg_len[seg].tolist()
        doc_len = self.plan.doc_len[gdoc].tolist()
        bounds = (block.seq_ptr[planned.first_row:planned.first_row + planned.rows + 1] - a).tolist()
        row_domain = block.domain[planned.first_row:planned.first_row + planned.rows].tolist()
        out = []
        for r in rows:
            i0, i1 = bounds[r], bounds[r + 1]
            domain = self.plan.domains[row_domain[r]]
            spans = [Span(doc=ids[i], domain=domain, source=sources[i], begin=begin[i], length=length[i],
                          doc_length=doc_len[i]) for i in range(i0, i1)]
            out.append(Row(row=r, rank=int(owner[r]), rank_row=int(place[r]), domain=domain, spans=spans,
                           padding=block.seq_len - sum(length[i0:i1])))
        self.save()
        return BatchRecord(batch=planned.batch, block=block.index, phase=block.phase, seq_len=block.seq_len, rows=out)

    def exposure(self, step: int | None = None, *, documents: bool = False) -> ExposureReport:
        """Exposure over global batches ``0..step-1``; ``None``: up to the loaded state's position,
        else the whole schedule. ``documents``: also list every document's counts by id."""
        counts = self.plan.exposure(self.position if step is None else step)
        self.save()
        doc_source, tiers = self._labels("source"), self._labels("quality_tier")
        by_source = (counts.table(self.index.doc_shard, self.sources) if doc_source is None
                     else counts.table(*doc_source))
        cut = np.flatnonzero(counts.cut).tolist()
        return ExposureReport(counts=counts, by_domain=counts.table(self.plan.doc_domain, self.plan.domains),
                              by_source=[r for r in by_source if r["documents"] or r["unique_tokens"]],
                              cut_documents=[self.doc_id(g) for g in cut], ids=self.all_ids() if documents else None,
                              by_tier=None if tiers is None else counts.table(*tiers))

    def _labels(self, column: str) -> tuple[np.ndarray, list[str]] | None:
        """Per global document, the index of its value of the shards' metadata ``column`` into a sorted
        list of the values (a missing value is ``none``); ``None`` unless every shard has the column."""
        if column in self._label_cache:
            return self._label_cache[column]
        import pyarrow as pa
        import pyarrow.compute as pc

        per_shard = []
        for source in self.index.shard_sources:
            values = source.column(column)
            if values is None:
                self._label_cache[column] = None
                return None
            per_shard.append(pc.fill_null(values.cast(pa.string()), "none"))
        values = pa.concat_arrays(per_shard) if per_shard else pa.array([], pa.string())
        names = sorted(pc.unique(values).to_pylist())
        codes = pc.index_in(values, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
        starts = np.zeros(len(per_shard) + 1, np.int64)
        np.cumsum([len(a) for a in per_shard], out=starts[1:])
        labels = codes.astype(np.int64)[starts[self.index.doc_shard] + self.doc_row] if len(self.doc_row) \
            else np.zeros(0, np.int64)
        self._label_cache[column] = (labels, names)
        return self._label_cache[column]

    def seen(self, doc_id: str, before_step: int | None = None) -> list[Appearance]:
        """Every span of document ``doc_id`` in global batches ``0..before_step-1`` (``None``: as
        :meth:`exposure`)."""
        doc = self.find(doc_id)
        hits = self.plan.seen(doc, self.position if before_step is None else before_step)
        self.save()
        out = []
        owners: dict[int, np.ndarray] = {}
        for batch, row, begin, length in hits:
            if batch not in owners:
                owners[batch] = self._owners(self.plan.batch(batch))[0]
            out.append(Appearance(batch=batch, row=row, rank=int(owners[batch][row]), begin=begin, length=length))
        return out


def open_ledger(config: LoaderConfig, schedule: ScheduleLike | str | os.PathLike | Mapping[str, Any], *,
                state: Mapping[str, Any] | None = None, cache_dir: str | os.PathLike | None = None,
                state_name: str = "loader state") -> Ledger:
    """The ledger of the loader ``config.build(schedule)``, with ``state`` (a loader
    ``state_dict()``) loaded into it first, so the plan carries what the state carries (its
    mixture log); a state of another corpus, schedule or seed is refused by the loader's own
    check, the message prefixed with ``state_name`` (the file, for the command)."""
    loader = config.build(schedule)
    position = None
    if state is not None:
        try:
            loader.load_state_dict(dict(state))
            position = int(state["batches_consumed"])
        except ConfigError as exc:
            raise ConfigError(f"{state_name}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{state_name}: missing or malformed entry ({exc!r})") from None
    return Ledger(loader, cache_dir=cache_dir, position=position)


# -- the command -------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/midtrain/ledger`` (else ``~/.cache/midtrain/ledger``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "midtrain" / "ledger"


def _settings_from_state(args: argparse.Namespace, state: Mapping[str, Any] | None) -> None:
    """Loader settings not given on the command line, from what the state records of its plan
    (``plan_description``, the global batch, ``block_batches``); without a state they are required."""
    desc = (state or {}).get("plan_description") or {}
    recorded = {"seq_len": desc.get("seq_len"), "seed": desc.get("seed"), "window": desc.get("window"),
                "packing": desc.get("packing"), "long_min_tokens": desc.get("long_min_tokens"),
                "block_batches": (state or {}).get("block_batches")}
    if args.batch_size is None and state is not None and "global_batch_size" in state:
        args.batch_size, args.world_size = int(state["global_batch_size"]) // args.world_size, args.world_size
    for key, value in recorded.items():
        if getattr(args, key, None) is None and value is not None:
            setattr(args, key, value)
    missing = [f"--{k.replace('_', '-')}" for k in ("seq_len", "batch_size", "seed") if getattr(args, k) is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: the run's loader settings are needed (or --state, whose plan "
                          "description records them)")
    args.window = 4096 if args.window is None else args.window
    args.packing = args.packing or "concat"


def run_command(args: argparse.Namespace) -> int:
    """``midtrain ledger``: the parser is in :mod:`midtrain.cli`; errors are :class:`ConfigError`."""
    from midtrain.mixers.positions import parse_position

    for flag, value, needs in (("--rank", args.rank, args.batch is not None), ("--step", args.step, args.exposure),
                               ("--documents", args.documents or None, args.exposure and args.json),
                               ("--before", args.before, args.seen is not None)):
        if value is not None and not needs:
            wanted = {"--rank": "--batch", "--step": "--exposure", "--documents": "--exposure --json",
                      "--before": "--seen"}[flag]
            raise ConfigError(f"{flag} goes with {wanted}")
    schedule: Any = args.schedule
    if schedule.lstrip().startswith("{"):
        try:
            schedule = json.loads(schedule)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"SCHEDULE: not valid JSON ({exc})") from None
    elif not Path(schedule).is_file():
        raise ConfigError(f"{schedule}: schedule file not found")
    state = None
    if args.state:
        try:
            state = json.loads(Path(args.state).read_text())
        except OSError as exc:
            raise ConfigError(f"{args.state}: cannot read the loader state ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{args.state}: not a JSON loader state ({exc})") from None
        if not isinstance(state, dict):
            raise ConfigError(f"{args.state}: not a loader state (a JSON object)")
    total = parse_position(args.total_tokens, "--total-tokens", None) if args.total_tokens is not None else None
    _settings_from_state(args, state)
    config = LoaderConfig(corpus=args.corpus, seq_len=args.seq_len, batch_size=args.batch_size, seed=args.seed,
                          rank=0, world_size=args.world_size, packing=args.packing, window=args.window,
                          block_batches=args.block_batches, total_tokens=total, long_min_tokens=args.long_min_tokens,
                          cp_degree=args.cp_degree, balance=args.balance, doc_mask=args.doc_mask)
    cache = None if args.no_cache else (args.cache or default_cache_dir())
    ledger = open_ledger(config, schedule, state=state, cache_dir=cache, state_name=args.state or "")
    if args.batch is not None:
        result: Any = ledger.batch(args.batch, args.rank)
        body = result.to_dict() if args.json else result.text()
    elif args.exposure:
        result = ledger.exposure(args.step, documents=args.documents)
        body = result.to_dict() if args.json else result.text()
    else:
        hits = ledger.seen(args.seen, args.before)
        before = ledger.plan.check_step(ledger.position if args.before is None else args.before, "--before")
        if args.json:
            body = {"doc": args.seen, "before": before, "appearances": [dataclasses.asdict(h) for h in hits]}
        else:
            lines = [f"{args.seen}: {len(hits)} span(s) in global batches 0..{before - 1}"]
            lines += [f"  batch {h.batch:>6}  row {h.row:>4}  rank {h.rank}  tokens {h.begin}:{h.begin + h.length}"
                      for h in hits]
            body = "\n".join(lines)
    if args.json:
        json.dump(body, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(body)
    return 0

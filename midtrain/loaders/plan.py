"""The global sequence plan: a pure function of (corpus, schedule, seed, position).

The global stream is cut into blocks of ``block_size`` sequences (a multiple of the global batch).
For block ``b`` the schedule (or the adaptive log) gives weights at the block's first token and
the block's ``seq_len``; :func:`~midtrain.loaders.kernels.blend_slots` gives every slot a domain
with an error carry, so the cumulative count of every domain stays within one sequence of its
target after every slot; the slots of each global batch are then shuffled by a permutation
seeded by ``(seed, b)``, so the target holds to within one sequence at every batch boundary; each
slot takes the next sequence of its domain's stream.

:class:`PlanState` is everything needed to continue (block, tokens so far, error vector, one
cursor per domain): a few numbers, JSON-able, and the same whatever the world size or number of
workers, because ranks and workers only choose *which* part of a block they materialise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from midtrain.errors import ConfigError
from midtrain.loaders.kernels import blend_slots, order_segments
from midtrain.loaders.streams import BestFitStream, ConcatStream, RuleKey, check_rule, seeded_rng


class PhaseLike(Protocol):
    """What the loader reads of a schedule's phase (``midtrain.mixers.Phase`` provides it; the
    long-context fields ``tokens_per_step``, ``length_rules`` and ``rope`` are optional)."""

    seq_len: int | None
    """The phase's sequence length, or ``None`` for the loader's default."""


class ScheduleLike(Protocol):
    """What the loader needs from a schedule (``midtrain.mixers.Schedule`` provides it)."""

    domains: tuple[str, ...]
    total_tokens: int | None
    phases: Sequence[PhaseLike]
    """Read for the longest ``seq_len`` of the run (the size of the loader's batch buffers)."""
    long_min_tokens: int | None
    """Tokens that put a document in a length-selected ``long`` domain (``None``: the default)."""

    def weights_vector_at(self, tokens: int) -> np.ndarray: ...
    def seq_len_at(self, tokens: int) -> int | None: ...
    def fingerprint(self) -> str: ...


@dataclass
class PlanState:
    """Where the plan stands at the start of a block."""

    block: int = 0
    tokens: int = 0
    err: list[float] = field(default_factory=list)
    cursors: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"block": self.block, "tokens": self.tokens, "err": list(self.err),
                "cursors": {d: list(c) for d, c in self.cursors.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlanState":
        return cls(block=int(d["block"]), tokens=int(d["tokens"]), err=[float(x) for x in d["err"]],
                   cursors={k: [int(x) for x in v] for k, v in d["cursors"].items()})


@dataclass
class BlockPlan:
    """One block: the domain and the segments of each of its sequences."""

    index: int
    seq_len: int
    tokens_before: int
    global_batch_size: int
    """Sequences per global batch in this block (the phase's ``tokens_per_step // seq_len``, else
    the loader's ``batch_size x data-parallel size``)."""
    phase: str | None
    rope: dict[str, Any] | None
    weights: np.ndarray
    domain: np.ndarray
    """Domain index of each sequence, shape ``[block_size]``."""
    seq_ptr: np.ndarray
    """Sequence ``i`` has segments ``seq_ptr[i]:seq_ptr[i + 1]``."""
    seg_domain: np.ndarray
    seg_doc: np.ndarray
    seg_begin: np.ndarray
    seg_len: np.ndarray


class GlobalPlan:
    """Blocks of sequences over per-domain streams, following a schedule and an adaptive log."""

    def __init__(self, doc_lengths: dict[str, np.ndarray], schedule: ScheduleLike, *, seed: int, seq_len: int,
                 block_size: int, global_batch_size: int | None = None, packing: str = "concat", window: int = 4096,
                 mixture_log: list[tuple[int, list[float]]] | None = None,
                 long_min_tokens: int | None = None, data_parallel: int = 1) -> None:
        if packing not in ("concat", "best_fit"):
            raise ConfigError(f"packing must be 'concat' or 'best_fit', got {packing!r}")
        if seq_len < 1 or block_size < 1:
            raise ConfigError("seq_len and block_size must be positive")
        self.schedule = schedule
        self.domains = list(schedule.domains)
        self.seed = int(seed)
        self.default_seq_len = int(seq_len)
        self.block_size = int(block_size)
        self.global_batch_size = int(global_batch_size or block_size)
        if self.block_size % self.global_batch_size:
            raise ConfigError(f"block_size {block_size} must be a multiple of the global batch {global_batch_size}")
        self.block_batches = self.block_size // self.global_batch_size
        self.data_parallel = int(data_parallel)
        self.packing = packing
        self.window = int(window)
        self.mixture_log: list[tuple[int, list[float]]] = [(int(b), list(w)) for b, w in (mixture_log or [])]
        self.long_min_tokens = None if long_min_tokens is None else int(long_min_tokens)
        """The threshold that selected a virtual ``long`` domain's documents (``None``: no virtual
        domain); part of the fingerprint, since another threshold moves documents between domains."""
        self.streams: dict[str, ConcatStream | BestFitStream] = {}
        for i, d in enumerate(self.domains):
            lengths = doc_lengths.get(d)
            if lengths is None:
                raise ConfigError(f"schedule domain {d!r} is not in the corpus (has {sorted(doc_lengths)})")
            if int(lengths.sum()) == 0:
                continue  # sampled only if its weight is positive; checked per block
            if packing == "concat":
                self.streams[d] = ConcatStream(lengths, self.seed, i)
            else:
                self.streams[d] = BestFitStream(lengths, self.seed, i, self.window)
        self._check_phases(doc_lengths)
        self.removals: list[dict[str, np.ndarray]] = []
        """Per amendment era (index ``era - 1``): the removed documents of each domain as a bool mask
        (:meth:`set_removals`; none without amendments)."""

    def set_removals(self, removals: list[dict[str, np.ndarray]]) -> None:
        """Install the removed-document masks of every amendment era (cumulative), domain by domain."""
        self.removals = removals

    def _era(self, tokens: int) -> int:
        era_at = getattr(self.schedule, "era_at", None)
        return era_at(tokens) if era_at is not None else 0

    def drop_at(self, tokens: int, domain: str):
        """``(era, mask)`` of the documents of ``domain`` removed in the era at ``tokens``, or ``None``."""
        era = self._era(tokens)
        if era == 0 or era > len(self.removals):
            return None
        mask = self.removals[era - 1].get(domain)
        return None if mask is None or not mask.any() else (era, mask)

    def _check_phases(self, doc_lengths: dict[str, np.ndarray]) -> None:
        """Refuse, before any batch, a ``tokens_per_step`` that does not split into whole
        sequences per data-parallel rank, and a length rule that can keep no document."""
        for i, phase in enumerate(getattr(self.schedule, "phases", ())):
            seq_len = phase.seq_len or self.default_seq_len
            step = getattr(phase, "tokens_per_step", None)
            if step is not None and step % (seq_len * self.data_parallel):
                raise ConfigError(
                    f"phases[{i}].tokens_per_step: {step:,} tokens is not a whole number of sequences per "
                    f"data-parallel rank (seq_len {seq_len:,} x {self.data_parallel} ranks = "
                    f"{seq_len * self.data_parallel:,}); the token budget per step would change")
            for d, rule in getattr(phase, "length_rules", ()):
                lengths = doc_lengths.get(d)
                why = None if lengths is None or not len(lengths) else check_rule(lengths, rule.key())
                if why is not None:
                    raise ConfigError(f"phases[{i}].length_upsample.{d}: {why}")

    def phase_at(self, tokens: int) -> Any:
        """The schedule phase at ``tokens`` (``None`` for a schedule without ``phase_at``)."""
        at = getattr(self.schedule, "phase_at", None)
        return at(tokens) if at is not None else None

    def global_batch_at(self, tokens: int) -> int:
        """Sequences per global batch for a block starting at ``tokens``."""
        step = getattr(self.phase_at(tokens), "tokens_per_step", None)
        return step // self.seq_len_at(tokens) if step else self.global_batch_size

    # -- schedule ---------------------------------------------------------------------------
    def log_index(self, block: int) -> int:
        """Index of the adaptive log entry that sets block ``block``'s weights (the last one logged
        for a block ``<= block``), or -1 when the schedule does."""
        log = self.mixture_log
        for i in range(len(log) - 1, -1, -1):  # from the end: the entry wanted is almost always the last
            if log[i][0] <= block:
                return i
        return -1

    def weights_at_block(self, block: int, tokens: int) -> np.ndarray:
        """The adaptive log's weights when an entry applies to ``block`` (and was logged for the
        schedule amendment in force), else the schedule's; padded with 0 for domains added since."""
        i = self.log_index(block)
        era_start = getattr(self.schedule, "era_start_block", None)
        if i >= 0 and (era_start is None or self.mixture_log[i][0] >= era_start(tokens)):
            w = np.zeros(len(self.domains), np.float64)
            logged = self.mixture_log[i][1]
            w[:len(logged)] = logged
            return w
        return np.asarray(self.schedule.weights_vector_at(tokens), np.float64)

    def seq_len_at(self, tokens: int) -> int:
        s = self.schedule.seq_len_at(tokens)
        return int(s) if s else self.default_seq_len

    def add_weights(self, block_from: int, weights: np.ndarray) -> None:
        """Log new weights that apply from block ``block_from`` on (a future block)."""
        w = np.asarray(weights, np.float64)
        # np.isclose(sum, 1)'s tolerance, in plain floats: this runs at every adaptive update
        if w.shape != (len(self.domains),) or not float(w.min()) >= 0 or abs(float(w.sum()) - 1.0) > 1.001e-5:
            raise ConfigError(f"new weights must be a simplex over {self.domains}, got {w.tolist()}")
        if self.mixture_log and block_from < self.mixture_log[-1][0]:
            raise ConfigError("adaptive weight changes must be logged in block order")
        self.mixture_log.append((int(block_from), w.tolist()))

    # -- blocks -----------------------------------------------------------------------------
    def initial_state(self) -> PlanState:
        cursors = {d: s.initial_cursor() for d, s in self.streams.items()}
        return PlanState(block=0, tokens=0, err=[0.0] * len(self.domains), cursors=cursors)

    def block(self, state: PlanState) -> tuple[BlockPlan, PlanState]:
        """Plan the block at ``state`` and return it with the state after it (pure)."""
        seq_len = self.seq_len_at(state.tokens)
        phase = self.phase_at(state.tokens)
        gbs = self.global_batch_at(state.tokens)
        block_size = gbs * self.block_batches
        weights = self.weights_at_block(state.block, state.tokens)
        err = np.zeros(len(self.domains), np.float64)
        err[:len(state.err)] = state.err  # domains added by an amendment start with no carry
        slot_domain = blend_slots(weights, err, block_size)
        counts = np.bincount(slot_domain, minlength=len(self.domains))
        cursors = dict(state.cursors)
        parts = []
        for k, d in enumerate(self.domains):
            n = int(counts[k])
            if n == 0:
                continue
            stream = self.streams.get(d)
            if stream is None:
                raise ConfigError(f"domain {d!r} has weight {weights[k]:.4g} at block {state.block} but no tokens")
            rule = phase.length_rule(d) if hasattr(phase, "length_rule") else None
            key: RuleKey | None = rule.key() if rule is not None else None
            cursor = cursors.get(d) or stream.initial_cursor()  # a domain added by an amendment
            seg, cursors[d] = stream.take(cursor, n, seq_len, key, self.drop_at(state.tokens, d))
            parts.append((k, seg, n))
        # shuffle the slots within each global batch (seeded by (seed, block)): a batch keeps its
        # error-carry composition, but which rank gets which domain is not a fixed pattern
        batch_of_slot = np.arange(block_size) // gbs
        keys = seeded_rng(self.seed, 1_000_003, state.block).random(block_size)
        slot_domain = slot_domain[np.lexsort((keys, batch_of_slot))]
        # the i-th slot of domain k takes domain k's next local sequence
        dom_ptr = np.zeros(len(self.domains) + 1, np.int64)
        for k, seg, _ in parts:
            dom_ptr[k + 1] = len(seg.seq)
        np.cumsum(dom_ptr, out=dom_ptr)
        seq, doc, begin, length = (np.concatenate([getattr(seg, f) for _, seg, _ in parts]).astype(np.int64, copy=False)
                                   for f in ("seq", "doc", "begin", "length"))
        seq_ptr, seg_domain, seg_doc, seg_begin, seg_len = order_segments(
            slot_domain.astype(np.int64, copy=False), dom_ptr, seq, doc, begin, length)
        plan = BlockPlan(index=state.block, seq_len=seq_len, tokens_before=state.tokens, global_batch_size=gbs,
                         phase=getattr(phase, "name", None), rope=getattr(phase, "rope", None), weights=weights,
                         domain=slot_domain, seq_ptr=seq_ptr, seg_domain=seg_domain, seg_doc=seg_doc,
                         seg_begin=seg_begin, seg_len=seg_len)
        nxt = PlanState(block=state.block + 1, tokens=state.tokens + block_size * seq_len,
                        err=err.tolist(), cursors=cursors)
        return plan, nxt

    def exhausted(self, state: PlanState) -> bool:
        """True once the schedule's token budget (if it has one) is used up."""
        total = self.schedule.total_tokens
        return total is not None and state.tokens >= total

    def fingerprint(self, corpus_fingerprint: str) -> str:
        """Identity of the stream: corpus, schedule, seed, packing and the virtual ``long`` threshold
        (the global batch is checked apart). Without a virtual ``long`` the threshold is left out,
        so plans that never had one keep their fingerprint."""
        fields = {"corpus": corpus_fingerprint, "schedule": self.schedule.fingerprint(), "seed": self.seed,
                  "seq_len": self.default_seq_len, "packing": self.packing, "window": self.window}
        if self.long_min_tokens is not None:
            fields["long_min_tokens"] = self.long_min_tokens
        body = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


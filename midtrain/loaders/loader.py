"""``build_loader`` and :class:`PackedLoader`: what a trainer touches.

The loader wraps a torch ``DataLoader`` over :class:`~midtrain.loaders.dataset.PackedDataset`
(whole batches per worker, ``batch_size=None``) and keeps the position in the main process:
the number of global batches consumed and the plan snapshot that continues from there. So
``state_dict()`` is exact whatever the workers had prefetched, and it loads into a loader with
another number of workers or another world size (same global batch size).

Adaptive mixing: :meth:`PackedLoader.update_mixture` feeds all-reduced per-domain loss sums to
the policy; its new weights are logged to apply from block
``batches_consumed // block_batches + 1 + mixture_lookahead``, identically on every rank (they
all consume in lock step). The lookahead covers how far the workers plan ahead, so the change is
published to the running workers through shared memory (:mod:`~midtrain.loaders.feed`) and
reaches them before they plan that block: no restart. Every batch says which log entry planned
its block; one that disagrees with the loader's log (a lookahead shorter than the prefetch depth)
is dropped and the workers restart from the current position, as ``load_state_dict`` does, so the
stream stays exact either way (``fallback_restarts`` counts those).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import queue
import threading
import weakref
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np
import torch

from midtrain.errors import ConfigError
from midtrain.loaders.batches import from_slot
from midtrain.loaders.config import Balance, CpSplit, DocMask, LoaderConfig, Packing, StartMethod
from midtrain.loaders.amend import describe_difference, same_plan
from midtrain.loaders.dataset import PackedDataset, corpus_fingerprint, describe_plan
from midtrain.loaders.feed import LocalFeed, SharedFeed
from midtrain.loaders.plan import PlanState, ScheduleLike
from midtrain.loaders.ring import SlotBatch, SlotRing, batch_bytes

if TYPE_CHECKING:
    from midtrain.loaders.amend import Amendment
    from midtrain.mixers.policies import AdaptivePolicy

STATE_VERSION = 1


class PackedLoader:
    """An iterable of packed batches with ``state_dict()`` / ``load_state_dict()`` for exact resume."""

    def __init__(self, config: LoaderConfig, schedule: ScheduleLike, *, policy: AdaptivePolicy | None = None) -> None:
        self.config = config = config.resolved()
        self.schedule = schedule
        self.ring: SlotRing | None = None
        """The shared-memory slots of the current iteration's workers (``None``: compact messages)."""
        self.policy = policy
        self._batches = 0
        self._snapshot: PlanState | None = None
        self._restart = False
        self._feed: LocalFeed | SharedFeed | None = None
        self._lookahead = config.mixture_lookahead
        self.worker_starts = 0
        """``DataLoader`` iterators started (one per ``iter()`` with workers, one more per restart)."""
        self.fallback_restarts = 0
        """Restarts because a worker had planned past a weight change (a lookahead too short)."""
        self._base_fingerprint: str | None = None
        """The fingerprint of the plan before its first amendment (``None``: never amended)."""
        self._base_description: dict[str, Any] | None = None
        self._open_plan(schedule)
        self.fingerprint = self._plan.fingerprint(self._corpus_fingerprint)
        """Identity of this loader's corpus, schedule, seed and packing (a state must match it, or
        end in an amendment that does)."""

    def _open_plan(self, schedule: ScheduleLike, config: LoaderConfig | None = None) -> None:
        """Open the corpus and plan ``schedule`` (the mixture log and position are kept); nothing
        changes if that fails."""
        config = config or self.config
        log = list(self._plan.mixture_log) if hasattr(self, "_plan") else []
        probe = PackedDataset(config, schedule, start_batch=0, snapshot=None, mixture_log=log)
        corpus, index, plan = probe.open()
        self.config = config
        self.schedule = schedule
        self._pad_id = probe.pad_id()
        self.domains: list[str] = list(plan.domains)
        self.corpus = corpus
        """The opened token corpus (local or at a URL)."""
        self.index = index
        """The :class:`~midtrain.loaders.dataset.DomainIndex` the plan numbers its documents by."""
        self._corpus_fingerprint = corpus_fingerprint(corpus)
        self._description = describe_plan(corpus, index, plan, self.config)
        self._plan = plan

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, Any]]:
        fell_back_at = None
        while True:
            self._restart = False
            log = list(self._plan.mixture_log)
            dataset = PackedDataset(self.config, self.schedule, start_batch=self._batches,
                                    snapshot=self._snapshot, mixture_log=log)
            config = self.config
            if config.num_workers == 0:
                dataset.feed = self._feed = LocalFeed(len(log))
                source = iter(dataset)
            else:
                dataset.feed = self._feed = SharedFeed(len(self.domains), len(log))
                dataset.ring = self.ring = self._make_ring(dataset) if config.shared_memory else None
                workers = iter(torch.utils.data.DataLoader(
                    dataset, batch_size=None, num_workers=config.num_workers, prefetch_factor=config.prefetch_factor,
                    persistent_workers=False, multiprocessing_context=config.multiprocessing_context))
                self.worker_starts += 1
                source = _unpack(workers, config, self._pad_id, dataset.ring)
                if config.pin_memory or dataset.ring is None:
                    # pinning copies, and expanding compact messages (numba, GIL released), happen in
                    # a background thread, overlapped with the training step
                    source = _Background(source)
            bb = config.block_batches
            try:
                for batch in source:
                    if batch["batch_index"] != self._batches:
                        raise RuntimeError(f"loader out of order: got batch {batch['batch_index']}, "
                                           f"expected {self._batches}")
                    if batch.pop("_mixture") != self._plan.log_index(self._batches // bb):
                        # planned before a weight change reached its worker: restart from here
                        if fell_back_at == self._batches:
                            raise RuntimeError(f"loader workers disagree with the mixture log at batch "
                                               f"{self._batches} even after a restart")
                        fell_back_at = self._batches
                        self.fallback_restarts += 1
                        break
                    self._snapshot = batch.pop("_resume")
                    self._batches += 1
                    if config.pin_memory and config.num_workers == 0:
                        batch = _pinned(batch)
                    yield batch
                    if self._restart:
                        break
                else:
                    return
            finally:  # also when the consumer stops early or the generator is closed
                if isinstance(source, _Background):
                    source.close()
                del source

    def _make_ring(self, dataset: PackedDataset) -> SlotRing | None:
        """Shared-memory slots for this iteration's workers: room for every batch a worker may have
        in flight (``prefetch_factor`` messages queued, one being written, a few held by the consumer)."""
        slot_bytes = dataset.batches_per_message * batch_bytes(*dataset.max_batch_tokens, self.config.compact)
        return SlotRing.create(self.config.num_workers, self.config.prefetch_factor + 4, slot_bytes,
                               self.config.compact)

    # -- state ------------------------------------------------------------------------------
    @property
    def batches_consumed(self) -> int:
        """Global batches consumed so far (the same on every rank)."""
        return self._batches

    @property
    def tokens_consumed(self) -> int:
        """Token slots (sequences x seq_len, padding included) of the global stream consumed so far."""
        snap = self._snapshot or self._plan.initial_state()
        bb = self.config.block_batches
        within = self._batches - snap.block * bb
        seq_len = self._plan.seq_len_at(snap.tokens)
        return snap.tokens + within * self._plan.global_batch_at(snap.tokens) * seq_len

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-able dict: position, plan snapshot, adaptive log, fingerprint, what the plan
        was built from (to say what differs on a refused resume) and the chain of amendments."""
        snap = self._snapshot or self._plan.initial_state()
        amendments = getattr(self.schedule, "amendments", [])
        state = {
            "version": STATE_VERSION,
            "fingerprint": self._base_fingerprint if amendments else self.fingerprint,
            "global_batch_size": self.config.global_batch_size,
            "block_batches": self.config.block_batches,
            "batches_consumed": self._batches,
            "plan": snap.to_dict(),
            "mixture_log": [[b, list(w)] for b, w in self._plan.mixture_log],
            "mixture_lookahead": self._lookahead,
        }
        if self.policy is not None:
            state["policy"] = self.policy.state_dict()
        state["plan_description"] = self._description if not amendments else self._base_description
        if amendments:
            state["base_schedule"] = self.schedule.base.to_dict()
            state["amendments"] = [a.to_dict() for a in amendments]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where ``state`` was taken (any num_workers; any world size with the same global batch)."""
        if state.get("version") != STATE_VERSION:
            raise ConfigError(f"loader state version {state.get('version')!r} is not {STATE_VERSION}")
        if state["global_batch_size"] != self.config.global_batch_size:
            raise ConfigError(f"loader state has global batch size {state['global_batch_size']}, this loader has "
                              f"{self.config.global_batch_size} (batch_size x world_size must stay the same)")
        amendments = state.get("amendments") or []
        expected = amendments[-1]["fingerprint"] if amendments else state["fingerprint"]
        saved = amendments[-1].get("plan_description") if amendments else state.get("plan_description")
        if expected != self.fingerprint and not same_plan(saved, self._description):
            raise ConfigError(self._refusal(saved, expected))
        if state["block_batches"] != self.config.block_batches:
            raise ConfigError("loader state has another block_batches")
        if amendments:
            from midtrain.loaders.amend import AmendedSchedule, Amendment
            from midtrain.mixers import load_schedule

            chain = [Amendment.from_dict(a, f"amendments[{i}]") for i, a in enumerate(amendments)]
            base = load_schedule(state["base_schedule"])
            self._base_fingerprint = state["fingerprint"]
            self._base_description = state.get("plan_description")
            self._open_plan(AmendedSchedule(base, chain))
        self._batches = int(state["batches_consumed"])
        self._snapshot = PlanState.from_dict(state["plan"])
        self._plan.mixture_log = [(int(b), list(w)) for b, w in state["mixture_log"]]
        # the saved lookahead decides where later changes apply, so the resumed stream equals the
        # uninterrupted one whatever this loader's num_workers (states from before it: this config's)
        self._lookahead = int(state.get("mixture_lookahead", self.config.mixture_lookahead))
        if self.policy is not None and "policy" in state:
            self.policy.load_state_dict(state["policy"])
        self._restart = True

    def _refusal(self, saved: dict[str, Any] | None, expected: str) -> str:
        """Why a state saved with the plan ``saved`` does not fit this loader, and how to continue anyway."""
        what = describe_difference(saved, self._description) if saved else ""
        return (f"loader state was saved for another plan (fingerprint {expected} != {self.fingerprint}): "
                f"{what or 'corpus, schedule, seed, packing or long_min_tokens'}. To change the plan of a "
                "running job from where it stands, amend the state instead: loader.amend(new_schedule) "
                "before saving, or `midtrain amend STATE.json NEW_SCHEDULE --corpus CORPUS`")

    # -- amendments --------------------------------------------------------------------------
    def amend(self, schedule: ScheduleLike | str | os.PathLike[str] | Mapping[str, Any] | None = None, *,
              at_tokens: int | None = None, remove: list[str] | tuple[str, ...] = (),
              corpus: str | os.PathLike[str] | None = None) -> "Amendment":
        """Change the plan from a block boundary on: another schedule (weights, phase lengths,
        ``seq_len``, new domains), documents removed by id, another corpus (the same documents in
        every domain the run has, plus new domains). ``at_tokens``: the token position from which
        it applies (default: where the loader stands); it takes effect at the first block starting
        there or later. Everything before is unchanged, every domain continues its epoch order where
        it stood, removed documents never appear again. Returns the :class:`Amendment`, which
        ``state_dict()`` records; a loader built on the new corpus and schedule resumes from that state.
        """
        from midtrain.loaders.amend import AmendedSchedule, Amendment, block_starts_until

        position = self.tokens_consumed
        at = position if at_tokens is None else int(at_tokens)
        if at < position:
            raise ConfigError(f"at_tokens: {at:,} is before the loader's position ({position:,} tokens consumed); "
                              "an amendment changes only what is still to come")
        snap = self._snapshot or self._plan.initial_state()
        first = snap.block + (1 if self._batches % self.config.block_batches else 0)
        start_tokens = snap.tokens if first == snap.block else self._plan.block(snap)[1].tokens
        from_block, from_tokens = block_starts_until(self._plan, first, start_tokens, at)
        base = self.schedule.base if isinstance(self.schedule, AmendedSchedule) else self.schedule
        chain = list(getattr(self.schedule, "amendments", []))
        if chain and from_block < chain[-1].from_block:
            raise ConfigError(f"at_tokens: {at:,} falls before the previous amendment's boundary "
                              f"({chain[-1].from_tokens:,} tokens)")
        if schedule is None:  # keep the schedule in force (another corpus, or removals only)
            new = chain[-1].schedule if chain else base
        else:
            new = self._resolve_schedule(schedule, corpus)
        config = self.config
        if corpus is not None and os.fspath(corpus) != config.corpus:
            config = dataclasses.replace(config, corpus=os.fspath(corpus))
        plain = PackedLoader(config, new)  # the loader a resume builds: checks the schedule against the corpus
        self._check_same_documents(plain)
        for k, d in enumerate(new.domains):
            wanted = any(p.start_weights[k] > 0 or p.end_weights[k] > 0 for p in getattr(new, "phases", ()))
            if wanted and d not in plain._plan.streams:
                raise ConfigError(f"schedule: domain {d!r} has weight but no tokens in the corpus {config.corpus}")
        amendment = Amendment(at_tokens=at, from_block=from_block, from_tokens=from_tokens, schedule=new,
                              removed=tuple(sorted(set(map(str, remove)))), corpus=plain._corpus_fingerprint,
                              fingerprint=plain.fingerprint, description=plain._description)
        before = (self.fingerprint, self._description)
        self._open_plan(AmendedSchedule(base, [*chain, amendment]), config)
        if self._base_fingerprint is None:
            self._base_fingerprint, self._base_description = before
        self.fingerprint = plain.fingerprint
        self._restart = True
        return amendment

    def _resolve_schedule(self, schedule: Any, corpus: Any) -> ScheduleLike:
        if hasattr(schedule, "weights_vector_at"):
            return schedule
        from midtrain.mixers import load_schedule_for_corpus

        return load_schedule_for_corpus(schedule, os.fspath(corpus) if corpus is not None else self.config.corpus,
                                        total_tokens=self.config.total_tokens,
                                        long_min_tokens=self.config.long_min_tokens)[0]

    def _check_same_documents(self, other: "PackedLoader") -> None:
        """Every domain this run has must hold the same documents in ``other``'s corpus."""
        mine, theirs = self._description["domains"], other._description["domains"]
        for d, info in mine.items():
            if d in theirs and theirs[d] != info:
                raise ConfigError(f"corpus: domain {d!r} holds other documents in the new corpus ({info['documents']:,} "
                                  f"documents, {info['tokens']:,} tokens before; {theirs[d]['documents']:,}, "
                                  f"{theirs[d]['tokens']:,} now); an amendment may add domains, not change one")

    # -- adaptive mixing --------------------------------------------------------------------
    def update_mixture(self, loss_sum: np.ndarray | torch.Tensor, token_count: np.ndarray | torch.Tensor) -> int:
        """Feed per-domain (all-reduced) loss sums and token counts to the policy; returns the block
        from which its new weights apply. Call it at the same step on every rank."""
        if self.policy is None:
            raise ConfigError("update_mixture needs a policy: build_loader(..., policy=DoReMiPolicy(...))")
        loss_sum = np.asarray(torch.as_tensor(loss_sum, dtype=torch.float64).cpu(), np.float64)
        token_count = np.asarray(torch.as_tensor(token_count, dtype=torch.float64).cpu(), np.float64)
        return self.set_weights(np.asarray(self.policy.update(loss_sum, token_count), np.float64))

    def set_weights(self, weights: dict[str, float] | np.ndarray) -> int:
        """Log a manual weight change (same rules as ``update_mixture``); returns the block it applies from."""
        if isinstance(weights, dict):
            unknown = set(weights) - set(self.domains)
            if unknown:
                raise ConfigError(f"unknown domain(s) {sorted(unknown)}; the loader has {self.domains}")
            weights = np.array([weights.get(d, 0.0) for d in self.domains], np.float64)
        block_from = self._batches // self.config.block_batches + 1 + self._lookahead
        self._plan.add_weights(block_from, np.asarray(weights, np.float64))
        if not self.config.online_updates:
            self._restart = True
        elif self._feed is not None:
            self._feed.publish(block_from, np.asarray(self._plan.mixture_log[-1][1], np.float64))
        return block_from

    @property
    def mixture_log(self) -> list[tuple[int, list[float]]]:
        """Every weight change so far, as ``(block_from, weights)`` in ``domains`` order (a copy)."""
        return [(b, list(w)) for b, w in self._plan.mixture_log]

    @property
    def mixture_lookahead(self) -> int:
        """Blocks a new weight change waits beyond the next one (the config's, or the loaded state's)."""
        return self._lookahead


def _unpack(source: Iterator[Any], config: LoaderConfig, pad_id: int,
            ring: SlotRing | None) -> Iterator[dict[str, Any]]:
    """Batches from the workers' messages: slot batches wrapped in place, compact ones expanded (then pinned)."""
    for item in source:
        leases: dict[tuple[int, int], Any] = {}
        for part in item:
            if isinstance(part, SlotBatch):
                key = (part.worker, part.slot)
                if key not in leases:
                    leases[key] = ring.lease(part.worker, part.slot)
                batch = from_slot(ring, part, leases[key])
            else:
                batch = part.expand(config=config, pad_id=pad_id)
            yield _pinned(batch) if config.pin_memory else batch


def _pinned(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class _Background:
    """Run an iterator in a daemon thread, ``depth`` items ahead; errors re-raise in the consumer.

    Every live instance is stopped and joined at interpreter exit: a daemon thread still inside a
    numba kernel (which released the GIL) when Python finalises would abort the process.
    """

    _live: "weakref.WeakSet[_Background]" = weakref.WeakSet()

    def __init__(self, source: Iterator[Any], depth: int = 2) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        _Background._live.add(self)
        self._thread.start()

    def _run(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(("error", exc))

    def _put(self, message: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        kind, value = self._queue.get()
        if kind == "end":
            raise StopIteration
        if kind == "error":
            raise value
        return value

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread (it exits at its next hand-over), drop what it prefetched, join it."""
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except Exception:  # queue.Empty; a plain Exception also at interpreter shutdown
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @classmethod
    def close_all(cls) -> None:
        for background in list(cls._live):
            background.close()


atexit.register(_Background.close_all)


def build_loader(corpus: str | os.PathLike[str], schedule: ScheduleLike | str | os.PathLike[str] | Mapping[str, Any],
                 *, seq_len: int, batch_size: int, seed: int, rank: int | None = None, world_size: int | None = None,
                 num_workers: int = 0, packing: Packing = "concat", window: int = 4096,
                 block_batches: int | None = None, mask_cross_document_labels: bool = True,
                 pad_id: int | None = None, prefetch_factor: int = 2, pin_memory: bool = False,
                 policy: AdaptivePolicy | None = None, verify_checksums: bool = False, compact: bool = False,
                 total_tokens: int | None = None, shared_memory: bool = True,
                 multiprocessing_context: StartMethod | None = None,
                 long_min_tokens: int | None = None, mixture_lookahead: int | None = None,
                 online_updates: bool = True, doc_mask: DocMask = "document", cp_degree: int = 1,
                 cp_split: CpSplit = "head_tail", balance: Balance = "none", cache_bytes: int = 1 << 30,
                 cache_dir: str | None = None, fetch: str = "auto") -> PackedLoader:
    """A packed, mixed, resumable loader over a token corpus: ``LoaderConfig(...).build(schedule)``.

    Every keyword but ``policy`` is a field of :class:`~midtrain.loaders.config.LoaderConfig`,
    which documents it. ``schedule`` is a schedule object (``midtrain.mixers.load_schedule``), a
    path to a schedule file, or a dict (resolved against the corpus and ``total_tokens``).
    ``batch_size`` is per rank; rank and world size come from the arguments or from
    ``torch.distributed``. With workers, batches are written into recycled shared-memory slots and
    reach the trainer without a copy (``midtrain.loaders.ring``); a slot is reused once every
    tensor of its batch is garbage-collected. A schedule that names ``long`` on a corpus without a
    ``long`` domain gets a virtual one: every document of at least ``long_min_tokens`` tokens
    (default: the schedule's ``long.min_tokens``, else 32,768) from every domain, left out of its
    own domain (``midtrain.corpus.lengths``).
    """
    config = LoaderConfig(corpus=corpus, seq_len=seq_len, batch_size=batch_size, seed=seed, rank=rank,
                          world_size=world_size, packing=packing, window=window, block_batches=block_batches,
                          mask_cross_document_labels=mask_cross_document_labels, pad_id=pad_id,
                          verify_checksums=verify_checksums, compact=compact, long_min_tokens=long_min_tokens,
                          total_tokens=total_tokens, num_workers=num_workers, prefetch_factor=prefetch_factor,
                          pin_memory=pin_memory, shared_memory=shared_memory,
                          multiprocessing_context=multiprocessing_context, mixture_lookahead=mixture_lookahead,
                          online_updates=online_updates, doc_mask=doc_mask, cp_degree=cp_degree, cp_split=cp_split,
                          balance=balance, cache_bytes=cache_bytes, cache_dir=cache_dir, fetch=fetch)
    return config.build(schedule, policy=policy)

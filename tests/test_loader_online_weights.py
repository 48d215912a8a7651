"""Weight changes reach running workers in place: same stream with any worker count, no restart,
exact resume, and the counted restart when a worker has planned past a change."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.loaders import LoaderConfig, build_loader
from midtrain.loaders.batches import STALE
from midtrain.loaders.config import default_mixture_lookahead
from midtrain.loaders.dataset import PackedDataset
from midtrain.loaders.feed import LocalFeed, SharedFeed
from midtrain.mixers import DoReMiPolicy, load_schedule

from helpers.loader_corpora import batch_digest, make_token_corpus

DOMAINS = ["code", "math", "web"]
MIX = {"domains": DOMAINS, "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
# 32 x 1,024 tokens: a worker message holds 2 batches (as in benchmarks/gpu: 16 x 2,048); blocks of 2 batches
SHAPE = {"seq_len": 1024, "batch_size": 32, "seed": 5, "block_batches": 2}
LOOKAHEAD = 6  # the default with 2 workers: ceil((1 + 2 x (2 x 2 + 1)) / 2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("online") / "tok", docs_per_shard=200)


def weights_for(step: int) -> dict[str, float]:
    """A different mix for every step, so a change applied at the wrong block shows in the batches."""
    rng = np.random.default_rng(step)
    w = rng.dirichlet(np.ones(3))
    return dict(zip(DOMAINS, w.tolist()))


def stream(corpus, steps: int, updates, *, stop: int | None = None, resume_workers: int | None = None, **kw):
    """Digests of ``steps`` batches; ``updates[step]`` (weights) is set after taking batch ``step``.
    With ``stop``, the state is saved before batch ``stop`` and a fresh loader (``resume_workers``
    workers) continues from it. Returns the digests and the last loader."""
    loader = build_loader(corpus, MIX, **SHAPE, **kw)
    it = iter(loader)
    out = []
    for step in range(steps):
        if step == stop:
            state = json.loads(json.dumps(loader.state_dict()))
            options = dict(kw)
            if resume_workers is not None:
                options.update(num_workers=resume_workers, mixture_lookahead=None)
            loader = build_loader(corpus, MIX, **SHAPE, **options)
            loader.load_state_dict(state)
            it = iter(loader)
        batch = next(it)
        out.append(batch_digest(batch))
        if step in updates:
            loader.set_weights(updates[step])
    return out, loader


def test_the_default_lookahead_is_the_prefetch_depth_in_blocks():
    assert default_mixture_lookahead(num_workers=0, prefetch_factor=2, batch_size=32, seq_len=1024,
                                     block_batches=2) == 0
    assert default_mixture_lookahead(num_workers=2, prefetch_factor=2, batch_size=32, seq_len=1024,
                                     block_batches=2) == LOOKAHEAD
    # benchmarks/gpu: 16 x 2,048 per GPU, 2 workers, blocks of 16 batches: one block of lookahead
    assert default_mixture_lookahead(num_workers=2, prefetch_factor=2, batch_size=16, seq_len=2048,
                                     block_batches=16) == 1
    config = LoaderConfig(corpus="x", seq_len=1024, batch_size=32, seed=0, block_batches=2, num_workers=2,
                          rank=0, world_size=1)
    assert config.resolved().mixture_lookahead == LOOKAHEAD
    explicit = LoaderConfig(corpus="x", seq_len=8, batch_size=2, seed=0, num_workers=2, mixture_lookahead=3)
    assert explicit.resolved().mixture_lookahead == 3


def test_same_updates_give_the_same_batches_with_any_number_of_workers_and_no_restart(corpus):
    """DoReMi updates through ``update_mixture`` and manual ones, at the same steps: identical
    batches with 0, 1 and 2 workers, and the workers are started once."""
    def run(num_workers):
        policy = DoReMiPolicy(DOMAINS, [0.3, 0.2, 0.5], reference_loss=[1.0, 1.0, 1.0])
        loader = build_loader(corpus, MIX, **SHAPE, num_workers=num_workers, mixture_lookahead=LOOKAHEAD,
                              policy=policy)
        out, blocks = [], []
        for step, batch in enumerate(itertools.islice(loader, 48)):
            out.append(batch_digest(batch))
            if step in (2, 9, 20):
                dom = batch["domain"].numpy()
                loss = np.array([5.0, 1.0, 1.0])[dom] * 1024.0
                blocks.append(loader.update_mixture(np.bincount(dom, weights=loss, minlength=3),
                                                    np.bincount(dom, minlength=3) * 1024.0))
            if step == 13:
                blocks.append(loader.set_weights({"math": 0.6, "web": 0.4}))
        return out, blocks, loader

    reference, blocks, _ = run(0)
    assert blocks == [(s + 1) // 2 + 1 + LOOKAHEAD for s in (2, 9, 13, 20)]
    for num_workers in (1, 2):
        got, got_blocks, loader = run(num_workers)
        assert got_blocks == blocks
        assert got == reference
        assert loader.worker_starts == 1 and loader.fallback_restarts == 0


def test_new_weights_apply_from_block_from_on(corpus):
    loader = build_loader(corpus, MIX, **SHAPE, num_workers=2)
    assert loader.mixture_lookahead == LOOKAHEAD
    it = iter(loader)
    batches = [next(it) for _ in range(5)]
    block_from = loader.set_weights({"math": 0.8, "code": 0.1, "web": 0.1})
    assert block_from == 5 // 2 + 1 + LOOKAHEAD == 9
    batches += [next(it) for _ in range(2 * 9 + 12 - 5)]
    per_block = np.array([np.bincount(np.concatenate([b["domain"].numpy() for b in batches[2 * k:2 * k + 2]]),
                                      minlength=3) for k in range(len(batches) // 2)])
    block_size = 2 * 32
    old = np.array([0.3, 0.2, 0.5]) * block_size
    new = np.array([0.1, 0.8, 0.1]) * block_size
    assert np.abs(per_block[:block_from] - old).max() <= 2  # the error carry: within a sequence or two
    assert np.abs(per_block[block_from:] - new).max() <= 2
    assert loader.worker_starts == 1 and loader.fallback_restarts == 0


@pytest.mark.parametrize("options", [
    {"num_workers": 1},
    {"num_workers": 2, "shared_memory": False},  # a background thread holds batches ahead too
    {"num_workers": 2, "prefetch_factor": 3},
    {"num_workers": 2, "batch_size": 8, "block_batches": 8},  # 8 batches per message
    {"num_workers": 3, "prefetch_factor": 1, "batch_size": 64},  # one batch per message
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_the_default_lookahead_never_needs_a_restart_even_with_a_change_every_step(corpus, options):
    shape = {**SHAPE, **{k: options[k] for k in ("batch_size", "block_batches") if k in options}}
    rest = {k: v for k, v in options.items() if k not in shape}
    loader = build_loader(corpus, MIX, **shape, **rest)
    lookahead = loader.mixture_lookahead
    it = iter(loader)
    got = []
    for step in range(40):
        got.append(batch_digest(next(it)))
        time.sleep(0.02)  # a training step: the workers fill their whole prefetch, the case the lookahead covers
        loader.set_weights(weights_for(step))
    assert loader.worker_starts == 1 and loader.fallback_restarts == 0
    reference = build_loader(corpus, MIX, **shape, mixture_lookahead=lookahead)
    it = iter(reference)
    expected = []
    for step in range(40):
        expected.append(batch_digest(next(it)))
        reference.set_weights(weights_for(step))
    assert got == expected


def test_a_lookahead_shorter_than_the_prefetch_falls_back_to_a_counted_restart(corpus):
    updates = {3: weights_for(3), 4: weights_for(4), 11: weights_for(11)}
    expected, _ = stream(corpus, 24, updates, num_workers=0, mixture_lookahead=0)
    got, loader = stream(corpus, 24, updates, num_workers=2, mixture_lookahead=0)
    assert got == expected
    assert loader.fallback_restarts >= 1
    assert loader.worker_starts == 1 + loader.fallback_restarts


def test_the_restart_path_is_kept_behind_online_updates_false(corpus):
    updates = {3: weights_for(3), 10: weights_for(10)}
    expected, _ = stream(corpus, 20, updates, num_workers=0, mixture_lookahead=LOOKAHEAD)
    got, loader = stream(corpus, 20, updates, num_workers=2, online_updates=False)
    assert got == expected
    assert loader.worker_starts == 1 + len(updates) and loader.fallback_restarts == 0


def test_spawned_workers_receive_the_feed(corpus):
    updates = {1: weights_for(1), 6: weights_for(6)}
    expected, _ = stream(corpus, 20, updates, num_workers=0, mixture_lookahead=4)
    got, loader = stream(corpus, 20, updates, num_workers=1, mixture_lookahead=4, multiprocessing_context="spawn")
    assert got == expected
    assert loader.worker_starts == 1 and loader.fallback_restarts == 0


@pytest.mark.parametrize("workers, resume_workers", [(2, 1), (2, 0), (0, 2)])
def test_resume_keeps_the_saved_lookahead_with_another_number_of_workers(corpus, workers, resume_workers):
    """The resumed loader's own default lookahead differs; the saved one decides where later
    changes apply, so the stream equals the uninterrupted one."""
    updates = {2: weights_for(2), 9: weights_for(9), 15: weights_for(15)}
    full, loader = stream(corpus, 30, updates, num_workers=workers)
    resumed, after = stream(corpus, 30, updates, num_workers=workers, stop=7, resume_workers=resume_workers)
    assert resumed == full
    assert after.mixture_lookahead == loader.mixture_lookahead
    assert after.state_dict()["mixture_log"] == loader.state_dict()["mixture_log"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 29), max_size=6, unique=True), st.integers(0, 30), st.integers(0, 3))
def test_resume_at_any_step_reproduces_the_rest_of_the_stream(corpus, update_steps, stop, lookahead):
    updates = {s: weights_for(s) for s in update_steps}
    full, _ = stream(corpus, 30, updates, mixture_lookahead=lookahead)
    resumed, _ = stream(corpus, 30, updates, mixture_lookahead=lookahead, stop=stop)
    assert resumed == full


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 19), min_size=1, max_size=4, unique=True), st.integers(1, 19))
def test_resume_with_workers_at_any_step_reproduces_the_in_process_stream(corpus, update_steps, stop):
    updates = {s: weights_for(s) for s in update_steps}
    full, _ = stream(corpus, 20, updates, mixture_lookahead=LOOKAHEAD)
    resumed, loader = stream(corpus, 20, updates, num_workers=2, stop=stop)
    assert resumed == full
    assert loader.fallback_restarts == 0


# -- the pieces --------------------------------------------------------------------------------
def test_shared_feed_hands_entries_over_and_reports_lost_ones():
    feed = SharedFeed(3, base=2, capacity=4)
    assert feed.since(2) == []
    feed.publish(5, np.array([0.2, 0.3, 0.5]))
    feed.publish(7, np.array([1.0, 0.0, 0.0]))
    copy = feed  # a worker's copy shares the memory (spawned workers: test_spawned_workers_receive_the_feed)
    assert copy.since(2) == [(5, [0.2, 0.3, 0.5]), (7, [1.0, 0.0, 0.0])]
    assert copy.since(3) == [(7, [1.0, 0.0, 0.0])]
    for b in range(8, 12):
        feed.publish(b, np.array([0.0, 1.0, 0.0]))
    assert copy.since(3) is None  # entry 3 was overwritten: the worker must not guess
    assert copy.since(4) == [(b, [0.0, 1.0, 0.0]) for b in range(8, 12)]
    assert copy.since(1) is None  # before the feed's base


def test_a_worker_that_learns_of_a_change_for_a_planned_block_marks_the_rest_stale(corpus):
    config = LoaderConfig(corpus=str(corpus), **{**SHAPE, "block_batches": 1}).resolved()
    schedule = load_schedule(MIX)
    feed = LocalFeed(0)
    batches = iter(PackedDataset(config, schedule, start_batch=0, snapshot=None, mixture_log=[], feed=feed))
    assert [next(batches)["_mixture"] for _ in range(3)] == [-1, -1, -1]  # blocks 0-2 planned
    feed.publish(5, np.array([0.0, 1.0, 0.0]))  # in time
    assert [next(batches)["_mixture"] for _ in range(3)] == [-1, -1, 0]  # blocks 3, 4, then 5 on
    feed.publish(4, np.array([1.0, 0.0, 0.0]))  # too late: block 4 is planned
    assert next(batches)["_mixture"] == STALE

"""The zero-copy worker hand-off: shared-memory slots, their release, and the compact fallback."""

from __future__ import annotations

import gc
import itertools
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.loaders import build_loader
from midtrain.errors import ConfigError
from midtrain.loaders.batches import from_slot
from midtrain.loaders.ring import SlotBatch, SlotRing, batch_bytes

from helpers.loader_corpora import batch_digest, make_token_corpus

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("ring") / "tok", docs_per_shard=200)


# 16 x 1,024 tokens: a worker message holds 4 batches, so 80 batches take 20 messages (and the two
# workers have 2 x (prefetch_factor + 4) = 12 slots)
SHAPE = {"seq_len": 1024, "batch_size": 16, "seed": 3}


@pytest.fixture(scope="module")
def reference(corpus):
    """Digests of the first 80 batches from one process (no workers, no shared memory)."""
    loader = build_loader(corpus, MIX, **SHAPE)
    return [batch_digest(b) for b in itertools.islice(loader, 80)]


def in_ring(ring: SlotRing, tensor: torch.Tensor) -> bool:
    start = ring._memory.data_ptr()
    return start <= tensor.data_ptr() < start + ring._memory.numel()


def test_slot_is_busy_until_every_view_of_its_batch_is_gone():
    ring = SlotRing(workers=1, slots=2, slot_bytes=batch_bytes(2, 8, False), compact=False)
    assert [ring.acquire(0), ring.acquire(0), ring.acquire(0)] == [0, 1, None]
    ids, labels, pos, doc = ring.arrays(0, 1, 0, 2, 8)
    ids[:] = np.arange(16).reshape(2, 8)
    part = SlotBatch(worker=0, slot=1, offset=0, batch_size=2, seq_len=8, cu_seqlens=np.array([0, 8, 16], np.int32),
                     max_seqlen=8, domain=np.zeros(2, np.int64), batch_index=0, resume=None)
    batch = from_slot(ring, part, ring.lease(0, 1))
    assert batch["input_ids"].tolist() == np.arange(16).reshape(2, 8).tolist()
    row = batch["input_ids"][1, 2:5]  # a torch view outliving the batch dict keeps the slot
    del batch
    gc.collect()
    assert ring.free_slots() == 0
    assert row.tolist() == [10, 11, 12]
    del row
    assert ring.free_slots() == 1
    assert ring.acquire(0) == 1


def test_slot_arrays_do_not_overlap():
    ring = SlotRing(workers=2, slots=2, slot_bytes=2 * batch_bytes(3, 5, True), compact=True)
    spans = []
    for worker, slot, offset in itertools.product(range(2), range(2), (0, batch_bytes(3, 5, True))):
        for a in ring.arrays(worker, slot, offset, 3, 5):
            spans.append((a.__array_interface__["data"][0], a.nbytes))
    spans.sort()
    assert all(start + n <= nxt for (start, n), (nxt, _) in zip(spans, spans[1:]))


def test_workers_hand_over_batches_in_shared_memory_without_a_copy(corpus, reference):
    loader = build_loader(corpus, MIX, **SHAPE, num_workers=2)
    seen = []
    for batch in itertools.islice(loader, 40):
        assert in_ring(loader.ring, batch["input_ids"]) and in_ring(loader.ring, batch["document_ids"])
        seen.append(batch_digest(batch))
    assert seen == reference[:40]
    off = build_loader(corpus, MIX, **SHAPE, num_workers=2, shared_memory=False)
    assert [batch_digest(b) for b in itertools.islice(off, 40)] == reference[:40]
    assert off.ring is None


def test_a_consumer_that_keeps_every_batch_gets_copies_and_intact_data(corpus, reference):
    """More batches held than slots: the workers fall back to compact messages, nothing is overwritten."""
    loader = build_loader(corpus, MIX, **SHAPE, num_workers=2)
    kept = list(itertools.islice(loader, 80))
    assert [batch_digest(b) for b in kept] == reference
    from_ring = sum(in_ring(loader.ring, b["input_ids"]) for b in kept)
    assert 0 < from_ring <= 4 * loader.ring.workers * loader.ring.slots < len(kept)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(holds=st.lists(st.integers(0, 9), min_size=30, max_size=30))
def test_batches_held_for_any_number_of_steps_stay_intact(corpus, reference, holds):
    """Batch i is kept for holds[i] further steps, then checked and dropped: its slot was never reused under it."""
    loader = build_loader(corpus, MIX, **SHAPE, num_workers=2, prefetch_factor=1)
    held: list[tuple[int, int, dict]] = []  # (release step, index, batch)
    for i, batch in enumerate(itertools.islice(loader, 30)):
        held.append((i + holds[i], i, batch))
        for entry in [h for h in held if h[0] <= i]:
            assert batch_digest(entry[2]) == reference[entry[1]]
            held.remove(entry)
        del batch
    for _, index, batch in held:
        assert batch_digest(batch) == reference[index]


def test_no_ring_when_shared_memory_is_short(corpus, reference, monkeypatch):
    real = os.statvfs

    class Tiny:
        f_bavail, f_frsize = 16, 4096

    monkeypatch.setattr(os, "statvfs", lambda path: Tiny() if path == "/dev/shm" else real(path))
    loader = build_loader(corpus, MIX, **SHAPE, num_workers=2)
    assert [batch_digest(b) for b in itertools.islice(loader, 12)] == reference[:12]
    assert loader.ring is None


def test_spawned_workers_receive_the_slots_and_release_them(corpus, reference):
    """Workers that do not inherit the ring (spawn) get it by file descriptor; the protocol is the same."""
    loader = build_loader(corpus, MIX, **SHAPE, num_workers=2, multiprocessing_context="spawn")
    got = []
    for batch in itertools.islice(loader, 40):
        assert in_ring(loader.ring, batch["input_ids"])
        got.append(batch_digest(batch))
    assert got == reference[:40]


def test_a_batch_outlives_its_loader(corpus, reference):
    loader = build_loader(corpus, MIX, **SHAPE)
    it = iter(loader)
    first = next(it)
    assert first["input_ids"].data_ptr() != 0
    del it, loader
    gc.collect()
    junk = [torch.ones(1 << 20, dtype=torch.int64) for _ in range(8)]  # reuse freed memory if any was freed
    assert batch_digest(first) == reference[0]
    del junk


def test_an_unknown_start_method_is_a_clear_error(corpus):
    with pytest.raises(ConfigError, match="multiprocessing_context 'threads'"):
        build_loader(corpus, MIX, **SHAPE, num_workers=2, multiprocessing_context="threads")

"""The packed loader: batch contents, coverage, mixture fidelity, exact and elastic resume."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.corpus import CorpusError, open_token_corpus
from midtrain.errors import ConfigError
from midtrain.loaders import build_loader
from midtrain.mixers import DoReMiPolicy

from helpers.loader_corpora import batch_digest, make_token_corpus, row_digests

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("loader") / "tok")


def take(loader, n):
    return list(itertools.islice(iter(loader), n))


def docs_by_domain(corpus_path):
    c = open_token_corpus(corpus_path)
    return {d: [s.doc(i) for s in c.shards[d] for i in range(s.num_docs)] for d in c.domains}


@pytest.mark.parametrize("packing", ["concat", "best_fit"])
def test_batch_fields_are_consistent(corpus, packing):
    loader = build_loader(corpus, MIX, seq_len=256, batch_size=4, seed=3, packing=packing)
    for batch in take(loader, 5):
        ids, labels, pos, docs, cu = (batch[k].numpy() for k in
                                      ("input_ids", "labels", "position_ids", "document_ids", "cu_seqlens"))
        assert ids.shape == labels.shape == pos.shape == docs.shape == (4, 256)
        flat_docs = docs.reshape(-1)
        # cu_seqlens: a boundary wherever the (row, document) changes
        key = np.arange(flat_docs.size) // 256 * 1_000_000 + flat_docs
        starts = np.flatnonzero(np.diff(key)) + 1
        assert cu.tolist() == [0, *starts.tolist(), flat_docs.size]
        # positions restart at every segment; labels are the next token inside a segment
        for r in range(4):
            for a, b in zip([0, *np.flatnonzero(np.diff(docs[r])) + 1], [*np.flatnonzero(np.diff(docs[r])) + 1, 256]):
                assert pos[r, a:b].tolist() == list(range(b - a))
                if docs[r, a] >= 0:
                    assert labels[r, a:b - 1].tolist() == ids[r, a + 1:b].tolist()
                else:
                    assert (labels[r, a:b] == -100).all()
        assert batch["max_seqlen"] == int(np.diff(cu).max())


def test_concat_visits_every_token_of_a_domain_once_per_epoch(corpus):
    """With one domain, the first epoch's sequences are exactly the permuted documents, concatenated."""
    only_math = {"domains": ["math"], "phases": [{"weights": {"math": 1.0}}]}
    docs = docs_by_domain(corpus)["math"]
    total = sum(len(d) for d in docs)
    seq_len, bs = 128, 4
    n_batches = total // (seq_len * bs)
    loader = build_loader(corpus, only_math, seq_len=seq_len, batch_size=bs, seed=7)
    stream = np.concatenate([b["input_ids"].numpy().reshape(-1) for b in take(loader, n_batches)])
    # every document appears contiguously, once: match the stream against the documents
    pos = 0
    by_first = {}
    for i, d in enumerate(docs):
        by_first.setdefault(d[:8].tobytes(), []).append(i)
    seen = set()
    while pos < len(stream) - 2048:
        cands = by_first.get(stream[pos:pos + 8].astype(np.uint16).tobytes(), [])
        match = next(i for i in cands if np.array_equal(stream[pos:pos + len(docs[i])], docs[i]))
        assert match not in seen
        seen.add(match)
        pos += len(docs[match])
    assert len(seen) >= len(docs) - 10


def test_best_fit_never_splits_a_document_that_fits(corpus):
    seq_len = 1024
    loader = build_loader(corpus, MIX, seq_len=seq_len, batch_size=8, seed=1, packing="best_fit", window=256)
    pad = total = 0
    for batch in take(loader, 60):
        docs = batch["document_ids"].numpy()
        labels = batch["labels"].numpy()
        pad += int((docs == -1).sum())
        total += docs.size
        for r in range(docs.shape[0]):
            seg_lens = np.bincount(docs[r][docs[r] >= 0])
            for k, n in enumerate(seg_lens):
                last = np.flatnonzero(docs[r] == k)[-1]
                # a segment shorter than seq_len ends its document (label -100), never mid-document
                if n < seq_len and labels[r, last] != -100:
                    pytest.fail(f"a document that fits was split (segment of {n} tokens)")
    assert pad / total < 0.01


@pytest.mark.parametrize("block_batches", [1, 4])
def test_mixture_tracks_weights_within_one_sequence_per_block(corpus, block_batches):
    loader = build_loader(corpus, MIX, seq_len=128, batch_size=7, seed=2, block_batches=block_batches)
    target = np.array([0.3, 0.2, 0.5])
    seen = np.zeros(3)
    for i, batch in enumerate(take(loader, 48), start=1):
        seen += np.bincount(batch["domain"].numpy(), minlength=3)
        # at every batch boundary, whatever the block size
        assert np.abs(seen - target * 7 * i).max() <= 1.0 + 1e-9


def test_state_dict_is_small_json(corpus):
    loader = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=2, packing="best_fit")
    take(loader, 3)
    state = loader.state_dict()
    assert len(json.dumps(state)) < 2000
    assert json.loads(json.dumps(state)) == state


def _resume_equal(corpus, packing, k, workers_before, workers_after, seed=5, n=12):
    full = [batch_digest(b) for b in take(build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=seed,
                                                       packing=packing, window=64, num_workers=workers_before), n)]
    first = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=seed, packing=packing, window=64,
                         num_workers=workers_before)
    it = iter(first)
    head = [batch_digest(next(it)) for _ in range(k)]
    state = json.loads(json.dumps(first.state_dict()))
    second = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=seed, packing=packing, window=64,
                          num_workers=workers_after)
    second.load_state_dict(state)
    tail = [batch_digest(b) for b in take(second, n - k)]
    assert head + tail == full


@given(st.integers(0, 11), st.sampled_from(["concat", "best_fit"]))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_resume_equals_uninterrupted(corpus, k, packing):
    _resume_equal(corpus, packing, k, 0, 0)


@pytest.mark.parametrize("before,after", [(0, 2), (2, 1)])
def test_resume_with_another_number_of_workers(corpus, before, after):
    _resume_equal(corpus, "concat", 5, before, after, n=9)


def test_workers_yield_the_same_stream_as_one_process(corpus):
    one = [batch_digest(b) for b in take(build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=9), 9)]
    two = [batch_digest(b) for b in take(build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=9,
                                                      num_workers=2), 9)]
    assert one == two


def test_ranks_partition_the_global_batch_and_elastic_resume_is_exact(corpus):
    """World size 2 (batch 4 each) = world size 1 (batch 8) row for row; resume 2 -> 1 is exact."""
    single = [row_digests(b) for b in take(build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=4), 10)]
    ranks = [[row_digests(b) for b in take(build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=4, rank=r,
                                                        world_size=2), 10)] for r in range(2)]
    for i in range(10):
        assert ranks[0][i] + ranks[1][i] == single[i]
    everything = [r for batch in single for r in batch]
    assert len(set(everything)) == len(everything)
    # elastic: stop both ranks after 6 batches, resume on one process with batch 8
    loaders = [build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=4, rank=r, world_size=2) for r in range(2)]
    for ld in loaders:
        take(ld, 6)
    states = [ld.state_dict() for ld in loaders]
    assert states[0] == states[1]
    resumed = build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=4, rank=0, world_size=1)
    resumed.load_state_dict(states[0])
    assert [row_digests(b) for b in take(resumed, 4)] == single[6:10]


def test_resume_refuses_another_corpus_or_global_batch(corpus, tmp_path):
    loader = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=4)
    take(loader, 2)
    state = loader.state_dict()
    with pytest.raises(ConfigError, match="global batch size"):
        build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=4).load_state_dict(state)
    with pytest.raises(ConfigError, match="fingerprint"):
        build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=5).load_state_dict(state)


def test_phase_seq_len_changes_batch_shape(corpus):
    sched = {"domains": ["code", "math", "web"], "total_tokens": 4096 * 8,
             "phases": [{"end": 0.5, "weights": {"web": 1.0, "code": 0.0, "math": 0.0}},
                        {"weights": {"web": 0.0, "code": 0.5, "math": 0.5}, "seq_len": 256}]}
    for packing in ("concat", "best_fit"):
        batches = list(build_loader(corpus, sched, seq_len=128, batch_size=4, seed=1, packing=packing,
                                    block_batches=1))
        shapes = [b["input_ids"].shape[1] for b in batches]
        assert shapes[0] == 128 and shapes[-1] == 256
        assert sum(b["input_ids"].numel() for b in batches) >= 4096 * 8
        assert set(np.concatenate([b["domain"].numpy() for b in batches if b["seq_len"] == 256])) <= {0, 1}


def test_adaptive_policy_changes_weights_at_a_future_block_and_survives_resume(corpus):
    def run(stop_at=None):
        policy = DoReMiPolicy(["code", "math", "web"], [0.3, 0.2, 0.5], reference_loss=[1.0, 1.0, 1.0])
        loader = build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=3, policy=policy, block_batches=1)
        out, it = [], iter(loader)
        for step in range(16):
            if stop_at is not None and step == stop_at:
                state = json.loads(json.dumps(loader.state_dict()))
                policy2 = DoReMiPolicy(["code", "math", "web"], [0.3, 0.2, 0.5], reference_loss=[1.0, 1.0, 1.0])
                loader = build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=3, policy=policy2,
                                      block_batches=1)
                loader.load_state_dict(state)
                it = iter(loader)
            batch = next(it)
            out.append(batch_digest(batch))
            if step in (3, 9):
                dom = batch["domain"].numpy()
                loss = np.array([5.0, 1.0, 1.0])[dom] * 128  # code loss is high
                loader.update_mixture(np.bincount(dom, weights=loss, minlength=3),
                                      np.bincount(dom, minlength=3) * 128.0)
        return out, loader

    full, loader = run()
    assert [b for b, _ in loader.state_dict()["mixture_log"]] == [5, 11]
    resumed, _ = run(stop_at=7)
    assert resumed == full
    unchanged, _ = run(stop_at=None)
    assert unchanged == full


def test_corrupted_shard_is_caught_when_the_corpus_is_opened(tmp_path):
    path = make_token_corpus(tmp_path / "tok", docs_per_shard=20, shards=1)
    shard = next((path / "data" / "web").glob("*.arrow"))
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(CorpusError, match=shard.name):
        build_loader(path, MIX, seq_len=128, batch_size=2, seed=0)


def test_schedule_domain_missing_from_corpus_is_a_clear_error(tmp_path):
    path = make_token_corpus(tmp_path / "tok", docs_per_shard=20, shards=1, domains=("web",))
    with pytest.raises(ConfigError, match="the corpus has no domain 'code'"):
        build_loader(path, MIX, seq_len=128, batch_size=2, seed=0)


def test_importing_the_loader_does_not_pull_the_curation_stack():
    code = ("import sys, midtrain.loaders; bad = [m for m in ('datatrove', 'polars', 'datasets', 'fasttext', "
            "'ray', 'datasketch', 'matplotlib', 'pyarrow.compute', 'midtrain.curation') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_process_exits_cleanly_while_workers_are_mid_stream(corpus):
    """A trainer that stops iterating without closing the loader must still exit with status 0
    (a daemon thread left inside a GIL-free numba kernel would abort the interpreter)."""
    code = ("import sys; from midtrain.loaders import build_loader; "
            f"L = build_loader({str(corpus)!r}, {MIX!r}, seq_len=512, batch_size=16, seed=0, num_workers=2); "
            "it = iter(L); [next(it) for _ in range(3)]; print('ok')")
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
        assert "terminate called" not in result.stderr


def test_manual_weight_change_applies_from_the_next_block_and_counts_tokens(corpus):
    loader = build_loader(corpus, MIX, seq_len=128, batch_size=8, seed=3, block_batches=1)
    it = iter(loader)
    next(it)
    assert loader.tokens_consumed == 8 * 128
    assert loader.set_weights({"math": 1.0}) == 2  # batch 1 is in block 1, so block 2 is the first changed
    batches = [next(it) for _ in range(3)]
    assert set(batches[0]["domain"].tolist()) != {1}
    assert set(batches[1]["domain"].tolist()) == {1} and set(batches[2]["domain"].tolist()) == {1}
    assert loader.tokens_consumed == 4 * 8 * 128
    with pytest.raises(ConfigError, match="unknown domain"):
        loader.set_weights({"poetry": 1.0})

"""Long-context loading: token-budget steps, length rules, document masks, context-parallel slices,
attention-balanced ranks and the RoPE block carried with batches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.corpus import open_token_corpus
from midtrain.errors import ConfigError
from midtrain.loaders import build_loader
from midtrain.loaders.kernels import balance_rows
from midtrain.loaders.streams import ConcatStream, kept_documents, seeded_rng
from midtrain.mixers import load_schedule

from helpers.loader_corpora import batch_digest, make_token_corpus, row_digests

WEIGHTS = {"web": 0.5, "code": 0.3, "math": 0.2}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("longctx") / "tok")


def take(loader, n):
    return list(itertools.islice(iter(loader), n))


def two_phase(**long_phase) -> dict:
    """256-token sequences, then 2,048-token ones from token 2^20 on, both at 8,192 tokens per step."""
    return {"domains": ["code", "math", "web"], "phases": [
        {"name": "short", "end": 1 << 20, "seq_len": 256, "tokens_per_step": 8192, "weights": WEIGHTS},
        {"name": "long", "seq_len": 2048, "tokens_per_step": 8192, "weights": WEIGHTS, **long_phase}]}


# -- tokens per step -----------------------------------------------------------------------------
def test_tokens_per_step_is_exact_across_the_boundary(corpus):
    loader = build_loader(corpus, two_phase(), seq_len=256, batch_size=4, seed=1, world_size=2, rank=0,
                          block_batches=2)
    shapes, consumed = [], []
    for batch in itertools.islice(iter(loader), 160):
        shapes.append(tuple(batch["input_ids"].shape))
        consumed.append(loader.tokens_consumed)
    # this rank holds half of every step: 16 x 256 then 2 x 2048 rows, 4,096 tokens either way
    assert set(shapes) == {(16, 256), (2, 2048)}
    assert all(rows * width * 2 == 8192 for rows, width in shapes)
    assert np.all(np.diff([0, *consumed]) == 8192)
    first_long = shapes.index((2, 2048))
    assert consumed[first_long - 1] >= 1 << 20 > consumed[first_long - 1] - 8192 * 2  # the first block past 2^20


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stop=st.integers(1, 150))
def test_resume_across_the_boundary_equals_the_uninterrupted_stream(corpus, stop):
    kwargs = dict(seq_len=256, batch_size=8, seed=2, world_size=1, rank=0, block_batches=2)
    schedule = two_phase(length_upsample={"below": 1000, "keep": 0.2})
    full = [batch_digest(b) for b in take(build_loader(corpus, schedule, **kwargs), 160)]
    first = build_loader(corpus, schedule, **kwargs)
    head = [batch_digest(b) for b in take(first, stop)]
    again = build_loader(corpus, schedule, **kwargs)
    again.load_state_dict(first.state_dict())
    assert head + [batch_digest(b) for b in take(again, 160 - stop)] == full


def test_tokens_per_step_not_divisible_is_refused(corpus):
    schedule = {"weights": WEIGHTS, "seq_len": 256}
    bad = {"phases": [{"weights": WEIGHTS, "seq_len": 256, "tokens_per_step": 256 * 3}]}
    with pytest.raises(ConfigError, match=r"phases\[0\]\.tokens_per_step: 768 tokens is not a whole number"):
        build_loader(corpus, bad, seq_len=256, batch_size=1, seed=0, world_size=2, rank=0)
    with pytest.raises(ConfigError, match="tokens_per_step"):
        load_schedule({"phases": [{"weights": WEIGHTS, "seq_len": 256, "tokens_per_step": 1000}]})
    assert build_loader(corpus, {"weights": WEIGHTS}, seq_len=256, batch_size=2, seed=0) is not None
    del schedule


# -- length rules --------------------------------------------------------------------------------
def _doc_lengths_in(batch):
    """Lengths of the documents behind each segment are not in the batch; count tokens per row scope."""
    return batch["cu_seqlens"].diff().numpy()


def test_length_upsample_keeps_shares_and_raises_the_long_share(corpus):
    plain = {"domains": ["code", "math", "web"], "weights": WEIGHTS}
    ups = {"domains": ["code", "math", "web"], "phases": [
        {"weights": WEIGHTS, "length_upsample": {"below": 2000, "keep": 0.1}}]}
    a = take(build_loader(corpus, plain, seq_len=2048, batch_size=8, seed=5, block_batches=4), 64)
    b = take(build_loader(corpus, ups, seq_len=2048, batch_size=8, seed=5, block_batches=4), 64)
    # the domain of every slot depends only on the weights: identical composition, batch by batch
    assert all(x["domain"].tolist() == y["domain"].tolist() for x, y in zip(a, b))

    def long_share(batches):
        scopes = np.concatenate([_doc_lengths_in(x) for x in batches])
        return scopes[scopes >= 1000].sum() / scopes.sum()

    assert long_share(b) > long_share(a) + 0.1


def test_concat_stream_with_a_rule_matches_a_reference():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, 200).astype(np.int64)
    stream = ConcatStream(lengths, seed=7, domain_index=1)
    rule = (5, 150, 300_000_000)  # min 5 tokens; below 150 kept with p = 0.3
    cursor = stream.initial_cursor()
    got = []
    for n in (3, 1, 7, 20, 2):
        seg, cursor = stream.take(cursor, n, 64, rule)
        got += [(int(d), int(b), int(ln)) for d, b, ln in zip(seg.doc, seg.begin, seg.length)]
    # reference: epoch by epoch, the permuted documents the rule keeps, concatenated, cut every 64
    need, pieces, epoch = 33 * 64, [], 0
    while need > 0:
        perm = seeded_rng(7, 1, epoch).permutation(len(lengths))
        keep = kept_documents(lengths, rule, 7, 1, epoch)
        for doc in perm:
            if keep[doc] and need > 0:
                k = min(int(lengths[doc]), need)
                pieces.append((int(doc), 0, k))
                need -= k
        epoch += 1
    flat = [(d, b + i) for d, b, ln in pieces for i in range(ln)]
    got_flat = [(d, b + i) for d, b, ln in got for i in range(ln)]
    assert got_flat == flat
    kept = kept_documents(lengths, rule, 7, 1, 0)
    assert kept[lengths >= 150].all() and not kept[lengths < 5].any()


def test_a_rule_change_mid_document_finishes_the_document():
    lengths = np.array([500, 10, 10, 500, 10], np.int64)
    stream = ConcatStream(lengths, seed=0, domain_index=0)
    seg, cursor = stream.take([0], 1, 100)              # no rule: token-offset cursor
    seg2, cursor2 = stream.take(cursor, 20, 100, (0, 100, 0))  # drop every short document
    assert len(cursor2) == 3
    first_doc = int(seg.doc[0])
    if lengths[first_doc] > 100:
        assert int(seg2.doc[0]) == first_doc and int(seg2.begin[0]) == 100
    assert all(lengths[int(d)] >= 100 or (int(d) == first_doc) for d in seg2.doc)


@pytest.mark.parametrize("packing", ["concat", "best_fit"])
def test_min_doc_tokens_drops_every_shorter_document(packing):
    from midtrain.loaders.plan import GlobalPlan

    rng = np.random.default_rng(3)
    lengths = {"web": rng.integers(1, 4000, 500).astype(np.int64), "code": rng.integers(1, 4000, 300).astype(np.int64)}
    schedule = load_schedule({"phases": [{"weights": {"web": 0.6, "code": 0.4}, "min_doc_tokens": {"web": 2500},
                                          "length_upsample": {"code": {"below": 3000, "keep": 0.25}}}]})
    plan = GlobalPlan(lengths, schedule, seed=1, seq_len=1024, block_size=64, packing=packing)
    state = plan.initial_state()
    for _ in range(30):
        block, state = plan.block(state)
        for k, d in enumerate(plan.domains):
            docs = block.seg_doc[block.seg_domain == k]
            if d == "web":
                assert (lengths[d][docs] >= 2500).all()
            else:
                short = docs[lengths[d][docs] < 3000]
                assert len(short) < 0.6 * len(docs)


def test_impossible_rules_are_refused(corpus):
    lengths = np.concatenate([np.diff(s.offsets) for s in open_token_corpus(corpus).shards["web"]])
    too_long = int(lengths.max()) + 1
    with pytest.raises(ConfigError, match=r"phases\[0\]\.length_upsample\.web: no document has min_doc_tokens"):
        build_loader(corpus, {"domains": ["web"], "phases": [{"weights": {"web": 1.0}, "min_doc_tokens": too_long}]},
                     seq_len=256, batch_size=1, seed=0)


# -- document masks ------------------------------------------------------------------------------
def test_doc_mask_none_is_one_scope_per_row(corpus):
    loader = build_loader(corpus, {"weights": WEIGHTS}, seq_len=512, batch_size=3, seed=1, doc_mask="none",
                          mask_cross_document_labels=False)
    masked = build_loader(corpus, {"weights": WEIGHTS}, seq_len=512, batch_size=3, seed=1,
                          mask_cross_document_labels=False)
    for batch, ref in zip(take(loader, 4), take(masked, 4)):
        assert batch["input_ids"].equal(ref["input_ids"]) and batch["labels"].equal(ref["labels"])
        assert batch["position_ids"].tolist() == [list(range(512))] * 3
        assert (batch["document_ids"] == 0).all()
        assert batch["cu_seqlens"].tolist() == [0, 512, 1024, 1536] and batch["max_seqlen"] == 512


# -- context parallel ----------------------------------------------------------------------------
def token_map(batch, row):
    """``{(document id, position): (input id, label)}`` of a row's real tokens."""
    docs, pos = batch["document_ids"][row].tolist(), batch["position_ids"][row].tolist()
    ids, labels = batch["input_ids"][row].tolist(), batch["labels"][row].tolist()
    return {(d, p): (i, l) for d, p, i, l in zip(docs, pos, ids, labels) if d >= 0}


@pytest.mark.parametrize("split", ["head_tail", "contiguous"])
@pytest.mark.parametrize("degree", [2, 4])
@pytest.mark.parametrize("packing", ["concat", "best_fit"])
def test_context_parallel_slices_reassemble_the_sequences(corpus, split, degree, packing):
    kwargs = dict(seq_len=1024, batch_size=2, seed=4, packing=packing)
    full = take(build_loader(corpus, {"weights": WEIGHTS}, world_size=2, rank=1, **kwargs), 3)
    world = 2 * degree
    parts = [take(build_loader(corpus, {"weights": WEIGHTS}, world_size=world, rank=degree + c, cp_degree=degree,
                               cp_split=split, **kwargs), 3) for c in range(degree)]
    seen = []
    for step, ref in enumerate(full):
        prints = {parts[c][step]["cp"].pop("fingerprint") for c in range(degree)}
        assert len(prints) == 1 and None not in prints  # every rank of the group reads the same sequences
        seen += prints
        for c in range(degree):
            batch = parts[c][step]
            assert batch["cp"] == {"degree": degree, "rank": c, "split": split, "seq_len": 1024}
            assert batch["input_ids"].shape == (2, 1024 // degree)
            assert batch["domain"].tolist() == ref["domain"].tolist()
            # cu_seqlens: a boundary wherever this rank's (row, scope) changes
            docs = batch["document_ids"].numpy()
            key = np.arange(docs.size) // docs.shape[1] * 1_000_000 + docs.reshape(-1)
            assert batch["cu_seqlens"].tolist() == [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), docs.size]
            if packing == "concat":  # full rows: every rank holds exactly L / C real tokens
                assert (docs >= 0).all()
        for row in range(2):
            merged: dict = {}
            for c in range(degree):
                piece = token_map(parts[c][step], row)
                assert not set(piece) & set(merged)  # no token on two ranks
                merged.update(piece)
            assert merged == token_map(ref, row)
    assert len(set(seen)) == len(seen)  # and each step other sequences


def test_head_tail_evens_out_causal_work(corpus):
    """Per document, head-tail gives every rank the same causal attention work (within a token per
    document), where contiguous slices give the last rank the most."""
    def work(batch):
        pos = batch["position_ids"].double()
        return float(((pos + 1) * (batch["document_ids"] >= 0)).sum())

    kwargs = dict(seq_len=2048, batch_size=1, seed=2, world_size=4, cp_degree=4)
    schedule = {"phases": [{"weights": WEIGHTS, "min_doc_tokens": 1500}]}
    for split, bound in (("head_tail", 1.02), ("contiguous", None)):
        ratios = []
        for step in range(4):
            per_rank = [work(take(build_loader(corpus, schedule, rank=c, cp_split=split, **kwargs), 4)[step])
                        for c in range(4)]
            ratios.append(max(per_rank) / np.mean(per_rank))
        if bound:
            assert max(ratios) <= bound
        else:
            assert max(ratios) > 1.2


def test_context_parallel_refuses_uneven_chunks(corpus):
    with pytest.raises(ConfigError, match="does not split into 8 equal chunks"):
        take(build_loader(corpus, {"weights": WEIGHTS}, seq_len=1004, batch_size=1, seed=0, world_size=4, rank=0,
                          cp_degree=4), 1)
    with pytest.raises(ConfigError, match="not a multiple of cp_degree"):
        build_loader(corpus, {"weights": WEIGHTS}, seq_len=1024, batch_size=1, seed=0, world_size=3, rank=0,
                     cp_degree=2)


# -- attention balance ---------------------------------------------------------------------------
def balance_reference(cost, ranks, per_rank):
    order = sorted(range(len(cost)), key=lambda i: (-cost[i], i))
    load, count, out = [0.0] * ranks, [0] * ranks, [0] * len(cost)
    for i in order:
        k = min((k for k in range(ranks) if count[k] < per_rank), key=lambda k: (load[k], k))
        out[i] = k
        load[k] += cost[i]
        count[k] += 1
    return out


@given(st.integers(1, 6), st.integers(1, 6), st.data())
@settings(max_examples=60, deadline=None)
def test_balance_rows_matches_reference(ranks, per_rank, data):
    cost = data.draw(st.lists(st.integers(0, 50), min_size=ranks * per_rank, max_size=ranks * per_rank))
    got = balance_rows(np.array(cost, np.float64), ranks, per_rank).tolist()
    assert got == balance_reference(cost, ranks, per_rank)
    assert np.bincount(got, minlength=ranks).tolist() == [per_rank] * ranks


def test_balanced_ranks_read_the_same_global_batches(corpus):
    kwargs = dict(seq_len=2048, batch_size=4, seed=6, world_size=4, block_batches=2)
    plain = [take(build_loader(corpus, {"weights": WEIGHTS}, rank=r, **kwargs), 6) for r in range(4)]
    fair = [take(build_loader(corpus, {"weights": WEIGHTS}, rank=r, balance="attention", **kwargs), 6)
            for r in range(4)]
    spread = {"plain": [], "fair": []}
    for step in range(6):
        rows = {name: [row_digests(ranks[r][step]) for r in range(4)] for name, ranks in (("plain", plain),
                                                                                         ("fair", fair))}
        assert sorted(sum(rows["plain"], [])) == sorted(sum(rows["fair"], []))
        for name, ranks in (("plain", plain), ("fair", fair)):
            cost = [float((ranks[r][step]["cu_seqlens"].diff().double() ** 2).sum()) for r in range(4)]
            spread[name].append(max(cost) / np.mean(cost))
    assert np.mean(spread["fair"]) < np.mean(spread["plain"])
    assert max(spread["fair"]) <= 1.25


# -- RoPE and phase carried with the batches -----------------------------------------------------
def test_rope_and_phase_travel_with_the_batches(corpus):
    schedule = two_phase(rope={"theta": 500000})
    loader = build_loader(corpus, schedule, seq_len=256, batch_size=8, seed=1, block_batches=2)
    seen = [(b["phase"], b["rope"], b["seq_len"]) for b in take(loader, 140)]
    assert seen[0] == ("short", None, 256)
    assert ("long", {"theta": 500000.0}, 2048) in seen
    first = next(i for i, s in enumerate(seen) if s[0] == "long")
    assert all(s[0] == "long" for s in seen[first:])

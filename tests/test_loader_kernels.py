"""The loader's numba kernels against slow pure-Python twins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.loaders.kernels import (IGNORE_INDEX, best_fit_decreasing, blend_slots, fill_batch,
                                      order_segments, split_into_sequences, stream_pieces)


def blend_slots_ref(weights, err, slots):
    k = len(weights)
    delta = 1.0 / (2 * k - 2) if k > 1 else 0.0
    out = []
    for _ in range(slots):
        err = [e + w for e, w in zip(err, weights)]
        behind = [d for d in range(k) if weights[d] > 0 and err[d] >= delta - 1e-12]
        if behind:
            best = min(behind, key=lambda d: ((1.0 - delta - err[d]) / weights[d], d))
        else:
            best = max(range(k), key=lambda d: (err[d], -d))
        out.append(best)
        err[best] -= 1.0
    return out, err


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6).filter(lambda w: sum(w) > 1e-3),
       st.integers(1, 64), st.integers(1, 30))
@settings(max_examples=80, deadline=None)
def test_blend_slots_matches_reference_and_every_prefix_is_within_one(raw, slots, blocks):
    w = np.array(raw) / sum(raw)
    k = len(w)
    bound = 1.0 - (1.0 / (2 * k - 2) if k > 1 else 1.0)  # Tijdeman: 1 - 1/(2K-2); K = 1 is exact
    err = np.zeros(k)
    ref_err = [0.0] * k
    counts = np.zeros(k)
    n = 0
    for _ in range(blocks):
        got = blend_slots(w, err, slots)
        ref, ref_err = blend_slots_ref(w.tolist(), ref_err, slots)
        assert got.tolist() == ref
        for d in got:
            counts[d] += 1
            n += 1
            assert np.all(np.abs(counts - w * n) <= bound + 1e-9)


def test_blend_slots_stays_within_one_where_the_largest_error_rule_does_not():
    w = np.array([0.890625, 0.890625, 0.890625, 0.2734375, 0.01953125])
    w /= w.sum()
    err, counts = np.zeros(5), np.zeros(5)
    for n, d in enumerate(blend_slots(w, err, 400), start=1):
        counts[d] += 1
        assert np.abs(counts - w * n).max() < 1.0


def stream_pieces_ref(perm, lengths, start, stop):
    out, pos = [], 0
    for d in perm:
        a, b = pos, pos + lengths[d]
        lo, hi = max(a, start), min(b, stop)
        if lo < hi:
            out.append((d, lo - a, hi - lo))
        pos = b
    return out


@given(st.lists(st.integers(0, 50), min_size=1, max_size=30), st.data())
@settings(max_examples=80, deadline=None)
def test_stream_pieces_matches_reference(lengths, data):
    lengths = np.array(lengths, np.int64)
    perm = np.random.default_rng(len(lengths)).permutation(len(lengths))
    cum = np.concatenate([[0], np.cumsum(lengths[perm])])
    total = int(cum[-1])
    start = data.draw(st.integers(0, total))
    stop = data.draw(st.integers(start, total))
    d, b, ln = stream_pieces(perm, cum, start, stop)
    assert list(zip(d.tolist(), b.tolist(), ln.tolist())) == stream_pieces_ref(perm, lengths, start, stop)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=20), st.integers(1, 17))
@settings(max_examples=60, deadline=None)
def test_split_into_sequences_cuts_every_seq_len_tokens(lengths, seq_len):
    total = sum(lengths)
    lengths = lengths + [seq_len - total % seq_len] if total % seq_len else lengths
    docs = np.arange(len(lengths), dtype=np.int64)
    seq, d, b, ln = split_into_sequences(docs, np.zeros(len(lengths), np.int64), np.array(lengths, np.int64), seq_len)
    # reference: token-by-token
    tokens = [(i, t) for i, n in enumerate(lengths) for t in range(n)]
    rebuilt = [(s, di, bi + t) for s, di, bi, n in zip(seq, d, b, ln) for t in range(n)]
    assert [(x[1], x[2]) for x in rebuilt] == tokens
    assert [x[0] for x in rebuilt] == [k // seq_len for k in range(len(tokens))]


def best_fit_decreasing_ref(lengths, capacity):
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    remaining, bin_of = [], [0] * len(lengths)
    for i in order:
        fits = [(remaining[b], b) for b in range(len(remaining)) if remaining[b] >= lengths[i]]
        if fits:
            # fullest bin that fits; among equal capacities the one that reached it first
            cap = min(r for r, _ in fits)
            b = min((b for r, b in fits if r == cap), key=lambda b: arrival[b])
        else:
            b = len(remaining)
            remaining.append(capacity)
            arrival.append(0)
        bin_of[i] = b
        remaining[b] -= lengths[i]
        arrival[b] = next(counter)
    return bin_of


@given(st.lists(st.integers(1, 64), min_size=1, max_size=60), st.integers(64, 100))
@settings(max_examples=80, deadline=None)
def test_best_fit_decreasing_matches_reference(lengths, capacity):
    global arrival, counter
    import itertools

    arrival, counter = [], itertools.count()
    ref = best_fit_decreasing_ref(lengths, capacity)
    got = best_fit_decreasing(np.array(lengths, np.int64), capacity).tolist()
    assert got == ref
    loads = np.bincount(got, weights=lengths)
    assert loads.max() <= capacity


def test_fill_batch_matches_reference():
    shard0 = np.arange(100, 200, dtype=np.uint16)
    shard1 = np.arange(500, 540, dtype=np.uint16)
    from numba import typed

    shards = typed.List([shard0, shard1])
    # row 0: doc A = shard0[10:20] (whole doc), piece of doc B = shard1[0:6] of a doc ending at 30
    # row 1: doc C = shard0[50:55], then padding
    seq_ptr = np.array([0, 2, 3])
    seg_shard = np.array([0, 1, 0])
    seg_src = np.array([10, 0, 50])
    seg_len = np.array([10, 6, 5])
    seg_end = np.array([20, 30, 55])
    L = 16
    out = [np.zeros((2, L), np.int64) for _ in range(3)] + [np.zeros((2, L), np.int32)]
    cu = np.zeros(8, np.int32)
    for mask in (True, False):
        n, max_len = fill_batch(shards, seq_ptr, seg_shard, seg_src, seg_len, seg_end, np.zeros(3, np.int64),
                                np.array([0, 1, 0]), L, 0, mask, *out, cu)
        assert max_len == 11
        ids, labels, pos, docs = out
        assert ids[0].tolist() == list(range(110, 120)) + list(range(500, 506))
        assert ids[1].tolist() == list(range(150, 155)) + [0] * 11
        expected_row0 = list(range(111, 120)) + [IGNORE_INDEX if mask else 500] + list(range(501, 507))
        assert labels[0].tolist() == expected_row0  # last label of the piece is the next token of doc B
        assert labels[1].tolist() == list(range(151, 155)) + [IGNORE_INDEX] * 12
        assert pos[0].tolist() == list(range(10)) + list(range(6))
        assert pos[1].tolist() == list(range(5)) + list(range(11))
        assert docs[0].tolist() == [0] * 10 + [1] * 6
        assert docs[1].tolist() == [0] * 5 + [-1] * 11
        assert cu[:n].tolist() == [0, 10, 16, 21, 32]


def test_fill_batch_scopes_and_positions():
    """Segments of one scope share a ``cu_seqlens`` span; positions start at each segment's ``pos``."""
    from numba import typed

    shards = typed.List([np.arange(100, 200, dtype=np.uint16)])
    seq_ptr = np.array([0, 3])
    seg_shard, seg_src, seg_len = np.zeros(3, np.int64), np.array([0, 40, 60]), np.array([4, 3, 5])
    seg_end = np.array([4, 43, 65])
    seg_pos, seg_scope = np.array([0, 4, 7]), np.zeros(3, np.int64)  # one scope: no document masks
    out = [np.zeros((1, 12), np.int64) for _ in range(3)] + [np.zeros((1, 12), np.int32)]
    cu = np.zeros(6, np.int32)
    n, max_len = fill_batch(shards, seq_ptr, seg_shard, seg_src, seg_len, seg_end, seg_pos, seg_scope, 12, 0, True,
                            *out, cu)
    assert cu[:n].tolist() == [0, 12] and max_len == 12
    assert out[2][0].tolist() == list(range(12)) and out[3][0].tolist() == [0] * 12


def test_gather_segments_matches_reference():
    from numba import typed

    from midtrain.loaders.kernels import gather_segments

    shard0 = np.arange(100, 200, dtype=np.uint16)
    shard1 = np.arange(500, 540, dtype=np.uint16)
    seg_shard, seg_src, seg_len = np.array([0, 1, 0]), np.array([10, 0, 50]), np.array([10, 6, 5])
    seg_end = np.array([20, 30, 55])
    offsets = np.concatenate([[0], np.cumsum(seg_len + 1)])
    out = np.empty(offsets[-1], np.uint16)
    gather_segments(typed.List([shard0, shard1]), seg_shard, seg_src, seg_len, seg_end, offsets, out)
    shards = [shard0, shard1]
    expected = []
    for s, a, n, e in zip(seg_shard, seg_src, seg_len, seg_end):
        expected += shards[s][a:a + n].tolist() + [int(shards[s][a + n]) if a + n < e else 0]
    assert out.tolist() == expected


def order_segments_ref(slot_domain, per_domain):
    """per_domain[k] = list of sequences, each a list of (doc, begin, length) segments."""
    taken = [0] * len(per_domain)
    seq_ptr, rows = [0], []
    for k in slot_domain:
        sequence = per_domain[k][taken[k]]
        taken[k] += 1
        rows.extend((k, *segment) for segment in sequence)
        seq_ptr.append(len(rows))
    return seq_ptr, rows


@given(st.data())
@settings(max_examples=80, deadline=None)
def test_order_segments_matches_reference(data):
    n_dom = data.draw(st.integers(1, 4))
    slot_domain = data.draw(st.lists(st.integers(0, n_dom - 1), min_size=1, max_size=40))
    segment = st.tuples(st.integers(0, 99), st.integers(0, 500), st.integers(1, 64))
    per_domain = [data.draw(st.lists(st.lists(segment, min_size=1, max_size=4),
                                     min_size=slot_domain.count(k), max_size=slot_domain.count(k)))
                  for k in range(n_dom)]
    dom_ptr = np.zeros(n_dom + 1, np.int64)
    cols = [[], [], [], []]  # seq, doc, begin, length, grouped by domain
    for k, sequences in enumerate(per_domain):
        for j, sequence in enumerate(sequences):
            for doc, begin, length in sequence:
                for col, value in zip(cols, (j, doc, begin, length)):
                    col.append(value)
        dom_ptr[k + 1] = len(cols[0])
    seq_ptr, dom, doc, begin, length = order_segments(np.array(slot_domain, np.int64), dom_ptr,
                                                      *(np.array(c, np.int64) for c in cols))
    want_ptr, want_rows = order_segments_ref(slot_domain, per_domain)
    assert seq_ptr.tolist() == want_ptr
    assert list(zip(dom.tolist(), doc.tolist(), begin.tolist(), length.tolist())) == want_rows

"""The loader's hot loops, as numba kernels with plain-array signatures.

Everything per sequence or per token lives here; the rest of ``midtrain.loaders`` is readable
Python around these. Each kernel has a slow pure-Python twin in ``tests/test_loader_kernels.py``.

- :func:`blend_slots`: the domain of every sequence slot of a block, by error carry
  (Tijdeman's chairman-assignment rule: every prefix within one sequence of the target).
- :func:`stream_pieces`: the documents covering a token interval of one epoch's concatenated stream.
- :func:`split_into_sequences`: cut an ordered list of pieces into sequences of ``seq_len`` tokens.
- :func:`best_fit_decreasing`: pack items into bins of ``capacity`` (smallest bin that fits,
  O(n log capacity) with a segment tree over remaining capacities).
- :func:`order_segments`: put the segments of a block's per-domain sequences in slot order.
- :func:`fill_batch`: gather tokens from the memory-mapped shards into ``input_ids``, ``labels``,
  ``position_ids`` and ``document_ids``, and the ``cu_seqlens`` of every attention scope.
- :func:`balance_rows`: assign the rows of a global batch to data-parallel ranks, longest
  processing time first, so that the attention cost per rank is even.
"""

from __future__ import annotations

import numpy as np
from numba import njit

IGNORE_INDEX = -100


@njit(cache=True)
def blend_slots(weights: np.ndarray, err: np.ndarray, slots: int) -> np.ndarray:
    """The domain of each of ``slots`` consecutive sequences; ``err`` (target minus given) is carried in place.

    Tijdeman's rule for the chairman assignment problem (R. Tijdeman, "The chairman assignment
    problem", Discrete Mathematics 32, 1980): before each slot every domain's error grows by its
    weight; among the domains behind by at least ``delta = 1 / (2K - 2)``, the slot goes to the one
    whose next sequence is due first, i.e. the smallest ``(1 - delta - err) / weight`` (lowest index
    on ties). For fixed weights every prefix of the stream then holds each domain's count within
    ``1 - delta < 1`` sequence of its target. (The plain "largest error" rule of Megatron's
    ``build_blending_indices`` can exceed 1, e.g. 1.016 for weights proportional to
    0.89, 0.89, 0.89, 0.27, 0.02.)
    """
    k = weights.shape[0]
    out = np.empty(slots, np.int64)
    delta = 1.0 / (2 * k - 2) if k > 1 else 0.0
    for s in range(slots):
        for d in range(k):
            err[d] += weights[d]
        best = -1
        best_key = 0.0
        for d in range(k):
            if weights[d] > 0.0 and err[d] >= delta - 1e-12:
                key = (1.0 - delta - err[d]) / weights[d]
                if best < 0 or key < best_key:
                    best = d
                    best_key = key
        if best < 0:  # only after a weight change left nobody far enough behind
            best = 0
            for d in range(1, k):
                if err[d] > err[best]:
                    best = d
        out[s] = best
        err[best] -= 1.0
    return out


@njit(cache=True)
def stream_pieces(perm: np.ndarray, cum: np.ndarray, start: int, stop: int):
    """Pieces ``(doc, begin, length)`` covering tokens ``[start, stop)`` of one epoch's stream.

    The epoch's stream is the documents in ``perm`` order, concatenated; ``cum`` is the cumulative
    length in that order (``cum[0] == 0``, ``len(cum) == len(perm) + 1``). Empty documents yield
    nothing.
    """
    n = perm.shape[0]
    # first document whose end is beyond start
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid + 1] <= start:
            lo = mid + 1
        else:
            hi = mid
    cap = 16
    docs = np.empty(cap, np.int64)
    begins = np.empty(cap, np.int64)
    lengths = np.empty(cap, np.int64)
    m = 0
    pos = start
    i = lo
    while pos < stop and i < n:
        doc_begin = cum[i]
        doc_end = cum[i + 1]
        if doc_end > doc_begin:
            s = pos - doc_begin
            e = min(stop, doc_end) - doc_begin
            if m == cap:
                cap *= 2
                docs = _grow(docs, cap)
                begins = _grow(begins, cap)
                lengths = _grow(lengths, cap)
            docs[m] = perm[i]
            begins[m] = s
            lengths[m] = e - s
            m += 1
            pos = doc_begin + e
        i += 1
    return docs[:m], begins[:m], lengths[:m]


@njit(cache=True)
def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    b = np.empty(cap, a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def split_into_sequences(docs: np.ndarray, begins: np.ndarray, lengths: np.ndarray, seq_len: int):
    """Cut ordered pieces into consecutive sequences of ``seq_len`` tokens.

    Returns ``(seq_of_segment, docs, begins, lengths)`` for the resulting segments; a piece that
    straddles a boundary becomes two segments. The caller guarantees the total is a multiple of
    ``seq_len``.
    """
    total = 0
    for i in range(lengths.shape[0]):
        total += lengths[i]
    cap = lengths.shape[0] + total // seq_len + 1
    seq = np.empty(cap, np.int64)
    od = np.empty(cap, np.int64)
    ob = np.empty(cap, np.int64)
    ol = np.empty(cap, np.int64)
    m = 0
    filled = 0
    s = 0
    for i in range(lengths.shape[0]):
        b = begins[i]
        left = lengths[i]
        while left > 0:
            take = min(left, seq_len - filled)
            seq[m] = s
            od[m] = docs[i]
            ob[m] = b
            ol[m] = take
            m += 1
            b += take
            left -= take
            filled += take
            if filled == seq_len:
                filled = 0
                s += 1
    return seq[:m], od[:m], ob[:m], ol[:m]


@njit(cache=True)
def best_fit_decreasing(lengths: np.ndarray, capacity: int) -> np.ndarray:
    """Bin of every item under best-fit decreasing: the fullest bin that still fits, else a new bin.

    Items are taken longest first (ties by index); every length must be in ``[1, capacity]``. A
    segment tree over remaining capacities ``0..capacity`` finds the smallest capacity ``>=`` the
    item in O(log capacity); bins with equal capacity are taken oldest first. Returns the bin index
    of each item, bins numbered in creation order.
    """
    n = lengths.shape[0]
    order = np.argsort(-lengths, kind="mergesort")
    size = 1
    while size < capacity + 1:
        size *= 2
    tree = np.zeros(2 * size, np.int64)  # count of open bins per remaining capacity
    # FIFO queue of bins per capacity, as linked lists
    head = np.full(capacity + 1, -1, np.int64)
    tail = np.full(capacity + 1, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    remaining = np.zeros(n, np.int64)
    bin_of = np.empty(n, np.int64)
    n_bins = 0
    for j in range(n):
        item = order[j]
        need = lengths[item]
        # smallest capacity c >= need with tree leaf > 0
        c = _first_nonzero_at_or_after(tree, size, need)
        if c < 0:
            b = n_bins
            n_bins += 1
            remaining[b] = capacity
        else:
            b = head[c]
            head[c] = nxt[b]
            if head[c] == -1:
                tail[c] = -1
            nxt[b] = -1
            _tree_add(tree, size, c, -1)
        bin_of[item] = b
        remaining[b] -= need
        r = remaining[b]
        if r > 0:
            if tail[r] == -1:
                head[r] = b
            else:
                nxt[tail[r]] = b
            tail[r] = b
            _tree_add(tree, size, r, 1)
    return bin_of


@njit(cache=True)
def _tree_add(tree: np.ndarray, size: int, leaf: int, delta: int) -> None:
    i = leaf + size
    while i >= 1:
        tree[i] += delta
        i //= 2


@njit(cache=True)
def _first_nonzero_at_or_after(tree: np.ndarray, size: int, lo: int) -> int:
    """Smallest leaf index >= lo with a non-zero count, or -1."""
    if lo >= size:
        return -1
    i = lo + size
    if tree[i] > 0:
        return lo
    # climb until a right sibling subtree has something
    while i > 1:
        if i % 2 == 0 and tree[i + 1] > 0:
            i += 1
            while i < size:
                i = 2 * i if tree[2 * i] > 0 else 2 * i + 1
            return i - size
        i //= 2
    return -1


@njit(cache=True)
def order_segments(slot_domain: np.ndarray, dom_ptr: np.ndarray, seg_seq: np.ndarray, seg_doc: np.ndarray,
                   seg_begin: np.ndarray, seg_len: np.ndarray):
    """Lay out a block's segments slot by slot: slot ``s`` of domain ``k`` takes the next sequence of ``k``.

    The input segments are grouped by domain (domain ``k``'s are ``dom_ptr[k]:dom_ptr[k + 1]``),
    each group ordered by its local sequence index ``seg_seq`` (0, 1, ...). The i-th slot (in slot
    order) whose ``slot_domain`` is ``k`` receives domain ``k``'s local sequence i. Returns
    ``seq_ptr`` (slot ``s`` has output segments ``seq_ptr[s]:seq_ptr[s + 1]``) and the output
    segments' domain, document, begin and length.
    """
    n_dom = dom_ptr.shape[0] - 1
    n_slots = slot_domain.shape[0]
    counts = np.zeros(n_dom, np.int64)
    for s in range(n_slots):
        counts[slot_domain[s]] += 1
    seq_base = np.zeros(n_dom + 1, np.int64)
    for k in range(n_dom):
        seq_base[k + 1] = seq_base[k] + counts[k]
    # segments per local sequence, and where each local sequence starts in the input
    n_seg = np.zeros(n_slots, np.int64)
    for k in range(n_dom):
        for i in range(dom_ptr[k], dom_ptr[k + 1]):
            n_seg[seq_base[k] + seg_seq[i]] += 1
    first = np.empty(n_slots, np.int64)
    for k in range(n_dom):
        acc = dom_ptr[k]
        for j in range(seq_base[k], seq_base[k + 1]):
            first[j] = acc
            acc += n_seg[j]
    taken = seq_base[:n_dom].copy()
    source = np.empty(n_slots, np.int64)
    seq_ptr = np.zeros(n_slots + 1, np.int64)
    for s in range(n_slots):
        j = taken[slot_domain[s]]
        taken[slot_domain[s]] += 1
        source[s] = j
        seq_ptr[s + 1] = seq_ptr[s] + n_seg[j]
    total = seq_ptr[n_slots]
    out_domain = np.empty(total, np.int64)
    out_doc = np.empty(total, np.int64)
    out_begin = np.empty(total, np.int64)
    out_len = np.empty(total, np.int64)
    for s in range(n_slots):
        a = first[source[s]]
        o = seq_ptr[s]
        n = seq_ptr[s + 1] - o
        out_domain[o:o + n] = slot_domain[s]
        out_doc[o:o + n] = seg_doc[a:a + n]
        out_begin[o:o + n] = seg_begin[a:a + n]
        out_len[o:o + n] = seg_len[a:a + n]
    return seq_ptr, out_domain, out_doc, out_begin, out_len


@njit(cache=True, nogil=True)
def fill_batch(shards, seq_ptr: np.ndarray, seg_shard: np.ndarray, seg_src: np.ndarray, seg_len: np.ndarray,
               seg_doc_end: np.ndarray, seg_pos: np.ndarray, seg_scope: np.ndarray, seq_len: int, pad_id: int,
               mask_cross_doc: bool, input_ids: np.ndarray, labels: np.ndarray, position_ids: np.ndarray,
               document_ids: np.ndarray, cu_seqlens: np.ndarray) -> tuple[int, int]:
    """Materialise B sequences (rows) from their segments; returns (``cu_seqlens`` entries, longest scope).

    Row ``r`` holds segments ``seq_ptr[r]:seq_ptr[r + 1]``; segment ``i`` copies ``seg_len[i]``
    tokens of shard ``seg_shard[i]`` from token offset ``seg_src[i]``. The label of a segment's
    last token is the next token of the same document when there is one (``seg_doc_end``), else
    -100, or, with ``mask_cross_doc=False``, the first token of the next segment in the row.
    ``position_ids`` count from ``seg_pos[i]`` over segment ``i`` (0 for a whole document piece;
    the offset in the row without document masks; the offset in the full sequence for a context-
    parallel slice); ``document_ids`` are ``seg_scope`` (-1 on padding); ``cu_seqlens`` are the
    boundaries of every attention scope, consecutive segments of one scope merged (padding counts
    as one), over the flattened ``[B * seq_len]`` batch. The output arrays are 2-D ``[B, seq_len]``.
    """
    rows = seq_ptr.shape[0] - 1
    ids_f = input_ids.reshape(-1)
    lab_f = labels.reshape(-1)
    pos_f = position_ids.reshape(-1)
    doc_f = document_ids.reshape(-1)
    ncu = 1
    max_len = 0
    cu_seqlens[0] = 0
    for r in range(rows):
        base = r * seq_len
        out = base
        scope_start = base
        last = seq_ptr[r + 1] - 1
        for i in range(seq_ptr[r], seq_ptr[r + 1]):
            toks = shards[seg_shard[i]]
            src = seg_src[i]
            n = seg_len[i]
            # slice copies, not indexed loops: the indexed form kept numba's negative-index
            # wraparound in the loop body and ran 2x slower (3 vs 1.4 ns per token)
            ids_f[out:out + n] = toks[src:src + n]
            lab_f[out:out + n - 1] = toks[src + 1:src + n]
            pos = pos_f[out:out + n]
            p0 = seg_pos[i]
            for t in range(n):
                pos[t] = p0 + t
            doc_f[out:out + n] = seg_scope[i]
            end = src + n
            if end < seg_doc_end[i]:
                lab_f[out + n - 1] = toks[end]
            elif not mask_cross_doc and i < last:
                lab_f[out + n - 1] = shards[seg_shard[i + 1]][seg_src[i + 1]]
            else:
                lab_f[out + n - 1] = IGNORE_INDEX
            out += n
            if i == last or seg_scope[i + 1] != seg_scope[i]:
                if out - scope_start > max_len:
                    max_len = out - scope_start
                cu_seqlens[ncu] = out
                ncu += 1
                scope_start = out
        stop = base + seq_len
        if out < stop:
            ids_f[out:stop] = pad_id
            lab_f[out:stop] = IGNORE_INDEX
            pos = pos_f[out:stop]
            for t in range(stop - out):
                pos[t] = t
            doc_f[out:stop] = -1
            if stop - out > max_len:
                max_len = stop - out
            cu_seqlens[ncu] = stop
            ncu += 1
    return ncu, max_len


@njit(cache=True)
def balance_rows(cost: np.ndarray, ranks: int, per_rank: int) -> np.ndarray:
    """The rank of each row: longest-processing-time first, every rank taking exactly ``per_rank``
    rows (the most costly row left goes to the least loaded rank with room; ties to the lowest
    rank, rows of equal cost in index order). ``len(cost) == ranks * per_rank``."""
    n = cost.shape[0]
    order = np.argsort(-cost, kind="mergesort")
    load = np.zeros(ranks, np.float64)
    count = np.zeros(ranks, np.int64)
    out = np.empty(n, np.int64)
    for j in range(n):
        row = order[j]
        best = -1
        for k in range(ranks):
            if count[k] < per_rank and (best < 0 or load[k] < load[best]):
                best = k
        out[row] = best
        load[best] += cost[row]
        count[best] += 1
    return out


@njit(cache=True, nogil=True)
def gather_segments(shards, seg_shard: np.ndarray, seg_src: np.ndarray, seg_len: np.ndarray, seg_doc_end: np.ndarray,
                    offsets: np.ndarray, out: np.ndarray) -> None:
    """Copy each segment's tokens, then its document's next token (0 if the document ends), to ``out``.

    Segment ``i`` lands at ``out[offsets[i]:offsets[i] + seg_len[i] + 1]``: a compact, contiguous
    copy that :func:`fill_batch` can expand later with ``shards = [out]``.
    """
    for i in range(seg_len.shape[0]):
        toks = shards[seg_shard[i]]
        src = seg_src[i]
        o = offsets[i]
        n = seg_len[i]
        out[o:o + n] = toks[src:src + n]
        out[o + n] = toks[src + n] if src + n < seg_doc_end[i] else 0

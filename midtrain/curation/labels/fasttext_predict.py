"""fastText's supervised prediction in numba, read from the model file: the same labels and scores, faster.

Why: every document meets three or four fastText models (language, domain, a quality model, and the
code-language model for code), about a third of what labelling costs. fastText's binding builds a
``std::string`` and a ``stringstream`` per line and a Python list per result, and looks a pruned
model's n-gram buckets up in a hash map; here the batch's UTF-8 bytes go through one numba kernel.
``benchmarks/bench_fasttext_predict.py`` (the speed set's lines, batches of 512, medians of 5, the two
taking turns; stop 43, load average 0.5): 1.50x (domain) to 3.61x (lid.176) faster, lid.176 43.2 ->
12.0 µs per line, code_language 50.5 -> 20.9, every label and score equal.

``read_weights`` parses the model file once: the dictionary, the input matrix (dense, or
product-quantized and kept as codes, as fastText keeps it), a pruned model's kept buckets (a rank table
of 500 KB for lid.176, with the kept n-gram rows put in bucket order: ``_ranked_buckets``), and each
known word's rows (itself, then its character n-grams), as fastText precomputes them. The dictionary
is an open-addressing table whose 16-byte rows hold a word's hash, length, id and first eight bytes
(``_build_slots``): a word of up to eight bytes is found by one read, with no look at the word list
(stop 42, quiet machine: domain 13.8-14.4 -> 12.5-13.0 µs per line, the quality and code-language models
2-8% faster).

It reproduces ``FastText::predictLine`` step by step, so the labels and scores equal fastText's
(``tests/test_fasttext_predict.py`` compares them on real and generated lines):

- tokens: bytes split on fastText's seven separators up to the first newline (the binding appends
  one), which is the end-of-sentence token ``</s>``; a literal ``</s>`` ends the line too, as fastText's
  reader stops there; an unknown token starting with ``__label__`` is skipped;
- input rows: a known word's row; with ``maxn > 0`` each character n-gram of ``<word>`` (``minn`` to
  ``maxn`` characters, not a lone boundary character), hashed (32-bit FNV-1a over signed chars) into
  ``bucket``; then the word n-grams of the token hashes (``h * 116049371 + next``, in 64 bits); a pruned
  (quantized) model maps each bucket through its kept-bucket table or drops it;
- the hidden vector: the rows summed in that order in float32, times ``float(1 / count)``; a line
  without rows gets no prediction (fastText returns none; callers see label ``""``, score 0);
- softmax: float32 dot products, ``exp(x - max)`` summed, divided; hierarchical softmax (lid.176): the
  Huffman tree of the label counts, searched depth first with fastText's pruning;
- the score returned: ``exp(log(p + 1e-5))``, as the binding returns it.

A quantized *output* matrix (``-qout``) is not read: ``read_weights`` raises ``ValueError`` and the caller
keeps fastText's own prediction.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
from numba.core import types
from numba.extending import intrinsic

from midtrain.curation.labels.text_windows import as_string_array, string_buffers

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
LOSS_HS, LOSS_SOFTMAX = 1, 3
MODEL_SUPERVISED = 3
EOS = b"</s>"
LABEL_PREFIX = b"__label__"
_KSUB = 256  # centroids per sub-quantizer (fastText's ProductQuantizer.ksub_)


@dataclass(frozen=True)
class FastTextWeights:
    """What prediction needs from a supervised fastText model file (``read_weights``)."""

    dim: int
    minn: int
    maxn: int
    word_ngrams: int
    bucket: int
    loss: int                # LOSS_HS or LOSS_SOFTMAX
    nwords: int
    labels: tuple[str, ...]  # without the __label__ prefix, in the model's order
    word_data: np.ndarray    # uint8: the words' bytes, concatenated
    word_offsets: np.ndarray  # int64, nwords + 1
    slots: np.ndarray        # uint64 (slots, 2) open-addressing table of the words (``_build_slots``)
    prune_mode: int          # -1: not pruned, 0: every bucket dropped, 1: mapped through ``prune``
    prune: np.ndarray        # int64 per 32 buckets: kept before them << 32 | their kept bits (``_ranked_buckets``)
    sub_offsets: np.ndarray  # int64 (nwords + 1,): ``sub_rows[sub_offsets[w]:sub_offsets[w + 1]]`` ...
    sub_rows: np.ndarray     # int32: ... the rows of word w and its character n-grams (getSubwords)
    input: tuple             # the input matrix as ``_average_rows`` reads it (``_Reader.quantized``; dense: rows)
    output: np.ndarray       # float32 (labels, dim); hierarchical softmax: row ``node - labels`` per inner node
    tree_left: np.ndarray    # int32 (2 * labels - 1,): hierarchical softmax children, -1 at leaves
    tree_right: np.ndarray
    eos_id: int              # the id of ``</s>`` (-1 if the model does not know it)
    eos_hash: int


class _Reader:
    def __init__(self, raw: bytes, path: Path):
        self.raw, self.pos, self.path = raw, 0, path

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.raw):
            raise ValueError(f"{self.path}: truncated fastText model (at byte {self.pos})")
        out = struct.unpack_from(fmt, self.raw, self.pos)
        self.pos += size
        return out

    def array(self, dtype: type, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.raw):
            raise ValueError(f"{self.path}: truncated fastText model (at byte {self.pos})")
        out = np.frombuffer(self.raw, dtype, count, self.pos)
        self.pos += size
        return out

    def centroids(self) -> tuple[int, int, int, int, np.ndarray]:
        dim, nsubq, dsub, lastdsub = self.take("<4i")
        return dim, nsubq, dsub, lastdsub, self.array(np.float32, dim * _KSUB)

    def dense(self) -> np.ndarray:
        """A dense matrix, float32 rows."""
        m, n = self.take("<qq")
        return self.array(np.float32, m * n).reshape(m, n)

    def quantized(self) -> tuple:
        """A product-quantized matrix as ``_average_rows`` reads it: ``(empty rows, codes (m, nsubq), centroids
        (nsubq, 256, dsub), norms (m,), dsub, lastdsub)``; the norms are 1 without ``-qnorm``."""
        qnorm, m, n, codesize = self.take("<?qqi")
        codes = self.array(np.uint8, codesize).reshape(m, -1)
        dim, nsubq, dsub, lastdsub, cents = self.centroids()
        if dim != n or codes.shape[1] != nsubq:
            raise ValueError(f"{self.path}: quantized matrix of {n} columns with a {dim}-dim quantizer")
        table = np.zeros((nsubq, _KSUB, dsub), np.float32)
        for q in range(nsubq):
            width = lastdsub if q == nsubq - 1 else dsub
            table[q, :, :width] = cents[q * _KSUB * dsub:q * _KSUB * dsub + _KSUB * width].reshape(_KSUB, width)
        norms = np.ones(m, np.float32)
        if qnorm:
            norm_codes = self.array(np.uint8, m)
            norms = self.centroids()[4][norm_codes].astype(np.float32)
        return np.zeros((0, n), np.float32), np.ascontiguousarray(codes), table, norms, dsub, lastdsub


def _huffman(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``HierarchicalSoftmaxLoss::buildTree``: children of each node (labels are nodes ``0..n-1``, sorted by
    count, largest first; the root is ``2n - 2``)."""
    n = len(counts)
    count = np.full(2 * n - 1, 10**15, np.int64)
    count[:n] = counts
    left = np.full(2 * n - 1, -1, np.int32)
    right = np.full(2 * n - 1, -1, np.int32)
    leaf, node = n - 1, n
    for i in range(n, 2 * n - 1):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j], leaf = leaf, leaf - 1
            else:
                mini[j], node = node, node + 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


def _ranked_buckets(pairs: np.ndarray, bucket: int, nwords: int, inp: tuple, path: Path) -> tuple[np.ndarray, tuple]:
    """A pruned model's kept buckets as a rank table, and its input matrix with the kept n-gram rows in
    bucket order.

    fastText maps each kept bucket to a row through a hash map, in the order quantization chose them. Here
    the n-gram rows are put in the order of their buckets, so a kept bucket's row is ``nwords`` plus the
    number of kept buckets below it. One int64 per 32 buckets holds their kept bits (low half) and the
    number of kept buckets before them (high half): 500 KB for lid.176's 2 M buckets, where a row number
    per bucket took 8 MB, out of cache. A bucket costs one read, in cache, and a popcount; the rows are
    the same rows, summed in the same order, so the scores are the same bits.
    """
    kept = len(pairs)
    order = np.argsort(pairs[:, 0], kind="stable")
    buckets = pairs[order, 0]
    distinct_buckets = not kept or (buckets[0] >= 0 and buckets[-1] < bucket and (np.diff(buckets) > 0).all())
    if not distinct_buckets or not np.array_equal(np.sort(pairs[:, 1]), np.arange(kept)):
        raise ValueError(f"{path}: its {kept:,} kept buckets are not distinct buckets mapped onto distinct rows")
    old_rows = nwords + pairs[order, 1].astype(np.int64)  # the row of the r-th kept bucket, by bucket id
    rows, codes, table, norms, dsub, lastdsub = inp
    if max(len(rows), len(codes)) < nwords + kept:
        raise ValueError(f"{path}: {nwords:,} words and {kept:,} kept buckets, but fewer input rows")
    if len(codes):
        codes = codes.copy()
        codes[nwords:nwords + kept] = codes[old_rows]
        norms = norms.copy()
        norms[nwords:nwords + kept] = norms[old_rows]
    else:
        rows = rows.copy()
        rows[nwords:nwords + kept] = rows[old_rows]
    nbits = (bucket + 31) // 32
    bits = np.zeros(nbits, np.uint32)
    np.bitwise_or.at(bits, pairs[:, 0] >> 5, np.left_shift(np.uint32(1), (pairs[:, 0] & 31).astype(np.uint32)))
    kept_in = np.unpackbits(bits.view(np.uint8)).reshape(-1, 32).sum(1, dtype=np.int64)  # per 32 buckets
    before = np.concatenate([[0], np.cumsum(kept_in)[:-1]])
    return (before << 32) | bits.astype(np.int64), (rows, codes, table, norms, dsub, lastdsub)


def fasttext_hash(word: bytes) -> int:
    """fastText's ``Dictionary::hash`` of ``word``: 32-bit FNV-1a over the bytes read as signed chars (the
    kernel's ``_step``, which hashes every word and token here)."""
    raw = np.frombuffer(word or b"\0", np.uint8)
    return int(_gather_words(raw, np.zeros(1, np.int64), np.array([len(word)], np.int64))[2][0])


@functools.lru_cache(maxsize=16)
def read_weights(path: str | Path) -> FastTextWeights:
    """Parse a supervised fastText model file (``.bin`` or quantized ``.ftz``). ``ValueError`` when it is not
    one this module predicts exactly (unsupervised, a loss other than softmax or hierarchical softmax, a
    quantized output matrix); the message names the file."""
    path = Path(path)
    r = _Reader(path.read_bytes(), path)
    magic, version = r.take("<ii")
    if magic != FASTTEXT_MAGIC or version not in (11, FASTTEXT_VERSION):
        raise ValueError(f"{path}: not a fastText model (magic {magic}, version {version})")
    dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_rate, _t = r.take("<12id")
    if model != MODEL_SUPERVISED:
        raise ValueError(f"{path}: not a supervised model")
    if loss not in (LOSS_HS, LOSS_SOFTMAX):
        raise ValueError(f"{path}: loss {loss} (only softmax and hierarchical softmax are predicted here)")
    if version == 11:
        maxn = 0
    size, nwords, nlabels, _ntokens, prune_size = r.take("<iiiqq")
    raw = np.frombuffer(r.raw, np.uint8)
    starts, ends, counts, r.pos = _entries(raw, r.pos, size)
    if r.pos < 0:
        raise ValueError(f"{path}: truncated fastText model (in its {size:,} dictionary entries)")
    pairs = r.array(np.int32, 2 * max(prune_size, 0)).reshape(-1, 2)
    quant_input, = r.take("<?")
    if quant_input:
        inp = r.quantized()
    else:
        rows = r.dense()
        inp = (rows, np.zeros((0, 1), np.uint8), np.zeros((1, _KSUB, 1), np.float32), np.ones(0, np.float32), 1, 1)
    qout, = r.take("<?")
    if quant_input and qout:
        raise ValueError(f"{path}: quantized output matrix (-qout) is not read here")
    out = r.dense()
    if prune_size < 0:
        prune_mode, prune = -1, np.full(1, -1, np.int64)
    elif prune_size == 0:
        prune_mode, prune = 0, np.full(1, -1, np.int64)
    else:
        prune_mode = 1
        prune, inp = _ranked_buckets(pairs, bucket, nwords, inp, path)
    if nwords >= _MAX_WORDS:
        raise ValueError(f"{path}: {nwords:,} words, more than the {_MAX_WORDS:,} this module's table holds")
    word_data, offsets, hashes = _gather_words(raw, starts[:nwords], ends[:nwords])
    slots = _build_slots(word_data, offsets, hashes)
    sub_offsets, sub_rows = _subword_table(word_data, offsets, nwords, minn, maxn, bucket, prune_mode, prune)
    if loss == LOSS_HS:
        left, right = _huffman(counts[nwords:])
    else:
        left = right = np.zeros(0, np.int32)
    eos_hash = fasttext_hash(EOS)
    eos = np.frombuffer(EOS, np.uint8)
    eos_id = _find_word(word_data, offsets, slots, eos, 0, len(EOS), eos_hash, _prefix(eos, 0, len(EOS)))
    labels = tuple(r.raw[a:b].decode("utf-8", "replace").removeprefix(LABEL_PREFIX.decode())
                   for a, b in zip(starts[nwords:].tolist(), ends[nwords:].tolist()))
    if inp[0].shape[1] != dim or out.shape[1] != dim or len(labels) != nlabels:
        raise ValueError(f"{path}: input of {inp[0].shape[1]} columns, output {out.shape}: not dim {dim} and "
                         f"{nlabels} labels")
    return FastTextWeights(dim, minn, maxn, word_ngrams, bucket, loss, nwords, labels, word_data, offsets, slots,
                           prune_mode, prune, sub_offsets, sub_rows, inp, np.ascontiguousarray(out), left, right,
                           int(eos_id), eos_hash)


@numba.njit(cache=True)
def _entries(raw: np.ndarray, pos: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``Dictionary::load``'s entries from byte ``pos``: each a NUL-terminated word, an int64 count and an
    int8 type. Their ``(starts, ends, counts)`` and the position after them (-1 if the file ends first)."""
    starts = np.empty(size, np.int64)
    ends = np.empty(size, np.int64)
    counts = np.empty(size, np.int64)
    for i in range(size):
        starts[i] = pos
        while pos < len(raw) and raw[pos] != 0:
            pos += 1
        if pos + 10 > len(raw):
            return starts, ends, counts, -1
        ends[i] = pos
        count = np.int64(0)
        for b in range(8):  # little-endian int64
            count |= np.int64(raw[pos + 1 + b]) << np.int64(8 * b)
        counts[i] = count
        pos += 10
    return starts, ends, counts, pos


@numba.njit(cache=True)
def _gather_words(raw: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The words' bytes concatenated, their offsets, and each one's fastText hash (``fasttext_hash``)."""
    n = len(starts)
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        offsets[i + 1] = offsets[i] + ends[i] - starts[i]
    data = np.empty(max(offsets[n], 1), np.uint8)
    hashes = np.empty(n, np.int64)
    for i in range(n):
        h = np.uint64(2166136261)
        for j in range(starts[i], ends[i]):
            data[offsets[i] + j - starts[i]] = raw[j]
            h = _step(h, raw[j])
        hashes[i] = np.int64(h)
    return data, offsets, hashes


_ID_SHIFT = np.uint64(40)  # a slot's first word: hash (bits 0-31), length up to 255 (32-39), word id (40-63)
_MAX_WORDS = 1 << 24
_LONG_WORD = 255


@numba.njit(cache=True, inline="always")
def _prefix(data: np.ndarray, lo: int, hi: int) -> np.uint64:
    """The first eight bytes of ``data[lo:hi]``, little-endian, zero-padded."""
    value = np.uint64(0)
    for j in range(lo, min(hi, lo + 8)):
        value |= np.uint64(data[j]) << np.uint64(8 * (j - lo))
    return value


@numba.njit(cache=True)
def _build_slots(word_data: np.ndarray, offsets: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """The dictionary as an open-addressing table ``(slots, 2)`` of uint64 rows (0: empty), at least twice as
    many slots as words, a power of two. A row holds a word's fastText hash, length (255 for 255 bytes or
    more) and id, and its first eight bytes: a word of up to eight bytes is found and told apart from every
    other word by one 16-byte read (a longer one compares the rest of its bytes with ``word_data``), and
    its id is there, with no read of the word list. Look-ups were a chain of dependent cache misses
    (slot, word bytes, subword offsets), most of the word models' time."""
    n = len(hashes)
    size = 1
    while size < 2 * n + 1:
        size *= 2
    slots = np.zeros((size, 2), np.uint64)
    mask = size - 1
    for k in range(n):
        s = _mix(hashes[k]) & mask
        while slots[s, 0] != 0:
            s = (s + 1) & mask
        length = min(offsets[k + 1] - offsets[k], _LONG_WORD)
        slots[s, 0] = np.uint64(hashes[k]) | (np.uint64(length) << np.uint64(32)) | (np.uint64(k) << _ID_SHIFT)
        slots[s, 1] = _prefix(word_data, offsets[k], offsets[k + 1])
    return slots


@numba.njit(cache=True, inline="always")
def _mix(key: int) -> int:
    """Spread a 32-bit word hash over the table (Fibonacci hashing)."""
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32))


@numba.njit(cache=True, inline="always")
def _step(h: np.uint64, c: np.uint8) -> np.uint64:
    """One byte of fastText's hash (the byte read as a signed char, so >= 0x80 sign-extends)."""
    x = np.uint64(c)
    if c >= 128:
        x |= np.uint64(0xFFFFFF00)
    return ((h ^ x) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)


@numba.njit(cache=True)
def _find_word(word_data: np.ndarray, word_offsets: np.ndarray, slots: np.ndarray, data: np.ndarray, lo: int,
               hi: int, h: int, prefix: np.uint64) -> int:
    """The id of the word ``data[lo:hi]`` whose hash is ``h`` and first eight bytes ``prefix``
    (``_prefix``), -1 if the model does not know it."""
    mask = len(slots) - 1
    s = _mix(h) & mask
    key = np.uint64(h) | (np.uint64(min(hi - lo, _LONG_WORD)) << np.uint64(32))
    while slots[s, 0] != 0:
        row = slots[s, 0]
        if row & np.uint64(0xFFFFFFFFFF) == key and slots[s, 1] == prefix:
            k = np.int64(row >> _ID_SHIFT)
            if hi - lo <= 8:
                return k
            base = word_offsets[k]
            if word_offsets[k + 1] - base == hi - lo:
                same = True
                for j in range(8, hi - lo):
                    if word_data[base + j] != data[lo + j]:
                        same = False
                        break
                if same:
                    return k
        s = (s + 1) & mask
    return -1


@numba.njit(cache=True, inline="always")
def _is_sep(c: np.uint8) -> bool:
    return c == 32 or c == 10 or c == 13 or c == 9 or c == 11 or c == 12 or c == 0


@intrinsic
def _popcount(typingctx, x):  # noqa: ANN001, ANN202 - numba's intrinsic signature
    """The number of bits set in an int64 (LLVM's ``ctpop``: one instruction)."""
    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.ctpop(args[0])
    return types.int64(types.int64), codegen


@numba.njit(cache=True, inline="always")
def _bucket_row(nwords: int, bucket_id: int, bucket: int, prune_mode: int, prune: np.ndarray) -> int:
    """``Dictionary::pushHash``: the input row of a hashed bucket, -1 when a pruned model dropped it
    (``_ranked_buckets``)."""
    if prune_mode == 0 or bucket_id < 0:
        return -1
    if prune_mode == 1:
        word = prune[bucket_id >> 5]  # (kept buckets before these 32) << 32 | their kept bits
        bit = bucket_id & 31
        if (word >> bit) & 1 == 0:
            return -1
        return nwords + (word >> 32) + _popcount(word & ((1 << bit) - 1))
    return nwords + bucket_id


@numba.njit(cache=True)
def _subwords(data: np.ndarray, s: int, e: int, minn: int, maxn: int, bucket: int, nwords: int, prune_mode: int,
              prune: np.ndarray, out: np.ndarray, pos: int, buf: np.ndarray) -> int:
    """``Dictionary::computeSubwords`` of ``<token>``: each kept n-gram's row written at ``out[pos:]``; the
    new end. At most ``(e - s + 2) * maxn`` rows. ``buf``: room for ``e - s + 2`` bytes, where ``<token>``
    is written first, so the n-gram loops read plain bytes."""
    size = e - s + 2
    buf[0] = 60
    for j in range(s, e):
        buf[j - s + 1] = data[j]
    buf[size - 1] = 62
    for i in range(size):
        if (buf[i] & 0xC0) == 0x80:
            continue
        h = np.uint64(2166136261)
        j = i
        n = 1
        while j < size and n <= maxn:
            h = _step(h, buf[j])
            j += 1
            while j < size and (buf[j] & 0xC0) == 0x80:
                h = _step(h, buf[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                row = _bucket_row(nwords, np.int64(h % np.uint64(bucket)), bucket, prune_mode, prune)
                if row >= 0:
                    out[pos] = row
                    pos += 1
            n += 1
    return pos


@numba.njit(cache=True)
def _subword_table(word_data: np.ndarray, offsets: np.ndarray, nwords: int, minn: int, maxn: int, bucket: int,
                   prune_mode: int, prune: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Dictionary::initNgrams``: each known word's rows, itself first, then (``maxn > 0``, not ``</s>``)
    its character n-grams."""
    bound = nwords + max(maxn, 0) * (len(word_data) + 2 * nwords)
    rows = np.empty(bound, np.int32)
    sub_offsets = np.zeros(nwords + 1, np.int64)
    longest = 0
    for w in range(nwords):
        longest = max(longest, offsets[w + 1] - offsets[w])
    buf = np.empty(longest + 2, np.uint8)
    pos = 0
    for w in range(nwords):
        s, e = offsets[w], offsets[w + 1]
        rows[pos] = w
        pos += 1
        eos = e - s == 4 and word_data[s] == 60 and word_data[s + 1] == 47 and word_data[s + 2] == 115 \
            and word_data[s + 3] == 62
        if maxn > 0 and not eos:
            pos = _subwords(word_data, s, e, minn, maxn, bucket, nwords, prune_mode, prune, rows, pos, buf)
        sub_offsets[w + 1] = pos
    return sub_offsets, rows[:pos].copy()


@numba.njit(cache=True)
def _average_rows(acc: np.ndarray, rows: np.ndarray, codes: np.ndarray, cents: np.ndarray, norms: np.ndarray,
                  dsub: int, lastdsub: int, ids: np.ndarray, count: int) -> None:
    """``averageRowsToVector``: ``acc`` = the input rows ``ids[:count]`` summed in order, in float32, times
    ``float(1 / count)``. Dense rows are added as they are; a quantized row as ``QuantMatrix`` adds it
    (``norm * centroid`` per value, each product rounded to float32). Quantized rows stay codes: 8 bytes a
    row for lid.176 rather than 64, so a batch's rows stay in cache.

    The shipped quantized shapes have their own loops, whose sums live in a fixed-size local array the
    compiler keeps in registers (with a run-time width each addition went through memory): 8 sub-vectors
    of 2 (lid.176, code_language) and sub-vectors of 16 (the quality models, one sub-vector at a time).
    With them, ``bench_fasttext_predict.py`` went from 28.9 to 20.9 µs per code-language line and from
    19.5-20.6 to 16.2-17.3 for the quality models (stop 43). Each value is still the same float32 sum in
    the same order, so the bits are the same."""
    nsubq = codes.shape[1]
    if codes.shape[0] == 0:
        acc[:] = 0.0
        for t in range(count):
            r = ids[t]
            for d in range(acc.shape[0]):
                acc[d] += rows[r, d]
    elif nsubq == 8 and dsub == 2 and lastdsub == 2:
        pairs = np.zeros(16, np.float32)
        for t in range(count):
            r = ids[t]
            a = norms[r]
            for q in range(8):
                c = cents[q, codes[r, q]]
                pairs[2 * q] += a * c[0]
                pairs[2 * q + 1] += a * c[1]
        acc[:] = pairs
    elif dsub == 16 and lastdsub == 16:
        for q in range(nsubq):
            part = np.zeros(16, np.float32)
            for t in range(count):
                r = ids[t]
                a = norms[r]
                c = cents[q, codes[r, q]]
                for n in range(16):
                    part[n] += a * c[n]
            for n in range(16):
                acc[16 * q + n] = part[n]
    else:
        acc[:] = 0.0
        for t in range(count):
            r = ids[t]
            a = norms[r]
            for q in range(nsubq):
                k = codes[r, q]
                width = lastdsub if q == nsubq - 1 else dsub
                base = q * dsub
                for n in range(width):
                    acc[base + n] += a * cents[q, k, n]
    scale = np.float32(1.0 / count)
    for d in range(acc.shape[0]):
        acc[d] *= scale


@numba.njit(cache=True)
def _line_rows(data: np.ndarray, lo: int, hi: int, ids: np.ndarray, hashes: np.ndarray, nwords: int, minn: int,
               maxn: int, word_ngrams: int, bucket: int, prune_mode: int, prune: np.ndarray,
               word_data: np.ndarray,
               word_offsets: np.ndarray, slots: np.ndarray, sub_offsets: np.ndarray, sub_rows: np.ndarray,
               eos_id: int, eos_hash: int, buf: np.ndarray) -> int:
    """``Dictionary::getLine`` of the line ``data[lo:hi]`` + newline: its input rows written to ``ids`` in
    fastText's order (``_ids_bound`` of room); their number. ``hashes`` needs room for the tokens, ``buf``
    for the line's bytes and two more."""
    count = 0
    ntok = 0
    j = lo
    eos = False
    while not eos:
        while j < hi and _is_sep(data[j]) and data[j] != 10:
            j += 1
        if j >= hi or data[j] == 10:  # a newline (the one the binding appends): the end-of-sentence token
            if eos_id >= 0:
                for t in range(sub_offsets[eos_id], sub_offsets[eos_id + 1]):
                    ids[count] = sub_rows[t]
                    count += 1
            hashes[ntok] = eos_hash
            ntok += 1
            break
        s = j
        h = np.uint64(2166136261)
        prefix = np.uint64(0)
        while j < hi and not _is_sep(data[j]):
            h = _step(h, data[j])
            if j - s < 8:
                prefix |= np.uint64(data[j]) << np.uint64(8 * (j - s))
            j += 1
        hv = np.int64(h)
        wid = _find_word(word_data, word_offsets, slots, data, s, j, hv, prefix)
        if wid >= nwords:
            continue  # a label token
        if wid < 0 and j - s >= 9 and data[s] == 95 and data[s + 1] == 95 and data[s + 2] == 108 \
                and data[s + 3] == 97 and data[s + 4] == 98 and data[s + 5] == 101 and data[s + 6] == 108 \
                and data[s + 7] == 95 and data[s + 8] == 95:
            continue  # an unknown __label__ token
        eos = j - s == 4 and data[s] == 60 and data[s + 1] == 47 and data[s + 2] == 115 and data[s + 3] == 62
        if wid >= 0 and maxn <= 0:  # no character n-grams: a known word's one row is its id
            ids[count] = wid
            count += 1
        elif wid >= 0:
            for t in range(sub_offsets[wid], sub_offsets[wid + 1]):
                ids[count] = sub_rows[t]
                count += 1
        elif maxn > 0 and not eos:
            count = _subwords(data, s, j, minn, maxn, bucket, nwords, prune_mode, prune, ids, count, buf)
        hashes[ntok] = hv
        ntok += 1
    for i in range(ntok):
        hh = hashes[i]
        h64 = np.uint64(hh - 4294967296 if hh >= 2147483648 else hh)
        for k in range(i + 1, min(ntok, i + word_ngrams)):
            nk = hashes[k]
            h64 = h64 * np.uint64(116049371) + np.uint64(nk - 4294967296 if nk >= 2147483648 else nk)
            row = _bucket_row(nwords, np.int64(h64 % np.uint64(bucket)), bucket, prune_mode, prune)
            if row >= 0:
                ids[count] = row
                count += 1
    return count


@numba.njit(cache=True)
def _ids_bound(offsets: np.ndarray, maxn: int, word_ngrams: int) -> int:
    """Room for one line's rows, linear in its bytes (a line of 5 MB needs ~170 MB for lid.176): each
    token adds its own row and at most ``(bytes + 2) * maxn`` character n-grams (a known word's stored
    rows are the same), and at most ``word_ngrams - 1`` word n-grams; the end-of-sentence token is one."""
    most = 0
    for i in range(len(offsets) - 1):
        most = max(most, offsets[i + 1] - offsets[i])
    tokens = most // 2 + 2
    return tokens * (1 + max(word_ngrams, 1)) + (most + 2 * tokens) * max(maxn, 0) + 2


@numba.njit(cache=True, inline="always")
def _std_log(x: np.float32) -> np.float32:
    return np.float32(np.log(np.float64(x) + 1e-5))


@numba.njit(cache=True)
def _sift_up(hs: np.ndarray, hi: np.ndarray, hole: int, top: int, vs: np.float32, vi: int) -> None:
    """libstdc++'s ``__push_heap`` with fastText's ``comparePairs`` (a greater score sorts first, so the
    heap's front is its lowest score): the heap operations are copied step by step because they decide
    the order of equal scores, and fastText's ranks keep it."""
    parent = (hole - 1) // 2
    while hole > top and hs[parent] > vs:
        hs[hole] = hs[parent]
        hi[hole] = hi[parent]
        hole = parent
        parent = (hole - 1) // 2
    hs[hole] = vs
    hi[hole] = vi


@numba.njit(cache=True)
def _pop_to(hs: np.ndarray, hi: np.ndarray, last: int) -> None:
    """libstdc++'s ``__pop_heap``: the front moves to ``last``, ``[0, last)`` is a heap again
    (``__adjust_heap``)."""
    vs, vi = hs[last], hi[last]
    hs[last] = hs[0]
    hi[last] = hi[0]
    hole = 0
    second = 0
    while second < (last - 1) // 2:
        second = 2 * (second + 1)
        if hs[second] > hs[second - 1]:
            second -= 1
        hs[hole] = hs[second]
        hi[hole] = hi[second]
        hole = second
    if (last & 1) == 0 and second == (last - 2) // 2:
        second = 2 * (second + 1)
        hs[hole] = hs[second - 1]
        hi[hole] = hi[second - 1]
        hole = second - 1
    _sift_up(hs, hi, hole, 0, vs, vi)


@numba.njit(cache=True)
def _heap_add(hs: np.ndarray, hi: np.ndarray, size: int, k: int, score: np.float32, index: int) -> int:
    """fastText's ``push_back``, ``push_heap``, and ``pop_heap`` + ``pop_back`` past ``k``; the new size."""
    hs[size] = score
    hi[size] = index
    _sift_up(hs, hi, size, 0, score, index)
    size += 1
    if size > k:
        _pop_to(hs, hi, size - 1)
        size -= 1
    return size


@numba.njit(cache=True)
def _heap_sorted(hs: np.ndarray, hi: np.ndarray, size: int, best: np.ndarray, best_score: np.ndarray) -> None:
    """``sort_heap``, then each entry's index and ``exp(score)`` (the binding's probability), best first."""
    last = size
    while last > 1:
        last -= 1
        _pop_to(hs, hi, last)
    for r in range(size):
        best[r] = hi[r]
        best_score[r] = np.exp(hs[r])


@numba.njit(cache=True)
def _softmax_line(acc: np.ndarray, out_w: np.ndarray, out: np.ndarray, hs: np.ndarray, hi: np.ndarray, k: int,
                  scores: np.ndarray, best: np.ndarray, best_score: np.ndarray) -> None:
    """``SoftmaxLoss::computeOutput`` of the hidden vector ``acc``: every label's score (``exp(log(p +
    1e-5))``) into ``scores``, and ``Loss::findKBest``'s ``k`` best into ``best`` / ``best_score``."""
    nl = out_w.shape[0]
    for c in range(nl):
        dot = np.float32(0.0)
        for d in range(acc.shape[0]):
            dot += out_w[c, d] * acc[d]
        out[c] = dot
    top = out[0]
    for c in range(nl):
        top = max(out[c], top)
    z = np.float32(0.0)
    for c in range(nl):
        out[c] = np.float32(np.exp(np.float64(out[c] - top)))
        z += out[c]
    size = 0
    for c in range(nl):
        out[c] /= z
        logp = _std_log(out[c])
        scores[c] = np.exp(logp)
        if size == k and logp < hs[0]:
            continue
        size = _heap_add(hs, hi, size, k, logp, c)
    _heap_sorted(hs, hi, size, best, best_score)


@numba.njit(cache=True)
def _hs_line(acc: np.ndarray, out_w: np.ndarray, left: np.ndarray, right: np.ndarray, stack_node: np.ndarray,
             stack_score: np.ndarray, hs: np.ndarray, hi: np.ndarray, k: int, best: np.ndarray,
             best_score: np.ndarray) -> None:
    """``HierarchicalSoftmaxLoss::dfs`` from the root (threshold 0): left child first, a branch cut once its
    score is below ``log(1e-5)`` or below the worst of ``k`` leaves already found; the ``k`` best leaves."""
    nl = (len(left) + 1) // 2
    floor = _std_log(np.float32(0.0))
    size = 0
    stack_node[0] = 2 * nl - 2
    stack_score[0] = 0.0
    top = 1
    while top > 0:
        top -= 1
        node, score = stack_node[top], stack_score[top]
        if score < floor or (size == k and score < hs[0]):
            continue
        if left[node] == -1 and right[node] == -1:
            size = _heap_add(hs, hi, size, k, score, node)
            continue
        dot = np.float32(0.0)
        for d in range(acc.shape[0]):
            dot += out_w[node - nl, d] * acc[d]
        f = np.float32(1.0 / (np.float32(1.0) + np.exp(-dot)))
        # right is pushed first so that the left subtree is searched first, as dfs recurses
        stack_node[top] = right[node]
        stack_score[top] = score + _std_log(f)
        stack_node[top + 1] = left[node]
        stack_score[top + 1] = score + _std_log(np.float32(1.0 - np.float64(f)))
        top += 2
    _heap_sorted(hs, hi, size, best, best_score)


@numba.njit(cache=True)
def _predict_batch(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray, codes: np.ndarray, cents: np.ndarray,
                   norms: np.ndarray, dsub: int, lastdsub: int, out_w: np.ndarray, nwords: int, minn: int, maxn: int,
                   word_ngrams: int, bucket: int, prune_mode: int, prune: np.ndarray, word_data: np.ndarray,
                   word_offsets: np.ndarray, slots: np.ndarray, sub_offsets: np.ndarray, sub_rows: np.ndarray,
                   eos_id: int, eos_hash: int, left: np.ndarray, right: np.ndarray,
                   k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per line: whether it had a prediction, the ``k`` best labels (-1 where fewer) with their scores,
    best first, and (softmax: ``left`` empty) every label's score; hierarchical softmax otherwise."""
    n = len(offsets) - 1
    hierarchical = len(left) > 0
    nl = (len(left) + 1) // 2 if hierarchical else out_w.shape[0]
    scores = np.zeros((n, 0 if hierarchical else nl), np.float32)
    valid = np.zeros(n, np.bool_)
    best = np.full((n, k), -1, np.int64)
    best_score = np.zeros((n, k), np.float32)
    acc = np.zeros(out_w.shape[1], np.float32)
    most = 1
    for i in range(n):
        most = max(most, offsets[i + 1] - offsets[i])
    hashes = np.empty(most // 2 + 2, np.int64)
    buf = np.empty(most + 2, np.uint8)
    ids = np.empty(_ids_bound(offsets, maxn, word_ngrams), np.int32)
    out = np.empty(nl, np.float32)
    stack_node = np.empty(2 * nl, np.int64)
    stack_score = np.empty(2 * nl, np.float32)
    hs = np.empty(k + 1, np.float32)
    hi = np.empty(k + 1, np.int64)
    for i in range(n):
        count = _line_rows(data, offsets[i], offsets[i + 1], ids, hashes, nwords, minn, maxn, word_ngrams, bucket,
                           prune_mode, prune, word_data, word_offsets, slots, sub_offsets, sub_rows,
                           eos_id, eos_hash, buf)
        if count == 0:
            continue
        _average_rows(acc, rows, codes, cents, norms, dsub, lastdsub, ids, count)
        valid[i] = True
        if hierarchical:
            _hs_line(acc, out_w, left, right, stack_node, stack_score, hs, hi, k, best[i], best_score[i])
        else:
            _softmax_line(acc, out_w, out, hs, hi, k, scores[i], best[i], best_score[i])
    return valid, best, best_score, scores


def _buffers(lines: list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    return string_buffers(as_string_array(lines))


def _args(w: FastTextWeights) -> tuple:
    return (*w.input, w.output, w.nwords, w.minn, w.maxn, w.word_ngrams, w.bucket, w.prune_mode, w.prune,
            w.word_data, w.word_offsets, w.slots, w.sub_offsets, w.sub_rows, w.eos_id, w.eos_hash)


def predict_all(weights: FastTextWeights, lines: list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every label for each line (softmax models), ``(len(lines), len(labels))`` float32, and
    whether each line had a prediction (a line with no known word or n-gram has none: scores 0)."""
    if weights.loss != LOSS_SOFTMAX:
        raise ValueError("predict_all: every label's score needs a softmax model")
    data, offsets = _buffers(lines)
    valid, _, _, scores = _predict_batch(data, offsets, *_args(weights), weights.tree_left, weights.tree_right, 1)
    return scores, valid


def predict_ranked(weights: FastTextWeights, lines: list[str] | pa.Array, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best label indices per line (-1 where none) and their scores, best first."""
    data, offsets = _buffers(lines)
    _, best, best_score, _ = _predict_batch(data, offsets, *_args(weights), weights.tree_left, weights.tree_right, k)
    return best, best_score

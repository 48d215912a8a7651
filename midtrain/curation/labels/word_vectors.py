"""Domain probabilities from pretrained word vectors, mixed with the fastText domain model's.

Why: the fastText domain model learns a vector for every word of its training sources, so a new
source's own words (its topic's terms, its puzzle vocabulary) mean nothing to it. Pretrained static
vectors place such words near words it was trained on. wordllama 0.4 (PyPI, MIT) ships the token
embeddings of a model with Llama 2's vocabulary (32,000 tokens x 256) and the tokenizer. Measured
leave-one-source-out over the 77 training sources (stop 36, ``benchmarks/README.md``), with the fastText
model's probabilities mixed with this model's:
- whole documents: 0.850 -> 0.871 (0.863 when words outside the table were skipped);
- documents cut to 300 characters: 0.776 -> 0.821 (0.805).

How a window is read, in one numba pass over the batch:
1. Its words are the maximal runs of non-whitespace characters (``str.split()``).
2. Each word gets its tokens as the tokenizer reads it after a space. A table by 64-bit FNV-1a hash
   (open addressing, one or two probes a word; a row holds the tokens of a word of up to four) holds
   them for the tokenizer's whole-word pieces and every word of at least two training sources;
   any other word goes through ``_bpe``, a numba byte-pair encoder equal to the tokenizer (tested
   against it). The tokenizer itself costs about 300 us of CPU per 1 KB window.
3. The window's vector is the mean of its tokens' vectors, normalised to length 1.

A multinomial logistic regression on that vector gives each domain's probability. It is fitted on the
domain model's training examples, every domain and every source in it weighted alike. The labeller
mixes ``softmax(a * log p_fastText + (1 - a) * log p_words)`` with ``a = mix * k ** known_power``, k the
share of the window's words that the fastText model knows (``rare_words.known_fractions``): a window
fastText reads through few known words leans on the word vectors, which know every word (stop 48, E33).
``mix`` and ``known_power`` are stored with the model.

The shipped model is ``models/domain-words.npz``, trained by ``scripts/train_default_classifiers.py``.
Its token vectors are read from the installed wordllama package (16 MB, float16, kept as float32).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.models import model_path
from midtrain.curation.labels.rare_words import fnv1a, hash_slot, string_hashes, words_in_groups
from midtrain.curation.labels.text_windows import as_string_array, string_buffers
from midtrain.errors import ConfigError

SHIPPED_WORD_MODEL = "domain-words"
WORD_MODEL_FILE = "domain-words.npz"
WORDLLAMA_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
WORDLLAMA_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
DEFAULT_MIX = 0.7
"""fastText's share of the log-probability mix: chosen from 0.3 / 0.5 / 0.7 by leave-one-source-out
macro-F1 on the training sources (stop 36; 0.841 / 0.865 / 0.872 in the first prototype). With every word
tokenized as shipped, 0.5 / 0.6 / 0.7 / 0.8 / 0.9 gave 0.863 / 0.869 / 0.871 / 0.869 / 0.858."""
DEFAULT_KNOWN_POWER = 1.0
"""fastText's share of the mix is ``mix * k ** known_power``, k the share of the window's words its model knows
(``rare_words.known_fractions``): the word vectors know every word, fastText only its training sources' words.
Chosen from 0.5 / 1 / 2 (0: a fixed share) by an offline screen of leave-one-source-out probabilities (stop 48,
E33: macro-F1 0.874 -> 0.875, sources under 0.70 7 -> 6, documents cut to 300 characters 0.827 -> 0.828; 1 over
0.5 by the cut figure), then a real run. A small gain: the share hardly tells wrong labels from right ones out of
source (AUROC 0.445); the sources that fail use common words and fail by genre."""
DEFAULT_L2 = 1e-3
"""Ridge penalty of the logistic regression (on standardised inputs), fixed before any measurement."""


@numba.njit(cache=True)
def _space_bytes(data: np.ndarray, j: int, hi: int) -> int:
    """Length in bytes of the whitespace character at ``data[j]``, 0 if it is not one.

    The set is Python's ``str.isspace()``: ASCII 9-13 and 28-32, U+0085, U+00A0, U+1680,
    U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
    """
    b = data[j]
    if b < 0x80:
        return 1 if _ascii_space(b) else 0
    if b == 0xC2 and j + 1 < hi:
        return 2 if data[j + 1] == 0x85 or data[j + 1] == 0xA0 else 0
    if j + 2 >= hi:
        return 0
    c, d = data[j + 1], data[j + 2]
    if b == 0xE1 and c == 0x9A and d == 0x80:
        return 3
    if b == 0xE2 and c == 0x80 and (d <= 0x8A or d == 0xA8 or d == 0xA9 or d == 0xAF):
        return 3
    if b == 0xE2 and c == 0x81 and d == 0x9F:
        return 3
    if b == 0xE3 and c == 0x80 and d == 0x80:
        return 3
    return 0


@numba.njit(cache=True)
def _next_word(data: np.ndarray, j: int, hi: int) -> tuple[int, int]:
    """``(start, end)`` of the first word at or after ``j`` (``start == hi`` when there is none)."""
    while j < hi:
        b = data[j]
        if b < 0x80:  # ASCII, most bytes: decided here (``_space_bytes`` on every byte cost ~13 ns a byte)
            if not _ascii_space(b):
                break
            j += 1
            continue
        s = _space_bytes(data, j, hi)
        if s == 0:
            break
        j += s
    start = j
    while j < hi:
        b = data[j]
        if b < 0x80:
            if _ascii_space(b):
                break
        elif _space_bytes(data, j, hi) != 0:
            break
        j += 1
    return start, j


@numba.njit(cache=True, inline="always")
def _ascii_space(b: int) -> bool:
    """Whether the ASCII byte ``b`` is whitespace for ``str.isspace()`` (9-13 and 28-32)."""
    return b == 32 or 9 <= b <= 13 or 28 <= b <= 31


_RANK_BITS = 16  # a merge's rank and merged id, packed below its key in one int64 row of the merge table
_ID_BITS = 15
_KEY_SHIFT = _RANK_BITS + _ID_BITS
_VALUE_MASK = (1 << _KEY_SHIFT) - 1
_ID_MASK = (1 << _ID_BITS) - 1
_NO_MERGE = np.int64(1) << 62


@numba.njit(cache=True)
def _merge_table(keys: np.ndarray, ranks: np.ndarray, merged: np.ndarray, size: int) -> np.ndarray:
    """An open-addressing table of ``size`` (a power of two) int64 rows, 0 = empty: a merge's row is
    ``(key + 1) << _KEY_SHIFT | rank << _ID_BITS | merged id``. One 8-byte row per slot keeps the table at
    1 MB for Llama 2's 61,249 merges, against 3 MB for three int64 columns (the token step 28 -> 24 µs per
    document on the speed set; ``_bpe``'s cost grows about linearly with a word's bytes, and neither a
    cache of the look-ups' answers nor a heap for long words' merges made it faster: stop 42)."""
    table = np.zeros(size, np.int64)
    mask = size - 1
    for k in range(len(keys)):
        s = hash_slot(keys[k], mask)
        while table[s] != 0:
            s = (s + 1) & mask
        table[s] = ((keys[k] + 1) << _KEY_SHIFT) | (ranks[k] << _ID_BITS) | merged[k]
    return table


@numba.njit(cache=True)
def _pair_key(table: np.ndarray, left: int, right: int, nvocab: int) -> int:
    """``rank << _ID_BITS | merged id`` of the merge of ``left`` and ``right`` (``_merge_table``),
    ``_NO_MERGE`` if none: the smallest key is the merge to make (ranks are distinct), and its low bits
    are the merged symbol."""
    key = left * nvocab + right
    tag = key + 1
    mask = len(table) - 1
    s = hash_slot(key, mask)
    while True:
        row = table[s]
        if row == 0:
            return _NO_MERGE
        if row >> _KEY_SHIFT == tag:
            return row & _VALUE_MASK
        s = (s + 1) & mask


@numba.njit(cache=True)
def _bpe(data: np.ndarray, lo: int, hi: int, bmp_ids: np.ndarray, char_cps: np.ndarray, char_ids: np.ndarray,
         merges: np.ndarray, space_id: int, byte_base: int, nvocab: int, sym: np.ndarray, rank: np.ndarray) -> int:
    """The tokenizer's ids for ``"▁" + word`` (the word is ``data[lo:hi]``) written to ``sym``; return how many.

    Byte-pair encoding as the tokenizer does it: one symbol per character (its UTF-8 bytes' ``<0xNN>``
    tokens for a character the vocabulary lacks), then the adjacent pair of lowest merge rank is merged,
    the leftmost first, until no pair has a merge. ``rank[i]`` caches the pair at ``i``'s ``_pair_key``,
    so a merge looks up only its two new pairs. ``sym`` and ``rank`` need ``4 * (hi - lo) + 1`` places.
    """
    n = 1
    sym[0] = space_id
    j = lo
    while j < hi:
        b = data[j]
        size = 1 if b < 0x80 else (2 if b < 0xE0 else (3 if b < 0xF0 else 4))
        cp = -1
        if j + size <= hi:
            cp = b if size == 1 else (b & (0xFF >> (size + 1)))
            for t in range(1, size):
                cp = (cp << 6) | (data[j + t] & 0x3F)
        piece = -1
        if 0 <= cp < len(bmp_ids):
            piece = bmp_ids[cp]
        elif cp >= 0:
            k = np.searchsorted(char_cps, cp)
            if k < len(char_cps) and char_cps[k] == cp:
                piece = char_ids[k]
        if piece >= 0:
            sym[n] = piece
            n += 1
            j += size
        else:
            end = min(j + size, hi)
            for t in range(j, end):
                sym[n] = byte_base + data[t]
                n += 1
            j = end
    for i in range(n - 1):
        rank[i] = _pair_key(merges, sym[i], sym[i + 1], nvocab)
    while n > 1:
        best, best_key = -1, _NO_MERGE
        for i in range(n - 1):  # the lowest merge rank, the leftmost of equals
            if rank[i] < best_key:
                best, best_key = i, rank[i]
        if best < 0:
            break
        sym[best] = best_key & _ID_MASK
        for i in range(best + 1, n - 1):
            sym[i] = sym[i + 1]
            rank[i] = rank[i + 1]
        n -= 1
        if best > 0:
            rank[best - 1] = _pair_key(merges, sym[best - 1], sym[best], nvocab)
        if best < n - 1:
            rank[best] = _pair_key(merges, sym[best], sym[best + 1], nvocab)
    return n


@dataclass(frozen=True)
class BpeTables:
    """The tokenizer's byte-pair encoding as arrays for ``_bpe``: the piece of each code point below
    U+10000 (-1 for none), the rarer single-character pieces by code point, and the merges in an
    open-addressing table keyed by ``left * nvocab + right`` (``_merge_table``: one packed int64 a merge)."""

    bmp_ids: np.ndarray
    char_cps: np.ndarray
    char_ids: np.ndarray
    merges: np.ndarray
    space_id: int
    byte_base: int
    nvocab: int

    def args(self) -> tuple:
        return (self.bmp_ids, self.char_cps, self.char_ids, self.merges, self.space_id, self.byte_base, self.nvocab)


@functools.lru_cache(maxsize=1)
def bpe_tables() -> BpeTables:
    """``BpeTables`` of wordllama's tokenizer file, built once per process."""
    model = json.loads(_wordllama_file(WORDLLAMA_TOKENIZER).read_text(encoding="utf-8"))["model"]
    vocab = model["vocab"]
    chars = sorted((ord(piece), i) for piece, i in vocab.items() if len(piece) == 1)
    bmp = np.full(0x10000, -1, np.int64)
    for cp, i in chars:
        if cp < len(bmp):
            bmp[cp] = i
    wide = [(cp, i) for cp, i in chars if cp >= len(bmp)]
    keys, ranks, merged = [], [], []
    for rank, merge in enumerate(model["merges"]):
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        keys.append(vocab[left] * len(vocab) + vocab[right])
        ranks.append(rank)
        merged.append(vocab[left + right])
    size = 1 << int(np.ceil(np.log2(2 * len(keys) + 1)))
    if len(vocab) > 1 << _ID_BITS or len(keys) > 1 << _RANK_BITS:
        raise ConfigError(f"{WORDLLAMA_TOKENIZER[1]}: {len(vocab):,} pieces and {len(keys):,} merges, more than "
                          f"_merge_table's {_ID_BITS}-bit ids and {_RANK_BITS}-bit ranks hold")
    table = _merge_table(np.array(keys, np.int64), np.array(ranks, np.int64), np.array(merged, np.int64), size)
    return BpeTables(bmp, np.array([c for c, _ in wide], np.int64), np.array([i for _, i in wide], np.int64),
                     table, vocab["▁"], vocab["<0x00>"], len(vocab))


def bpe_ids(word: str) -> list[int]:
    """The tokenizer's ids for ``word`` read after a space, by the numba kernel (``_bpe``). The tokenizer's
    added tokens (``<unk>``, ``<s>``, ``</s>``) are read as text, with the byte-pair model's pieces, where the
    tokenizer's ``encode`` would split them off as ids 0, 1 and 2."""
    if not word:
        return []
    data = np.frombuffer(word.encode(), np.uint8)
    sym, rank = np.empty(4 * len(data) + 1, np.int64), np.empty(4 * len(data) + 1, np.int64)
    return sym[:_bpe(data, 0, len(data), *bpe_tables().args(), sym, rank)].tolist()


_OCCUPIED = np.uint64(1 << 62)
_LONG = np.uint64(1 << 63)
_PACKED_TOKENS = 4  # a word of 1 to 4 tokens keeps them in its slot (15 bits each: ids < 32,768)


@numba.njit(cache=True)
def _word_slots(hashes: np.ndarray, token_offsets: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """An open-addressing table over ``hashes`` (distinct): rows ``[hash, info]`` (uint64), at least twice as
    many rows as hashes, a power of two. ``info`` 0 is an empty row; otherwise a word of 1 to 4 tokens
    holds them in it (bit 62 set, the count less one in bits 0-1, the ids in 15-bit fields from bit 2),
    so finding a word and its tokens reads one row; a longer word's ``info`` is bit 63 plus its index
    into ``token_offsets``."""
    size = 1
    while size < 2 * len(hashes) + 1:
        size *= 2
    table = np.zeros((size, 2), np.uint64)
    mask = size - 1
    for k in range(len(hashes)):
        s = hash_slot(hashes[k], mask)
        while table[s, 1] != 0:
            s = (s + 1) & mask
        m = token_offsets[k + 1] - token_offsets[k]
        if 1 <= m <= _PACKED_TOKENS:
            info = _OCCUPIED | np.uint64(m - 1)
            for t in range(m):
                info |= np.uint64(token_ids[token_offsets[k] + t]) << np.uint64(2 + 15 * t)
        else:
            info = _LONG | np.uint64(k)
        table[s, 0] = hashes[k]
        table[s, 1] = info
    return table


@numba.njit(cache=True)
def _find_word(table: np.ndarray, h: np.uint64) -> np.uint64:
    """The ``info`` of the word whose hash is ``h`` (``_word_slots``), 0 if the table does not hold it."""
    mask = len(table) - 1
    s = hash_slot(h, mask)
    while table[s, 1] != 0:
        if table[s, 0] == h:
            return table[s, 1]
        s = (s + 1) & mask
    return np.uint64(0)


@numba.njit(cache=True, inline="always")
def _unpack_tokens(info: np.uint64, out: np.ndarray, pos: int) -> int:
    """Write the 1 to 4 tokens packed in a row's ``info`` (``_word_slots``) to ``out[pos:]``; the new ``pos``."""
    m = np.int64(info & np.uint64(3)) + 1
    for t in range(m):
        out[pos + t] = np.int32((info >> np.uint64(2 + 15 * t)) & np.uint64(0x7FFF))
    return pos + m


@numba.njit(cache=True)
def _window_tokens(data: np.ndarray, offsets: np.ndarray, table: np.ndarray, token_offsets: np.ndarray,
                   token_ids: np.ndarray, bmp_ids: np.ndarray, char_cps: np.ndarray, char_ids: np.ndarray,
                   merges: np.ndarray, space_id: int, byte_base: int, nvocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Every text's token ids, flat, and where each text's start: a word in the table (``_word_slots``: one
    row holds a short word's tokens) adds its stored tokens, any other word the tokens ``_bpe`` gives it.
    Tokens are copied one by one: a slice assignment per word costs two reference counts."""
    n = len(offsets) - 1
    # a word of b bytes has at most b + 1 tokens ("▁" may stand alone), and a space or a text end follows it
    out = np.empty(len(data) + n + 16, np.int32)
    pos = 0
    starts = np.zeros(n + 1, np.int64)
    sym = np.empty(64, np.int64)
    rank = np.empty(64, np.int64)
    for i in range(n):
        j, hi = offsets[i], offsets[i + 1]
        while j < hi:
            start, j = _next_word(data, j, hi)
            if start == j:
                continue
            h = fnv1a(data, start, j)
            info = _find_word(table, h)
            if info & _OCCUPIED:
                pos = _unpack_tokens(info, out, pos)
                continue
            if info & _LONG:
                k = np.int64(info & np.uint64(0xFFFFFFFF))
                for t in range(token_offsets[k], token_offsets[k + 1]):
                    out[pos] = token_ids[t]
                    pos += 1
                continue
            if len(sym) < 4 * (j - start) + 1:
                sym = np.empty(4 * (j - start) + 1, np.int64)
                rank = np.empty(4 * (j - start) + 1, np.int64)
            m = _bpe(data, start, j, bmp_ids, char_cps, char_ids, merges, space_id, byte_base, nvocab, sym, rank)
            for t in range(m):
                out[pos + t] = sym[t]
            pos += m
        starts[i + 1] = pos
    return out[:pos], starts


@numba.njit(cache=True)
def _mean_vectors(ids: np.ndarray, starts: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each text's normalised mean token vector (zeros for a text without tokens), summed in float64."""
    n = len(starts) - 1
    out = np.zeros((n, vectors.shape[1]), np.float32)
    acc = np.zeros(vectors.shape[1], np.float64)
    for i in range(n):
        acc[:] = 0.0
        for t in range(starts[i], starts[i + 1]):
            acc += vectors[ids[t]]
        norm = np.sqrt((acc * acc).sum())
        if norm > 0:
            out[i] = (acc / norm).astype(np.float32)
    return out


@numba.njit(cache=True)
def standard_logits(vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray, weights: np.ndarray,
                    bias: np.ndarray) -> np.ndarray:
    """``((vectors - mean) / scale) @ weights + bias`` in float32, each row summed alone, in float64 and in a fixed
    order: a window's logits do not depend on the batch it came in. (A BLAS product sums in an order that depends
    on the number of rows, so the same window's probability differed in its last bits between batches.)"""
    n, dim = vectors.shape
    classes = weights.shape[1]
    out = np.empty((n, classes), np.float32)
    acc = np.empty(classes, np.float64)
    for i in range(n):
        acc[:] = 0.0
        for j in range(dim):  # every class's sum runs over j in order
            z = np.float64(np.float32((vectors[i, j] - mean[j]) / scale[j]))
            for k in range(classes):
                acc[k] += z * np.float64(weights[j, k])
        for k in range(classes):
            out[i, k] = np.float32(acc[k]) + bias[k]
    return out


def _wordllama_file(parts: tuple[str, str]) -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ConfigError("the domain labeller's word model needs the wordllama package (pip install "
                          "'wordllama==0.4.0.post1'), or set domain_labeller config word_model: null")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.is_file():
        raise ConfigError(f"wordllama is installed but {path} is missing: reinstall wordllama==0.4.0.post1")
    return path


@functools.lru_cache(maxsize=1)
def token_vectors() -> np.ndarray:
    """wordllama's token embeddings, ``(32000, 256)`` float32, loaded once per process."""
    from safetensors.numpy import load_file

    return np.ascontiguousarray(load_file(str(_wordllama_file(WORDLLAMA_WEIGHTS)))["embedding.weight"],
                                dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(_wordllama_file(WORDLLAMA_TOKENIZER)))
    tok.no_padding()
    tok.no_truncation()
    return tok


def whole_word_pieces() -> list[str]:
    """The tokenizer's pieces that are whole words: ``▁`` then letters or digits only."""
    return sorted(p[1:] for p in _tokenizer().get_vocab() if p.startswith("▁") and len(p) > 1 and p[1:].isalnum())


def vocabulary(texts: pa.Array | list[str], sources: list[str], min_sources: int = 2) -> list[str]:
    """The words a word model keeps in its table (other words are tokenized when read, the same way):
    ``whole_word_pieces`` and every word (Arrow's whitespace split, as ``str.split``) of at least
    ``min_sources`` of the ``sources`` (one per text). Sorted."""
    tokens = pc.utf8_split_whitespace(pc.fill_null(as_string_array(texts), ""))
    shared = words_in_groups(tokens, sources, min_sources)
    return sorted(set(shared.to_pylist()) | set(whole_word_pieces()))


@dataclass(frozen=True)
class SourceVocabulary:
    """Which training sources hold each word, counted once, so that many folds' vocabularies (one per left-out
    source in leave-one-source-out) cost a filter each: ``without(names)`` equals ``vocabulary`` of the texts of
    every other source. Words are split as ``vocabulary`` splits them."""

    words: pa.LargeStringArray
    """The distinct non-empty words."""
    pair_word: np.ndarray
    """One row per (word, source) in which the word occurs: the word's index in ``words``..."""
    pair_source: np.ndarray
    """...and the source's index in ``sources``."""
    sources: list[str]
    min_sources: int

    @classmethod
    def build(cls, texts: pa.Array | list[str], sources: list[str], min_sources: int = 2) -> SourceVocabulary:
        """Every distinct (word, source) pair of ``texts`` (one source per text), by Arrow's hash aggregation."""
        tokens = pc.utf8_split_whitespace(pc.fill_null(as_string_array(texts), ""))
        parents = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
        encoded = pc.dictionary_encode(pa.array(sources, pa.string()))
        source_ids = encoded.indices.to_numpy(zero_copy_only=False)
        flat = pa.table({"token": pc.list_flatten(tokens), "source": source_ids[parents]})
        pairs = flat.group_by(["token", "source"]).aggregate([])
        pairs = pairs.filter(pc.not_equal(pc.binary_length(pairs.column("token")), 0))
        words = pc.dictionary_encode(pairs.column("token").combine_chunks())
        return cls(words.dictionary.cast(pa.large_string()), words.indices.to_numpy(zero_copy_only=False),
                   pairs.column("source").to_numpy(), encoded.dictionary.to_pylist(), min_sources)

    def without(self, names: set[str] | list[str]) -> list[str]:
        """``vocabulary`` of the texts of every source but ``names``: sorted."""
        out = np.isin(np.asarray(self.sources, dtype=object), list(names))
        keep = ~out[self.pair_source]
        counts = np.bincount(self.pair_word[keep], minlength=len(self.words))
        shared = self.words.filter(pa.array(counts >= self.min_sources))
        return sorted(set(shared.to_pylist()) | set(whole_word_pieces()))


@dataclass(frozen=True)
class WordTable:
    """Stored tokens of common words by hash: ``token_ids[token_offsets[k]:token_offsets[k + 1]]`` are the
    tokens of the word whose hash is ``hashes[k]`` (sorted); a cache of what ``_bpe`` would give them."""

    hashes: np.ndarray  # uint64, sorted, unique
    token_offsets: np.ndarray  # int64, len(hashes) + 1
    token_ids: np.ndarray  # int32

    @classmethod
    def build(cls, words: list[str]) -> WordTable:
        """Tokenize each word as the tokenizer reads it after a space (its ids for ``"▁" + word``)."""
        words = sorted(set(words))
        hashes = string_hashes(words)
        order = np.argsort(hashes, kind="stable")
        keep = order[np.concatenate([[True], np.diff(hashes[order]) != 0])] if len(words) else order
        encoded = _tokenizer().encode_batch([words[k] for k in keep], add_special_tokens=False)
        lengths = np.array([len(e.ids) for e in encoded], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.array([t for e in encoded for t in e.ids], np.int32)
        return cls(hashes[keep], offsets, ids)

    def tokens(self, texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, starts)``: the token ids of every text, flat; text ``i``'s are ``ids[starts[i]:starts[i + 1]]``."""
        data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
        return _window_tokens(data, offsets, self.slots, self.token_offsets, self.token_ids, *bpe_tables().args())

    @functools.cached_property
    def slots(self) -> np.ndarray:
        """The open-addressing table of words and their tokens that ``tokens`` reads (built once per table)."""
        if len(self.token_ids) and int(self.token_ids.max()) >= 1 << 15:
            raise ValueError("token ids from 32,768 up do not fit _word_slots' 15-bit fields")
        return _word_slots(self.hashes, self.token_offsets, self.token_ids)

    def vectors(self, texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each text's normalised mean token vector (zeros for a text without words), and its token count."""
        ids, starts = self.tokens(texts)
        return _mean_vectors(ids, starts, token_vectors()), np.diff(starts)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def balanced_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Example weights so that every label weighs alike, and every source alike within its label."""
    w = np.zeros(len(labels))
    for lab in np.unique(labels):
        names = np.unique(sources[labels == lab])
        for name in names:
            rows = (labels == lab) & (sources == name)
            w[rows] = 1.0 / rows.sum() / len(names)
    return w / w.sum()


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, classes: int, l2: float = DEFAULT_L2
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, scale, weights, bias)`` of a weighted multinomial logistic regression on standardised
    ``x`` (L-BFGS from zeros: deterministic), ``l2`` times the squared weights added to the loss."""
    from scipy.optimize import minimize

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    onehot = np.eye(classes)[y]
    w = weights / weights.sum()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef = theta.reshape(z.shape[1], classes)
        p = _softmax(z @ coef)
        value = -(w * np.log(p[np.arange(len(y)), y] + 1e-12)).sum() + 0.5 * l2 * (coef[:-1] ** 2).sum()
        grad = z.T @ ((p - onehot) * w[:, None])
        grad[:-1] += l2 * coef[:-1]
        return value, grad.ravel()

    result = minimize(loss, np.zeros(z.shape[1] * classes), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    coef = result.x.reshape(z.shape[1], classes)
    return mean.astype(np.float32), scale.astype(np.float32), coef[:-1].astype(np.float32), coef[-1].astype(np.float32)


def mix_probabilities(fasttext_probs: np.ndarray, word_probs: np.ndarray, mix: float,
                      known: np.ndarray | None = None, known_power: float = 0.0) -> np.ndarray:
    """The labeller's mix of two ``(documents, labels)`` probability arrays (same columns):
    ``softmax(a log p_fastText + (1 - a) log p_words)``, ``a = mix * known ** known_power`` per row (``mix`` when
    ``known_power`` is 0 or ``known`` is None)."""
    share: float | np.ndarray = mix
    if known_power and known is not None:
        share = (mix * np.asarray(known, np.float64) ** known_power)[:, None]
    return _softmax(share * np.log(fasttext_probs + 1e-6) + (1.0 - share) * np.log(word_probs + 1e-6))


@dataclass(frozen=True)
class WordModel:
    """A vocabulary, a logistic regression over window vectors, and fastText's share of the mix."""

    labels: tuple[str, ...]
    table: WordTable
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    mix: float
    known_power: float = 0.0
    """fastText's share of the mix is ``mix * k ** known_power`` (``DEFAULT_KNOWN_POWER``); 0: always ``mix``."""

    def probabilities(self, windows: pa.Array | list[str]) -> np.ndarray:
        """``(len(windows), len(labels))`` class probabilities, columns in ``labels`` order."""
        vectors, _ = self.table.vectors(windows)
        return _softmax(standard_logits(vectors, self.mean, self.scale, self.weights, self.bias))

    def mixed(self, fasttext_probs: np.ndarray, fasttext_labels: tuple[str, ...], windows: pa.Array,
              known: np.ndarray | None = None) -> np.ndarray:
        """fastText's probabilities (columns ``fasttext_labels``) mixed with this model's, same columns.
        ``known``: per window, the share of its words fastText's model knows (needed when ``known_power``)."""
        if set(fasttext_labels) != set(self.labels):
            raise ConfigError(f"word model labels {sorted(self.labels)} differ from the fastText model's "
                              f"{sorted(fasttext_labels)}: set domain_labeller config word_model: null")
        mine = self.probabilities(windows)[:, [self.labels.index(lab) for lab in fasttext_labels]]
        if self.known_power and (known is None or len(known) != len(fasttext_probs)):
            raise ConfigError("this word model weighs fastText by the share of words it knows: pass `known` "
                              "(rare_words.known_fractions), one value per window")
        return mix_probabilities(fasttext_probs, mine, self.mix, known, self.known_power)

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (.npz) atomically: a temporary name, then a rename."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        arrays = {"labels": np.array(self.labels), "hashes": self.table.hashes,
                  "token_offsets": self.table.token_offsets, "token_ids": self.table.token_ids, "mean": self.mean,
                  "scale": self.scale, "weights": self.weights, "bias": self.bias, "mix": np.float64(self.mix),
                  "known_power": np.float64(self.known_power)}
        # np.savez stamps each member with the current time; a fixed stamp keeps the bytes a function of the model
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, value in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, buffer.getvalue())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> WordModel:
        """Read a model ``save`` wrote; ``ConfigError`` naming the file if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(tuple(str(x) for x in z["labels"]), WordTable(z["hashes"], z["token_offsets"],
                           z["token_ids"]), z["mean"], z["scale"], z["weights"], z["bias"], float(z["mix"]),
                           float(z["known_power"]) if "known_power" in z.files else 0.0)
        except (OSError, KeyError, ValueError, zlib.error, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{path}: not a word model ({exc})") from exc


def train_word_model(labels: list[str], texts: list[str], sources: list[str], vocabulary_words: list[str],
                     mix: float = DEFAULT_MIX, l2: float = DEFAULT_L2,
                     known_power: float = DEFAULT_KNOWN_POWER) -> WordModel:
    """Fit a ``WordModel`` on the domain examples (``labels``, ``texts``, each example's source)."""
    if not len(labels) == len(texts) == len(sources):
        raise ConfigError(f"train_word_model: {len(labels)} labels, {len(texts)} texts and {len(sources)} sources; "
                          "expected one of each per example")
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise ConfigError(f"train_word_model: the examples have {len(classes)} label(s) {list(classes)}; "
                          "a word model needs at least two")
    table = WordTable.build(vocabulary_words)
    vectors, _ = table.vectors(texts)
    y = np.array([classes.index(lab) for lab in labels])
    w = balanced_weights(np.asarray(labels), np.asarray(sources))
    mean, scale, weights, bias = fit_logistic(vectors.astype(np.float64), y, w, len(classes), l2)
    return WordModel(classes, table, mean, scale, weights, bias, mix, known_power)


def word_model_path(ref: str | os.PathLike) -> Path:
    """The file behind a word-model reference (``"domain-words"`` or a path)."""
    return model_path(ref, {SHIPPED_WORD_MODEL: WORD_MODEL_FILE}, "word model", "a .npz written by train_word_model")


@functools.lru_cache(maxsize=8)
def load_word_model(ref: str) -> WordModel:
    """The process-wide cached word model for ``ref``."""
    return WordModel.load(word_model_path(ref))

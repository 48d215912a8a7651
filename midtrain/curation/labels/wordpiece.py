"""BERT's WordPiece tokenization in numba, equal to the tokenizers library's (issue 14, stop 57).

Why: the opt-in sentence encoder (``encoder.py``) reads each window through all-MiniLM-L6-v2's ``tokenizer.json``
(BertNormalizer, BertPreTokenizer, WordPiece). The tokenizers library spends about 390 µs of one core on the
labeller's 1,024-byte window, twice the rest of the labeller, and six times what an H100 needs to embed it (about
63 µs a window at batch 1024 in float16; benchmarks/README.md, stop 56). So where the encoder runs on a GPU, its
tokenizer is the labeller's largest CPU cost. This module does the same work in one numba pass per window that stops
once the window has ``max_tokens`` tokens (``benchmarks/bench_wordpiece.py``).

Every step before WordPiece works character by character, so it is read from the library once, as tables over the
code points below ``TABLE_END`` (planes 0 and 1):

- the normaliser's output for each code point (``Tokenizer.normalizer``): control characters removed, whitespace
  made a space, CJK ideographs padded with spaces, NFD with the nonspacing marks dropped, lower case. One call
  over all code points, each between two snowmen (a character the normaliser keeps as it is);
- the pre-tokenizer's class of each normalised character: a space (split there), punctuation (a word of its own)
  or a word character. One call over all code points, read from the offsets of the pieces it returns.

WordPiece then follows the library: a word of more than 100 characters is one ``[UNK]``; otherwise the longest
vocabulary entry that starts the word, then the longest ``##`` entry at each later position; if some position
matches nothing, the whole word is one ``[UNK]``. Truncation keeps the first ``max_tokens`` ids, ``[CLS]`` and
``[SEP]`` included when they are added.

Three kinds of window go to the library instead: one holding an added token (``[UNK]``, ``[CLS]``, ...: the library
finds them in the raw text before it normalises), one with a code point at or past ``TABLE_END``, and one with a
character whose normalised form keeps a combining mark (NFD may reorder those across characters). So every window's
ids equal ``Tokenizer.encode_batch``'s: ``tests/test_wordpiece.py`` checks that with hypothesis, on every code point
of the tables and on real text.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array, string_buffers
from midtrain.errors import ConfigError

MAX_WORD_CHARS = 100
"""WordPiece's ``max_input_chars_per_word``: a longer word is one ``[UNK]`` (the tokenizers library's default)."""
TABLE_END = 0x20000
"""Code points from here on (planes 2-16: rare CJK ideographs, private use) send their window to the library."""

WORD, SPACE, PUNCTUATION = 0, 1, 2
_EMPTY = -1
_SNOWMAN = "\u2603"
_START_SEED = np.uint64(14695981039346656037)
_CONTINUE_SEED = np.uint64(14695981039346656037 ^ 0x9E3779B97F4A7C15)


@functools.lru_cache(maxsize=4)
def character_tables(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(offsets, mapped, classes, to_library)`` for the code points below ``TABLE_END``, read from the tokenizer
    at ``path`` (module docstring): code point ``c`` normalises to ``mapped[offsets[c]:offsets[c + 1]]``; a
    normalised character ``m`` is of ``classes[m]`` (``WORD``, ``SPACE``, ``PUNCTUATION``); ``to_library[c]`` sends
    a window holding ``c`` to the library. About 0.3 s, once per process and tokenizer."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    if (tokenizer.normalizer.normalize_str(_SNOWMAN) != _SNOWMAN
            or [p for p, _ in tokenizer.pre_tokenizer.pre_tokenize_str(f"a{_SNOWMAN}a")] != [f"a{_SNOWMAN}a"]):
        raise ConfigError(f"{path}: its normaliser or pre-tokenizer changes U+2603, which WordPieceTokenizer uses "
                          "as a separator")
    # surrogates never occur in a str; the snowman is a word character that normalises to itself (checked above)
    points = np.array([c for c in range(TABLE_END) if not 0xD800 <= c <= 0xDFFF and c != ord(_SNOWMAN)])
    text = _SNOWMAN + _SNOWMAN.join(map(chr, points)) + _SNOWMAN
    pieces = tokenizer.normalizer.normalize_str(text).split(_SNOWMAN)[1:-1]
    if len(pieces) != len(points):
        raise ConfigError(f"{path}: its normaliser does not work character by character")
    normal = [""] * TABLE_END
    for c, piece in zip(points.tolist(), pieces):
        normal[c] = piece
    normal[ord(_SNOWMAN)] = _SNOWMAN
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in normal])]).astype(np.int64)
    mapped = np.array([ord(ch) for p in normal for ch in p], np.int64)
    to_library = np.array([any(ord(ch) >= TABLE_END or unicodedata.combining(ch) for ch in p) for p in normal])

    classes = np.full(TABLE_END, SPACE, np.uint8)  # a character in no piece was split away
    classes[ord(_SNOWMAN)] = WORD
    for _, (lo, hi) in tokenizer.pre_tokenizer.pre_tokenize_str(text):
        chars = np.arange(lo, hi)
        own = chars[chars % 2 == 1]  # text holds the snowmen at even positions, the points at odd ones
        if len(own):
            classes[points[own // 2]] = PUNCTUATION if hi - lo == 1 else WORD
    return offsets, mapped, classes, to_library


@numba.njit(cache=True, inline="always")
def _fnv(data: np.ndarray, lo: int, hi: int, seed: np.uint64) -> np.uint64:
    h = seed
    for i in range(lo, hi):
        h = (h ^ np.uint64(data[i])) * np.uint64(1099511628211)
    return h


@numba.njit(cache=True)
def _build_table(blob: np.ndarray, offsets: np.ndarray, continues: np.ndarray, size: int) -> np.ndarray:
    """An open-addressing table of vocabulary entries (``size`` a power of two): slot -> entry index or -1."""
    table = np.full(size, _EMPTY, np.int32)
    mask = np.uint64(size - 1)
    for k in range(len(continues)):
        seed = _CONTINUE_SEED if continues[k] else _START_SEED
        slot = _fnv(blob, offsets[k], offsets[k + 1], seed) & mask
        while table[slot] != _EMPTY:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = k
    return table


@numba.njit(cache=True, inline="always")
def _lookup(word: np.ndarray, lo: int, hi: int, cont: bool, table: np.ndarray, blob: np.ndarray,
            offsets: np.ndarray, continues: np.ndarray, ids: np.ndarray) -> int:
    """The id of the UTF-8 bytes ``word[lo:hi]`` (a ``##`` entry when ``cont``), or -1."""
    mask = np.uint64(len(table) - 1)
    slot = _fnv(word, lo, hi, _CONTINUE_SEED if cont else _START_SEED) & mask
    n = hi - lo
    while table[slot] != _EMPTY:
        k = table[slot]
        a = offsets[k]
        if continues[k] == cont and offsets[k + 1] - a == n:
            same = True
            for i in range(n):
                if blob[a + i] != word[lo + i]:
                    same = False
                    break
            if same:
                return ids[k]
        slot = (slot + np.uint64(1)) & mask
    return -1


@numba.njit(cache=True)
def _word_pieces(word: np.ndarray, n: int, chars: int, out: np.ndarray, pos: int, limit: int, longest: int,
                 unk: int, table: np.ndarray, blob: np.ndarray, offsets: np.ndarray, continues: np.ndarray,
                 ids: np.ndarray, pieces: np.ndarray) -> int:
    """Append the WordPiece ids of the word in ``word[:n]`` (UTF-8, ``chars`` characters) to ``out`` from ``pos``,
    up to ``limit``; the new ``pos``. A byte slice that ends inside a character is not valid UTF-8, so it matches
    no entry: trying every byte end is trying every character end."""
    if chars == 0:
        return pos
    count = 0
    if chars > MAX_WORD_CHARS:
        pieces[0] = unk
        count = 1
    else:
        start = 0
        while start < n:
            end = min(n, start + longest)
            found = -1
            while end > start:
                found = _lookup(word, start, end, start > 0, table, blob, offsets, continues, ids)
                if found >= 0:
                    break
                end -= 1
            if found < 0:
                pieces[0] = unk
                count = 1
                break
            pieces[count] = found
            count += 1
            start = end
    for i in range(count):
        if pos >= limit:
            break
        out[pos] = pieces[i]
        pos += 1
    return pos


@numba.njit(cache=True, inline="always")
def _put_utf8(word: np.ndarray, n: int, c: int) -> int:
    """Write code point ``c`` as UTF-8 at ``word[n]``; the new length."""
    if c < 0x80:
        word[n] = c
        return n + 1
    if c < 0x800:
        word[n] = 0xC0 | (c >> 6)
        word[n + 1] = 0x80 | (c & 0x3F)
        return n + 2
    if c < 0x10000:
        word[n] = 0xE0 | (c >> 12)
        word[n + 1] = 0x80 | ((c >> 6) & 0x3F)
        word[n + 2] = 0x80 | (c & 0x3F)
        return n + 3
    word[n] = 0xF0 | (c >> 18)
    word[n + 1] = 0x80 | ((c >> 12) & 0x3F)
    word[n + 2] = 0x80 | ((c >> 6) & 0x3F)
    word[n + 3] = 0x80 | (c & 0x3F)
    return n + 4


@numba.njit(cache=True, inline="always")
def _added_at(data: np.ndarray, i: int, end: int, added: np.ndarray, added_offsets: np.ndarray) -> bool:
    """Whether one of the added tokens (``added[added_offsets[k]:added_offsets[k + 1]]``) starts at ``data[i]``."""
    for k in range(len(added_offsets) - 1):
        a, b = added_offsets[k], added_offsets[k + 1]
        if b - a <= end - i:
            same = True
            for j in range(b - a):
                if data[i + j] != added[a + j]:
                    same = False
                    break
            if same:
                return True
    return False


@numba.njit(cache=True, nogil=True)
def _encode(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, map_offsets: np.ndarray, mapped: np.ndarray,
            classes: np.ndarray, to_library: np.ndarray, added: np.ndarray, added_offsets: np.ndarray,
            added_first: np.ndarray, table: np.ndarray, blob: np.ndarray, offsets: np.ndarray,
            continues: np.ndarray, ids: np.ndarray, longest: int, unk: int, cls: int, sep: int, special: bool,
            out: np.ndarray, lengths: np.ndarray, library: np.ndarray) -> None:
    """Tokenize each window (``data[starts[r]:ends[r]]``, UTF-8) into ``out[r]`` and ``lengths[r]``, or set
    ``library[r]`` where the window needs the library (module docstring): a code point the tables leave to it, or
    an added token anywhere in the window (``added_first`` marks the bytes one can start with)."""
    for r in range(len(starts)):
        for i in range(starts[r], ends[r]):
            if added_first[data[i]] and _added_at(data, i, ends[r], added, added_offsets):
                library[r] = True
                break
    max_tokens = out.shape[1]
    limit = max_tokens - 2 if special else max_tokens
    word = np.empty(4 * (MAX_WORD_CHARS + 1), np.uint8)
    pieces = np.empty(MAX_WORD_CHARS + 1, np.int64)
    punct = np.empty(4, np.uint8)
    table_end = len(to_library)
    for r in range(len(starts)):
        if library[r]:
            continue
        row = out[r]
        pos = 0
        n = 0  # bytes of the current word in ``word``
        chars = 0  # its characters; past MAX_WORD_CHARS only counted
        i = starts[r]
        while i < ends[r] and pos < limit:
            b = data[i]
            if b < 0x80:
                c, i = int(b), i + 1
            elif b < 0xE0:
                c, i = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F), i + 2
            elif b < 0xF0:
                c, i = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F), i + 3
            else:
                c = ((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6) \
                    | (data[i + 3] & 0x3F)
                i += 4
            if c >= table_end or to_library[c]:
                library[r] = True
                break
            for k in range(map_offsets[c], map_offsets[c + 1]):
                m = mapped[k]
                kind = classes[m]
                if kind == WORD:
                    if chars < MAX_WORD_CHARS + 1:
                        n = _put_utf8(word, n, m)
                    chars += 1
                else:
                    pos = _word_pieces(word, n, chars, row, pos, limit, longest, unk, table, blob, offsets,
                                       continues, ids, pieces)
                    n = chars = 0
                    if kind == PUNCTUATION and pos < limit:
                        pos = _word_pieces(punct, _put_utf8(punct, 0, m), 1, row, pos, limit, longest, unk, table,
                                           blob, offsets, continues, ids, pieces)
        if library[r]:
            continue
        if pos < limit:
            pos = _word_pieces(word, n, chars, row, pos, limit, longest, unk, table, blob, offsets, continues, ids,
                               pieces)
        if special:
            row[1:pos + 1] = row[:pos].copy()
            row[0] = cls
            row[pos + 1] = sep
            pos += 2
        lengths[r] = pos


class WordPieceTokenizer:
    """A lower-casing BERT ``tokenizer.json``'s ids for a batch of texts, cut to ``max_tokens``, in numba (module
    docstring); ``token_ids`` equals the tokenizers library's ``encode_batch``."""

    def __init__(self, path: str | Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        path = Path(path)
        if max_tokens < 2:
            raise ConfigError(f"WordPieceTokenizer: max_tokens {max_tokens}: expected 2 or more ([CLS] and [SEP])")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            model, normalizer, pre = spec["model"], spec["normalizer"], spec["pre_tokenizer"]
            vocab: dict[str, int] = model["vocab"]
            prefix = model["continuing_subword_prefix"]
            unk, cls, sep = vocab[model["unk_token"]], vocab["[CLS]"], vocab["[SEP]"]
            added = [token["content"] for token in spec.get("added_tokens", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a BERT WordPiece tokenizer.json ({exc})") from exc
        found = (model.get("type"), model.get("max_input_chars_per_word"), normalizer.get("type"),
                 normalizer.get("lowercase"), normalizer.get("clean_text"), pre.get("type"))
        if found != ("WordPiece", MAX_WORD_CHARS, "BertNormalizer", True, True, "BertPreTokenizer"):
            raise ConfigError(f"{path}: WordPieceTokenizer reads lower-casing BERT tokenizers only; found "
                              f"(model, max chars, normalizer, lowercase, clean_text, pre-tokenizer) = {found}")
        self.max_tokens = max_tokens
        self.unk, self.cls, self.sep = unk, cls, sep
        encoded = [token.encode("utf-8") for token in added if token]
        first = np.zeros(256, np.bool_)
        first[[token[0] for token in encoded]] = True
        self._added = (np.frombuffer(b"".join(encoded) or b"\0", np.uint8),
                       np.concatenate([[0], np.cumsum([len(t) for t in encoded])]).astype(np.int64), first)
        self.library = Tokenizer.from_file(str(path))
        self.library.no_padding()
        self.library.enable_truncation(max_tokens)
        self._characters = character_tables(str(path))
        keys, continues, ids = [], [], []
        for token, token_id in vocab.items():
            cont = token.startswith(prefix) and len(token) > len(prefix)
            keys.append((token[len(prefix):] if cont else token).encode("utf-8"))
            continues.append(cont)
            ids.append(token_id)
        lengths = np.fromiter(map(len, keys), np.int64, len(keys))
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._blob = np.frombuffer(b"".join(keys), np.uint8)
        self._continues = np.array(continues, np.bool_)
        self._ids = np.array(ids, np.int64)
        self._longest = int(lengths.max())
        size = 1 << int(np.ceil(np.log2(4 * len(keys))))  # a quarter full: short probe runs
        self._table = _build_table(self._blob, self._offsets, self._continues, size)

    def token_ids(self, texts: pa.Array | list[str], special_tokens: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, lengths)`` as ``encoder.token_ids``: each text's ids (with ``[CLS]`` and ``[SEP]`` unless
        ``special_tokens`` is false; a null reads as empty) in a zero-padded int64 row, and how many there are."""
        strings = pc.fill_null(as_string_array(texts), "")
        wide, lengths, library = self._encode(strings, special_tokens)
        rest = np.flatnonzero(library)
        if len(rest):
            encodings = self.library.encode_batch(strings.take(rest).to_pylist(), add_special_tokens=special_tokens)
            for r, enc in zip(rest, encodings):
                wide[r] = 0
                wide[r, :len(enc.ids)] = enc.ids
                lengths[r] = len(enc.ids)
        return wide[:, :int(lengths.max(initial=1))].copy(), lengths

    def library_share(self, texts: pa.Array | list[str]) -> float:
        """The share of ``texts`` that ``token_ids`` hands to the library (for benchmarks)."""
        strings = pc.fill_null(as_string_array(texts), "")
        return float(self._encode(strings, True)[2].mean()) if len(strings) else 0.0

    def _encode(self, strings: pa.LargeStringArray, special: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_encode``'s ids, lengths and the rows it leaves to the library."""
        data, bounds = string_buffers(strings)
        wide = np.zeros((len(strings), self.max_tokens), np.int64)
        lengths = np.zeros(len(strings), np.int64)
        library = np.zeros(len(strings), np.bool_)
        _encode(data, bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64), *self._characters, *self._added,
                self._table, self._blob, self._offsets, self._continues, self._ids, self._longest, self.unk, self.cls,
                self.sep, special, wide, lengths, library)
        return wide, lengths, library

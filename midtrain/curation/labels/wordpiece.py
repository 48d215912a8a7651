"""BERT's WordPiece tokenization of ASCII text in numba, equal to the tokenizers library's (issue 14, stop 57).

Why: the opt-in sentence encoder (``encoder.py``) reads each window through all-MiniLM-L6-v2's ``tokenizer.json``
(BertNormalizer, BertPreTokenizer, WordPiece). The tokenizers library spends about 400 µs of one core on a
1,024-byte window, twice the rest of the labeller, and more than the GPU needs to embed it (about 63 µs a window on
an H100 at batch 1024, float16; benchmarks/README.md, stop 56). So where the encoder runs on a GPU, its tokenizer is
the labeller's largest CPU cost.

For a window of ASCII text (most of the labelled corpus) the pipeline reduces to a few byte rules, which this module
runs in one numba pass that stops once the window has ``max_tokens`` tokens:

- BertNormalizer: a control byte (``0x00-0x1f`` and ``0x7f``, but tab, newline and carriage return) is removed;
  tab, newline and carriage return become spaces; ``A-Z`` become lower case (NFD and accent stripping change no
  ASCII character, and no ASCII character is a CJK ideograph);
- BertPreTokenizer: words are split at spaces, and each of the 32 ASCII punctuation bytes is a word of its own;
- WordPiece: a word longer than 100 characters is ``[UNK]``; otherwise the longest vocabulary entry that starts the
  word, then the longest ``##`` entry at each later position; if some position matches nothing the whole word is
  one ``[UNK]``.
- truncation keeps the first ``max_tokens`` ids, ``[CLS]`` and ``[SEP]`` included when they are added.

A window with any byte of 0x80 or more, or holding one of the tokenizer's added tokens (``[UNK]``, ``[CLS]``, ...,
which the library matches in the raw text before it normalises), goes to the tokenizers library, so every window's ids equal
``tokenizer.encode_batch``'s (tested against it with hypothesis and on the labelled corpus).
"""

from __future__ import annotations

import json
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array, string_buffers
from midtrain.errors import ConfigError

MAX_WORD_CHARS = 100
"""WordPiece's ``max_input_chars_per_word``: a longer word is one ``[UNK]`` (the tokenizers library's default)."""

_PUNCTUATION = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_EMPTY = -1


def _byte_classes() -> np.ndarray:
    """One class per byte: 0 a word byte, 1 a space (split), 2 punctuation (a word of its own), 3 removed, 4 not
    ASCII (the window goes to the tokenizers library)."""
    classes = np.zeros(256, np.uint8)
    classes[:0x20] = 3
    classes[0x7F] = 3
    classes[[0x09, 0x0A, 0x0D, 0x20]] = 1
    classes[list(_PUNCTUATION)] = 2
    classes[0x80:] = 4
    return classes


@numba.njit(cache=True, inline="always")
def _fnv(data: np.ndarray, lo: int, hi: int, seed: np.uint64) -> np.uint64:
    h = seed
    for i in range(lo, hi):
        h = (h ^ np.uint64(data[i])) * np.uint64(1099511628211)
    return h


_START_SEED = np.uint64(14695981039346656037)
_CONTINUE_SEED = np.uint64(14695981039346656037 ^ 0x9E3779B97F4A7C15)


@numba.njit(cache=True)
def _build_table(blob: np.ndarray, offsets: np.ndarray, continues: np.ndarray, ids: np.ndarray,
                 size: int) -> np.ndarray:
    """An open-addressing table of vocabulary entries (``size`` a power of two): slot -> entry index or -1."""
    table = np.full(size, _EMPTY, np.int32)
    mask = np.uint64(size - 1)
    for k in range(len(ids)):
        seed = _CONTINUE_SEED if continues[k] else _START_SEED
        slot = _fnv(blob, offsets[k], offsets[k + 1], seed) & mask
        while table[slot] != _EMPTY:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = k
    return table


@numba.njit(cache=True, inline="always")
def _lookup(word: np.ndarray, lo: int, hi: int, cont: bool, table: np.ndarray, blob: np.ndarray,
            offsets: np.ndarray, continues: np.ndarray, ids: np.ndarray) -> int:
    """The id of ``word[lo:hi]`` (a ``##`` entry when ``cont``), or -1."""
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
def _word_pieces(word: np.ndarray, n: int, out: np.ndarray, pos: int, limit: int, longest: int, unk: int,
                 table: np.ndarray, blob: np.ndarray, offsets: np.ndarray, continues: np.ndarray,
                 ids: np.ndarray, pieces: np.ndarray) -> int:
    """Append ``word[:n]``'s WordPiece ids to ``out`` from ``pos`` (at most up to ``limit``); the new ``pos``."""
    if n == 0:
        return pos
    count = 0
    if n > MAX_WORD_CHARS:
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


@numba.njit(cache=True)
def _encode_ascii(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                  table: np.ndarray, blob: np.ndarray, offsets: np.ndarray, continues: np.ndarray,
                  ids: np.ndarray, longest: int, unk: int, cls: int, sep: int, special: bool,
                  out: np.ndarray, lengths: np.ndarray) -> None:
    """Tokenize the windows ``rows`` (``data[starts[r]:ends[r]]``, ASCII) into ``out[r]`` and ``lengths[r]``."""
    max_tokens = out.shape[1]
    limit = max_tokens - 2 if special else max_tokens
    word = np.empty(MAX_WORD_CHARS + 1, np.uint8)
    pieces = np.empty(MAX_WORD_CHARS + 1, np.int64)
    for r in rows:
        row = out[r]
        pos = 0
        n = 0  # bytes of the current word kept in ``word``; past MAX_WORD_CHARS only counted
        for i in range(starts[r], ends[r]):
            if pos >= limit:
                break
            b = data[i]
            c = classes[b]
            if c == 0:
                if n < MAX_WORD_CHARS + 1:
                    word[n] = b + 32 if 65 <= b <= 90 else b
                n += 1
            elif c == 1 or c == 2:
                pos = _word_pieces(word, n, row, pos, limit, longest, unk, table, blob, offsets, continues, ids,
                                   pieces)
                n = 0
                if c == 2 and pos < limit:
                    word[0] = b
                    pos = _word_pieces(word, 1, row, pos, limit, longest, unk, table, blob, offsets, continues,
                                       ids, pieces)
        if pos < limit:
            pos = _word_pieces(word, n, row, pos, limit, longest, unk, table, blob, offsets, continues, ids, pieces)
        if special:
            row[1:pos + 1] = row[:pos].copy()
            row[0] = cls
            row[pos + 1] = sep
            pos += 2
        lengths[r] = pos


@numba.njit(cache=True)
def _has_high_byte(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    out = np.zeros(len(starts), np.bool_)
    for r in range(len(starts)):
        for i in range(starts[r], ends[r]):
            if data[i] >= 0x80:
                out[r] = True
                break
    return out


class WordPieceTokenizer:
    """A BERT ``tokenizer.json``'s ids for a batch of texts, cut to ``max_tokens``: ASCII windows in numba, the rest
    through the tokenizers library (module docstring). ``token_ids`` equals the library's ``encode_batch``."""

    def __init__(self, path: str | Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        path = Path(path)
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            model, normalizer, pre = spec["model"], spec["normalizer"], spec["pre_tokenizer"]
            vocab: dict[str, int] = model["vocab"]
            prefix = model["continuing_subword_prefix"]
            unk, cls, sep = vocab[model["unk_token"]], vocab["[CLS]"], vocab["[SEP]"]
            self._added = [token["content"] for token in spec.get("added_tokens", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a BERT WordPiece tokenizer.json ({exc})") from exc
        expected = (model.get("type"), model.get("max_input_chars_per_word"), normalizer.get("type"),
                    normalizer.get("lowercase"), normalizer.get("clean_text"), pre.get("type"))
        if expected != ("WordPiece", MAX_WORD_CHARS, "BertNormalizer", True, True, "BertPreTokenizer"):
            raise ConfigError(f"{path}: WordPieceTokenizer reads lower-casing BERT tokenizers only; found "
                              f"(model, max chars, normalizer, lowercase, clean_text, pre-tokenizer) = {expected}")
        self.max_tokens = max_tokens
        self.unk, self.cls, self.sep = unk, cls, sep
        self.library = Tokenizer.from_file(str(path))
        self.library.no_padding()
        self.library.enable_truncation(max_tokens)
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
        size = 1 << int(np.ceil(np.log2(4 * len(keys))))
        self._table = _build_table(self._blob, self._offsets, self._continues, self._ids, size)
        self._classes = _byte_classes()

    def token_ids(self, texts: pa.Array | list[str], special_tokens: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, lengths)`` as ``encoder.token_ids``: each text's ids (with ``[CLS]`` and ``[SEP]`` unless
        ``special_tokens`` is false; a null reads as empty) in a zero-padded int64 row, and how many there are."""
        strings = pc.fill_null(as_string_array(texts), "")
        data, bounds = string_buffers(strings)
        starts, ends = bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64)
        wide = np.zeros((len(strings), self.max_tokens), np.int64)
        lengths = np.zeros(len(strings), np.int64)
        other = _has_high_byte(data, starts, ends)
        for token in self._added:
            other |= pc.match_substring(strings, token).fill_null(False).to_numpy(zero_copy_only=False)
        ascii_rows = np.flatnonzero(~other)
        _encode_ascii(data, starts, ends, ascii_rows, self._classes, self._table, self._blob, self._offsets,
                      self._continues, self._ids, self._longest, self.unk, self.cls, self.sep, special_tokens,
                      wide, lengths)
        rest = np.flatnonzero(other)
        if len(rest):
            for r, enc in zip(rest, self.library.encode_batch(strings.take(rest).to_pylist(),
                                                               add_special_tokens=special_tokens)):
                wide[r, :len(enc.ids)] = enc.ids
                lengths[r] = len(enc.ids)
        return wide[:, :int(lengths.max(initial=1))].copy(), lengths

"""Words too few training sources use, replaced by a placeholder of their shape.

A fastText classifier trained on a few dozen sources can fit each source by its own words (a
package's identifiers, a manual's topic words) and then leans less on the words the domains share.
Those source-own words never help on a new source: they are unknown there. With
``TrainConfig.min_sources = K`` every word seen in fewer than K training sources is replaced, in
training, by one of three placeholder tokens (``_rw_`` a word of ASCII letters, ``_rn_`` a word with
a digit, ``_ru_`` a word with a non-ASCII character), and the labeller replaces every word its
model does not know the same way. So the model learns from the words sources share, plus how many
rare words of which shape a window has (identifiers, numbers, another alphabet's words).

Measured on the shipped domain recipe (stop 35, ``benchmarks/README.md``): leave-one-source-out
macro-F1 on documents cut to 300 characters rose (0.782 -> 0.801 at K = 2) but on whole documents it
fell (0.856 -> 0.829: generated puzzle sources share few words and were read through placeholder
counts), and the prose quality model ranked left-out sources worse. The shipped models leave it off.

Lines here are the normalised ones of ``text_windows.fasttext_lines`` (tokens split by one space).
Each token is looked up by its 64-bit FNV-1a hash in a sorted array (numba, one pass over the bytes).

``known_fractions`` gives, per line, the share of its tokens a model knows (looked up in a ``hash_set`` of the
model's words): the domain labeller weighs fastText by it in its mix with the word model (stop 48, E33).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array, string_buffers

if TYPE_CHECKING:
    from midtrain.curation.labels.models import FastTextClassifier

RARE_WORD, RARE_NUMBER, RARE_UNICODE = "_rw_", "_rn_", "_ru_"
PLACEHOLDERS = (RARE_WORD, RARE_NUMBER, RARE_UNICODE)
_PLACEHOLDER_BYTES = np.frombuffer("".join(PLACEHOLDERS).encode(), np.uint8).reshape(3, 4)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@numba.njit(cache=True)
def fnv1a(data: np.ndarray, lo: int, hi: int) -> np.uint64:
    """64-bit FNV-1a hash of ``data[lo:hi]`` (numba; the word key of ``word_hashes`` and ``word_vectors``)."""
    h = _FNV_OFFSET
    for j in range(lo, hi):
        h = (h ^ np.uint64(data[j])) * _FNV_PRIME
    return h


@numba.njit(cache=True)
def _hash_strings(data: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    for i in range(len(offsets) - 1):
        out[i] = fnv1a(data, offsets[i], offsets[i + 1])


def string_hashes(words: list[str] | pa.Array) -> np.ndarray:
    """The 64-bit FNV-1a hash of each string's UTF-8 bytes, in order."""
    arr = pc.fill_null(as_string_array(words), "")
    data, offsets = string_buffers(arr)
    out = np.empty(len(arr), np.uint64)
    _hash_strings(data, offsets, out)
    return out


def word_hashes(words: list[str] | pa.Array) -> np.ndarray:
    """Sorted unique 64-bit hashes of ``words``: the set ``replace_rare`` keeps."""
    return np.unique(string_hashes(words))


@numba.njit(cache=True)
def _known(hashes: np.ndarray, h: np.uint64) -> bool:
    k = np.searchsorted(hashes, h)
    return k < len(hashes) and hashes[k] == h


@numba.njit(cache=True)
def _replace_rare(data: np.ndarray, offsets: np.ndarray, known: np.ndarray, marks: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each line with every token whose hash is not in ``known`` replaced by its placeholder."""
    n = len(offsets) - 1
    out = np.empty(max(1, (offsets[n] - offsets[0]) * 4 + n), np.uint8)  # a 1-byte token may become 4
    new_offsets = np.zeros(n + 1, np.int64)
    p = 0
    for i in range(n):
        j, hi = offsets[i], offsets[i + 1]
        first = True
        while j < hi:
            k = j
            while k < hi and data[k] != 32:
                k += 1
            if k > j:
                if not first:
                    out[p] = 32
                    p += 1
                first = False
                if _known(known, fnv1a(data, j, k)):
                    for m in range(j, k):
                        out[p] = data[m]
                        p += 1
                else:
                    shape = 0
                    for m in range(j, k):
                        if data[m] >= 128:
                            shape = 2
                            break
                        if 48 <= data[m] <= 57:
                            shape = 1
                    for m in range(4):
                        out[p] = marks[shape, m]
                        p += 1
            j = k + 1
        new_offsets[i + 1] = p
    return new_offsets, out[:p]


def replace_rare(lines: list[str] | pa.Array, known: np.ndarray) -> list[str] | pa.LargeStringArray:
    """``lines`` with every token not in ``known`` (``word_hashes``) replaced by its shape's placeholder:
    Python strings for Python strings, an Arrow array for an Arrow array."""
    as_list = isinstance(lines, list)
    if not len(lines):
        return [] if as_list else pa.array([], pa.large_string())
    arr = pc.fill_null(as_string_array(lines), "")
    data, offsets = string_buffers(arr)
    new_offsets, out = _replace_rare(data, offsets, np.ascontiguousarray(known, np.uint64), _PLACEHOLDER_BYTES)
    replaced = pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(new_offsets), pa.py_buffer(out))
    return replaced.to_pylist() if as_list else replaced


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True)
def hash_slot(key: int, mask: int) -> int:
    """The first row of an open-addressing table of ``mask + 1`` rows (a power of two) to probe for ``key``
    (Fibonacci hashing): ``hash_set`` here, and ``word_vectors``' word and merge tables."""
    return int((np.uint64(key) * _GOLDEN) >> np.uint64(40)) & mask


@numba.njit(cache=True)
def _fill_set(hashes: np.ndarray, table: np.ndarray) -> None:
    mask = len(table) - 1
    for k in range(len(hashes)):
        s = hash_slot(hashes[k], mask)
        while table[s, 1] != 0 and table[s, 0] != hashes[k]:
            s = (s + 1) & mask
        table[s, 0] = hashes[k]
        table[s, 1] = 1


def hash_set(hashes: np.ndarray) -> np.ndarray:
    """An open-addressing table of ``hashes`` (``word_hashes``) for ``known_fractions``: rows ``[hash, used]``,
    at least twice as many rows as hashes (a power of two), so a lookup reads one or two rows instead of
    a binary search's 17 over a model's vocabulary."""
    size = 1
    while size < 2 * len(hashes) + 1:
        size *= 2
    table = np.zeros((size, 2), np.uint64)
    _fill_set(np.ascontiguousarray(hashes, np.uint64), table)
    return table


@numba.njit(cache=True)
def _in_set(table: np.ndarray, h: np.uint64) -> bool:
    mask = len(table) - 1
    s = hash_slot(h, mask)
    while table[s, 1] != 0:
        if table[s, 0] == h:
            return True
        s = (s + 1) & mask
    return False


@numba.njit(cache=True)
def _known_fractions(data: np.ndarray, offsets: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    for i in range(len(offsets) - 1):
        j, hi = offsets[i], offsets[i + 1]
        total = 0
        hits = 0
        while j < hi:
            k = j
            while k < hi and data[k] != 32:
                k += 1
            if k > j:
                total += 1
                hits += _in_set(table, fnv1a(data, j, k))
            j = k + 1
        out[i] = hits / total if total else 1.0


def known_fractions(lines: list[str] | pa.Array, known: np.ndarray) -> np.ndarray:
    """Per line, the share of its tokens (split by one space) in ``known``, a ``hash_set`` of ``word_hashes``
    (a model's ``FastTextClassifier.word_set``): how much of a window the model has seen words of. 1.0 for a
    line without tokens."""
    if not len(lines):
        return np.zeros(0, np.float64)
    arr = pc.fill_null(as_string_array(lines), "")
    data, offsets = string_buffers(arr)
    out = np.empty(len(arr), np.float64)
    _known_fractions(data, offsets, known, out)
    return out


def words_in_groups(tokens: pa.ListArray, groups: list[str], min_groups: int) -> pa.LargeStringArray:
    """The distinct non-empty words of ``tokens`` (one list per text) that occur in at least ``min_groups``
    of the texts' ``groups`` (training sources), counted by Arrow's hash aggregation."""
    parents = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    group_ids = pc.dictionary_encode(pa.array(groups, pa.string())).indices.to_numpy(zero_copy_only=False)
    table = pa.table({"token": pc.list_flatten(tokens), "group": group_ids[parents]})
    counts = table.group_by("token").aggregate([("group", "count_distinct")])
    keep = pc.and_(pc.greater_equal(counts.column("group_count_distinct"), min_groups),
                   pc.not_equal(pc.binary_length(counts.column("token")), 0))
    return counts.column("token").filter(keep).combine_chunks().cast(pa.large_string())


def shared_words(lines: list[str], groups: list[str], min_groups: int) -> np.ndarray:
    """Hashes (``word_hashes``) of the tokens of ``lines`` that occur in at least ``min_groups`` groups
    (training sources), the placeholders always included."""
    if not lines:
        return word_hashes(list(PLACEHOLDERS))
    words = words_in_groups(pc.split_pattern(as_string_array(lines), " "), groups, min_groups)
    return word_hashes(pa.concat_arrays([words, pa.array(PLACEHOLDERS, pa.large_string())]))


def model_lines(classifier: FastTextClassifier, lines: list[str] | pa.Array) -> list[str] | pa.Array:
    """``lines`` as ``classifier`` reads them: a model trained with ``TrainConfig.min_sources`` (it knows
    the placeholder ``_rw_``) reads every word it does not know as its shape's placeholder."""
    if not classifier.knows(RARE_WORD):
        return lines
    return replace_rare(lines, classifier.word_hashes)

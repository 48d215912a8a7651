"""Gopher repetition rules (Rae et al. 2021, arXiv 2112.11446, appendix A, table A1), as datatrove
0.10.1's ``GopherRepetitionFilter`` applies them.

Signals, computed for a whole batch from the shared word splits: duplicated paragraphs (split at 2+
newlines) and lines (split at newlines) as a fraction of items and of characters; the characters of
the most frequent 2/3/4-gram (words joined by spaces) times its count; the characters covered by
repeated 5..10-grams, counted greedily left to right as the paper's reference does. All as fractions
of the document's characters.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.rules.charclass import LINE_FEED, SPACE, char_flags
from midtrain.curation.rules.family import Check, RuleFamily
from midtrain.curation.rules.hashing import BASE, hash_span
from midtrain.curation.rules.spans import count_code_point, duplicates, strip
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import WordSplits
from midtrain.curation.rules.wordstats import WordStats

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

# Table A1's values, as datatrove 0.10.1 sets them.
PARAMS = {
    "dup_para_frac": 0.3, "dup_para_char_frac": 0.2, "dup_line_frac": 0.3, "dup_line_char_frac": 0.2,
    "top_2_gram_frac": 0.20, "top_3_gram_frac": 0.18, "top_4_gram_frac": 0.16,
    "dup_5_gram_frac": 0.15, "dup_6_gram_frac": 0.14, "dup_7_gram_frac": 0.13, "dup_8_gram_frac": 0.12,
    "dup_9_gram_frac": 0.11, "dup_10_gram_frac": 0.10,
}

SCHEMA: dict[str, pa.DataType] = {
    "gopher_rep_dup_para_frac": pa.float64(),
    "gopher_rep_dup_para_char_frac": pa.float64(),
    "gopher_rep_dup_line_frac": pa.float64(),
    "gopher_rep_dup_line_char_frac": pa.float64(),
    **{f"gopher_rep_top_{n}_gram_frac": pa.float64() for n in TOP_NGRAMS},
    **{f"gopher_rep_dup_{n}_gram_frac": pa.float64() for n in DUP_NGRAMS},
}

# datatrove's order of checks and its reason names
CHECKS = (
    Check("empty", "rules_chars", "==", value=0),
    *(Check(name, f"gopher_rep_{name}", ">", name)
      for name in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")),
    *(Check(f"top_{n}_gram", f"gopher_rep_top_{n}_gram_frac", ">", f"top_{n}_gram_frac") for n in TOP_NGRAMS),
    *(Check(f"duplicated_{n}_n_grams", f"gopher_rep_dup_{n}_gram_frac", ">", f"dup_{n}_gram_frac")
      for n in DUP_NGRAMS),
)

_SPACE_HASH = np.uint64(SPACE + 1)  # hash_span of " "
_EMPTY_SLOT = np.uint64(0)  # a free slot of the n-gram hash table (a hash of 0 is stored as 1)
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: spreads hashes over the table's slots
_SLOT_SHIFT = np.uint64(20)


def signals(batch: TextBatch, words: WordSplits, stats: WordStats, *, top_ngrams: np.ndarray | None = None,
            dup_ngrams: bool = True) -> dict[str, np.ndarray]:
    """The ``SCHEMA`` columns of every document of the batch.

    Two savings for the chunk medians of long documents (chunks.py), which read a long document's top n-grams
    from its chunks and its duplicated n-grams from the whole: ``top_ngrams`` (a boolean per document) computes
    the top n-gram columns only where true (0 elsewhere), and ``dup_ngrams=False`` leaves every duplicated n-gram
    column 0. The two are a third of the work on long documents."""
    top_mask = np.ones(batch.num_docs, np.bool_) if top_ngrams is None else np.asarray(top_ngrams, np.bool_)
    para, para_chars, line, line_chars, top, dup = _repetition(
        batch.codepoints, batch.offsets, words.doc_offsets, stats.lengths, stats.hashes, stats.powers,
        char_flags(), np.array(TOP_NGRAMS, np.int64), np.array(DUP_NGRAMS if dup_ngrams else (), np.int64),
        top_mask)
    if not dup_ngrams:
        dup = np.zeros((batch.num_docs, len(DUP_NGRAMS)))
    out = {
        "gopher_rep_dup_para_frac": para,
        "gopher_rep_dup_para_char_frac": para_chars,
        "gopher_rep_dup_line_frac": line,
        "gopher_rep_dup_line_char_frac": line_chars,
    }
    for i, n in enumerate(TOP_NGRAMS):
        out[f"gopher_rep_top_{n}_gram_frac"] = top[:, i]
    for i, n in enumerate(DUP_NGRAMS):
        out[f"gopher_rep_dup_{n}_gram_frac"] = dup[:, i]
    return out


FAMILY = RuleFamily("gopher_repetition", PARAMS, SCHEMA, CHECKS, signals)


@nb.njit(cache=True, nogil=True)
def _pieces(cps, a, b, min_run, hashes, sizes):
    """Split ``[a, b)`` at runs of >= min_run newlines (as ``re.split``); hash every piece into
    ``hashes``, its length into ``sizes``. Returns the number of pieces."""
    n = 0
    start = a
    i = a
    while i < b:
        if cps[i] != LINE_FEED:
            i += 1
            continue
        j = i
        while j < b and cps[j] == LINE_FEED:
            j += 1
        if j - i >= min_run:
            hashes[n] = hash_span(cps, start, i)
            sizes[n] = i - start
            n += 1
            start = j
        i = j
    hashes[n] = hash_span(cps, start, b)
    sizes[n] = b - start
    return n + 1


@nb.njit(cache=True, nogil=True)
def _duplicated(cps, a, b, min_run, hashes, sizes):
    """(duplicate pieces / pieces, characters of duplicate pieces) of ``[a, b)`` split as ``_pieces``."""
    n = _pieces(cps, a, b, min_run, hashes, sizes)
    dups, chars = duplicates(hashes, sizes, n)
    return dups / n, chars


@nb.njit(cache=True, nogil=True)
def _top_ngram_chars(lengths, whash, wpow, w0, n_words, n_gram):
    """Characters of the most frequent n-gram (words joined by " ") times its count; ties go to the
    n-gram that occurs first. 0 when there are fewer than n words."""
    m = n_words - n_gram + 1
    if m <= 0:
        return 0
    grams = np.empty(m, np.uint64)
    for p in range(m):
        h = whash[w0 + p]
        for q in range(1, n_gram):
            h = (h * BASE + _SPACE_HASH) * wpow[w0 + p + q] + whash[w0 + p + q]
        grams[p] = h
    order = np.argsort(grams, kind="mergesort")
    best_count = 0
    best_first = m
    k = 0
    while k < m:
        g = k
        while g < m and grams[order[g]] == grams[order[k]]:
            g += 1
        first = order[k]  # stable sort: the group's first occurrence
        if g - k > best_count or (g - k == best_count and first < best_first):
            best_count, best_first = g - k, first
        k = g
    chars = n_gram - 1
    for q in range(n_gram):
        chars += lengths[w0 + best_first + q]
    return chars * best_count


@nb.njit(cache=True, nogil=True)
def _seen_before(table, h):
    """Whether hash ``h`` (non-zero) is in the open-addressing ``table``; inserts it when not."""
    mask = np.uint64(len(table) - 1)
    slot = ((h * _FIBONACCI) >> _SLOT_SHIFT) & mask
    while table[slot] != _EMPTY_SLOT:
        if table[slot] == h:
            return True
        slot = (slot + np.uint64(1)) & mask
    table[slot] = h
    return False


@nb.njit(cache=True, nogil=True)
def _dup_ngram_chars(lengths, whash, wpow, w0, n_words, n_gram):
    """Characters of the n-grams (words joined by "") that repeat an earlier one, scanning left to right
    and jumping past each repeat."""
    m = n_words - n_gram + 1
    if m <= 0:
        return 0
    size = 16
    while size < 2 * m:
        size *= 2
    table = np.zeros(size, np.uint64)
    repeated = 0
    p = 0
    while p < m:
        h = np.uint64(0)
        for q in range(n_gram):
            h = h * wpow[w0 + p + q] + whash[w0 + p + q]
        if not _seen_before(table, max(h, np.uint64(1))):
            p += 1
            continue
        for q in range(n_gram):
            repeated += lengths[w0 + p + q]
        p += n_gram
    return repeated


@nb.njit(cache=True, nogil=True)
def _repetition(cps, offsets, word_offsets, lengths, whash, wpow, flags, top_ns, dup_ns, top_mask):
    """Per document: duplicated paragraphs and lines (fraction, character fraction), then one column
    per ``top_ns`` (where ``top_mask``; 0 elsewhere) and per ``dup_ns`` n-gram size; an empty document scores 0
    everywhere."""
    n_docs = len(offsets) - 1
    para, para_chars = np.zeros(n_docs), np.zeros(n_docs)
    line, line_chars = np.zeros(n_docs), np.zeros(n_docs)
    top = np.zeros((n_docs, len(top_ns)))
    dup = np.zeros((n_docs, len(dup_ns)))
    for d in range(n_docs):
        a, b = offsets[d], offsets[d + 1]
        if b == a:
            continue
        n_items = count_code_point(cps, a, b, LINE_FEED) + 1
        hashes = np.empty(n_items, np.uint64)
        sizes = np.empty(n_items, np.int64)
        s, e = strip(cps, flags, a, b)  # paragraphs: the stripped text split at 2+ newlines
        frac, chars = _duplicated(cps, s, e, 2, hashes, sizes)
        para[d] = frac
        para_chars[d] = chars / (b - a)
        frac, chars = _duplicated(cps, a, b, 1, hashes, sizes)  # lines: the text split at newlines
        line[d] = frac
        line_chars[d] = chars / (b - a)
        w0, n_words = word_offsets[d], word_offsets[d + 1] - word_offsets[d]
        for i in range(len(top_ns) if top_mask[d] else 0):
            top[d, i] = _top_ngram_chars(lengths, whash, wpow, w0, n_words, top_ns[i]) / (b - a)
        for i in range(len(dup_ns)):
            dup[d, i] = _dup_ngram_chars(lengths, whash, wpow, w0, n_words, dup_ns[i]) / (b - a)
    return para, para_chars, line, line_chars, top, dup

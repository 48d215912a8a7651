"""Gopher quality rules (Rae et al. 2021, arXiv 2112.11446, appendix A, table A1), as datatrove 0.10.1's
``GopherQualityFilter`` applies them.

Signals, computed for a whole batch from the shared word splits: words that hold a non-punctuation
character (their count and mean length), "#" and ellipses per word, lines starting with a bullet or
ending with an ellipsis, words holding a letter, distinct stop words (wordlists.STOP_WORDS).

One signal follows the paper instead of datatrove: ``gopher_quality_alpha_ws_words_ratio``, the share of
whitespace-separated words (``str.split``) that hold a letter. datatrove's share counts every punctuation mark
its tokenizer splits off as a word without one, so a line of verse with four commas, a dictionary entry or a
manual's command list falls under 0.8. Its check (``min_alpha_ws_words_ratio``) is off in the published
parameters, which keep datatrove's decisions; a policy turns it on (``rules/thresholds.py``).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.rules.charclass import (BULLET, FULL_STOP, HORIZONTAL_ELLIPSIS, HYPHEN_MINUS, NUMBER_SIGN,
                                               char_flags)
from midtrain.curation.rules.family import Check, RuleFamily
from midtrain.curation.rules.spans import line_end, next_line, strip
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import WordSplits
from midtrain.curation.rules.wordstats import HAS_ALPHA, NON_SYMBOL, WordStats

# Table A1's values, as datatrove 0.10.1 sets them.
PARAMS = {
    "min_doc_words": 50, "max_doc_words": 100_000, "min_avg_word_length": 3, "max_avg_word_length": 10,
    "max_symbol_word_ratio": 0.1, "max_bullet_lines_ratio": 0.9, "max_ellipsis_lines_ratio": 0.3,
    "min_alpha_words_ratio": 0.8, "min_stop_words": 2,
    "min_alpha_ws_words_ratio": None,  # the paper's own definition (module docstring); off, as datatrove
}

SCHEMA: dict[str, pa.DataType] = {
    "gopher_quality_word_count": pa.int64(),
    "gopher_quality_mean_word_length": pa.float64(),
    "gopher_quality_hash_ratio": pa.float64(),
    "gopher_quality_ellipsis_ratio": pa.float64(),
    "gopher_quality_bullet_lines_ratio": pa.float64(),
    "gopher_quality_ellipsis_lines_ratio": pa.float64(),
    "gopher_quality_alpha_words_ratio": pa.float64(),
    "gopher_quality_stop_words": pa.int32(),
    "gopher_quality_alpha_ws_words_ratio": pa.float64(),
}

# datatrove's order of checks and its reason names
CHECKS = (
    Check("gopher_short_doc", "gopher_quality_word_count", "<", "min_doc_words"),
    Check("gopher_long_doc", "gopher_quality_word_count", ">", "max_doc_words"),
    Check("gopher_below_avg_threshold", "gopher_quality_mean_word_length", "<", "min_avg_word_length"),
    Check("gopher_above_avg_threshold", "gopher_quality_mean_word_length", ">", "max_avg_word_length"),
    Check("gopher_too_many_hashes", "gopher_quality_hash_ratio", ">", "max_symbol_word_ratio"),
    Check("gopher_too_many_ellipsis", "gopher_quality_ellipsis_ratio", ">", "max_symbol_word_ratio"),
    Check("gopher_too_many_bullets", "gopher_quality_bullet_lines_ratio", ">", "max_bullet_lines_ratio"),
    Check("gopher_too_many_end_ellipsis", "gopher_quality_ellipsis_lines_ratio", ">", "max_ellipsis_lines_ratio"),
    Check("gopher_below_alpha_threshold", "gopher_quality_alpha_words_ratio", "<", "min_alpha_words_ratio"),
    # the same rule over whitespace-separated words (the paper's); off unless a policy sets it
    Check("gopher_below_alpha_threshold", "gopher_quality_alpha_ws_words_ratio", "<", "min_alpha_ws_words_ratio"),
    Check("gopher_enough_stop_words", "gopher_quality_stop_words", "<", "min_stop_words"),
)


def signals(batch: TextBatch, words: WordSplits, stats: WordStats) -> dict[str, np.ndarray]:
    """The ``SCHEMA`` columns of every document of the batch."""
    (word_count, mean_length, hash_ratio, ellipsis_ratio, bullet_ratio, ellipsis_lines, alpha_ratio,
     stop_words, alpha_ws_ratio) = _quality(batch.codepoints, batch.offsets, words.doc_offsets, words.starts,
                                            words.ends, stats.lengths, stats.kinds, stats.stop_word, char_flags())
    return {
        "gopher_quality_word_count": word_count,
        "gopher_quality_mean_word_length": mean_length,
        "gopher_quality_hash_ratio": hash_ratio,
        "gopher_quality_ellipsis_ratio": ellipsis_ratio,
        "gopher_quality_bullet_lines_ratio": bullet_ratio,
        "gopher_quality_ellipsis_lines_ratio": ellipsis_lines,
        "gopher_quality_alpha_words_ratio": alpha_ratio,
        "gopher_quality_stop_words": stop_words.astype(np.int32),
        "gopher_quality_alpha_ws_words_ratio": alpha_ws_ratio,
    }


FAMILY = RuleFamily("gopher_quality", PARAMS, SCHEMA, CHECKS, signals)


@nb.njit(cache=True, nogil=True)
def _word_counts(lengths, kinds, stop_word, w0, w1):
    """(non-symbol words, their total length, words with a letter, distinct stop words) of words w0..w1."""
    n_ns = 0
    total = 0
    n_alpha = 0
    seen = 0
    for w in range(w0, w1):
        if kinds[w] & NON_SYMBOL:
            n_ns += 1
            total += lengths[w]
        if kinds[w] & HAS_ALPHA:
            n_alpha += 1
        if stop_word[w] >= 0:
            seen |= 1 << stop_word[w]
    distinct = 0
    while seen:
        distinct += seen & 1
        seen >>= 1
    return n_ns, total, n_alpha, distinct


@nb.njit(cache=True, nogil=True)
def _whitespace_words(starts, ends, kinds, w0, w1):
    """(whitespace-separated words, those holding a letter) of words w0..w1. The words tile each
    whitespace-delimited chunk, so a chunk starts wherever a word does not begin where the last one ended."""
    chunks = 0
    alpha = 0
    has_alpha = False
    for w in range(w0, w1):
        if w == w0 or starts[w] != ends[w - 1]:
            chunks += 1
            alpha += has_alpha
            has_alpha = False
        has_alpha = has_alpha or (kinds[w] & HAS_ALPHA) != 0
    alpha += has_alpha
    return chunks, alpha


@nb.njit(cache=True, nogil=True)
def _hashes_and_ellipses(cps, a, b):
    """(number of "#", number of "…" plus non-overlapping "...") in ``[a, b)``."""
    hashes = 0
    ellipses = 0
    i = a
    while i < b:
        c = cps[i]
        if c == NUMBER_SIGN:
            hashes += 1
        elif c == HORIZONTAL_ELLIPSIS:
            ellipses += 1
        elif c == FULL_STOP and i + 2 < b and cps[i + 1] == FULL_STOP and cps[i + 2] == FULL_STOP:
            ellipses += 1
            i += 2
        i += 1
    return hashes, ellipses


@nb.njit(cache=True, nogil=True, inline="always")
def _ends_with_ellipsis(cps, s, e):
    return e > s and (cps[e - 1] == HORIZONTAL_ELLIPSIS or (e - 3 >= s and cps[e - 1] == FULL_STOP
                                                          and cps[e - 2] == FULL_STOP and cps[e - 3] == FULL_STOP))


@nb.njit(cache=True, nogil=True)
def _bullet_and_ellipsis_lines(cps, flags, a, b):
    """(lines, lines starting with "•" or "-", lines ending with an ellipsis) of ``[a, b)``, after
    stripping each line (lines as ``str.splitlines()`` cuts them)."""
    n_lines = 0
    bullets = 0
    ending = 0
    i = a
    while i < b:
        j = line_end(cps, flags, i, b)
        n_lines += 1
        s, e = strip(cps, flags, i, j)
        if s < e and (cps[s] == BULLET or cps[s] == HYPHEN_MINUS):
            bullets += 1
        if _ends_with_ellipsis(cps, s, e):
            ending += 1
        i = next_line(cps, j, b)
    return n_lines, bullets, ending


@nb.njit(cache=True, nogil=True)
def _quality(cps, offsets, word_offsets, starts, ends, lengths, kinds, stop_word, flags):
    """The ``SCHEMA`` columns per document, in ``SCHEMA`` order."""
    n_docs = len(offsets) - 1
    word_count = np.zeros(n_docs, np.int64)
    mean_length = np.full(n_docs, np.nan)
    hash_ratio = np.zeros(n_docs)
    ellipsis_ratio = np.zeros(n_docs)
    bullet_ratio = np.zeros(n_docs)
    ellipsis_lines = np.zeros(n_docs)
    alpha_ratio = np.zeros(n_docs)
    stop_words = np.zeros(n_docs, np.int64)
    alpha_ws_ratio = np.zeros(n_docs)
    for d in range(n_docs):
        w0, w1 = word_offsets[d], word_offsets[d + 1]
        n_ns, total, n_alpha, n_stop = _word_counts(lengths, kinds, stop_word, w0, w1)
        word_count[d] = n_ns
        stop_words[d] = n_stop
        if n_ns:
            mean_length[d] = total / n_ns
        hashes, ellipses = _hashes_and_ellipses(cps, offsets[d], offsets[d + 1])
        if w1 > w0:
            hash_ratio[d] = hashes / (w1 - w0)
            ellipsis_ratio[d] = ellipses / (w1 - w0)
            alpha_ratio[d] = n_alpha / (w1 - w0)
        n_lines, bullets, ending = _bullet_and_ellipsis_lines(cps, flags, offsets[d], offsets[d + 1])
        if n_lines:
            bullet_ratio[d] = bullets / n_lines
            ellipsis_lines[d] = ending / n_lines
        n_ws, n_ws_alpha = _whitespace_words(starts, ends, kinds, w0, w1)
        if n_ws:
            alpha_ws_ratio[d] = n_ws_alpha / n_ws
    return (word_count, mean_length, hash_ratio, ellipsis_ratio, bullet_ratio, ellipsis_lines, alpha_ratio, stop_words,
            alpha_ws_ratio)

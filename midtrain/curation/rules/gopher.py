"""Gopher quality and repetition signals (Rae et al. 2021, arXiv 2112.11446, appendix A, table A1).

Signals only; the thresholds live in thresholds.py. Each signal is what datatrove 0.10.1's
``GopherQualityFilter`` / ``GopherRepetitionFilter`` compare against their thresholds, computed for a
whole batch from the shared word splits:

quality: words that hold a non-punctuation character (count, mean length), "#" and ellipses per word,
lines starting with a bullet / ending with an ellipsis, words holding a letter, distinct stop words.
repetition: duplicated paragraphs (split at 2+ newlines) and lines (split at newlines) as a fraction of
items and of characters, the most frequent 2/3/4-gram's characters, and characters covered by
repeated 5..10-grams (counted greedily left to right, as the paper's reference does).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.rules.charclass import LINEBREAK, WS, char_flags
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import BASE, WordSplits
from midtrain.curation.rules.wordstats import HAS_ALPHA, NON_SYMBOL, WordStats

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

QUALITY_SCHEMA: dict[str, pa.DataType] = {
    "gopher_quality_word_count": pa.int64(),
    "gopher_quality_mean_word_length": pa.float64(),
    "gopher_quality_hash_ratio": pa.float64(),
    "gopher_quality_ellipsis_ratio": pa.float64(),
    "gopher_quality_bullet_lines_ratio": pa.float64(),
    "gopher_quality_ellipsis_lines_ratio": pa.float64(),
    "gopher_quality_alpha_words_ratio": pa.float64(),
    "gopher_quality_stop_words": pa.int32(),
}
REPETITION_SCHEMA: dict[str, pa.DataType] = {
    "gopher_rep_dup_para_frac": pa.float64(),
    "gopher_rep_dup_para_char_frac": pa.float64(),
    "gopher_rep_dup_line_frac": pa.float64(),
    "gopher_rep_dup_line_char_frac": pa.float64(),
    **{f"gopher_rep_top_{n}_gram_frac": pa.float64() for n in TOP_NGRAMS},
    **{f"gopher_rep_dup_{n}_gram_frac": pa.float64() for n in DUP_NGRAMS},
}


def gopher_signals(batch: TextBatch, words: WordSplits, stats: WordStats) -> dict[str, np.ndarray]:
    """Both Gopher signal families for every document of the batch."""
    flags = char_flags()
    q = _quality(batch.codepoints, batch.offsets, words.doc_offsets, stats.lengths, stats.kinds,
                 stats.stop_word, flags)
    r = _repetition(batch.codepoints, batch.offsets, words.doc_offsets, stats.lengths, stats.hashes,
                    stats.powers, np.array(TOP_NGRAMS, np.int64), np.array(DUP_NGRAMS, np.int64))
    out = {"gopher_quality_word_count": q[0], "gopher_quality_stop_words": q[7].astype(np.int32)}
    for i, name in enumerate(list(QUALITY_SCHEMA)[1:7], start=1):
        out[name] = q[i]
    for i, name in enumerate(REPETITION_SCHEMA):
        out[name] = r[:, i]
    return out


@nb.njit(cache=True, nogil=True)
def _quality(cps, offsets, word_offsets, lengths, kinds, stop_word, flags):
    n_docs = len(offsets) - 1
    word_count = np.zeros(n_docs, np.int64)
    mean_len = np.full(n_docs, np.nan)
    hash_ratio = np.zeros(n_docs)
    ellipsis_ratio = np.zeros(n_docs)
    bullet_ratio = np.zeros(n_docs)
    ellipsis_lines = np.zeros(n_docs)
    alpha_ratio = np.zeros(n_docs)
    stop_words = np.zeros(n_docs, np.int64)
    for d in range(n_docs):
        w0, w1 = word_offsets[d], word_offsets[d + 1]
        n_words = w1 - w0
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
        word_count[d] = n_ns
        if n_ns:
            mean_len[d] = total / n_ns
        while seen:
            stop_words[d] += seen & 1
            seen >>= 1
        a, b = offsets[d], offsets[d + 1]
        hashes = 0
        ellipses = 0
        i = a
        while i < b:
            c = cps[i]
            if c == 35:  # "#"
                hashes += 1
            elif c == 0x2026:  # "…"
                ellipses += 1
            elif c == 46 and i + 2 < b and cps[i + 1] == 46 and cps[i + 2] == 46:  # "..." (non-overlapping)
                ellipses += 1
                i += 3
                continue
            i += 1
        if n_words:
            hash_ratio[d] = hashes / n_words
            ellipsis_ratio[d] = ellipses / n_words
            alpha_ratio[d] = n_alpha / n_words
        # lines as str.splitlines() cuts them ("\r\n" is one break; no empty line after a final break)
        n_lines = 0
        bullets = 0
        ending = 0
        i = a
        while i < b:
            j = i
            while j < b and not flags[cps[j]] & LINEBREAK:
                j += 1
            n_lines += 1
            s = i
            while s < j and flags[cps[s]] & WS:
                s += 1
            if s < j and (cps[s] == 0x2022 or cps[s] == 45):  # "•" or "-"
                bullets += 1
            e = j
            while e > i and flags[cps[e - 1]] & WS:
                e -= 1
            if e > i and (cps[e - 1] == 0x2026 or (e - 3 >= i and cps[e - 1] == 46 and cps[e - 2] == 46
                                                   and cps[e - 3] == 46)):
                ending += 1
            if j < b and cps[j] == 13 and j + 1 < b and cps[j + 1] == 10:
                j += 1
            i = j + 1
        if n_lines:
            bullet_ratio[d] = bullets / n_lines
            ellipsis_lines[d] = ending / n_lines
    return word_count, mean_len, hash_ratio, ellipsis_ratio, bullet_ratio, ellipsis_lines, alpha_ratio, stop_words


@nb.njit(cache=True, nogil=True, inline="always")
def _span_hash(cps, a, b):
    h = np.uint64(0)
    for i in range(a, b):
        h = h * BASE + np.uint64(cps[i]) + np.uint64(1)
    return h


@nb.njit(cache=True, nogil=True)
def _duplicates(hashes, sizes, n):
    """(duplicate items, their characters) among the first n items: every repeat after the first."""
    order = np.argsort(hashes[:n])
    dups = 0
    chars = 0
    for k in range(1, n):
        if hashes[order[k]] == hashes[order[k - 1]]:
            dups += 1
            chars += sizes[order[k]]
    return dups, chars


@nb.njit(cache=True, nogil=True)
def _pieces(cps, a, b, min_run, hashes, sizes):
    """Split [a, b) at runs of >= min_run newlines (as re.split); hash every piece. Returns the count."""
    n = 0
    start = a
    i = a
    while i < b:
        if cps[i] == 10:
            j = i
            while j < b and cps[j] == 10:
                j += 1
            if j - i >= min_run:
                hashes[n] = _span_hash(cps, start, i)
                sizes[n] = i - start
                n += 1
                start = j
            i = j
        else:
            i += 1
    hashes[n] = _span_hash(cps, start, b)
    sizes[n] = b - start
    return n + 1


@nb.njit(cache=True, nogil=True)
def _repetition(cps, offsets, word_offsets, lengths, whash, wpow, top_ns, dup_ns):
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, 4 + len(top_ns) + len(dup_ns)))
    space = np.uint64(32 + 1)
    for d in range(n_docs):
        a, b = offsets[d], offsets[d + 1]
        n_chars = b - a
        if n_chars == 0:
            continue
        n_newlines = 0
        for i in range(a, b):
            if cps[i] == 10:
                n_newlines += 1
        hashes = np.empty(n_newlines + 1, np.uint64)
        sizes = np.empty(n_newlines + 1, np.int64)
        # paragraphs: the stripped text split at 2+ newlines
        s, e = a, b
        while s < e and _is_ws(cps[s]):
            s += 1
        while e > s and _is_ws(cps[e - 1]):
            e -= 1
        n = _pieces(cps, s, e, 2, hashes, sizes)
        dups, chars = _duplicates(hashes, sizes, n)
        out[d, 0] = dups / n
        out[d, 1] = chars / n_chars
        n = _pieces(cps, a, b, 1, hashes, sizes)
        dups, chars = _duplicates(hashes, sizes, n)
        out[d, 2] = dups / n
        out[d, 3] = chars / n_chars
        w0, w1 = word_offsets[d], word_offsets[d + 1]
        n_words = w1 - w0
        col = 4
        for n_gram in top_ns:  # " ".join(n-gram): the most frequent one's characters x its count
            m = n_words - n_gram + 1
            if m > 0:
                gh = np.empty(m, np.uint64)
                for p in range(m):
                    h = whash[w0 + p]
                    for q in range(1, n_gram):
                        h = (h * BASE + space) * wpow[w0 + p + q] + whash[w0 + p + q]
                    gh[p] = h
                order = np.argsort(gh, kind="mergesort")
                best_count = 0
                best_first = m
                best_pos = 0
                k = 0
                while k < m:
                    g = k
                    while g < m and gh[order[g]] == gh[order[k]]:
                        g += 1
                    count = g - k
                    first = order[k]  # stable sort: the group's first occurrence
                    if count > best_count or (count == best_count and first < best_first):
                        best_count, best_first, best_pos = count, first, first
                    k = g
                chars = n_gram - 1
                for q in range(n_gram):
                    chars += lengths[w0 + best_pos + q]
                out[d, col] = chars * best_count / n_chars
            col += 1
        for n_gram in dup_ns:  # "".join(n-gram): characters of repeats, skipping past each repeat
            m = n_words - n_gram + 1
            if m > 0:
                size = 16
                while size < 2 * m:
                    size *= 2
                table = np.zeros(size, np.uint64)
                mask = np.uint64(size - 1)
                repeated = 0
                p = 0
                while p < m:
                    h = np.uint64(0)
                    for q in range(n_gram):
                        h = h * wpow[w0 + p + q] + whash[w0 + p + q]
                    if h == 0:
                        h = np.uint64(1)
                    slot = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)
                    slot &= mask
                    found = False
                    while table[slot] != 0:
                        if table[slot] == h:
                            found = True
                            break
                        slot = (slot + np.uint64(1)) & mask
                    if found:
                        for q in range(n_gram):
                            repeated += lengths[w0 + p + q]
                        p += n_gram
                    else:
                        table[slot] = h
                        p += 1
                out[d, col] = repeated / n_chars
            col += 1
    return out


@nb.njit(cache=True, nogil=True, inline="always")
def _is_ws(c):
    # str.strip() whitespace; the flag table is not passed here to keep the signature plain
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31 or c == 0x85 or c == 0xA0 or c == 0x1680 \
        or 0x2000 <= c <= 0x200A or c == 0x2028 or c == 0x2029 or c == 0x202F or c == 0x205F or c == 0x3000

"""C4 signals (Raffel et al. 2020, JMLR 21, section 2.2), as datatrove 0.10.1's ``C4QualityFilter``
applies them with its defaults.

C4 keeps only lines that end in terminal punctuation (. ? ! " ', not "..."), have at least 3 words, no
word over 1,000 characters, and no "javascript" or cookie/terms-of-use phrase (after removing
Wikipedia-style citations such as "[1]" or "[edit]"). The document-level signals are the number of
sentences in the kept lines (a sentence ends at a "." "!" "?" word followed by a non-punctuation word,
as spaCy's sentencizer cuts them) and whether a kept line says "lorem ipsum" or holds a "{". The
line-level settings are part of the signal's definition; ``min_num_sentences`` and the two switches
are thresholds.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.rules.charclass import LINEBREAK, WS, char_flags
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import WordSplits
from midtrain.curation.rules.wordstats import IS_PUNCT, SENT_END, WordStats

MIN_WORDS_PER_LINE = 3  # C4: "only retained lines that contained at least 3 words"
MAX_WORD_LENGTH = 1000  # c4_utils.py in tensorflow_datasets: lines with a longer word are dropped
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies")

SCHEMA: dict[str, pa.DataType] = {
    "c4_sentences": pa.int32(),
    "c4_lorem_ipsum": pa.bool_(),
    "c4_curly_bracket": pa.bool_(),
}


def _pattern_table(patterns) -> tuple[np.ndarray, np.ndarray]:
    flat = np.array([ord(c) for p in patterns for c in p], dtype=np.uint32)
    offsets = np.cumsum([0] + [len(p) for p in patterns]).astype(np.int64)
    return flat, offsets


_LOREM = _pattern_table(["lorem ipsum"])
_JAVASCRIPT = _pattern_table(["javascript"])
_POLICY = _pattern_table(POLICY_SUBSTRINGS)


def c4_signals(batch: TextBatch, words: WordSplits, stats: WordStats) -> dict[str, np.ndarray]:
    sentences, lorem, curly = _c4(batch.codepoints, batch.offsets, words.starts, words.ends, words.doc_offsets,
                                  stats.kinds, char_flags(), *_LOREM, *_JAVASCRIPT, *_POLICY)
    return {"c4_sentences": sentences, "c4_lorem_ipsum": lorem, "c4_curly_bracket": curly}


@nb.njit(cache=True, nogil=True)
def _contains_ci(cps, s, e, flat, offsets):
    """Whether [s, e), ASCII-lowercased, contains any of the patterns."""
    for p in range(len(offsets) - 1):
        p0, p1 = offsets[p], offsets[p + 1]
        m = p1 - p0
        for i in range(s, e - m + 1):
            ok = True
            for j in range(m):
                c = cps[i + j]
                if 65 <= c <= 90:
                    c += 32
                if c != flat[p0 + j]:
                    ok = False
                    break
            if ok:
                return True
    return False


@nb.njit(cache=True, nogil=True)
def _citation_end(cps, s, e):
    """Start of a citation ("[12]", "[]", "[edit]", "[citation needed]") ending at e, else -1."""
    if e - s < 2 or cps[e - 1] != 93:
        return -1
    i = e - 2
    while i >= s and 48 <= cps[i] <= 57:
        i -= 1
    if i >= s and cps[i] == 91:
        return i
    for word in ("[edit]", "[citation needed]"):
        n = len(word)
        if e - s >= n:
            ok = True
            for j in range(n):
                if cps[e - n + j] != ord(word[j]):
                    ok = False
                    break
            if ok:
                return e - n
    return -1


@nb.njit(cache=True, nogil=True)
def _citations(cps, s, e):
    """[start, end) spans of the citations in line [s, e), left to right (one pass over the line)."""
    spans = np.empty((0, 2), np.int64)
    n_close = 0
    for i in range(s, e):
        if cps[i] == 93:
            n_close += 1
    if n_close == 0:
        return spans
    spans = np.empty((n_close, 2), np.int64)
    n = 0
    last = s
    for i in range(s, e):
        if cps[i] == 93:
            start = _citation_end(cps, last, i + 1)
            if start >= 0:
                spans[n, 0] = start
                spans[n, 1] = i + 1
                n += 1
                last = i + 1
    return spans[:n]


@nb.njit(cache=True, nogil=True)
def _c4(cps, offsets, wstarts, wends, word_offsets, kinds, flags, lorem, lorem_off, js, js_off, pol, pol_off):
    n_docs = len(offsets) - 1
    sentences = np.zeros(n_docs, np.int32)
    has_lorem = np.zeros(n_docs, np.bool_)
    has_curly = np.zeros(n_docs, np.bool_)
    for d in range(n_docs):
        a, b = offsets[d], offsets[d + 1]
        w = word_offsets[d]
        w_end = word_offsets[d + 1]
        i = a
        while i < b:
            j = i
            while j < b and not flags[cps[j]] & LINEBREAK:
                j += 1
            s, e = i, j
            while s < e and flags[cps[s]] & WS:
                s += 1
            while e > s and flags[cps[e - 1]] & WS:
                e -= 1
            # whitespace-separated words of the stripped line (str.split)
            n_split = 0
            too_long = False
            k = s
            while k < e:
                if flags[cps[k]] & WS:
                    k += 1
                    continue
                m = k
                while m < e and not flags[cps[m]] & WS:
                    m += 1
                n_split += 1
                if m - k > MAX_WORD_LENGTH:
                    too_long = True
                k = m
            keep = not too_long
            if keep:  # terminal punctuation, after trailing citations are removed
                end = e
                while True:
                    c0 = _citation_end(cps, s, end)
                    if c0 < 0:
                        break
                    end = c0
                if end <= s:
                    keep = False
                else:
                    c = cps[end - 1]
                    keep = c == 46 or c == 63 or c == 33 or c == 34 or c == 39
                    if c == 46 and end - s >= 3 and cps[end - 2] == 46 and cps[end - 3] == 46:
                        keep = False
            if keep and n_split < MIN_WORDS_PER_LINE:
                keep = False
            if keep:
                if _contains_ci(cps, s, e, lorem, lorem_off):
                    has_lorem[d] = True
                if _contains_ci(cps, s, e, js, js_off):
                    keep = False
            if keep:
                for k in range(s, e):
                    if cps[k] == 123:  # "{"
                        has_curly[d] = True
                        break
                if _contains_ci(cps, s, e, pol, pol_off):
                    keep = False
            # advance to this line's words; count its sentences if it is kept
            while w < w_end and wstarts[w] < s:
                w += 1
            if keep:
                count = 0
                seen_end = False
                cites = _citations(cps, s, e)
                c = 0
                while w < w_end and wends[w] <= e:
                    while c < len(cites) and cites[c, 1] <= wstarts[w]:
                        c += 1
                    if not (c < len(cites) and cites[c, 0] <= wstarts[w]):
                        if count == 0:
                            count = 1
                        kind = kinds[w]
                        if seen_end and not kind & IS_PUNCT and not kind & SENT_END:
                            count += 1
                            seen_end = False
                        elif kind & SENT_END:
                            seen_end = True
                    w += 1
                sentences[d] += count
            if j < b and cps[j] == 13 and j + 1 < b and cps[j + 1] == 10:
                j += 1
            i = j + 1
    return sentences, has_lorem, has_curly

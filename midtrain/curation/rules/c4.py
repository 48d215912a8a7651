"""C4 rules (Raffel et al. 2020, JMLR 21, section 2.2), as datatrove 0.10.1's ``C4QualityFilter``
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

from midtrain.curation.rules.charclass import (APOSTROPHE, DIGIT_NINE, DIGIT_ZERO, EXCLAMATION_MARK, FULL_STOP,
                                               LEFT_CURLY_BRACKET, LEFT_SQUARE_BRACKET, QUESTION_MARK,
                                               QUOTATION_MARK, RIGHT_SQUARE_BRACKET, char_flags)
from midtrain.curation.rules.family import Check, RuleFamily
from midtrain.curation.rules.spans import (contains_ci, count_code_point, has_code_point, line_end, matches_at,
                                           next_chunk, next_line, pattern_table, strip)
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import WordSplits
from midtrain.curation.rules.wordstats import IS_PUNCT, SENT_END, WordStats

MIN_WORDS_PER_LINE = 3  # C4: "only retained lines that contained at least 3 words"
MAX_WORD_LENGTH = 1000  # c4_utils.py in tensorflow_datasets: lines with a longer word are dropped
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies")
CITATION_WORDS = ("[edit]", "[citation needed]")  # besides "[12]" and "[]"

# datatrove's C4QualityFilter defaults
PARAMS = {"filter_lorem_ipsum": True, "filter_curly_bracket": True, "min_num_sentences": 5}

SCHEMA: dict[str, pa.DataType] = {
    "c4_sentences": pa.int32(),
    "c4_lorem_ipsum": pa.bool_(),
    "c4_curly_bracket": pa.bool_(),
}

# datatrove's order of checks and its reason names
CHECKS = (
    Check("lorem_ipsum", "c4_lorem_ipsum", "flag", "filter_lorem_ipsum"),
    Check("curly_bracket", "c4_curly_bracket", "flag", "filter_curly_bracket"),
    Check("too_few_sentences", "c4_sentences", "<", "min_num_sentences"),
)

# The substrings C4 looks for, as (code points, offsets) tables. The kernels read them as module
# constants (numba freezes them into the compiled code; they live in this file, so its cache follows
# them): passed as arguments through the per-line helpers, they cost a reference count each, which
# measured 1.4x slower.
_LOREM, _LOREM_OFF = pattern_table(["lorem ipsum"])
_JS, _JS_OFF = pattern_table(["javascript"])
_POLICY, _POLICY_OFF = pattern_table(POLICY_SUBSTRINGS)
_CITES, _CITES_OFF = pattern_table(CITATION_WORDS)


def signals(batch: TextBatch, words: WordSplits, stats: WordStats) -> dict[str, np.ndarray]:
    """The ``SCHEMA`` columns of every document of the batch."""
    sentences, lorem, curly = _c4(batch.codepoints, batch.offsets, words.starts, words.ends, words.doc_offsets,
                                  stats.kinds, char_flags())
    return {"c4_sentences": sentences, "c4_lorem_ipsum": lorem, "c4_curly_bracket": curly}


FAMILY = RuleFamily("c4", PARAMS, SCHEMA, CHECKS, signals)


@nb.njit(cache=True, nogil=True, inline="always")
def _citation_start(cps, s, e):
    """Start of a citation ("[12]", "[]", "[edit]", "[citation needed]") ending at ``e``, else -1."""
    if e - s < 2 or cps[e - 1] != RIGHT_SQUARE_BRACKET:
        return -1
    i = e - 2
    while i >= s and DIGIT_ZERO <= cps[i] <= DIGIT_NINE:
        i -= 1
    if i >= s and cps[i] == LEFT_SQUARE_BRACKET:
        return i
    for p in range(len(_CITES_OFF) - 1):
        n = _CITES_OFF[p + 1] - _CITES_OFF[p]
        if e - s >= n and matches_at(cps, e - n, _CITES, _CITES_OFF[p], _CITES_OFF[p + 1]):
            return e - n
    return -1


@nb.njit(cache=True, nogil=True)
def _citations(cps, s, e):
    """``[start, end)`` rows of the citations in line ``[s, e)``, left to right."""
    n_close = count_code_point(cps, s, e, RIGHT_SQUARE_BRACKET)
    spans = np.empty((n_close, 2), np.int64)
    n = 0
    last = s
    for i in range(s, e):
        if cps[i] != RIGHT_SQUARE_BRACKET:
            continue
        start = _citation_start(cps, last, i + 1)
        if start >= 0:
            spans[n, 0] = start
            spans[n, 1] = i + 1
            n += 1
            last = i + 1
    return spans[:n]


@nb.njit(cache=True, nogil=True, inline="always")
def _split_words(cps, flags, s, e):
    """(number of whitespace-separated words of ``[s, e)``, whether one is over MAX_WORD_LENGTH)."""
    n = 0
    too_long = False
    start, end = next_chunk(cps, flags, s, e)
    while start < end:
        n += 1
        too_long |= end - start > MAX_WORD_LENGTH
        start, end = next_chunk(cps, flags, end, e)
    return n, too_long


@nb.njit(cache=True, nogil=True, inline="always")
def _ends_terminal(cps, s, e):
    """Whether ``[s, e)`` ends in . ? ! " or ' (but not "...") once trailing citations are removed."""
    start = _citation_start(cps, s, e)
    while start >= 0:
        e = start
        start = _citation_start(cps, s, e)
    if e <= s:
        return False
    c = cps[e - 1]
    if c == FULL_STOP:
        # "..." once every citation is gone: the two characters before, skipping citations that end there
        # ("...[1]." is an ellipsis to C4, whose regex removes the citation from the whole line)
        p = e - 1
        for _ in range(2):
            start = _citation_start(cps, s, p)
            while start >= 0:
                p = start
                start = _citation_start(cps, s, p)
            if p <= s or cps[p - 1] != FULL_STOP:
                return True
            p -= 1
        return False
    return c == QUESTION_MARK or c == EXCLAMATION_MARK or c == QUOTATION_MARK or c == APOSTROPHE


@nb.njit(cache=True, nogil=True, inline="always")
def _judge_line(cps, flags, s, e):
    """(kept, says "lorem ipsum", holds "{") for the stripped line ``[s, e)``; the last two only count
    as far as the line gets through C4's line filters, in their order."""
    n_words, too_long = _split_words(cps, flags, s, e)
    if too_long or not _ends_terminal(cps, s, e) or n_words < MIN_WORDS_PER_LINE:
        return False, False, False
    has_lorem = contains_ci(cps, s, e, _LOREM, _LOREM_OFF)
    if contains_ci(cps, s, e, _JS, _JS_OFF):
        return False, has_lorem, False
    has_curly = has_code_point(cps, s, e, LEFT_CURLY_BRACKET)
    return not contains_ci(cps, s, e, _POLICY, _POLICY_OFF), has_lorem, has_curly


@nb.njit(cache=True, nogil=True, inline="always")
def _sentences(cps, s, e, wstarts, wends, kinds, w, w_end):
    """(sentences, next word) of the words ``w..w_end`` that lie in line ``[s, e)``, skipping the words
    inside citations: a sentence starts at the first word and after each sentence-final word, at the
    next word that is not punctuation."""
    found = _citations(cps, s, e)
    count = 0
    seen_end = False
    c = 0
    while w < w_end and wends[w] <= e:
        while c < len(found) and found[c, 1] <= wstarts[w]:
            c += 1
        inside = c < len(found) and found[c, 0] <= wstarts[w]
        kind = kinds[w]
        w += 1
        if inside:
            continue
        count = max(count, 1)
        if seen_end and not kind & IS_PUNCT and not kind & SENT_END:
            count += 1
            seen_end = False
        elif kind & SENT_END:
            seen_end = True
    return count, w


@nb.njit(cache=True, nogil=True)
def _c4(cps, offsets, wstarts, wends, word_offsets, kinds, flags):
    """(sentences, lorem ipsum, curly bracket) per document, line by line."""
    n_docs = len(offsets) - 1
    sentences = np.zeros(n_docs, np.int32)
    has_lorem = np.zeros(n_docs, np.bool_)
    has_curly = np.zeros(n_docs, np.bool_)
    for d in range(n_docs):
        b = offsets[d + 1]
        w, w_end = word_offsets[d], word_offsets[d + 1]
        i = offsets[d]
        while i < b:
            j = line_end(cps, flags, i, b)
            s, e = strip(cps, flags, i, j)
            kept, says_lorem, curly = _judge_line(cps, flags, s, e)
            has_lorem[d] |= says_lorem
            has_curly[d] |= curly
            while w < w_end and wstarts[w] < s:  # this line's first word
                w += 1
            if kept:
                count, w = _sentences(cps, s, e, wstarts, wends, kinds, w, w_end)
                sentences[d] += count
            i = next_line(cps, j, b)
    return sentences, has_lorem, has_curly

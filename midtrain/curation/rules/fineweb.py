"""FineWeb quality rules (Penedo et al. 2024, arXiv 2406.17557, section 3.3), as datatrove 0.10.1's
``FineWebQualityFilter`` applies them.

Signals over the non-blank lines (split at "\\n"): the fraction ending in terminal punctuation, the
fraction of at most 30 characters, the characters in repeated lines over all non-newline characters,
and newlines per word (FineWeb's "list ratio").
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.rules.charclass import LINE_FEED, TERMINAL, WS, char_flags
from midtrain.curation.rules.family import Check, RuleFamily
from midtrain.curation.rules.hashing import hash_span
from midtrain.curation.rules.spans import count_code_point, duplicates
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import WordSplits
from midtrain.curation.rules.wordstats import WordStats

SHORT_LINE_LENGTH = 30  # FineWeb: a line of at most 30 characters is "short"

# datatrove's FineWebQualityFilter defaults
PARAMS = {
    "line_punct_thr": 0.12, "line_punct_exclude_zero": False, "short_line_thr": 0.67,
    "char_duplicates_ratio": 0.01, "new_line_ratio": 0.3,
}

SCHEMA: dict[str, pa.DataType] = {
    "fineweb_lines": pa.int64(),
    "fineweb_line_punct_ratio": pa.float64(),
    "fineweb_short_line_ratio": pa.float64(),
    "fineweb_char_dup_ratio": pa.float64(),
    "fineweb_list_ratio": pa.float64(),
}

# datatrove's order of checks and its reason names
CHECKS = (
    Check("empty", "fineweb_lines", "==", value=0),
    Check("line_punct_ratio", "fineweb_line_punct_ratio", "<", "line_punct_thr",
          exempt_zero="line_punct_exclude_zero"),
    Check("short_line_ratio", "fineweb_short_line_ratio", ">", "short_line_thr"),
    Check("char_dup_ratio", "fineweb_char_dup_ratio", ">", "char_duplicates_ratio"),
    Check("list_ratio", "fineweb_list_ratio", ">", "new_line_ratio"),
)


def signals(batch: TextBatch, words: WordSplits, stats: WordStats) -> dict[str, np.ndarray]:
    """The ``SCHEMA`` columns of every document of the batch."""
    lines, punct, short, dup, list_ratio = _fineweb(batch.codepoints, batch.offsets, words.doc_offsets,
                                                    char_flags())
    return {"fineweb_lines": lines, "fineweb_line_punct_ratio": punct, "fineweb_short_line_ratio": short,
            "fineweb_char_dup_ratio": dup, "fineweb_list_ratio": list_ratio}


FAMILY = RuleFamily("fineweb", PARAMS, SCHEMA, CHECKS, signals)


@nb.njit(cache=True, nogil=True, inline="always")
def _is_blank(cps, flags, i, j):
    """Whether ``[i, j)`` holds only whitespace."""
    for k in range(i, j):
        if not flags[cps[k]] & WS:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _nonblank_lines(cps, flags, a, b, hashes, sizes):
    """(non-blank lines, of which ending in terminal punctuation, of which short) of ``[a, b)`` split
    at "\\n"; every non-blank line's hash and length go to ``hashes`` and ``sizes``."""
    n = 0
    n_punct = 0
    n_short = 0
    i = a
    while i <= b:
        j = i
        while j < b and cps[j] != LINE_FEED:
            j += 1
        if not _is_blank(cps, flags, i, j):
            hashes[n] = hash_span(cps, i, j)
            sizes[n] = j - i
            n += 1
            if flags[cps[j - 1]] & TERMINAL:
                n_punct += 1
            if j - i <= SHORT_LINE_LENGTH:
                n_short += 1
        i = j + 1
    return n, n_punct, n_short


@nb.njit(cache=True, nogil=True)
def _fineweb(cps, offsets, word_offsets, flags):
    """The ``SCHEMA`` columns per document, in ``SCHEMA`` order."""
    n_docs = len(offsets) - 1
    lines = np.zeros(n_docs, np.int64)
    punct = np.zeros(n_docs)
    short = np.zeros(n_docs)
    dup = np.zeros(n_docs)
    list_ratio = np.zeros(n_docs)
    for d in range(n_docs):
        a, b = offsets[d], offsets[d + 1]
        newlines = count_code_point(cps, a, b, LINE_FEED)
        hashes = np.empty(newlines + 1, np.uint64)
        sizes = np.empty(newlines + 1, np.int64)
        n, n_punct, n_short = _nonblank_lines(cps, flags, a, b, hashes, sizes)
        lines[d] = n
        if n == 0:
            continue
        punct[d] = n_punct / n
        short[d] = n_short / n
        dup[d] = duplicates(hashes, sizes, n)[1] / (b - a - newlines)
        n_words = word_offsets[d + 1] - word_offsets[d]
        list_ratio[d] = newlines / n_words if n_words else np.inf
    return lines, punct, short, dup, list_ratio

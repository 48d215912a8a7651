"""FineWeb quality signals (Penedo et al. 2024, arXiv 2406.17557, section 3.3), as datatrove 0.10.1's
``FineWebQualityFilter`` computes them.

Over the non-blank lines (split at "\\n"): the fraction ending in terminal punctuation, the fraction
of at most 30 characters, the characters in repeated lines over all non-newline characters, and
newlines per word (FineWeb's "list ratio").
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.rules.charclass import TERMINAL, WS, char_flags
from midtrain.curation.rules.gopher import _duplicates, _span_hash
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import WordSplits

SHORT_LINE_LENGTH = 30  # FineWeb: a line of at most 30 characters is "short"

SCHEMA: dict[str, pa.DataType] = {
    "fineweb_lines": pa.int64(),
    "fineweb_line_punct_ratio": pa.float64(),
    "fineweb_short_line_ratio": pa.float64(),
    "fineweb_char_dup_ratio": pa.float64(),
    "fineweb_list_ratio": pa.float64(),
}


def fineweb_signals(batch: TextBatch, words: WordSplits) -> dict[str, np.ndarray]:
    out = _fineweb(batch.codepoints, batch.offsets, words.doc_offsets, char_flags())
    return dict(zip(SCHEMA, out))


@nb.njit(cache=True, nogil=True)
def _fineweb(cps, offsets, word_offsets, flags):
    n_docs = len(offsets) - 1
    lines = np.zeros(n_docs, np.int64)
    punct = np.zeros(n_docs)
    short = np.zeros(n_docs)
    dup = np.zeros(n_docs)
    list_ratio = np.zeros(n_docs)
    for d in range(n_docs):
        a, b = offsets[d], offsets[d + 1]
        newlines = 0
        for i in range(a, b):
            if cps[i] == 10:
                newlines += 1
        hashes = np.empty(newlines + 1, np.uint64)
        sizes = np.empty(newlines + 1, np.int64)
        n = 0
        n_punct = 0
        n_short = 0
        i = a
        while i <= b:
            j = i
            while j < b and cps[j] != 10:
                j += 1
            blank = True
            for k in range(i, j):
                if not flags[cps[k]] & WS:
                    blank = False
                    break
            if not blank:
                hashes[n] = _span_hash(cps, i, j)
                sizes[n] = j - i
                n += 1
                if flags[cps[j - 1]] & TERMINAL:
                    n_punct += 1
                if j - i <= SHORT_LINE_LENGTH:
                    n_short += 1
            i = j + 1
        lines[d] = n
        if n == 0:
            continue
        punct[d] = n_punct / n
        short[d] = n_short / n
        dups, chars = _duplicates(hashes, sizes, n)
        dup[d] = chars / (b - a - newlines)
        n_words = word_offsets[d + 1] - word_offsets[d]
        list_ratio[d] = newlines / n_words if n_words else np.inf
    return lines, punct, short, dup, list_ratio

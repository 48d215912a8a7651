"""Finding eval-item n-grams in documents, and cutting the overlapping spans out.

:func:`find_hits` is one numba pass per record batch: every word n-gram of every document is
looked up (binary search) in the sorted eval index; a hit is ``(document, first word, item)``.
It runs on the normalised text (:mod:`.normalize`). Documents without hits (nearly all) cost one
hash and one search per word. :func:`cut_spans` removes, from a contaminated document, the
original bytes from the first to the last word of each run of overlapping matched n-grams, leaving
the rest of the text as it was.
"""

from __future__ import annotations

import re

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.shingles import ngram_hashes_into, word_hashes_into


@nb.njit(cache=True)
def find_hits(data: np.ndarray, offsets: np.ndarray, n: int, eval_hashes: np.ndarray,
              eval_items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(doc, word, item)`` for every document n-gram equal to an n-gram of an eval item.

    Documents with fewer than ``n`` words are not searched (a short text can only match a whole
    n-gram, never a fragment of one).
    """
    docs = len(offsets) - 1
    longest = 0
    for d in range(docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    words = np.empty((longest + 1) // 2 + 1, np.uint64)
    grams = np.empty((longest + 1) // 2 + 1, np.uint64)
    hit_doc = []
    hit_word = []
    hit_item = []
    for d in range(docs):
        num_words = word_hashes_into(data, offsets[d], offsets[d + 1], False, words)
        if num_words < n:
            continue
        count = ngram_hashes_into(words, num_words, n, grams)
        for j in range(count):
            lo = np.searchsorted(eval_hashes, grams[j])
            while lo < len(eval_hashes) and eval_hashes[lo] == grams[j]:
                hit_doc.append(d)
                hit_word.append(j)
                hit_item.append(eval_items[lo])
                lo += 1
    return np.array(hit_doc, np.int64), np.array(hit_word, np.int64), np.array(hit_item, np.int64)


def cut_spans(text: str, first_words: np.ndarray, n: int) -> tuple[str, list[tuple[int, int]]]:
    """``text`` without the spans covered by the n-grams starting at ``first_words``.

    ``first_words`` index the words of the normalised text. Normalisation never joins or splits
    across whitespace, so each whitespace-separated token of ``text``, normalised alone, gives
    its share of those words; a span runs from the start of its first word's token to the end of
    its last word's. Returns the new text and the cut ``(start, end)`` byte ranges of the original
    UTF-8 text. Should the tokens not add up to the whole text's words (a combining mark after a
    space), the whole text is one span, so the document is dropped rather than cut wrongly.
    """
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    normal = normalize_texts(pa.array([text] + [text[s:e] for s, e in tokens], pa.large_string())).to_pylist()
    owner = np.repeat(np.arange(len(tokens)), [len(t.split()) for t in normal[1:]])
    if len(owner) != len(normal[0].split()):
        return "", [(0, len(text.encode()))]
    char_spans: list[tuple[int, int]] = []
    for w in np.unique(first_words).tolist():
        s, e = tokens[owner[w]][0], tokens[owner[min(w + n, len(owner)) - 1]][1]
        if char_spans and s <= char_spans[-1][1]:
            char_spans[-1] = (char_spans[-1][0], max(char_spans[-1][1], e))
        else:
            char_spans.append((s, e))
    pieces, at = [], 0
    for s, e in char_spans:
        pieces.append(text[at:s])
        at = e
    pieces.append(text[at:])
    spans = [(len(text[:s].encode()), len(text[:e].encode())) for s, e in char_spans]
    return "".join(pieces), spans

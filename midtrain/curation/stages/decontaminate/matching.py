"""Finding eval-item n-grams in documents, and cutting the overlapping spans out.

:func:`find_hits` is one numba pass per record batch: every word n-gram of every document is
looked up (binary search) in the sorted eval index; a hit is ``(document, first word, item)``.
Documents without hits (nearly all) cost one hash and one search per word. :func:`cut_spans`
removes, from a contaminated document, the bytes from the first to the last word of each run of
overlapping matched n-grams, leaving the rest of the text as it was.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from midtrain.curation.stages.shingles import ngram_hashes_into, word_hashes_into, word_spans


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

    Returns the new text and the cut ``(start, end)`` byte ranges of the original UTF-8 text.
    Word boundaries fall on ASCII separators, so every cut is on a character boundary.
    """
    raw = text.encode()
    data = np.frombuffer(raw, np.uint8)
    starts, ends = word_spans(data, 0, len(raw))
    firsts = np.unique(first_words)
    spans: list[tuple[int, int]] = []
    for w in firsts.tolist():
        last = min(w + n, len(starts)) - 1
        s, e = int(starts[w]), int(ends[last])
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    pieces, at = [], 0
    for s, e in spans:
        pieces.append(raw[at:s])
        at = e
    pieces.append(raw[at:])
    return b"".join(pieces).decode(), spans

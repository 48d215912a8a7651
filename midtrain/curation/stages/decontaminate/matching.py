"""Finding eval-item n-grams in documents, mapping them back to the original text, cutting them out.

:func:`find_hits` is one numba pass per record batch: every word n-gram of every document, for
each n-gram length the index holds (``ngram``, and the lengths of short items), is looked up
(binary search) in the sorted eval index; a hit is ``(document, first word, index entry)``. It runs
on the normalised text (:mod:`.normalize`). Documents without hits (nearly all) cost one hash and
one search per word and length. :func:`find_hits_reference` is its plain-Python twin (a dict
instead of binary search, each n-gram hashed on its own) that the tests compare it with.

:func:`word_offsets` maps the words of a normalised text back to character offsets of the
original, which the report's spans, ``--explain`` and :func:`cut_spans` use: cutting removes the
original text from the first to the last word of each run of overlapping matched n-grams.
"""

from __future__ import annotations

import re

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.shingles import document_ngrams, ngram_hashes_into, word_hashes_into


@nb.njit(cache=True)
def find_hits(data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
              eval_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(doc, word, entry)`` for every document n-gram equal to the index entry ``entry``.

    ``lengths`` are the n-gram lengths to hash (ascending). A document with fewer words than a
    length is not searched at that length (a short text can only match a whole n-gram).
    """
    docs = len(offsets) - 1
    longest = 0
    for d in range(docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    words = np.empty((longest + 1) // 2 + 1, np.uint64)
    grams = np.empty((longest + 1) // 2 + 1, np.uint64)
    hit_doc = []
    hit_word = []
    hit_entry = []
    for d in range(docs):
        num_words = word_hashes_into(data, offsets[d], offsets[d + 1], False, words)
        for n in lengths:
            if num_words < n:
                break
            count = ngram_hashes_into(words, num_words, n, grams)
            for j in range(count):
                lo = np.searchsorted(eval_hashes, grams[j])
                while lo < len(eval_hashes) and eval_hashes[lo] == grams[j]:
                    hit_doc.append(d)
                    hit_word.append(j)
                    hit_entry.append(lo)
                    lo += 1
    return np.array(hit_doc, np.int64), np.array(hit_word, np.int64), np.array(hit_entry, np.int64)


def find_hits_reference(normalised: list[str], lengths: list[int],
                        eval_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`find_hits` in plain Python: each n-gram's words joined and hashed alone, a dict lookup."""
    where: dict[int, list[int]] = {}
    for k, h in enumerate(eval_hashes.tolist()):
        where.setdefault(h, []).append(k)
    out = []
    for d, text in enumerate(normalised):
        words = text.split()
        for n in lengths:
            for j in range(len(words) - n + 1):
                raw = " ".join(words[j:j + n]).encode()
                (h,) = document_ngrams(np.frombuffer(raw, np.uint8), 0, len(raw), n, False).tolist()
                out += [(d, j, k) for k in where.get(h, [])]
    arr = np.array(out, np.int64).reshape(-1, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def word_offsets(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(start, end)`` character offsets in ``text`` of each word of its normalised form.

    Normalisation never joins or splits across whitespace, so each whitespace-separated token of
    ``text``, normalised alone, gives its share of the words; a word's offsets are its token's.
    ``None`` should the tokens not add up to the whole text's words (a combining mark after a space).
    """
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    normal = normalize_texts(pa.array([text] + [text[s:e] for s, e in tokens], pa.large_string())).to_pylist()
    owner = np.repeat(np.arange(len(tokens)), [len(t.split()) for t in normal[1:]])
    if len(owner) != len(normal[0].split()):
        return None
    bounds = np.array(tokens, np.int64).reshape(-1, 2)
    return bounds[owner, 0], bounds[owner, 1]


def cut_spans(text: str, first_words: np.ndarray, n: int | np.ndarray) -> tuple[str, list[tuple[int, int]]]:
    """``text`` without the spans covered by the n-grams starting at ``first_words`` (``n`` words each,
    or ``n[k]`` words for ``first_words[k]``).

    ``first_words`` index the words of the normalised text (:func:`word_offsets`); a span runs from
    the start of its first word's token to the end of its last word's. Returns the new text and the
    cut ``(start, end)`` byte ranges of the original UTF-8 text. Should the words not map back, the
    whole text is one span, so the document is dropped rather than cut wrongly.
    """
    offsets = word_offsets(text)
    if offsets is None:
        return "", [(0, len(text.encode()))]
    starts, ends = offsets
    first_words = np.asarray(first_words, np.int64)
    last_words = np.minimum(first_words + np.broadcast_to(np.asarray(n, np.int64), first_words.shape),
                            len(starts)) - 1
    char_spans: list[tuple[int, int]] = []
    for k in np.argsort(first_words, kind="stable").tolist():
        s, e = int(starts[first_words[k]]), int(ends[last_words[k]])
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

"""Scoring the evaluation items found in a document: IDF-weighted share, the answer nearby, short items whole.

For every document and every item *part* (one text field of an item) whose n-grams it holds:

- **share**: the summed IDF weights of the part's distinct n-grams found in the document over the
  sum of all its weights (:mod:`.eval_sets`: ``log(1 + N / df)`` over the ``N`` indexed items), so
  a whole copy scores 1 and a phrase that many items share adds little. An item's share is its best part's.
- **answer near**: the item's answer (numbers kept, :func:`.eval_sets.answer_words`) occurs as whole
  words, in order, within ``ANSWER_WINDOW`` characters of the matched span: ``+ ANSWER_BONUS``. An
  answer shorter than ``ANSWER_MIN_CHARS`` characters (``7``, ``b``) is too common to be evidence.
- **score** = ``min(1, share + bonus)``; the document is contaminated by the item when the score
  reaches ``DecontConfig.min_score`` (0.5 by default).

The rule reported for each item says which evidence decided it:

==========================  =====================================================================
``short-exact``             a short item (fewer than ``ngram`` words, at least ``short_min_words``):
                            its one n-gram is the whole question, so only a whole copy (after
                            normalisation) matches and the share is 1
``whole-exact``             a formula item (no n-gram of enough content words, :mod:`.eval_sets`):
                            every one of its n-grams is found (share 1); less never contaminates
``ngram-share``             the share alone reaches ``min_score``
``ngram-share+answer``      the share reaches ``min_score - ANSWER_BONUS`` and the answer is near
``below-threshold``         n-grams found but not enough (kept; shown by ``--explain`` only)
==========================  =====================================================================

Thresholds, chosen before the held-out benchmark run (``benchmarks/bench_decont_perturb.py``, dev
split): ``min_score`` 0.5 lies between GPT-3's "any 13-gram" (one shared sentence removes a
document) and PaLM's "70% of the 8-grams"; with the answer near, a quarter of the question
(``ANSWER_BONUS`` 0.25) suffices, as a question quoted in part next to its answer is still the item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from midtrain.curation.stages.decontaminate.config import DecontConfig
from midtrain.curation.stages.decontaminate.eval_sets import EvalIndex, answer_words
from midtrain.curation.stages.decontaminate.matching import find_hits, word_offsets
from midtrain.curation.stages.shingles import arrow_buffers

ANSWER_BONUS = 0.25
"""Added to an item's share when its answer is near the match."""
ANSWER_WINDOW = 1000
"""Characters either side of the matched span searched for the answer (about 150 words)."""
ANSWER_MIN_CHARS = 2
"""Answers shorter than this (``7``, ``b``) occur everywhere and never add the bonus."""

RULES = ("short-exact", "whole-exact", "ngram-share", "ngram-share+answer", "below-threshold")
WHOLE = 1 - 1e-9
"""The share a whole part (short or formula item) must reach: all of it (less a rounding error)."""


@dataclass(frozen=True)
class ItemMatch:
    """One evaluation item found in one document, and why it does or does not contaminate it."""

    doc: int
    """Row of the document in its batch."""
    item: int
    """Index of the item in the :class:`EvalIndex`."""
    part: int
    """The item's best part (text field)."""
    share: float
    score: float
    answer_near: bool
    rule: str
    contaminated: bool
    first_words: np.ndarray = field(repr=False)
    """First normalised word of each distinct matched n-gram of the part, ascending."""
    length: int
    """Words per matched n-gram."""
    span: tuple[int, int] | None
    """Character offsets ``[start, end)`` in the original text from the first to the last matched
    word (``None`` when the words cannot be mapped back, or when not computed)."""


def part_shares(docs: np.ndarray, entries: np.ndarray, index: EvalIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(doc, part, share)`` for every document and part with a hit, sorted by document then part.

    Each distinct index entry counts once per document, however often its n-gram recurs there.
    """
    if not len(docs):
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    num_entries, num_parts = len(index.hashes), len(index.part_item)
    pairs = np.unique(docs * num_entries + entries)
    doc, entry = pairs // num_entries, pairs % num_entries
    keys, inverse = np.unique(doc * num_parts + index.entry_part[entry], return_inverse=True)
    sums = np.bincount(inverse, weights=index.entry_weight[entry])
    part = keys % num_parts
    return keys // num_parts, part, np.minimum(sums / index.part_total[part], 1.0)


def part_shares_reference(docs: np.ndarray, entries: np.ndarray, index: EvalIndex) -> dict[tuple[int, int], float]:
    """:func:`part_shares` in plain Python: ``{(doc, part): share}``."""
    found: dict[tuple[int, int], set[int]] = {}
    for d, e in zip(docs.tolist(), entries.tolist()):
        found.setdefault((d, int(index.entry_part[e])), set()).add(e)
    return {key: min(1.0, sum(float(index.entry_weight[e]) for e in es) / float(index.part_total[key[1]]))
            for key, es in found.items()}


def answer_near(text: str, span: tuple[int, int], answer: str) -> bool:
    """Whether ``answer`` (words joined by spaces) occurs as whole words within ``ANSWER_WINDOW`` of ``span``."""
    if len(answer) < ANSWER_MIN_CHARS:
        return False
    window = text[max(0, span[0] - ANSWER_WINDOW):span[1] + ANSWER_WINDOW]
    return f" {answer} " in " " + " ".join(answer_words(window)) + " "


def score_batch(texts: pa.Array, normalised: pa.Array, index: EvalIndex, config: DecontConfig, *,
                keep_below: bool = False) -> dict[int, list[ItemMatch]]:
    """The items contaminating each document of a batch, best first (``{row: [ItemMatch, ...]}``).

    ``texts`` are the original documents, ``normalised`` their :func:`.normalize.normalize_texts`
    form. Documents without a contaminating item are left out; with ``keep_below`` every item found
    is listed, contaminating or not (``--explain``).
    """
    docs, words, entries = find_hits(*arrow_buffers(normalised), index.lengths, index.hashes)
    doc, part, share = part_shares(docs, entries, index)
    if not len(doc):
        return {}
    item = index.part_item[part]
    # the best part of each (doc, item): sort by doc, item, then share descending
    order = np.lexsort((-share, item, doc))
    doc, part, share, item = doc[order], part[order], share[order], item[order]
    first = np.ones(len(doc), bool)
    first[1:] = (doc[1:] != doc[:-1]) | (item[1:] != item[:-1])
    doc, part, share, item = doc[first], part[first], share[first], item[first]
    has_answer = np.array([len(index.item_answer[i]) >= ANSWER_MIN_CHARS for i in item.tolist()], bool)
    whole = index.part_whole[part]
    wanted = np.where(whole, share >= WHOLE,
                      (share >= config.min_score) | (has_answer & (share >= config.min_score - ANSWER_BONUS)))
    if not keep_below:
        doc, part, share, item = doc[wanted], part[wanted], share[wanted], item[wanted]
    hit_part = index.entry_part[entries]
    out: dict[int, list[ItemMatch]] = {}
    offsets_of: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
    for d, p, s, i in zip(doc.tolist(), part.tolist(), share.tolist(), item.tolist()):
        lo, hi = np.searchsorted(docs, d), np.searchsorted(docs, d, side="right")
        firsts = np.unique(words[lo:hi][hit_part[lo:hi] == p])
        length = int(index.part_length[p])
        if d not in offsets_of:
            offsets_of[d] = word_offsets(texts[d].as_py() or "")
        offsets = offsets_of[d]
        span = None if offsets is None else (int(offsets[0][firsts[0]]), int(offsets[1][firsts[-1] + length - 1]))
        whole = bool(index.part_whole[p])
        near = span is not None and not whole and answer_near(texts[d].as_py() or "", span, index.item_answer[i])
        score = min(1.0, s + ANSWER_BONUS * near)
        contaminated = s >= WHOLE if whole else score >= config.min_score
        if not contaminated:
            rule = "below-threshold"
        elif whole:
            rule = "short-exact" if length < config.ngram else "whole-exact"
        elif s >= config.min_score:
            rule = "ngram-share"
        else:
            rule = "ngram-share+answer"
        out.setdefault(d, []).append(ItemMatch(d, i, p, s, score, near, rule, contaminated, firsts, length, span))
    for d in list(out):
        out[d].sort(key=lambda m: (-m.score, m.item))
        if not keep_below and not any(m.contaminated for m in out[d]):
            del out[d]
    return out

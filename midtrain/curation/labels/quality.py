"""Quality on a 0-5 scale that ranks documents *within* their type (prose, code, math).

A quality classifier trained on "edited prose against web text" (DCLM's recipe, midtrain 0.1)
sorts documents by type as much as by quality: it scored most math and code, and even edited
manuals, below its threshold. midtrain scores each document with the model of its type
(``QUALITY_TYPES``: web, reasoning and unknown are prose; code; math). Each model is a fastText
classifier over six grades, trained on real documents of that type and on the same documents with
damage of known severity (``scripts/labeldata/quality_grades.py``: truncation, injected boilerplate,
duplicated lines, shuffled lines, word salad and keyword stuffing) plus real junk. The score is:

    s = [P(g0), ..., P(g5), duplicated_line_fraction, clean_end, word_order, line_order,
         repetition, short_lines, unmatched_closings, left_open, cohesion_by_line, cohesion_by_sentence]
    quality_score = clip(w · [s, s_i * s_j for every i <= j, 1], 0, 5)

where ``P(gk)`` are the model's grade probabilities, and the structural signals (numba kernels) see what
a bag of n-grams over a window cannot: lines repeated far apart and text cut off mid-sentence (over the
whole document), and over its first 8 KiB, words or lines out of their written order (a full stop
followed by a lower-case word or line) and a few words repeated over and over (keyword stuffing), and
the share of short lines (menus, link lists, footers), and over the whole document brackets closed
before they were opened (lines out of order in code and LaTeX) or left open at the end (a file cut off),
and over the first 8 KiB, how much more neighbouring sentences share words than sentences a few apart
(cohesion: sentences or lines in random order share no more); these carry over to sources the fastText
model never saw, since they measure the text's order and shape, not its vocabulary. The products of
pairs of signals let the combiner weigh one signal by another (shuffled lines count where the vocabulary
looks clean); it stays a closed-form fit. ``w`` is fitted by ridge least squares on *out-of-source*
grade probabilities: each training example scored by a fastText model trained without its source (five
folds of whole sources), so ``w`` says how far the model's vocabulary can be trusted on a source it
never saw, and how much the structural signals must carry (fitted on unseen documents of *seen* sources,
as before, it trusted the vocabulary too much, and new sources scored lower than training ones); the
ridge penalty is the one that ranks a training source left out of the fit best. ``w`` is stored next to
the model (``quality-<type>.json``). The code and math combiners are instead gradient-boosted trees over the
same sixteen signals (:mod:`~midtrain.curation.labels.tree_combiner`, stop 60), fitted on the same out-of-source
probabilities: they rank a training source left out of their fit better (Spearman code 0.749 -> 0.836, math
0.606 -> 0.723); prose gained 0.007 with trees and keeps its ridge. ``quality_tier`` is the score rounded to
an integer (0-5); schedules and ``refilter`` select by tier. The keep decision is ``quality_reject_reasons``, per
domain.

Spam is not damage: fluent marketing reads like edited prose to a model of damage grades. So a spam model
(``quality-spam.ftz``: real contact-form spam against the intact documents the prose model grades and package
READMEs) caps the prose score of a document not labelled reasoning at ``5 * (1 - P(spam))`` where P(spam) reaches
the gate its training chose (``damp_spam``): at most 2.0 at the shipped gate 0.6, under every prose threshold. On by
default since stop 58 wherever the family has a spam model (``spam=None``); ``spam=False`` turns it off.
"""

from __future__ import annotations

import copy
import functools
import json
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.models import MODELS_DIR, load_classifier
from midtrain.curation.labels.rare_words import model_lines
from midtrain.curation.labels.text_windows import as_string_array, string_buffers, windows_and_lines
from midtrain.curation.labels.tree_combiner import TreeCombiner
from midtrain.curation.labels.tree_combiner import from_card as tree_from_card

QUALITY_SIGNAL_SCHEMA: dict[str, pa.DataType] = {
    "quality_score": pa.float32(),   # 0-5, calibrated to the graded labels
    "quality_tier": pa.int8(),       # round(quality_score): 0 (junk) .. 5 (edited, intact)
    "quality_type": pa.string(),     # which model scored it: prose, code or math
}
QUALITY_TYPES: dict[str, str] = {"web": "prose", "reasoning": "prose", "unknown": "prose", "long": "prose",
                                 "code": "code", "math": "math"}
"""Domain -> quality model; a domain not listed (a user's own label) is scored as prose."""
GRADES = 6
SHORT_LINE_BYTES = 30
"""A line at most this long (first to last visible byte) is short (FineWeb's ``short_line_length``)."""
OLD_COMBINER_SIZE = GRADES + 3
"""Weights of a combiner fitted before the order signals: grades, duplicated lines, clean end, constant."""
ORDER_COMBINER_SIZE = GRADES + 6
"""Weights of a combiner fitted before the short-line signal: the above and word order, line order,
repetition."""
SHORT_LINE_COMBINER_SIZE = GRADES + 7
"""Weights of a linear combiner fitted before the bracket signals: the above and short lines."""
SIGNALS = GRADES + 8
"""The combiner's signals: six grade probabilities, duplicated lines, clean end, word order, line
order, repetition, short lines, unmatched closing brackets, brackets left open."""
QUADRATIC_COMBINER_SIZE = SIGNALS + SIGNALS * (SIGNALS + 1) // 2 + 1
"""Weights of a combiner fitted from stop 30 to 39: every signal, every product of two signals (squares
included), and the constant."""
COHESION_SIGNALS = SIGNALS + 2
"""The combiners' signals since stop 40: the above and the two cohesion signals of :func:`order_signals`."""
COHESION_COMBINER_SIZE = COHESION_SIGNALS + COHESION_SIGNALS * (COHESION_SIGNALS + 1) // 2 + 1
"""Weights of the shipped combiners: the quadratic combiner over ``COHESION_SIGNALS`` signals."""

# Chosen on training sources only, on their out-of-source scores (``scripts/train_default_classifiers.py``
# writes the table into quality-prose.json, "thresholds"): web, the lowest of 1.0, 1.25, ..., 3.5 at
# which at least 90% of intact edited prose is kept and at least 85% of real spam, SEO pages and word
# salad dropped, or if none reaches both the one with the smallest shortfall (2.5: 90.9% / 89.1%;
# 2.25 drops 82.3%); reasoning (scored by the prose model, which rates solution traces lower), the
# highest at which at least 90% of intact reasoning documents are kept (2.0: 93.1%; 2.25 keeps 89.8%).
# The good documents' scores come from combiners fitted without their source, the junk's from the
# combiner fitted on every source (stop 69's E89: the good sources a corpus brings are new, its junk is of
# kinds the model learnt). Until then both read the latter, which said 90.2% of the reasoning is kept at
# 2.5 where, left out, 84.7% is; web stayed 2.5.
# Stop 39 retrained the prose model once the training junk no longer read the held-out SOTU addresses
# (scripts/labeldata/junk_sources.py, base_sources); stop 40 refitted its combiner with the cohesion
# signals. Before: web 2.25 and reasoning 2.25 (stop 38), web 2.5 and reasoning 2.0 (stop 39), web 2.5 and
# reasoning 2.5 (stops 40-68).
DEFAULT_QUALITY_THRESHOLDS: dict[str, float] = {"web": 2.5, "reasoning": 2.0}


def domain_values(domains: Sequence[str | None] | pa.Array | np.ndarray) -> np.ndarray:
    """The domains as an object array of strings, null as ``""``."""
    if isinstance(domains, np.ndarray):
        return domains
    dom = pa.array(domains, pa.string()) if not isinstance(domains, (pa.Array, pa.ChunkedArray)) else domains
    return np.asarray(pc.fill_null(dom.cast(pa.string()), "").to_numpy(zero_copy_only=False), dtype=object)


def quality_type(domains: Sequence[str | None] | pa.Array | np.ndarray) -> np.ndarray:
    """The quality model type of each domain."""
    return np.array([QUALITY_TYPES.get(d, "prose") for d in domain_values(domains).tolist()], dtype=object)


@numba.njit(cache=True)
def structure_signals(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document: (fraction of non-empty lines that repeat an earlier line, 1.0 if it ends cleanly).

    Lines are hashed (FNV-1a, 64 bit, blanks excluded) into an open-addressing set (one per kernel call,
    cleared per document); a line counts as duplicated when its hash is in the set already. "Ends
    cleanly": the last visible byte closes a sentence or a block (``. ! ? " ' ) ] } > ;`` or a backtick),
    i.e. not cut mid-word.
    """
    n = offsets.shape[0] - 1
    dup = np.zeros(n, np.float32)
    clean = np.zeros(n, np.float32)
    seen = np.zeros(64, np.uint64)  # 0 = an empty slot
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        doc = data[a:b]  # indexed from 0: numba wraps a negative index, and a range from a could be one
        lines = 1
        for c in doc:  # vectorised, where data[j] for j in range(a, b) was not (bench_label_kernels.py)
            lines += c == 10
        size = 64
        while size < 2 * lines:
            size *= 2
        if size > len(seen):
            seen = np.zeros(size, np.uint64)
        else:
            seen[:size] = 0
        mask = size - 1
        k = 0
        repeats = 0
        zero_seen = False
        h = np.uint64(14695981039346656037)
        visible = False
        nb = doc.shape[0]
        for j in range(nb + 1):
            c = doc[j] if j < nb else 10
            if c == 10:
                if visible:
                    if h == 0:  # 0 marks an empty slot, so this one hash is kept aside
                        repeats += zero_seen
                        zero_seen = True
                    else:
                        slot = np.int64((h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask
                        while seen[slot] != 0 and seen[slot] != h:
                            slot = (slot + 1) & mask
                        repeats += seen[slot] == h
                        seen[slot] = h
                    k += 1
                h = np.uint64(14695981039346656037)
                visible = False
            else:  # a blank keeps the hash: a mask, not a branch, as blanks come every few bytes (11 -> 8 µs)
                blank = np.uint64(0) - np.uint64((c == 32) | (c == 9) | (c == 13))  # all ones for a blank
                h = (h & blank) | (((h ^ np.uint64(c)) * np.uint64(1099511628211)) & ~blank)
                visible = visible | (blank == 0)
        if k > 1:
            dup[i] = repeats / k
        last = b - 1
        while last >= a and (data[last] == 32 or data[last] == 10 or data[last] == 9 or data[last] == 13):
            last -= 1
        if last >= a:
            c = data[last]
            if c == 46 or c == 33 or c == 63 or c == 34 or c == 39 or c == 41 or c == 93 or c == 125 \
                    or c == 62 or c == 59 or c == 96:
                clean[i] = 1.0
    return dup, clean


@numba.njit(cache=True)
def _is_space_byte(c: int) -> bool:
    return c == 32 or c == 9 or c == 10 or c == 13


@numba.njit(cache=True)
def _ends_sentence(data: np.ndarray, last: int, start: int) -> bool:
    """The word or line ending at byte ``last`` closes a sentence: ``. ! ?`` after a lower-case letter
    (so not ``U.S.``, ``3.`` or ``...``)."""
    c = data[last]
    return (c == 46 or c == 33 or c == 63) and last - 1 >= start and 97 <= data[last - 1] <= 122


@numba.njit(cache=True)
def _word_ids(words: np.ndarray) -> tuple[np.ndarray, int]:
    """Each word hash's number in order of first appearance (an open-addressing table), and how many
    distinct words there are."""
    size = 16
    while size < 2 * len(words):
        size *= 2
    keys = np.zeros(size, np.uint64)
    values = np.full(size, -1, np.int32)
    ids = np.empty(len(words), np.int32)
    mask = size - 1  # size is a power of two: the remainder is a mask, not a division
    distinct = 0
    for m in range(len(words)):
        h = words[m] | np.uint64(1)  # 0 marks an empty slot
        slot = np.int64(h & np.uint64(mask))
        while values[slot] != -1 and keys[slot] != h:
            slot = (slot + 1) & mask
        if values[slot] == -1:
            keys[slot] = h
            values[slot] = distinct
            distinct += 1
        ids[m] = values[slot]
    return ids, distinct


@numba.njit(cache=True)
def _top_share(ids: np.ndarray, distinct: int, top: int) -> float:
    """Share of the ``top`` most frequent values among ``ids`` (numbers below ``distinct``)."""
    counts = np.zeros(distinct, np.int64)
    for value in ids:
        counts[value] += 1
    best = np.zeros(top, np.int64)  # ascending: best[0] is the smallest of the top counts
    for c in counts:
        if c > best[0]:
            best[0] = c
            m = 0
            while m + 1 < top and best[m] > best[m + 1]:
                best[m], best[m + 1] = best[m + 1], best[m]
                m += 1
    return best.sum() / len(ids)


@numba.njit(cache=True)
def _cohesion(ids: np.ndarray, distinct: int, ends: np.ndarray, n_ends: int, min_units: int, far_from: int,
              far_to: int, common: np.ndarray, sizes: np.ndarray) -> float:
    """Adjacent minus distant overlap of the units that ``ends`` (word counts, ascending) cut the word
    ids into; units without a word are skipped. 0 under ``min_units`` units.

    One pass over the words: each id keeps the units it was seen in, up to ``far_to`` back, as bits
    (bit d: in the unit d before the last one it was seen in), so each of a unit's distinct words adds
    itself to its overlap with the ``far_to`` units before it at once; comparing each unit with each
    neighbour's words instead read every word six times (stop 51: the two signals took 8.4 of the order
    kernel's 22.4 µs a document, now about 4.5 of 18.3). ``common`` (rows: at least the units; columns: ``far_to + 1``)
    and ``sizes`` are scratch; the overlaps are summed in the order of the pairs, as before, so the
    signal is the same float."""
    last = np.full(distinct, -1, np.int64)  # the last unit each id was seen in
    history = np.zeros(distinct, np.uint64)
    n_units = 0
    begin = 0
    for e in range(n_ends + 1):
        end = ends[e] if e < n_ends else len(ids)
        if end > begin:
            v = n_units
            common[v, :] = 0
            size = 0
            for m in range(begin, end):
                w = ids[m]
                seen = last[w]
                if seen == v:
                    continue
                h = np.uint64(0)
                if seen >= 0 and v - seen <= far_to:
                    h = history[w] << np.uint64(v - seen)
                for d in range(1, far_to + 1):
                    common[v, d] += np.int64((h >> np.uint64(d)) & np.uint64(1))
                history[w] = h | np.uint64(1)
                last[w] = v
                size += 1
            sizes[v] = size
            n_units += 1
            begin = end
    if n_units < max(min_units, 2):  # a pair of neighbours at least
        return 0.0
    near = 0.0
    far = 0.0
    pairs = 0
    for u in range(n_units):
        for d in range(1, far_to + 1):
            v = u + d
            if v >= n_units:
                break
            if d != 1 and d < far_from:
                continue
            overlap = common[v, d] / min(sizes[u], sizes[v])
            if d == 1:
                near += overlap
            else:
                far += overlap
                pairs += 1
    return near / (n_units - 1) - (far / pairs if pairs else 0.0)


@numba.njit(cache=True)
def order_signals(offsets: np.ndarray, data: np.ndarray, max_bytes: int = 8192, top: int = 5,
                  short_line: int = SHORT_LINE_BYTES, cohesion: bool = False, min_units: int = 6,
                  far_from: int = 3, far_to: int = 6
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per document, over its first ``max_bytes`` bytes, three signs of text that was not written in
    this order, and one of text that is not running prose (ASCII-level, one pass):

    - word order: of the words that close a sentence, the share followed by a word that starts with a
      lower-case letter (a new sentence starts upper-case; words in random order mostly do not);
    - line order: of the non-empty lines that close a sentence, the share followed by a line that
      starts lower-case (in wrapped prose the line after a full stop starts a sentence; lines in
      random order mostly start mid-sentence);
    - repetition: the share of the ``top`` most frequent words (over 3 bytes, case folded) among all
      such words (keyword stuffing repeats a few words; prose spreads over many);
    - short lines: the share of non-empty lines at most ``short_line`` bytes long from their first to
      their last visible byte (FineWeb's short-line signal: menus, link lists, share widgets and
      footers are short lines; running prose is not).

    With ``cohesion``, also two signals of lexical cohesion from the same words (read by the combiners
    since stop 40): how much more neighbouring sentences share words than sentences a few apart do.
    Text written in this order stays on a topic from one sentence to the next; in sentences or lines
    put in random order, neighbours share no more than units ``far_from`` to ``far_to`` apart. A unit's
    words (over 3 bytes, case folded, as for repetition) are a set; two units overlap by the words they
    share over the smaller unit's word count; the signal is the mean overlap of adjacent units minus
    the mean overlap of units ``far_from``..``far_to`` apart, with units cut two ways: at sentence and
    line ends (``by_line``), and at sentence ends only (``by_sentence``); units without such a word are
    skipped, and a document of fewer than ``min_units`` units gets 0. Without ``cohesion`` both are 0
    (and cost nothing).

    Returns (word order, line order, repetition, short lines, cohesion by line, cohesion by sentence);
    0 where a document has nothing to count.
    """
    n = offsets.shape[0] - 1
    words_out = np.zeros(n, np.float32)
    lines_out = np.zeros(n, np.float32)
    rep_out = np.zeros(n, np.float32)
    short_out = np.zeros(n, np.float32)
    by_line = np.zeros(n, np.float32)
    by_sentence = np.zeros(n, np.float32)
    longest = 0
    for i in range(n):
        longest = max(longest, min(offsets[i + 1] - offsets[i], max_bytes))
    # one set of buffers for the batch, sized for its longest window, rather than one per document
    hashes = np.empty(longest // 4 + 1, np.uint64)  # words over 3 bytes, each with its separator
    # cohesion's units, as word counts where one ends: a line end takes a byte, a sentence end a word
    # of 2 (a second newline in a row would only end an empty unit, so only the first counts)
    line_ends = np.empty(longest + 1 if cohesion else 1, np.int64)
    sentence_ends = np.empty(longest // 2 + 1 if cohesion else 1, np.int64)
    if cohesion and not 1 <= far_to <= 62:  # a unit's history is a 64-bit word
        raise ValueError("order_signals: far_to must be between 1 and 62")
    common = np.empty((longest + 2 if cohesion else 1, far_to + 1), np.int64)  # _cohesion's scratch
    sizes = np.empty(longest + 2 if cohesion else 1, np.int64)
    for i in range(n):
        a = offsets[i]
        b = min(offsets[i + 1], a + max_bytes)
        n_line_ends = 0
        n_sentence_ends = 0
        k = 0
        stops = 0
        stops_lower = 0
        line_stops = 0
        line_stops_lower = 0
        prev_stop = False       # the previous word closed a sentence
        prev_line_stop = False  # the previous non-empty line closed a sentence
        line_start = True       # no visible byte yet on this line
        last_visible = -1
        first_visible = -1      # of the current line
        n_lines = 0
        n_short = 0
        j = a
        while j < b:
            c = data[j]
            if _is_space_byte(c):
                if c == 10 and not line_start:
                    prev_line_stop = _ends_sentence(data, last_visible, a)
                    line_start = True
                    n_lines += 1
                    n_short += last_visible - first_visible < short_line
                    if cohesion:
                        line_ends[n_line_ends] = k
                        n_line_ends += 1
                j += 1
                continue
            w0 = j  # a word: a run of non-space bytes
            h = np.uint64(14695981039346656037)
            while j < b and not _is_space_byte(data[j]):
                x = data[j]
                if 65 <= x <= 90:
                    x += 32
                h = (h ^ np.uint64(x)) * np.uint64(1099511628211)
                j += 1
            lower = 97 <= data[w0] <= 122
            if prev_stop:
                stops += 1
                stops_lower += lower
            if line_start:
                if prev_line_stop:
                    line_stops += 1
                    line_stops_lower += lower
                line_start = False
                first_visible = w0
            if j - w0 > 3:
                hashes[k] = h
                k += 1
            prev_stop = _ends_sentence(data, j - 1, w0)
            if prev_stop and cohesion:
                line_ends[n_line_ends] = k
                n_line_ends += 1
                sentence_ends[n_sentence_ends] = k
                n_sentence_ends += 1
            last_visible = j - 1
        if stops:
            words_out[i] = stops_lower / stops
        if line_stops:
            lines_out[i] = line_stops_lower / line_stops
        if k:  # the words' numbers serve both repetition and cohesion
            ids, distinct = _word_ids(hashes[:k])
            rep_out[i] = _top_share(ids, distinct, top)
            if cohesion:
                by_line[i] = _cohesion(ids, distinct, line_ends, n_line_ends, min_units, far_from, far_to,
                                       common, sizes)
                by_sentence[i] = _cohesion(ids, distinct, sentence_ends, n_sentence_ends, min_units, far_from,
                                           far_to, common, sizes)
        if not line_start:  # the last line, without a newline after it
            n_lines += 1
            n_short += last_visible - first_visible < short_line
        if n_lines:
            short_out[i] = n_short / n_lines
    return words_out, lines_out, rep_out, short_out, by_line, by_sentence


def document_order(texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four order signals of :func:`order_signals` over an Arrow/list batch of texts (the first
    8 KiB of each: what the combiner was fitted on, and a bound on the cost of a long document)."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    return order_signals(offsets, data)[:4]


def document_order_cohesion(texts: pa.Array | list[str]
                            ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, np.ndarray]]:
    """The four order signals and the two cohesion signals of :func:`order_signals`, in one pass."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    signals = order_signals(offsets, data, cohesion=True)
    return signals[:4], signals[4:]


def document_cohesion(texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The two cohesion signals of :func:`order_signals` (by line, by sentence) over a batch of texts."""
    return document_order_cohesion(texts)[1]


@numba.njit(cache=True)
def bracket_signals(offsets: np.ndarray, data: np.ndarray, max_open: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Per document, over the whole text, two signs of lines out of order or cut off in code, LaTeX
    and any text with brackets (ASCII ``( [ {`` and ``) ] }``, one running depth for all three):

    - unmatched closings: the closing brackets met while nothing is open, per line that holds a
      bracket (in code and LaTeX written top to bottom a closing follows its opening; with lines in
      random order, closings come first);
    - left open: brackets still open at the end, ``min(depth, max_open) / max_open`` (a file cut in
      the middle of a block or an argument leaves them open).

    0 where a document has no bracket. Brackets inside strings and comments count like any other:
    they are rare enough in real files not to matter (training: 0.007 unmatched per bracket line in
    intact code, 0.065 once its lines are shuffled).
    """
    n = offsets.shape[0] - 1
    unmatched_out = np.zeros(n, np.float32)
    open_out = np.zeros(n, np.float32)
    kinds = np.zeros(256, np.uint8)  # 1 newline, 2 opening, 3 closing: one table look-up per byte
    kinds[10] = 1
    kinds[40] = kinds[91] = kinds[123] = 2
    kinds[41] = kinds[93] = kinds[125] = 3
    for i in range(n):
        depth = 0
        unmatched = 0
        bracket_lines = 0
        has_bracket = False
        for j in range(offsets[i], offsets[i + 1]):
            kind = kinds[data[j]]
            if kind == 0:
                continue
            if kind == 1:
                bracket_lines += has_bracket
                has_bracket = False
            else:
                has_bracket = True
                if kind == 2:
                    depth += 1
                elif depth == 0:
                    unmatched += 1
                else:
                    depth -= 1
        bracket_lines += has_bracket  # the last line, without a newline after it
        if bracket_lines:
            unmatched_out[i] = unmatched / bracket_lines
        open_out[i] = min(depth, max_open) / max_open
    return unmatched_out, open_out


def document_brackets(texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bracket_signals` over an Arrow/list batch of texts."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    return bracket_signals(offsets, data)


def document_structure(texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`structure_signals` over an Arrow/list batch of texts."""
    data, offsets = string_buffers(pc.fill_null(as_string_array(texts), ""))
    return structure_signals(offsets, data)


def model_name(model: str, qtype: str) -> str:
    """``quality`` (the shipped family) -> ``quality-prose``; a path prefix -> ``<prefix>-prose.ftz``."""
    return f"{model}-{qtype}" if model == "quality" else f"{model}-{qtype}.ftz"


def model_card(model: str, qtype: str) -> dict:
    """The ``.json`` stored beside the type's fastText model (its combiner and training config), or
    ``{}`` when there is none (a copy: the caller may change it)."""
    return copy.deepcopy(_card(model, qtype))


def _card(model: str, qtype: str) -> dict:
    """:func:`model_card`, not to be changed: parsed once per version of the file (its path, size and
    modification time) instead of once per batch and call (six JSON parses a batch, 0.7 µs a document)."""
    key = _card_key(model, qtype)
    return _parsed_card(*key) if key is not None else {}


def _card_key(model: str, qtype: str) -> tuple[str, int, int] | None:
    """(path, size, modification time) of the type's ``.json``, the key of every cache built from it; ``None``
    when there is no such file."""
    ref = model_name(model, qtype)
    path = MODELS_DIR / f"{ref}.json" if model == "quality" else Path(ref).with_suffix(".json")
    try:
        info = path.stat()
    except OSError:
        return None
    return (str(path), info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


@functools.lru_cache(maxsize=64)
def _parsed_card(path: str, size: int, mtime_ns: int) -> dict:
    """``path``'s JSON; ``size`` and ``mtime_ns`` only key the cache, so a rewritten file is read again."""
    return json.loads(Path(path).read_text())


def combiner(model: str, qtype: str) -> np.ndarray | TreeCombiner:
    """The combiner stored beside the type's fastText model: its tree ensemble where the card has one
    (``combiner_trees``: code and math since stop 60), else its ridge weights (default: the expected grade)."""
    trees = _card_trees(model, qtype)
    if trees is not None:
        return trees
    expected_grade = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] + [0.0] * (ORDER_COMBINER_SIZE - GRADES)
    return np.asarray(_card(model, qtype).get("combiner", expected_grade), np.float64)


def _card_trees(model: str, qtype: str) -> TreeCombiner | None:
    """The card's ``combiner_trees``, built once per version of the card (as :func:`_card` parses it once)."""
    key = _card_key(model, qtype)
    if key is None or "combiner_trees" not in _parsed_card(*key):
        return None
    return _built_trees(*key)


@functools.lru_cache(maxsize=16)
def _built_trees(path: str, size: int, mtime_ns: int) -> TreeCombiner:
    try:
        return tree_from_card(_parsed_card(path, size, mtime_ns)["combiner_trees"])
    except ValueError as exc:
        raise ValueError(f"{path}: combiner_trees: {exc}") from None


def text_window(model: str, qtype: str) -> tuple[int, int]:
    """(head, middle) bytes the type's model was trained on, so scoring reads the same window
    (512 + 512 for a model stored without its config)."""
    config = _card(model, qtype).get("config", {})
    return int(config.get("head", 512)), int(config.get("middle", 512))


def grade_probabilities(model: str, lines: list[str] | pa.Array) -> np.ndarray:
    """``(n, 6)`` probabilities of grades 0..5 under a graded fastText model (labels ``g0`` .. ``g5``)."""
    classifier = load_classifier(model)
    probs, labels = classifier.predict_all(model_lines(classifier, lines))
    out = np.zeros((len(lines), GRADES))
    for j, lab in enumerate(labels):
        out[:, int(lab[1:])] = probs[:, j]
    return out


def spam_probabilities(model: str, lines: list[str] | pa.Array) -> np.ndarray:
    """P(spam) of each line under a spam model (fastText, labels ``spam`` and ``ok``)."""
    classifier = load_classifier(model)
    probs, labels = classifier.predict_all(model_lines(classifier, lines))
    if "spam" not in labels:
        raise ValueError(f"spam model {model!r}: expected the labels 'spam' and 'ok', got {list(labels)}")
    return probs[:, labels.index("spam")].astype(np.float64)


SPAM_EXEMPT_DOMAINS = ["reasoning"]
"""Prose-scored domains the spam cap leaves alone. Spam is web content, yet out of fold the spam model flagged
reasoning sources' documents (engram-chains, reasoning-gym); exempting them lifted the damped graded Spearman
0.7595 -> 0.7611 with every training keep and drop rate within 0.2 points (stop 58, E61)."""


def has_spam_model(model: str) -> bool:
    """Whether the family has a spam model (``<family>-spam``) and the card with its gate."""
    ref = model_name(model, "spam")
    path = MODELS_DIR / f"{ref}.ftz" if model == "quality" else Path(ref)
    return path.is_file() and _card(model, "spam").get("gate") is not None


def spam_gate(model: str) -> float:
    """The P(spam) from which the family's spam model (``<family>-spam``) damps prose scores: the ``gate`` its
    training chose (``train_default_classifiers.train_spam``), stored beside it."""
    if not has_spam_model(model):
        raise ValueError(f"quality model {model!r}: no spam model with a gate ({model_name(model, 'spam')} and "
                         "its .json, written by scripts/train_default_classifiers.py --only spam)")
    return float(_card(model, "spam")["gate"])


def spam_capped(domains: Sequence[str | None] | pa.Array | np.ndarray) -> np.ndarray:
    """Which documents the spam cap may touch, by domain: every prose-scored one not in ``SPAM_EXEMPT_DOMAINS``
    (callers pass prose rows)."""
    return ~np.isin(domain_values(domains), SPAM_EXEMPT_DOMAINS)


def damp_spam(scores: np.ndarray, p_spam: np.ndarray, gate: float) -> np.ndarray:
    """``min(scores, 5 * (1 - p_spam))`` where ``p_spam >= gate``, the scores elsewhere.

    A cap, not stop 44's ``scores * (1 - p_spam)``: both put a flagged document under every threshold above
    ``5 * (1 - gate)``, but the cap leaves it above real junk it outranked, so the graded ranking loses less
    (out of fold 0.7638 -> 0.7595 Spearman, against 0.7580 multiplied; E58)."""
    return np.where(p_spam >= gate, np.minimum(scores, 5.0 * (1.0 - p_spam)), scores)


def quality_features(probs: np.ndarray, dup: np.ndarray, clean: np.ndarray,
                     order: tuple[np.ndarray, ...], brackets: tuple[np.ndarray, np.ndarray],
                     cohesion: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """The combiner's linear inputs: grade probabilities, duplicated-line fraction, clean end, the four
    :func:`order_signals` (word order, line order, repetition, short lines), the two
    :func:`bracket_signals` (unmatched closings, left open), the two cohesion signals of
    :func:`order_signals` (by line, by sentence) when given, a constant."""
    return np.column_stack([probs, dup, clean, *order, *brackets, *cohesion, np.ones(len(dup))])


def reads_cohesion(weights: np.ndarray | TreeCombiner) -> bool:
    """Whether a combiner was fitted with the cohesion signals (the shipped ones, since stop 40)."""
    if isinstance(weights, TreeCombiner):
        return weights.signals == COHESION_SIGNALS
    return len(weights) == COHESION_COMBINER_SIZE


def quadratic_features(features: np.ndarray) -> np.ndarray:
    """``quality_features`` widened to what the shipped combiner reads: each signal, the product of
    every pair of signals (squares included, in row-major order of the upper triangle), the constant.

    A weighted sum of the signals alone cannot say "shuffled lines matter only where the vocabulary
    looks clean" or "a cut end matters more in code than in a list"; products can, and keep the fit
    a closed-form ridge solve (leave-one-source-out Spearman on the training sources: prose 0.52 ->
    0.65, code 0.60 -> 0.72, math 0.49 -> 0.56 with the bracket signals; see the README)."""
    signals = features[:, :-1]
    i, j = np.triu_indices(signals.shape[1])
    return np.column_stack([signals, signals[:, i] * signals[:, j], features[:, -1:]])


def apply_combiner(features: np.ndarray, weights: np.ndarray | TreeCombiner) -> np.ndarray:
    """The score before clipping, from ``quality_features`` and the fitted ``weights``.

    A :class:`TreeCombiner` (code and math since stop 60) reads the signals of ``features`` without its constant.

    ``COHESION_COMBINER_SIZE`` weights (the shipped combiners) read :func:`quadratic_features` of all
    ``COHESION_SIGNALS`` signals; ``QUADRATIC_COMBINER_SIZE`` weights (a combiner fitted from stop 30 to
    39) read it of the first ``SIGNALS``, without the cohesion signals. A linear combiner
    fitted before a signal existed has fewer weights and reads the features of its time: 9 (grade
    probabilities, the two structure signals, the constant), 12 (also word order, line order and
    repetition) or 13 (also short lines), always with the constant last.
    """
    if isinstance(weights, TreeCombiner):
        return weights.predict(features[:, :-1])
    if reads_cohesion(weights):
        if features.shape[1] != COHESION_SIGNALS + 1:
            raise ValueError(f"a quality combiner of {len(weights)} weights reads the cohesion signals: "
                             f"expected {COHESION_SIGNALS + 1} features, got {features.shape[1]}")
        return quadratic_features(features) @ weights
    if len(weights) == QUADRATIC_COMBINER_SIZE:
        return quadratic_features(features[:, [*range(SIGNALS), features.shape[1] - 1]]) @ weights
    if len(weights) in (OLD_COMBINER_SIZE, ORDER_COMBINER_SIZE, SHORT_LINE_COMBINER_SIZE):
        features = features[:, [*range(len(weights) - 1), features.shape[1] - 1]]
    elif len(weights) != features.shape[1]:
        raise ValueError(f"a quality combiner of {len(weights)} weights: expected {QUADRATIC_COMBINER_SIZE}, "
                         f"{features.shape[1]} or an older {OLD_COMBINER_SIZE}, {ORDER_COMBINER_SIZE} or "
                         f"{SHORT_LINE_COMBINER_SIZE}")
    return features @ weights


def score_quality(texts: pa.Array | list[str], domains: Sequence[str | None] | pa.Array | None = None,
                  model: str = "quality", spam: bool | None = None) -> pa.Table:
    """``quality_score`` (0-5), ``quality_tier`` and ``quality_type`` of each text, scored by its type's
    model on the text window that model was trained on (:func:`text_window`).

    ``spam``: damp the prose scores by the family's spam model, ``min(score, 5 * (1 - P(spam)))`` where P(spam)
    reaches its gate (:func:`damp_spam`), except for documents labelled one of ``SPAM_EXEMPT_DOMAINS``
    (reasoning); ``None`` (the default) damps where the family has a spam model (:func:`has_spam_model`; the
    shipped one has), ``True`` requires one, ``False`` never damps. On the training sources, out of fold, it lets
    the prose score drop 95.5% of contact-form spam instead of 31% at the web threshold, for 0.5 points of edited
    prose (93.6% -> 93.1% kept) and 0.0027 of graded Spearman (stop 58's E58 and E61; the README's "Labels"
    section has the figures). The thresholds are chosen on undamped scores: the cap puts every damped document
    under them."""
    gate = spam_gate(model) if (has_spam_model(model) if spam is None else spam) else None
    arr = pc.fill_null(as_string_array(texts), "")
    n = len(arr)
    labels = domain_values(domains if domains is not None else ["web"] * n)
    if len(labels) != n:
        raise ValueError(f"score_quality: {n} texts but {len(labels)} domains")
    types = quality_type(labels)
    dup, clean = document_structure(arr)
    weights = {qtype: combiner(model, qtype) for qtype in sorted(set(types.tolist()))}
    if any(reads_cohesion(w) for w in weights.values()):  # one pass gives both
        order, cohesion = document_order_cohesion(arr)
    else:
        order, cohesion = document_order(arr), ()
    brackets = document_brackets(arr)
    score = np.zeros(n, np.float64)
    for qtype, type_weights in weights.items():
        rows = np.flatnonzero(types == qtype)
        _, lines = windows_and_lines(arr, *text_window(model, qtype))  # the domain labeller's, if the same
        lines = lines if len(rows) == n else lines.take(pa.array(rows))
        probs = grade_probabilities(model_name(model, qtype), lines)
        features = quality_features(probs, dup[rows], clean[rows], tuple(o[rows] for o in order),
                                    tuple(b[rows] for b in brackets),
                                    tuple(c[rows] for c in cohesion) if reads_cohesion(type_weights) else ())
        score[rows] = np.clip(apply_combiner(features, type_weights), 0.0, 5.0)
        if gate is not None and qtype == "prose":
            capped = np.flatnonzero(spam_capped(labels[rows]))  # positions within rows
            if len(capped):
                some = lines if len(capped) == len(rows) else lines.take(pa.array(capped))
                score[rows[capped]] = damp_spam(score[rows[capped]], spam_probabilities(model_name(model, "spam"),
                                                                                        some), gate)
    empty = pc.utf8_length(arr).to_numpy(zero_copy_only=False) == 0
    score[empty] = 0.0
    return pa.table({
        "quality_score": pa.array(score.astype(np.float32), pa.float32()),
        "quality_tier": pa.array(np.floor(score + 0.5).astype(np.int8), pa.int8()),
        "quality_type": pa.array(types.tolist(), pa.string()),
    })


def quality_reject_reasons(scores: Sequence[float] | pa.Array, domains: Sequence[str] | pa.Array,
                           thresholds: Mapping[str, float] = DEFAULT_QUALITY_THRESHOLDS) -> pa.Array:
    """Reject reason per document (null = kept): ``quality_score<t`` for domains with a threshold."""
    score = np.asarray(pa.array(scores, pa.float32()).fill_null(0.0).to_numpy(zero_copy_only=False))
    dom = np.asarray(pa.array(domains, pa.string()).fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    reasons = np.full(len(score), None, dtype=object)
    for domain, t in sorted(thresholds.items()):
        reasons[(dom == domain) & (score < t)] = f"quality_score<{t:g}"
    return pa.array(reasons.tolist(), pa.string())


def quality_tier_reject_reasons(tiers: Sequence[int] | pa.Array, domains: Sequence[str] | pa.Array,
                                min_tiers: Mapping[str, int]) -> pa.Array:
    """Reject reason per document (null = kept): ``quality_tier<t`` for domains with a minimum tier."""
    tier = np.asarray(pa.array(tiers, pa.int8()).fill_null(0).to_numpy(zero_copy_only=False))
    dom = np.asarray(pa.array(domains, pa.string()).fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    reasons = np.full(len(tier), None, dtype=object)
    for domain, t in sorted(min_tiers.items()):
        reasons[(dom == domain) & (tier < t)] = f"quality_tier<{t}"
    return pa.array(reasons.tolist(), pa.string())

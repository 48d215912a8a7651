"""English word splitting for the prose rules: one numba pass over a whole batch, shared by all rules.

datatrove's Gopher and FineWeb filters count words from spaCy's English tokenizer (``spacy.blank("en")``),
so the published thresholds were tuned on *those* words: "don't" is two words ("do", "n't"), a
sentence's final "." is a word of its own, "well-known" is three. Splitting on whitespace alone would
shift every ratio. ``split_words`` reproduces the tokenizer's rules that matter for counting, written
here from its documented behaviour, and the benchmark measures what it gets wrong
(``benchmarks/bench_rules.py`` prints every disagreement class).

How one whitespace-delimited chunk is split, as spaCy does it:
1. peel the chunk from both ends: a special case (abbreviation, emoticon: wordlists.py) or a
   contraction ends the peeling; otherwise a prefix (``_prefix_len``) becomes a word, or a suffix
   (``_suffix_len``) is set aside for the end;
2. the middle is one word if it is special or a URL (``_is_url``), else it is cut at infixes
   (``_infix_len``: hyphens between letters, "..." runs, "," between letters ...);
3. the suffixes follow, and runs of 2-3 words that spell a special case are joined again.

A word is a ``[start, end)`` span of code points in the batch's ``TextBatch.codepoints``. Every helper
below has a pure-Python twin in the tests (``tests/rules_reference.py``) that works on ``str`` with
Python's own character predicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from midtrain.curation.rules.charclass import (AFFIX, ALNUM, ALPHA, APOSTROPHE, ASCII_END, ASTERISK, CAPITAL_S,
                                               CIRCUMFLEX, COLON, COMMA, COMMERCIAL_AT, CURRENCY, DIGIT, EM_DASH,
                                               EN_DASH, EQUALS_SIGN, FULL_STOP, GREATER_THAN, HORIZONTAL_ELLIPSIS,
                                               HYPHEN_MINUS, ICON, LESS_THAN, LOW_LINE, LOWER, NUMBER_SIGN,
                                               PERCENT_SIGN, PLUS_SIGN, QUESTION_MARK, RIGHT_SINGLE_QUOTE,
                                               SECTION_SIGN, SMALL_N, SMALL_S, SMALL_T, SOLIDUS, SUPERSCRIPT_TWO,
                                               TILDE, UPPER, UPUNCT, char_flags)
from midtrain.curation.rules.hashing import hash_set, hash_span, hash_str, in_set, lower_hash_span
from midtrain.curation.rules.spans import next_chunk
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.wordlists import (FUSED, MERGED_SPECIAL_MAX_CHARS, PRONOUN_SUFFIXES, PRONOUNS,
                                               SPECIALS, UNITS)

SPECIAL_MAX_CHARS = max(len(w) for w in SPECIALS)  # longer chunks skip the special-case lookup
FUSED_MAX_CHARS = max(len(w) for w in FUSED)  # "shouldnt": longer chunks without an apostrophe are no contraction
UNIT_MAX_CHARS = max(len(w) for w in UNITS)
MAX_SUFFIXES = 256  # suffixes peeled off one chunk; a longer run of them stays in the middle
HYPHEN_RUN_MAX = 3  # "-", "--" and "---" between letters are one infix each
URL_LABEL_MIN, URL_LABEL_MAX = 0xA1, 0xFFFF  # non-ASCII characters a host name label may hold
URL_TLD_MIN, URL_TLD_MAX = 2, 63  # letters of a top-level domain
URL_PORT_MIN, URL_PORT_MAX = 2, 5  # digits of a ":port"


@dataclass(frozen=True)
class WordTables:
    """The word tables as sorted hash arrays, in the order the kernel takes them."""

    specials: np.ndarray  # uint64: abbreviations and emoticons, kept whole
    pronouns: np.ndarray  # uint64: "they" of "they'll"
    pronoun_suffixes: np.ndarray  # uint64: "ll" of "they'll"
    fused: np.ndarray  # uint64: "dont" ... sorted
    fused_first: np.ndarray  # int64: length of the first part of fused[i]
    units: np.ndarray  # uint64: "km" of "5km"

    @classmethod
    def build(cls) -> "WordTables":
        fused_words = sorted(FUSED, key=hash_str)
        return cls(hash_set(SPECIALS), hash_set(PRONOUNS), hash_set(PRONOUN_SUFFIXES),
                   np.array([hash_str(w) for w in fused_words], dtype=np.uint64),
                   np.array([FUSED[w] for w in fused_words], dtype=np.int64), hash_set(UNITS))

    def as_tuple(self) -> tuple:
        return (self.specials, self.pronouns, self.pronoun_suffixes, self.fused, self.fused_first, self.units)


TABLES = WordTables.build()


@dataclass(frozen=True)
class WordSplits:
    """Words of a batch: word ``j`` spans ``codepoints[starts[j]:ends[j]]``; document ``i`` owns words
    ``doc_offsets[i]:doc_offsets[i + 1]``."""

    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    doc_offsets: np.ndarray  # int64, len = documents + 1


def split_words(batch: TextBatch) -> WordSplits:
    """Split every document of the batch into English words in one compiled pass."""
    starts, ends, doc_offsets = _split_batch(batch.codepoints, batch.offsets, char_flags(), TABLES.as_tuple())
    return WordSplits(starts, ends, doc_offsets)


# ----------------------------------------------------------------------------------------------
# character tests


@nb.njit(cache=True, nogil=True, inline="always")
def _is_apostrophe(c):
    """"'" or its typographic form "’"."""
    return c == APOSTROPHE or c == RIGHT_SINGLE_QUOTE


@nb.njit(cache=True, nogil=True, inline="always")
def _is_dash(c):
    """En or em dash."""
    return c == EN_DASH or c == EM_DASH


@nb.njit(cache=True, nogil=True, inline="always")
def _dot_run(cps, i, e):
    """End of the run of "." that starts at ``i``."""
    while i < e and cps[i] == FULL_STOP:
        i += 1
    return i


# ----------------------------------------------------------------------------------------------
# the rules of one chunk, each a length at a position (0: the rule does not apply)


@nb.njit(cache=True, nogil=True, inline="always")
def _contraction(cps, flags, s, e, tables):
    """Length of the first part when ``[s, e)`` is a contraction to split in two ("do|n't",
    "they|'ll", "can|not"), else 0. Only all-lowercase or capitalised words split."""
    _, pronouns, pronoun_suffixes, fused, fused_first, _ = tables
    n = e - s
    if n < 2:
        return 0
    apostrophe = False
    for k in range(max(s, e - 4), e):  # the apostrophe of n't 'm 'd 're 've 'll is this close to the end
        apostrophe |= _is_apostrophe(cps[k])
    if not apostrophe and n > FUSED_MAX_CHARS:
        return 0
    for i in range(s + 1, e):
        if flags[cps[i]] & UPPER:
            return 0
    if n >= 4 and cps[e - 3] == SMALL_N and _is_apostrophe(cps[e - 2]) and cps[e - 1] == SMALL_T:
        for i in range(s, e - 3):  # "n't": the stem must be letters
            if not flags[cps[i]] & ALPHA:
                return 0
        return n - 3
    for k in (2, 3):  # 'm 'd, then 're 've 'll
        if n > k and _is_apostrophe(cps[e - k]) and in_set(pronoun_suffixes, lower_hash_span(cps, e - k + 1, e)) \
                and in_set(pronouns, lower_hash_span(cps, s, e - k)):
            return n - k
    h = lower_hash_span(cps, s, e)
    at = np.searchsorted(fused, h)
    if at < len(fused) and fused[at] == h:
        return fused_first[at]
    return 0


@nb.njit(cache=True, nogil=True, inline="always")
def _prefix_len(cps, flags, s, e):
    """Length of the prefix to split off the start of ``[s, e)``: a run of 2+ ".", or one opening
    bracket, quote, symbol, currency sign, "§" "%" "=" dash, or a "+" not before a digit."""
    c = cps[s]
    if c == FULL_STOP and s + 1 < e and cps[s + 1] == FULL_STOP:
        return _dot_run(cps, s, e) - s
    if flags[c] & (AFFIX | ICON | CURRENCY) or c == SECTION_SIGN or c == PERCENT_SIGN or c == EQUALS_SIGN \
            or _is_dash(c):
        return 1
    if c == PLUS_SIGN and not (s + 1 < e and flags[cps[s + 1]] & DIGIT):
        return 1
    return 0


@nb.njit(cache=True, nogil=True, inline="always")
def _unit_len(cps, flags, s, e, units):
    """Length of a unit ("km", "lbs") that ends ``[s, e)`` right after a digit, else 0."""
    k = e
    while k > s and k > e - UNIT_MAX_CHARS - 1 and flags[cps[k - 1]] & ALPHA:
        k -= 1
    if s < k < e and flags[cps[k - 1]] & DIGIT and in_set(units, hash_span(cps, k, e)):
        return e - k
    return 0


@nb.njit(cache=True, nogil=True, inline="always")
def _suffix_len(cps, flags, s, e, units):
    """Length of the suffix to split off the end of ``[s, e)``: "'s", a run of 2+ "." (not the whole
    chunk), a closing bracket / quote / symbol / dash, a sentence "." after a lowercase letter, digit,
    punctuation or two capitals, "+" or "%" after a digit, or a unit after a number."""
    n = e - s
    c = cps[e - 1]
    if n > 2 and _is_apostrophe(cps[e - 2]) and (c == SMALL_S or c == CAPITAL_S):
        return 2
    if n >= 2 and c == FULL_STOP and cps[e - 2] == FULL_STOP:
        k = e
        while k > s and cps[k - 1] == FULL_STOP:
            k -= 1
        return e - k if k > s else 0
    if flags[c] & (AFFIX | ICON) or _is_dash(c):
        return 1
    if n >= 2:
        p = cps[e - 2]
        prev = flags[p]
        if c == FULL_STOP and (prev & (LOWER | DIGIT | UPUNCT | AFFIX) or p == PERCENT_SIGN or p == SUPERSCRIPT_TWO
                               or p == HYPHEN_MINUS or p == PLUS_SIGN
                               or (n >= 3 and prev & UPPER and flags[cps[e - 3]] & UPPER)):
            return 1
        if (c == PLUS_SIGN or c == PERCENT_SIGN) and prev & DIGIT:
            return 1
    return _unit_len(cps, flags, s, e, units)


@nb.njit(cache=True, nogil=True, inline="always")
def _infix_len(cps, flags, s, e, i):
    """Length of the infix at ``i`` inside ``[s, e)``: a run of 2+ ".", "…", a symbol; between two
    characters: an operator between digits, "." from lowercase to capital, "," between letters, after a
    letter or digit a hyphen run, dash or "~" before a letter, ":" "<" ">" "=" "/" before a letter."""
    c = cps[i]
    if c == FULL_STOP and i + 1 < e and cps[i + 1] == FULL_STOP:
        return _dot_run(cps, i, e) - i
    if c == HORIZONTAL_ELLIPSIS or flags[c] & ICON:
        return 1
    if i == s or i + 1 >= e:
        return 0
    prev = flags[cps[i - 1]]
    nxt = flags[cps[i + 1]]
    if (c == PLUS_SIGN or c == HYPHEN_MINUS or c == ASTERISK or c == CIRCUMFLEX) and prev & DIGIT \
            and (nxt & DIGIT or cps[i + 1] == HYPHEN_MINUS):
        return 1
    if (c == FULL_STOP and prev & LOWER and nxt & UPPER) or (c == COMMA and prev & ALPHA and nxt & ALPHA):
        return 1
    if not prev & (ALPHA | DIGIT):
        return 0
    if c == HYPHEN_MINUS:
        k = i
        while k < e and k < i + HYPHEN_RUN_MAX and cps[k] == HYPHEN_MINUS:
            k += 1
        return k - i if k < e and flags[cps[k]] & ALPHA else 0
    if (_is_dash(c) or c == TILDE or c == COLON or c == LESS_THAN or c == GREATER_THAN or c == EQUALS_SIGN
            or c == SOLIDUS) and nxt & ALPHA:
        return 1
    return 0


@nb.njit(cache=True, nogil=True, inline="always")
def _is_label_char(c, flags):
    """A character of a host name label: ASCII letter or digit, "_", "-", or a non-ASCII BMP character."""
    return (c < ASCII_END and flags[c] & ALNUM) or c == LOW_LINE or c == HYPHEN_MINUS \
        or URL_LABEL_MIN <= c <= URL_LABEL_MAX


@nb.njit(cache=True, nogil=True, inline="always")
def _host_start(cps, s, e):
    """Where the host name of ``[s, e)`` starts: after an optional "scheme://" and "user@"."""
    p = s
    for i in range(s, e - 2):
        if cps[i] == COLON and cps[i + 1] == SOLIDUS and cps[i + 2] == SOLIDUS:
            p = i + 3
            break
    for i in range(e - 1, p - 1, -1):
        if cps[i] == COMMERCIAL_AT:
            return i + 1
    return p


@nb.njit(cache=True, nogil=True, inline="always")
def _host_labels_end(cps, flags, p, e):
    """(labels, end): the host name labels at ``p``, each followed by "." and neither starting nor
    ending with "_" or "-"; ``end`` is where the top-level domain starts."""
    labels = 0
    while True:
        q = p
        while q < e and _is_label_char(cps[q], flags):
            q += 1
        if q == p or q >= e or cps[q] != FULL_STOP:
            return labels, p
        if cps[p] == LOW_LINE or cps[p] == HYPHEN_MINUS or cps[q - 1] == LOW_LINE or cps[q - 1] == HYPHEN_MINUS:
            return labels, p
        labels += 1
        p = q + 1


@nb.njit(cache=True, nogil=True, inline="always")
def _is_url(cps, flags, s, e):
    """True when ``[s, e)`` looks like a URL or host name (scheme optional): it is then kept whole.
    Labels, a lowercase top-level domain of 2-63 letters, an optional ":port", then the end or a path,
    query or fragment."""
    labels, p = _host_labels_end(cps, flags, _host_start(cps, s, e), e)
    if labels == 0:
        return False
    q = p
    while q < e and flags[cps[q]] & LOWER:
        q += 1
    if q - p < URL_TLD_MIN or q - p > URL_TLD_MAX:
        return False
    if q < e and cps[q] == COLON:
        r = q + 1
        while r < e and flags[cps[r]] & DIGIT:
            r += 1
        if URL_PORT_MIN <= r - q - 1 <= URL_PORT_MAX:
            q = r
    return q == e or cps[q] == SOLIDUS or cps[q] == QUESTION_MARK or cps[q] == NUMBER_SIGN


# ----------------------------------------------------------------------------------------------
# emitting words


@nb.njit(cache=True, nogil=True, inline="always")
def _push(starts, ends, k, s, e):
    """Append word ``[s, e)`` as word ``k``, growing the arrays when full."""
    if k == len(starts):
        grown_s = np.empty(2 * len(starts) + 16, np.int64)
        grown_e = np.empty(2 * len(starts) + 16, np.int64)
        grown_s[:k] = starts
        grown_e[:k] = ends
        starts, ends = grown_s, grown_e
    starts[k] = s
    ends[k] = e
    return starts, ends, k + 1


@nb.njit(cache=True, nogil=True, inline="always")
def _push_infixes(cps, flags, s, e, starts, ends, k):
    """Cut ``[s, e)`` at its infixes: the pieces between them and the infixes are words."""
    ts = s
    p = s
    while p < e:
        m = _infix_len(cps, flags, s, e, p)
        if m == 0:
            p += 1
            continue
        if p > ts:
            starts, ends, k = _push(starts, ends, k, ts, p)
        starts, ends, k = _push(starts, ends, k, p, p + m)
        p += m
        ts = p
    if ts < e:
        starts, ends, k = _push(starts, ends, k, ts, e)
    return starts, ends, k


@nb.njit(cache=True, nogil=True, inline="always")
def _merge_specials(cps, starts, ends, k0, k, specials):
    """Join runs of 2-3 adjacent words of one chunk (words k0..k) that spell a special case."""
    if k - k0 < 2:
        return k
    out = k0
    i = k0
    while i < k:
        n = 1
        for run in (3, 2):
            if i + run <= k and ends[i + run - 1] - starts[i] <= MERGED_SPECIAL_MAX_CHARS \
                    and in_set(specials, hash_span(cps, starts[i], ends[i + run - 1])):
                n = run
                break
        starts[out] = starts[i]
        ends[out] = ends[i + n - 1]
        out += 1
        i += n
    return out


@nb.njit(cache=True, nogil=True, inline="always")
def _peel(cps, flags, s, e, tables, starts, ends, k, cut_s):
    """Step 1 of a chunk: push its prefixes as words and record its suffixes (``cut_s``, right to left).
    Returns (s, e, suffixes, whole, starts, ends, k): the middle ``[s, e)`` and whether it stays whole."""
    specials, _, _, _, _, units = tables
    n_suffix = 0
    while s < e:
        if e - s <= SPECIAL_MAX_CHARS and in_set(specials, hash_span(cps, s, e)):
            return s, e, n_suffix, True, starts, ends, k
        first = _contraction(cps, flags, s, e, tables)
        if first > 0:
            starts, ends, k = _push(starts, ends, k, s, s + first)
            return s + first, e, n_suffix, True, starts, ends, k
        m = _prefix_len(cps, flags, s, e)
        if m > 0:
            starts, ends, k = _push(starts, ends, k, s, s + m)
            s += m
            continue
        cut = _suffix_len(cps, flags, s, e, units) if n_suffix < len(cut_s) else 0
        if cut == 0:
            break
        cut_s[n_suffix] = e - cut
        n_suffix += 1
        e -= cut
    return s, e, n_suffix, False, starts, ends, k


@nb.njit(cache=True, nogil=True, inline="always")
def _split_chunk(cps, flags, s, e, tables, starts, ends, k, cut_s):
    """Split the whitespace-free chunk ``[s, e)`` into words appended from word ``k``."""
    k0 = k
    chunk_end = e
    s, e, n_suffix, whole, starts, ends, k = _peel(cps, flags, s, e, tables, starts, ends, k, cut_s)
    if s < e and (whole or _is_url(cps, flags, s, e)):
        starts, ends, k = _push(starts, ends, k, s, e)
    elif s < e:
        starts, ends, k = _push_infixes(cps, flags, s, e, starts, ends, k)
    for q in range(n_suffix - 1, -1, -1):  # suffix q ends where the one peeled before it starts
        starts, ends, k = _push(starts, ends, k, cut_s[q], chunk_end if q == 0 else cut_s[q - 1])
    return starts, ends, _merge_specials(cps, starts, ends, k0, k, tables[0])


@nb.njit(cache=True, nogil=True)
def _split_batch(cps, offsets, flags, tables):
    """All documents: whitespace-delimited chunks, each split by ``_split_chunk``."""
    n_docs = len(offsets) - 1
    cap = len(cps) // 3 + 64  # a first guess (English averages over 4 characters a word); _push grows it
    starts = np.empty(cap, np.int64)
    ends = np.empty(cap, np.int64)
    doc_offsets = np.zeros(n_docs + 1, np.int64)
    cut_s = np.empty(MAX_SUFFIXES, np.int64)
    k = 0
    for d in range(n_docs):
        s, e = next_chunk(cps, flags, offsets[d], offsets[d + 1])
        while s < e:
            starts, ends, k = _split_chunk(cps, flags, s, e, tables, starts, ends, k, cut_s)
            s, e = next_chunk(cps, flags, e, offsets[d + 1])
        doc_offsets[d + 1] = k
    return starts[:k].copy(), ends[:k].copy(), doc_offsets

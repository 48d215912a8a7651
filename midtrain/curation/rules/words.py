"""English word splitting for the prose rules: one numba pass over a whole batch, shared by all rules.

datatrove's Gopher and FineWeb filters count words from spaCy's English tokenizer (``spacy.blank("en")``),
so the published thresholds were tuned on *those* words: "don't" is two words ("do", "n't"), a
sentence's final "." is a word of its own, "well-known" is three. Splitting on whitespace alone would
shift every ratio. ``split_words`` reproduces the tokenizer's rules that matter for counting, written
here from its documented behaviour (prefix / suffix / infix punctuation, contractions, abbreviations
that keep their period, URLs kept whole), and the benchmark measures what it gets wrong
(``benchmarks/bench_rules.py`` prints every disagreement class). ``split_words_reference`` is the
slow pure-Python twin the tests compare against.

A word is a ``[start, end)`` span of code points in the batch's ``TextBatch.codepoints``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

import re

from midtrain.curation.rules.charclass import (AFFIX, ALPHA, CURRENCY, DIGIT, ICON, LOWER, UPPER, UPUNCT, WS,
                                               char_flags)
from midtrain.curation.rules.textbatch import TextBatch

# Polynomial string hash over code points, wrapping mod 2**64: h(ab) = h(a) * BASE**len(b) + h(b),
# which lets n-gram hashes be composed from word hashes (gopher.py) without re-reading characters.
BASE = np.uint64(0x100000001B3)

# Words that keep their final period (abbreviations), as spaCy's English tokenizer keeps them.
ABBREVIATIONS = (
    "Mr. Mrs. Ms. Dr. Prof. St. Jr. Rev. Gen. Gov. Sen. Rep. Adm. Bros. Messrs. Mt. Inc. Ltd. Co. co. "
    "Corp. vs. v.s. e.g. E.g. E.G. i.e. I.e. I.E. a.m. p.m. Ph.D. D.C. "
    "Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec. 's 'S ’s ’S 'd 'em and/or ''"
).split() + [c + "." for c in "abcdefghijklmnopqrstuvwxyzäöü"]
# Emoticons are kept whole too, so "):" at the end of "(see f(x)):" is one word, as in spaCy.
EMOTICONS = ":) :-) :( :-( ;) ;-) (: ): :] [: :-] :* =) (= 8) :/ :p :P :D :-P :-D :'( <3 ^_^ -_- o.O O.o xD XD".split()
# Words after which 'm 're 've 'll 'd are split off ("they'll" -> "they", "'ll").
PRONOUNS = ("i you he she it we they this who what that there here where when why how could should would might "
            "must").split()
# Fused forms written without an apostrophe, split in two: word -> length of the first part.
_AUX = "do does did ca wo is are was were has have had could should would must might need ai".split()
FUSED = {**{a + "nt": len(a) for a in _AUX},
         "cannot": 3, "gonna": 3, "gotta": 3,
         "im": 1, "ive": 1, "id": 1, "youre": 3, "theyre": 4, "youve": 3, "weve": 2, "theyve": 4, "youd": 3,
         "theyd": 4, "hes": 2, "shes": 3, "whats": 4, "thats": 4, "youll": 3, "theyll": 4, "itll": 2, "hed": 2,
         "wed": 2}
# Unit suffixes split from a number ("5km" -> "5", "km").
UNITS = "km m cm mm nm kg g mg t lb lbs oz ml mph kmh kb KB mb MB gb GB tb TB K M G T am pm".split()


def _hash_str(s: str) -> np.uint64:
    h = 0
    for ch in s:
        h = (h * int(BASE) + ord(ch) + 1) % (1 << 64)
    return np.uint64(h)


def _hash_set(words) -> np.ndarray:
    return np.unique(np.array([_hash_str(w) for w in words], dtype=np.uint64))


_ABBREV_HASHES = _hash_set(ABBREVIATIONS + EMOTICONS)
_PRONOUN_HASHES = _hash_set(PRONOUNS)
_FUSED_HASHES = np.array(sorted(_hash_str(w) for w in FUSED), dtype=np.uint64)
_FUSED_FIRST = np.array([FUSED[w] for w in sorted(FUSED, key=_hash_str)], dtype=np.int64)
_UNIT_HASHES = _hash_set(UNITS)


@dataclass(frozen=True)
class WordSplits:
    """Words of a batch: word ``j`` spans ``codepoints[starts[j]:ends[j]]``; document ``i`` owns words
    ``doc_offsets[i]:doc_offsets[i + 1]``."""

    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    doc_offsets: np.ndarray  # int64, len = documents + 1


def split_words(batch: TextBatch) -> WordSplits:
    """Split every document of the batch into English words in one compiled pass."""
    starts, ends, doc_offsets = _split_batch(batch.codepoints, batch.offsets, char_flags(), _ABBREV_HASHES,
                                             _PRONOUN_HASHES, _FUSED_HASHES, _FUSED_FIRST, _UNIT_HASHES)
    return WordSplits(starts, ends, doc_offsets)


_URL = re.compile(r"^(?:[\w+\-.]{2,}://)?(?:\S+@)?(?:[A-Za-z0-9\u00a1-\uffff_-]+\.)+[^\W\d_A-Z]{2,63}"
                  r"(?::\d{2,5})?(?:[/?#]\S*)?$")


def split_words_reference(text: str) -> list[str]:
    """The same splitting as ``split_words`` for one string, in plain Python (the tests' twin)."""
    batch = TextBatch.from_texts([text])
    cps = batch.codepoints
    out: list[str] = []
    flags = char_flags()
    n = len(cps)
    i = 0
    while i < n:
        if flags[cps[i]] & WS:
            i += 1
            continue
        j = i
        while j < n and not flags[cps[j]] & WS:
            j += 1
        for s, e in _split_chunk_py(cps, i, j, flags):
            out.append("".join(chr(c) for c in cps[s:e]))
        i = j
    return out


def _split_chunk_py(cps, s, e, flags):
    """Pure-Python version of ``_split_chunk`` (shares nothing with it but the rules)."""
    prefixes, suffixes = [], []
    text = lambda a, b: "".join(chr(c) for c in cps[a:b])  # noqa: E731
    middle = None
    while s < e:
        chunk = text(s, e)
        if chunk in ABBREVIATIONS or chunk in EMOTICONS:
            middle = [(s, e)]
            break
        parts = _contraction_py(chunk)
        if parts is not None:
            middle = [(s, s + parts), (s + parts, e)]
            break
        f0 = int(flags[cps[s]])
        if chunk[0] == "." and len(chunk) > 1 and chunk[1] == ".":
            k = s
            while k < e and cps[k] == ord("."):
                k += 1
            prefixes.append((s, k))
            s = k
            continue
        if f0 & (AFFIX | ICON | CURRENCY) or chunk[0] in "§%=—–" or (chunk[0] == "+" and not (len(chunk) > 1 and chunk[1].isdigit() and chunk[1] in "0123456789")):
            prefixes.append((s, s + 1))
            s += 1
            continue
        cut = _suffix_len_py(chunk, cps, s, e, flags)
        if cut:
            suffixes.append((e - cut, e))
            e -= cut
            continue
        break
    if middle is None:
        middle = _infixes_py(cps, s, e, flags) if s < e else []
    return _merge_specials_py(prefixes + middle + suffixes[::-1], cps)


def _merge_specials_py(spans, cps):
    """Join runs of 2-3 adjacent words that together spell an emoticon or "''" (as spaCy does)."""
    out = []
    i = 0
    while i < len(spans):
        for n in (3, 2):
            group = spans[i:i + n]
            if len(group) == n and group[-1][1] - group[0][0] <= 4:
                text = "".join(chr(c) for c in cps[group[0][0]:group[-1][1]])
                if text in EMOTICONS or text in ABBREVIATIONS:
                    out.append((group[0][0], group[-1][1]))
                    i += n
                    break
        else:
            out.append(spans[i])
            i += 1
    return out


def _contraction_py(chunk: str) -> int | None:
    lower = chunk.lower()
    case_ok = chunk == lower or (chunk[0].isupper() and chunk[1:] == lower[1:])
    if not case_ok or len(chunk) < 2:
        return None
    if len(chunk) >= 4 and (lower.endswith("n't") or lower.endswith("n’t")) and chunk[:-3].isalpha():
        return len(chunk) - 3
    for suf in ("'m", "'re", "'ve", "'ll", "'d"):
        for q in ("'", "’"):
            s2 = suf.replace("'", q)
            if lower.endswith(s2) and lower[: -len(s2)] in PRONOUNS:
                return len(chunk) - len(s2)
    if lower in FUSED:
        return FUSED[lower]
    return None


def _suffix_len_py(chunk, cps, s, e, flags) -> int:
    n = len(chunk)
    if n > 2 and chunk[-2] in "'’" and chunk[-1] in "sS":
        return 2
    if n >= 2 and chunk[-1] == "." and chunk[-2] == ".":
        k = e
        while k > s and cps[k - 1] == ord("."):
            k -= 1
        return e - k if k > s else 0
    last = int(flags[cps[e - 1]])
    if last & (AFFIX | ICON) or chunk[-1] in "—–":
        return 1
    if n >= 2:
        prev = int(flags[cps[e - 2]])
        if chunk[-1] == "." and (prev & (LOWER | DIGIT | UPUNCT | AFFIX) or chunk[-2] in "%²-+"
                                 or (n >= 3 and prev & UPPER and flags[cps[e - 3]] & UPPER)):
            return 1
        if chunk[-1] in "+%" and prev & DIGIT:
            return 1
    # a unit after a number: "5km" -> "5", "km"
    k = e
    while k > s and flags[cps[k - 1]] & ALPHA:
        k -= 1
    if s < k < e and flags[cps[k - 1]] & DIGIT and chunk[k - s:] in UNITS:
        return e - k
    return 0


def _infixes_py(cps, s, e, flags):
    text = "".join(chr(c) for c in cps[s:e])
    if _URL.match(text):
        return [(s, e)]
    out = []
    ts = s
    i = s
    while i < e:
        m = _infix_len_py(cps, s, e, i, flags)
        if m:
            if i > ts:
                out.append((ts, i))
            out.append((i, i + m))
            ts = i = i + m
        else:
            i += 1
    if ts < e:
        out.append((ts, e))
    return out


def _infix_len_py(cps, s, e, i, flags) -> int:
    c = chr(cps[i])
    f = int(flags[cps[i]])
    prev = int(flags[cps[i - 1]]) if i > s else 0
    if c == "." and i + 1 < e and cps[i + 1] == ord("."):
        k = i
        while k < e and cps[k] == ord("."):
            k += 1
        return k - i
    if c == "…" or f & ICON:
        return 1
    if i == s or i + 1 >= e:
        return 0
    nxt = int(flags[cps[i + 1]])
    if c in "+-*^" and prev & DIGIT and (nxt & DIGIT or chr(cps[i + 1]) == "-"):
        return 1
    if c == "." and prev & LOWER and nxt & UPPER:
        return 1
    if c == "," and prev & ALPHA and nxt & ALPHA:
        return 1
    if prev & (ALPHA | DIGIT):
        for h in ("---", "--", "-", "–", "—", "~"):
            if "".join(chr(x) for x in cps[i:i + len(h)]) == h and i + len(h) < e and flags[cps[i + len(h)]] & ALPHA:
                return len(h)
        if c in ":<>=/" and nxt & ALPHA:
            return 1
    return 0


# ----------------------------------------------------------------------------------------------
# the compiled kernel


@nb.njit(cache=True, nogil=True, inline="always")
def _hash_span(cps, s, e):
    h = np.uint64(0)
    for i in range(s, e):
        h = h * BASE + np.uint64(cps[i]) + np.uint64(1)
    return h


@nb.njit(cache=True, nogil=True, inline="always")
def _lower_hash_span(cps, s, e):
    h = np.uint64(0)
    for i in range(s, e):
        c = cps[i]
        if 65 <= c <= 90:
            c += 32
        h = h * BASE + np.uint64(c) + np.uint64(1)
    return h


@nb.njit(cache=True, nogil=True, inline="always")
def _in_set(hashes, h):
    k = np.searchsorted(hashes, h)
    return k < len(hashes) and hashes[k] == h


@nb.njit(cache=True, nogil=True)
def _case_ok(cps, flags, s, e):
    """All lowercase, or a capital then lowercase (the case variants contractions split in)."""
    for i in range(s + 1, e):
        if flags[cps[i]] & UPPER:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _contraction(cps, flags, s, e, pronouns, fused, fused_first):
    """Length of the first part when [s, e) is a contraction to split in two, else 0."""
    n = e - s
    if n < 2:
        return 0
    apostrophe = False
    for k in range(max(s, e - 4), e):
        if cps[k] == 39 or cps[k] == 0x2019:
            apostrophe = True
    if not apostrophe and n > 8:  # the longest fused form is 8 letters ("shouldnt")
        return 0
    if not _case_ok(cps, flags, s, e):
        return 0
    if n >= 4 and (cps[e - 2] == 39 or cps[e - 2] == 0x2019) and cps[e - 1] == 116 and cps[e - 3] == 110:
        for i in range(s, e - 3):  # "n't": the stem must be letters
            if not flags[cps[i]] & ALPHA:
                return 0
        return n - 3
    for k in (2, 3):  # 'm 'd (k=2) and 're 've 'll (k=3)
        if n > k and (cps[e - k] == 39 or cps[e - k] == 0x2019):
            a = cps[e - k + 1] | 32
            ok = False
            if k == 2:
                ok = a == 109 or a == 100  # m d
            else:
                b = cps[e - 1] | 32
                ok = (a == 114 and b == 101) or (a == 118 and b == 101) or (a == 108 and b == 108)
            if ok and _in_set(pronouns, _lower_hash_span(cps, s, e - k)):
                return n - k
    k = np.searchsorted(fused, _lower_hash_span(cps, s, e))
    if k < len(fused) and fused[k] == _lower_hash_span(cps, s, e):
        return fused_first[k]
    return 0


@nb.njit(cache=True, nogil=True)
def _suffix_len(cps, flags, s, e, units):
    n = e - s
    c = cps[e - 1]
    if n > 2 and (cps[e - 2] == 39 or cps[e - 2] == 0x2019) and (c == 115 or c == 83):
        return 2
    if n >= 2 and c == 46 and cps[e - 2] == 46:
        k = e
        while k > s and cps[k - 1] == 46:
            k -= 1
        return e - k if k > s else 0
    last = flags[c]
    if last & (AFFIX | ICON) or c == 0x2014 or c == 0x2013:
        return 1
    if n >= 2:
        p = cps[e - 2]
        prev = flags[p]
        if c == 46 and (prev & (LOWER | DIGIT | UPUNCT | AFFIX) or p == 37 or p == 0xB2 or p == 45 or p == 43
                        or (n >= 3 and prev & UPPER and flags[cps[e - 3]] & UPPER)):
            return 1
        if (c == 43 or c == 37) and prev & DIGIT:
            return 1
    k = e
    while k > s and k > e - 4 and flags[cps[k - 1]] & ALPHA:  # units are at most 3 letters
        k -= 1
    if s < k < e and flags[cps[k - 1]] & DIGIT and _in_set(units, _hash_span(cps, k, e)):
        return e - k
    return 0


@nb.njit(cache=True, nogil=True)
def _infix_len(cps, flags, s, e, i):
    c = cps[i]
    f = flags[c]
    if c == 46 and i + 1 < e and cps[i + 1] == 46:
        k = i
        while k < e and cps[k] == 46:
            k += 1
        return k - i
    if c == 0x2026 or f & ICON:
        return 1
    if i == s or i + 1 >= e:
        return 0
    prev = flags[cps[i - 1]]
    nxt = flags[cps[i + 1]]
    if (c == 43 or c == 45 or c == 42 or c == 94) and prev & DIGIT and (nxt & DIGIT or cps[i + 1] == 45):
        return 1
    if c == 46 and prev & LOWER and nxt & UPPER:
        return 1
    if c == 44 and prev & ALPHA and nxt & ALPHA:
        return 1
    if prev & (ALPHA | DIGIT):
        if c == 45:  # "-", "--", "---"
            k = i
            while k < e and k < i + 3 and cps[k] == 45:
                k += 1
            if k < e and flags[cps[k]] & ALPHA:
                return k - i
            return 0
        if c == 0x2013 or c == 0x2014 or c == 126:
            return 1 if nxt & ALPHA else 0
        if (c == 58 or c == 60 or c == 62 or c == 61 or c == 47) and nxt & ALPHA:
            return 1
    return 0


@nb.njit(cache=True, nogil=True)
def _is_label_char(c, flags):
    return (flags[c] & (ALPHA | DIGIT) and c < 128) or (c < 128 and (65 <= c <= 90 or 97 <= c <= 122)) \
        or 0xA1 <= c <= 0xFFFF


@nb.njit(cache=True, nogil=True)
def _is_url(cps, s, e, flags):
    """True when [s, e) looks like a URL or host name (scheme optional): it is then kept whole."""
    p = s
    for i in range(s, e - 2):  # an optional scheme "xx://"
        if cps[i] == 58 and cps[i + 1] == 47 and cps[i + 2] == 47:
            p = i + 3
            break
    for i in range(e - 1, p - 1, -1):  # optional "user@"
        if cps[i] == 64:
            p = i + 1
            break
    labels = 0
    while True:  # host labels, each followed by "."
        q = p
        while q < e and (_is_label_char(cps[q], flags) or cps[q] == 95 or cps[q] == 45):
            q += 1
        if q < e and cps[q] == 46 and q > p and cps[p] != 95 and cps[p] != 45 \
                and cps[q - 1] != 95 and cps[q - 1] != 45:
            labels += 1
            p = q + 1
            continue
        break
    if labels == 0:
        return False
    q = p  # the top-level domain: 2 to 63 lowercase letters
    while q < e and flags[cps[q]] & LOWER:
        q += 1
    if q - p < 2 or q - p > 63:
        return False
    if q < e and cps[q] == 58:  # ":port"
        r = q + 1
        while r < e and flags[cps[r]] & DIGIT:
            r += 1
        if 2 <= r - q - 1 <= 5:
            q = r
    return q == e or cps[q] == 47 or cps[q] == 63 or cps[q] == 35


@nb.njit(cache=True, nogil=True)
def _push(starts, ends, k, s, e):
    if k == len(starts):
        grown_s = np.empty(2 * len(starts) + 16, np.int64)
        grown_e = np.empty(2 * len(starts) + 16, np.int64)
        grown_s[:k] = starts
        grown_e[:k] = ends
        starts, ends = grown_s, grown_e
    starts[k] = s
    ends[k] = e
    return starts, ends, k + 1


@nb.njit(cache=True, nogil=True)
def _merge_specials(cps, starts, ends, k0, k, specials):
    """Join runs of 2-3 adjacent words of one chunk (words k0..k) that spell a special case."""
    if k - k0 < 2:
        return k
    out = k0
    i = k0
    while i < k:
        merged = False
        for n in (3, 2):
            if i + n <= k and ends[i + n - 1] - starts[i] <= 4 and _in_set(specials, _hash_span(cps, starts[i], ends[i + n - 1])):
                starts[out] = starts[i]
                ends[out] = ends[i + n - 1]
                out += 1
                i += n
                merged = True
                break
        if not merged:
            starts[out] = starts[i]
            ends[out] = ends[i]
            out += 1
            i += 1
    return out


@nb.njit(cache=True, nogil=True)
def _split_batch(cps, offsets, flags, abbrevs, pronouns, fused, fused_first, units):
    n_docs = len(offsets) - 1
    cap = len(cps) // 3 + 64
    starts = np.empty(cap, np.int64)
    ends = np.empty(cap, np.int64)
    doc_offsets = np.zeros(n_docs + 1, np.int64)
    cut_s = np.empty(256, np.int64)  # suffix words of one chunk, found right to left
    k = 0
    for d in range(n_docs):
        i = offsets[d]
        stop = offsets[d + 1]
        while i < stop:
            if flags[cps[i]] & WS:
                i += 1
                continue
            j = i
            while j < stop and not flags[cps[j]] & WS:
                j += 1
            # one whitespace-delimited chunk [i, j): strip prefixes and suffixes, then split infixes
            k_chunk = k
            s = i
            e = j
            n_suffix = 0
            whole = False
            while s < e:
                if e - s <= 8 and _in_set(abbrevs, _hash_span(cps, s, e)):
                    whole = True
                    break
                first = _contraction(cps, flags, s, e, pronouns, fused, fused_first)
                if first > 0:
                    starts, ends, k = _push(starts, ends, k, s, s + first)
                    s += first
                    whole = True
                    break
                c = cps[s]
                if c == 46 and s + 1 < e and cps[s + 1] == 46:
                    m = s
                    while m < e and cps[m] == 46:
                        m += 1
                    starts, ends, k = _push(starts, ends, k, s, m)
                    s = m
                    continue
                f0 = flags[c]
                if (f0 & (AFFIX | ICON | CURRENCY) or c == 0xA7 or c == 37 or c == 61 or c == 0x2014 or c == 0x2013
                        or (c == 43 and not (s + 1 < e and flags[cps[s + 1]] & DIGIT))):
                    starts, ends, k = _push(starts, ends, k, s, s + 1)
                    s += 1
                    continue
                if n_suffix < 256:
                    cut = _suffix_len(cps, flags, s, e, units)
                    if cut > 0:
                        cut_s[n_suffix] = e - cut
                        n_suffix += 1
                        e -= cut
                        continue
                break
            if s < e:
                if whole or _is_url(cps, s, e, flags):
                    starts, ends, k = _push(starts, ends, k, s, e)
                else:
                    ts = s
                    p = s
                    while p < e:
                        m = _infix_len(cps, flags, s, e, p)
                        if m > 0:
                            if p > ts:
                                starts, ends, k = _push(starts, ends, k, ts, p)
                            starts, ends, k = _push(starts, ends, k, p, p + m)
                            p += m
                            ts = p
                        else:
                            p += 1
                    if ts < e:
                        starts, ends, k = _push(starts, ends, k, ts, e)
            for q in range(n_suffix - 1, -1, -1):
                # suffix q starts at cut_s[q] and ends where the one found before it started
                end_q = j if q == 0 else cut_s[q - 1]
                starts, ends, k = _push(starts, ends, k, cut_s[q], end_q)
            k = _merge_specials(cps, starts, ends, k_chunk, k, abbrevs)
            i = j
        doc_offsets[d + 1] = k
    return starts[:k].copy(), ends[:k].copy(), doc_offsets

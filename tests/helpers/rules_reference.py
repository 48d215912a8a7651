"""Pure-Python twins of the rules' compiled kernels: the specification the tests hold them to.

Everything here works on ``str`` with Python's own character predicates (``str.isspace``,
``str.isalpha``, ``unicodedata.category``) and datatrove's punctuation sets, never with the kernels'
flag table (``char_flags``) or ``TextBatch``, so a bug in the character classes or the decoding cannot
move both sides together. Only the word tables (wordlists.py: data, not logic) are shared.

Word splitting mirrors the kernel's helpers one to one (``prefix_len`` ~ ``_prefix_len`` ...) so each
helper can be tested on its own; the signal twins are written from the rules' definitions.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

from midtrain.curation.rules.wordlists import (AFFIX_CHARS, FUSED, MERGED_SPECIAL_MAX_CHARS, PRONOUN_SUFFIXES,
                                               PRONOUNS, SPECIALS, STOP_WORDS, UNITS)

DIGITS = "0123456789"  # the splitter's number rules are ASCII-only
QUOTES = "'’"
SPECIAL_SET = set(SPECIALS)


# ----------------------------------------------------------------------------------------------
# character predicates


def is_punct(c: str) -> bool:
    return unicodedata.category(c).startswith("P")


def is_icon(c: str) -> bool:
    return unicodedata.category(c) == "So"


def is_currency(c: str) -> bool:
    return unicodedata.category(c) == "Sc"


def is_affix(c: str) -> bool:
    return c in AFFIX_CHARS


def ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


# ----------------------------------------------------------------------------------------------
# word splitting


def contraction(chunk: str) -> int:
    """Length of the first part of a contraction to split in two, else 0."""
    n = len(chunk)
    if n < 2 or any(c.isupper() for c in chunk[1:]):
        return 0
    if n >= 4 and chunk[-3] == "n" and chunk[-2] in QUOTES and chunk[-1] == "t":
        return n - 3 if chunk[:-3].isalpha() else 0
    lower = ascii_lower(chunk)
    for k in (2, 3):
        if n > k and chunk[-k] in QUOTES and lower[1 - k:] in PRONOUN_SUFFIXES and lower[:-k] in PRONOUNS:
            return n - k
    return FUSED.get(lower, 0)


def prefix_len(chunk: str) -> int:
    c = chunk[0]
    if chunk.startswith(".."):
        return len(chunk) - len(chunk.lstrip("."))
    if is_affix(c) or is_icon(c) or is_currency(c) or c in "§%=—–":
        return 1
    if c == "+" and not (len(chunk) > 1 and chunk[1] in DIGITS):
        return 1
    return 0


def unit_len(chunk: str) -> int:
    k = len(chunk)
    while k > 0 and chunk[k - 1].isalpha():
        k -= 1
    return len(chunk) - k if 0 < k < len(chunk) and chunk[k - 1] in DIGITS and chunk[k:] in UNITS else 0


def suffix_len(chunk: str) -> int:
    n, c = len(chunk), chunk[-1]
    if n > 2 and chunk[-2] in QUOTES and c in "sS":
        return 2
    if chunk.endswith(".."):
        rest = len(chunk.rstrip("."))
        return n - rest if rest else 0
    if is_affix(c) or is_icon(c) or c in "—–":
        return 1
    if n >= 2:
        p = chunk[-2]
        if c == "." and (p.islower() or p in DIGITS or is_punct(p) or is_affix(p) or p in "%²-+"
                         or (n >= 3 and p.isupper() and chunk[-3].isupper())):
            return 1
        if c in "+%" and p in DIGITS:
            return 1
    return unit_len(chunk)


def infix_len(chunk: str, i: int) -> int:
    c = chunk[i]
    if chunk.startswith("..", i):
        return len(chunk[i:]) - len(chunk[i:].lstrip("."))
    if c == "…" or is_icon(c):
        return 1
    if i == 0 or i + 1 >= len(chunk):
        return 0
    p, nxt = chunk[i - 1], chunk[i + 1]
    if c in "+-*^" and p in DIGITS and (nxt in DIGITS or nxt == "-"):
        return 1
    if (c == "." and p.islower() and nxt.isupper()) or (c == "," and p.isalpha() and nxt.isalpha()):
        return 1
    if not (p.isalpha() or p in DIGITS):
        return 0
    if c == "-":
        run = min(3, len(chunk[i:]) - len(chunk[i:].lstrip("-")))
        return run if i + run < len(chunk) and chunk[i + run].isalpha() else 0
    return 1 if c in "–—~:<>=/" and nxt.isalpha() else 0


def is_url(chunk: str) -> bool:
    """A host name with optional "scheme://" and "user@", a lowercase top-level domain of 2-63 letters,
    an optional ":port" of 2-5 digits, then the end or "/" "?" "#"."""
    scheme = chunk.find("://")
    p = scheme + 3 if scheme >= 0 else 0
    at = chunk.rfind("@", p)
    p = at + 1 if at >= 0 else p
    labels = 0
    while True:
        q = p
        while q < len(chunk) and (chunk[q].isascii() and chunk[q].isalnum() or chunk[q] in "_-"
                                  or "\u00a1" <= chunk[q] <= "\uffff"):
            q += 1
        if q == p or q >= len(chunk) or chunk[q] != "." or chunk[p] in "_-" or chunk[q - 1] in "_-":
            break
        labels += 1
        p = q + 1
    q = p
    while q < len(chunk) and chunk[q].islower():
        q += 1
    if labels == 0 or not 2 <= q - p <= 63:
        return False
    if q < len(chunk) and chunk[q] == ":":
        digits = len(chunk[q + 1:]) - len(chunk[q + 1:].lstrip(DIGITS))
        q += 1 + digits if 2 <= digits <= 5 else 0
    return q == len(chunk) or chunk[q] in "/?#"


def infixes(middle: str) -> list[str]:
    words, start, i = [], 0, 0
    while i < len(middle):
        m = infix_len(middle, i)
        if not m:
            i += 1
            continue
        if i > start:
            words.append(middle[start:i])
        words.append(middle[i:i + m])
        i += m
        start = i
    if start < len(middle):
        words.append(middle[start:])
    return words


def merge_specials(words: list[str]) -> list[str]:
    """Join runs of 2-3 words that spell a special case (3 before 2)."""
    out, i = [], 0
    while i < len(words):
        for n in (3, 2):
            joined = "".join(words[i:i + n])
            if i + n <= len(words) and len(joined) <= MERGED_SPECIAL_MAX_CHARS and joined in SPECIAL_SET:
                out.append(joined)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


def split_chunk(chunk: str) -> list[str]:
    """The words of one whitespace-free chunk."""
    prefixes, suffixes = [], []
    s, e, whole = 0, len(chunk), False
    while s < e:
        part = chunk[s:e]
        if part in SPECIAL_SET:
            whole = True
            break
        first = contraction(part)
        if first:
            prefixes.append(part[:first])
            s, whole = s + first, True
            break
        m = prefix_len(part)
        cut = 0 if m or len(suffixes) >= 256 else suffix_len(part)
        if m:
            prefixes.append(part[:m])
            s += m
        elif cut:
            suffixes.append(part[-cut:])
            e -= cut
        else:
            break
    middle = chunk[s:e]
    words = prefixes + ([middle] if whole or is_url(middle) else infixes(middle)) if middle else prefixes
    return merge_specials(words + suffixes[::-1])


def split_words(text: str) -> list[str]:
    """The English words of ``text``, as ``midtrain.curation.rules.words.split_words`` splits them."""
    return [w for chunk in text.split() for w in split_chunk(chunk)]


def word_starts(text: str) -> list[tuple[int, str]]:
    """(offset, word) of every word of ``text``: the words of a chunk tile it."""
    out = []
    for m in re.finditer(r"\S+", text):
        at = m.start()
        for w in split_chunk(m.group()):
            out.append((at, w))
            at += len(w)
    return out


# ----------------------------------------------------------------------------------------------
# per-word facts and Gopher quality


def word_kind(word: str) -> tuple[bool, bool, bool, bool]:
    """(non-symbol, has a letter, all punctuation, sentence end) of one word."""
    return (any(c not in PUNCTUATION_SET for c in word), any(c.isalpha() for c in word),
            all(is_punct(c) for c in word), len(word) == 1 and word in TERMINAL_PUNCTUATION)


def hashes_and_ellipses(text: str) -> tuple[int, int]:
    return text.count("#"), text.count("...") + text.count("…")


def bullet_and_ellipsis_lines(text: str) -> tuple[int, int, int]:
    lines = text.splitlines()
    return (len(lines), sum(s.strip().startswith(("•", "-")) for s in lines),
            sum(s.strip().endswith(("...", "…")) for s in lines))


def gopher_quality_signals(text: str, words: list[str]) -> dict:
    n = len(words)
    ns = [w for w in words if word_kind(w)[0]]
    hashes, ellipses = hashes_and_ellipses(text)
    n_lines, bullets, ending = bullet_and_ellipsis_lines(text)
    return {
        "gopher_quality_word_count": len(ns),
        "gopher_quality_mean_word_length": float(np.mean([len(w) for w in ns])) if ns else float("nan"),
        "gopher_quality_hash_ratio": hashes / n if n else 0.0,
        "gopher_quality_ellipsis_ratio": ellipses / n if n else 0.0,
        "gopher_quality_bullet_lines_ratio": bullets / n_lines if n_lines else 0.0,
        "gopher_quality_ellipsis_lines_ratio": ending / n_lines if n_lines else 0.0,
        "gopher_quality_alpha_words_ratio": sum(word_kind(w)[1] for w in words) / n if n else 0.0,
        "gopher_quality_stop_words": len(set(STOP_WORDS) & set(words)),
        # the paper's definition: whitespace-separated words holding a letter
        "gopher_quality_alpha_ws_words_ratio": (sum(any(c.isalpha() for c in w) for w in text.split())
                                                / len(text.split()) if text.split() else 0.0),
    }


# ----------------------------------------------------------------------------------------------
# Gopher repetition


def duplicated(pieces: list[str]) -> tuple[float, int]:
    """(repeats / pieces, characters of the repeats): every occurrence after the first is a repeat."""
    seen, dups, chars = set(), 0, 0
    for p in pieces:
        if p in seen:
            dups += 1
            chars += len(p)
        seen.add(p)
    return dups / len(pieces), chars


def top_ngram_chars(words: list[str], n: int) -> int:
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    top, count = Counter(grams).most_common(1)[0]  # ties: the first seen
    return len(top) * count


def dup_ngram_chars(words: list[str], n: int) -> int:
    seen, repeated, i = set(), 0, 0
    while i < len(words) - n + 1:
        g = "".join(words[i:i + n])
        if g in seen:
            repeated += len(g)
            i += n
        else:
            seen.add(g)
            i += 1
    return repeated


def gopher_repetition_signals(text: str, words: list[str]) -> dict:
    out = {"gopher_rep_dup_para_frac": 0.0, "gopher_rep_dup_para_char_frac": 0.0, "gopher_rep_dup_line_frac": 0.0,
           "gopher_rep_dup_line_char_frac": 0.0}
    out.update({f"gopher_rep_top_{n}_gram_frac": 0.0 for n in (2, 3, 4)})
    out.update({f"gopher_rep_dup_{n}_gram_frac": 0.0 for n in range(5, 11)})
    if not text:
        return out
    for kind, pieces in (("para", re.split(r"\n{2,}", text.strip())), ("line", re.split("\n+", text))):
        frac, chars = duplicated(pieces)
        out[f"gopher_rep_dup_{kind}_frac"] = frac
        out[f"gopher_rep_dup_{kind}_char_frac"] = chars / len(text)
    for n in (2, 3, 4):
        out[f"gopher_rep_top_{n}_gram_frac"] = top_ngram_chars(words, n) / len(text)
    for n in range(5, 11):
        out[f"gopher_rep_dup_{n}_gram_frac"] = dup_ngram_chars(words, n) / len(text)
    return out


# ----------------------------------------------------------------------------------------------
# C4

CITATION = re.compile(r"\[[0-9]*]|\[edit]|\[citation needed]")  # ASCII digits, as the kernel reads them
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def ends_terminal(line: str) -> bool:
    line = CITATION.sub("", line)
    return line.endswith((".", "?", "!", '"', "'")) and not line.endswith("...")


def judge_line(line: str) -> tuple[bool, bool, bool]:
    """(kept, says "lorem ipsum", holds "{") of a stripped line, in C4's order of line filters."""
    split = line.split()
    if any(len(w) > 1000 for w in split) or not ends_terminal(line) or len(split) < 3:
        return False, False, False
    low = ascii_lower(line)
    lorem = "lorem ipsum" in low
    if "javascript" in low:
        return False, lorem, False
    return not any(p in low for p in POLICY), lorem, "{" in line


def sentences(words: list[str]) -> int:
    """Sentences as spaCy's sentencizer cuts a line: after a sentence-final word, at the next word
    that is not punctuation."""
    count, seen_end = (1 if words else 0), False
    for w in words:
        _, _, punct, end = word_kind(w)
        if seen_end and not punct and not end:
            count += 1
            seen_end = False
        elif end:
            seen_end = True
    return count


def words_outside_citations(line: str) -> list[str]:
    """The words of a line that do not start inside a citation."""
    cites = [m.span() for m in CITATION.finditer(line)]
    return [w for at, w in word_starts(line) if not any(a <= at < b for a, b in cites)]


def c4_signals(text: str) -> dict:
    count, lorem, curly = 0, False, False
    for line in text.splitlines():
        kept, says_lorem, has_curly = judge_line(line.strip())
        lorem |= says_lorem
        curly |= has_curly
        if kept:
            count += sentences(words_outside_citations(line.strip()))
    return {"c4_sentences": count, "c4_lorem_ipsum": lorem, "c4_curly_bracket": curly}


# ----------------------------------------------------------------------------------------------
# FineWeb and code


def nonblank_lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if ln.strip() != ""]


def fineweb_signals(text: str, words: list[str]) -> dict:
    lines = nonblank_lines(text)
    if not lines:
        return {"fineweb_lines": 0, "fineweb_line_punct_ratio": 0.0, "fineweb_short_line_ratio": 0.0,
                "fineweb_char_dup_ratio": 0.0, "fineweb_list_ratio": 0.0}
    return {
        "fineweb_lines": len(lines),
        "fineweb_line_punct_ratio": sum(ln[-1] in TERMINAL_PUNCTUATION for ln in lines) / len(lines),
        "fineweb_short_line_ratio": sum(len(ln) <= 30 for ln in lines) / len(lines),
        "fineweb_char_dup_ratio": duplicated(lines)[1] / len(text.replace("\n", "")),
        "fineweb_list_ratio": text.count("\n") / len(words) if words else float("inf"),
    }


GENERATED = ("auto-generated", "autogenerated", "automatically generated", "generated automatically",
             "this file is generated", "do not edit", "generated by")
GENERATOR_NOTICES = ("do not edit", "@generated")
DATA_CHARS = set(",.;:+-xXabcdefABCDEF()[]{}\"'|/")


def is_data_line(line: str) -> bool:
    return all(c in DIGITS or c.isspace() or c in DATA_CHARS for c in line) and any(c in DIGITS for c in line)


def line_shape(line: str) -> tuple:
    """A run of ``str.isalnum`` characters and ``_`` is one symbol (None), whitespace is dropped, any other
    character is a symbol of its own."""
    out: list = []
    in_word = False
    for c in line:
        if c.isalnum() or c == "_":
            if not in_word:
                out.append(None)
            in_word = True
            continue
        in_word = False
        if not c.isspace():
            out.append(c)
    return tuple(out)


def repeated_shape_fraction(non_blank: list[str], run: int = 8, min_symbols: int = 3) -> float:
    """Share of the lines that lie in a run of ``run`` or more consecutive lines of one shape of at least
    ``min_symbols`` symbols."""
    shapes = [line_shape(ln) for ln in non_blank]
    in_runs, i = 0, 0
    while i < len(shapes):
        j = i
        while j + 1 < len(shapes) and shapes[j + 1] == shapes[i]:
            j += 1
        if j - i + 1 >= run and len(shapes[i]) >= min_symbols:
            in_runs += j - i + 1
        i = j + 1
    return in_runs / len(shapes) if shapes else 0.0


def visible_text(text: str) -> tuple[int, int]:
    """(non-whitespace characters outside ``<...>`` tags, all non-whitespace characters)."""
    inside = False
    visible = seen = 0
    for c in text:
        if c == "<":
            inside = True
        if not c.isspace():
            seen += 1
            visible += not inside
        if c == ">":
            inside = False
    return visible, seen


def code_signals(text: str) -> dict:
    lines = text.splitlines()
    non_blank = [ln for ln in lines if ln and not ln.isspace()]
    visible, seen = visible_text(text)
    return {
        "code_max_line_length": max((len(ln) for ln in lines), default=0),
        "code_mean_line_length": sum(len(ln) for ln in lines) / len(lines) if lines else 0.0,
        "code_alnum_fraction": sum(c.isalnum() for c in text) / len(text) if text else 0.0,
        "code_autogenerated": any(any(m in ascii_lower(ln) for m in GENERATED) for ln in lines[:5]),
        "code_minified": any(len(ln) > 500 and sum(c.isspace() for c in ln) < 0.05 * len(ln) for ln in lines),
        "code_data_line_fraction": sum(map(is_data_line, non_blank)) / len(non_blank) if non_blank else 0.0,
        "code_repeated_shape_fraction": repeated_shape_fraction(non_blank),
        "code_generator_notice": any(any(m in ascii_lower(ln) for m in GENERATOR_NOTICES) for ln in lines[:30]),
        "code_xml_declaration": "<?xml version=" in text[:100],
        "code_visible_fraction": visible / seen if seen else 1.0,
        "code_visible_chars": visible,
    }


def reference_signals(text: str) -> dict:
    """Every signal of one document, the slow way."""
    words = split_words(text)
    return {"rules_chars": len(text), "rules_words": len(words), **gopher_repetition_signals(text, words),
            **gopher_quality_signals(text, words), **c4_signals(text), **fineweb_signals(text, words),
            **code_signals(text)}

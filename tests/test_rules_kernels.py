"""Each compiled helper of the rule families equals its pure-Python twin (helpers/rules_reference.py) on
arbitrary text, unicode included: lines, stripping, substring search, duplicates, per-word facts, and
the parts of the Gopher, C4, FineWeb and code kernels."""

from __future__ import annotations

import re

import numpy as np
from helpers import rules_reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.rules import c4, fineweb, gopher_quality, gopher_repetition, source_code, spans, wordstats
from midtrain.curation.rules.charclass import char_flags
from midtrain.curation.rules.hashing import BASE, hash_set, hash_span, hash_str, in_set, lower_hash_span
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import split_words

FLAGS = char_flags()

_PIECES = ["the ", "of ", "and ", "word ", "Word. ", "x ", "- ", "• ", "#", "...", "…", "\n", "\n\n", "\r\n", "\r",
           "\u2028", "\x0b", "\u00a0", "\t", " ", "[1]", "[edit]", "[citation needed]", "[]", "[١]", "{", "}", ".",
           "!", "?", '"', "'", "lorem ipsum", "LOREM Ipsum", "javascript", "Cookie Policy", "terms of use",
           "12", "0x1f", ", ", ";", "auto-generated", "DO NOT EDIT", "é", "中", "🙂", "ǅ", "\ud800", "<", ">",
           "<p>", "</a>", "<?xml version="]
_TEXT = st.lists(st.sampled_from(_PIECES) | st.characters(), max_size=50).map("".join)
_LINE = _TEXT.map(lambda t: "".join(t.splitlines()))


def codepoints(text: str) -> np.ndarray:
    return np.array([ord(c) for c in text], dtype=np.uint32)


def piece_buffers(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Hash and size arrays with room for every line of ``text``."""
    return np.empty(text.count("\n") + 1, np.uint64), np.empty(text.count("\n") + 1, np.int64)


def kernel_words(text: str):
    batch = TextBatch.from_texts([text])
    words = split_words(batch)
    return batch, words, wordstats.word_stats(batch, words)


# ----------------------------------------------------------------------------------------------
# shared span helpers


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_lines_and_stripping_equal_python(text):
    cps = codepoints(text)
    lines, stripped = [], []
    i = 0
    while i < len(cps):
        j = spans.line_end(cps, FLAGS, i, len(cps))
        lines.append(text[i:j])
        s, e = spans.strip(cps, FLAGS, i, j)
        stripped.append(text[s:e])
        i = spans.next_line(cps, j, len(cps))
    assert lines == text.splitlines()
    assert stripped == [line.strip() for line in text.splitlines()]


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_chunks_and_code_point_counts_equal_python(text):
    cps = codepoints(text)
    chunks = []
    s, e = spans.next_chunk(cps, FLAGS, 0, len(cps))
    while s < e:
        chunks.append(text[s:e])
        s, e = spans.next_chunk(cps, FLAGS, e, len(cps))
    assert chunks == text.split()
    assert spans.count_code_point(cps, 0, len(cps), ord("\n")) == text.count("\n")
    assert spans.has_code_point(cps, 0, len(cps), ord("{")) == ("{" in text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["they", "They", "THEY", "ca", "Ca", "é", "km", "KM", ""]))
def test_lowered_hashes_find_table_words(word):
    table = hash_set(["they", "ca", "km"])
    cps = codepoints(word)
    assert in_set(table, np.uint64(lower_hash_span(cps, 0, len(cps)))) == (ref.ascii_lower(word) in ("they", "ca", "km"))
    assert in_set(table, np.uint64(hash_span(cps, 0, len(cps)))) == (word in ("they", "ca", "km"))


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.lists(st.sampled_from(["lorem ipsum", "javascript", "a", "é中", "do not edit"]), min_size=1,
                       max_size=3))
def test_case_insensitive_search_equals_python(text, patterns):
    flat, offsets = spans.pattern_table(patterns)
    found = spans.contains_ci(codepoints(text), 0, len(text), flat, offsets)
    assert found == any(p in ref.ascii_lower(text) for p in patterns)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "ab", "", "é", "a b"]), min_size=1, max_size=12))
def test_duplicates_and_hashes_equal_python(items):
    hashes = np.array([hash_str(x) for x in items], dtype=np.uint64)
    sizes = np.array([len(x) for x in items], dtype=np.int64)
    dups, chars = spans.duplicates(hashes, sizes, len(items))
    assert (dups / len(items), chars) == ref.duplicated(items)
    for x in items:
        assert hash_span(codepoints(x), 0, len(x)) == hash_str(x)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_word_facts_equal_the_reference(text):
    _, _, stats = kernel_words(text)
    flags = (wordstats.NON_SYMBOL, wordstats.HAS_ALPHA, wordstats.IS_PUNCT, wordstats.SENT_END)
    for j, word in enumerate(ref.split_words(text)):
        assert tuple(bool(stats.kinds[j] & f) for f in flags) == ref.word_kind(word), word
        assert stats.lengths[j] == len(word)
        assert (stats.hashes[j], stats.powers[j]) == (hash_str(word), np.uint64(pow(int(BASE), len(word), 1 << 64)))
        assert stats.stop_word[j] == (ref.STOP_WORDS.index(word) if word in ref.STOP_WORDS else -1)


# ----------------------------------------------------------------------------------------------
# Gopher


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_gopher_quality_helpers_equal_the_reference(text):
    batch, words, stats = kernel_words(text)
    cps = batch.codepoints
    ref_words = ref.split_words(text)
    n_ns, total, n_alpha, n_stop = gopher_quality._word_counts(stats.lengths, stats.kinds, stats.stop_word, 0,
                                                               len(ref_words))
    ns = [w for w in ref_words if ref.word_kind(w)[0]]
    assert (n_ns, total, n_alpha) == (len(ns), sum(map(len, ns)), sum(ref.word_kind(w)[1] for w in ref_words))
    assert n_stop == len(set(ref.STOP_WORDS) & set(ref_words))
    assert gopher_quality._hashes_and_ellipses(cps, 0, len(cps)) == ref.hashes_and_ellipses(text)
    assert gopher_quality._bullet_and_ellipsis_lines(cps, FLAGS, 0, len(cps)) == ref.bullet_and_ellipsis_lines(text)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_duplicate_paragraphs_and_lines_equal_the_reference(text):
    cps = codepoints(text)
    hashes, sizes = piece_buffers(text)
    s, e = spans.strip(cps, FLAGS, 0, len(cps))
    assert gopher_repetition._duplicated(cps, s, e, 2, hashes, sizes) == \
        ref.duplicated(re.split(r"\n{2,}", text.strip()))
    assert gopher_repetition._duplicated(cps, 0, len(cps), 1, hashes, sizes) == ref.duplicated(re.split("\n+", text))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["the cat", "the", "cat", "sat", "é", "x.", "on"]), max_size=30).map(" ".join),
       st.integers(2, 10))
def test_ngram_repetition_equals_the_reference(text, n):
    _, words, stats = kernel_words(text)
    ref_words = ref.split_words(text)
    args = (stats.lengths, stats.hashes, stats.powers, 0, len(ref_words), n)
    assert gopher_repetition._top_ngram_chars(*args) == ref.top_ngram_chars(ref_words, n)
    assert gopher_repetition._dup_ngram_chars(*args) == ref.dup_ngram_chars(ref_words, n)


# ----------------------------------------------------------------------------------------------
# C4


@settings(max_examples=300, deadline=None)
@given(_LINE)
def test_c4_line_helpers_equal_the_reference(line):
    line = line.strip()
    cps = codepoints(line)
    found = c4._citations(cps, 0, len(cps))
    assert [tuple(row) for row in found] == [m.span() for m in ref.CITATION.finditer(line)]
    assert c4._ends_terminal(cps, 0, len(cps)) == ref.ends_terminal(line)
    n_words, too_long = c4._split_words(cps, FLAGS, 0, len(cps))
    assert (n_words, too_long) == (len(line.split()), any(len(w) > 1000 for w in line.split()))
    assert c4._judge_line(cps, FLAGS, 0, len(cps)) == ref.judge_line(line)


@settings(max_examples=200, deadline=None)
@given(_LINE)
def test_c4_sentence_count_equals_the_reference(line):
    line = line.strip()
    batch, words, stats = kernel_words(line)
    count, _ = c4._sentences(batch.codepoints, 0, len(line), words.starts, words.ends, stats.kinds, 0,
                             len(words.starts))
    assert count == ref.sentences(ref.words_outside_citations(line))


# ----------------------------------------------------------------------------------------------
# FineWeb and code


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_fineweb_lines_equal_the_reference(text):
    cps = codepoints(text)
    hashes, sizes = piece_buffers(text)
    n, n_punct, n_short = fineweb._nonblank_lines(cps, FLAGS, 0, len(cps), hashes, sizes)
    lines = ref.nonblank_lines(text)
    assert (n, n_punct, n_short) == (len(lines), sum(ln[-1] in ref.TERMINAL_PUNCTUATION for ln in lines),
                                     sum(len(ln) <= fineweb.SHORT_LINE_LENGTH for ln in lines))
    assert list(sizes[:n]) == [len(ln) for ln in lines]


@settings(max_examples=200, deadline=None)
@given(_LINE)
def test_code_line_helpers_equal_the_reference(line):
    cps = codepoints(line)
    assert source_code._is_data_line(cps, FLAGS, source_code._DATA_CHAR_TABLE, 0, len(cps)) == ref.is_data_line(line)
    for open_tag in (False, True):  # a tag left open by the line before, or not
        spaces, alnum, _, symbols, visible, still_open = source_code._scan_line(cps, FLAGS, 0, len(cps), open_tag)
        assert spaces == sum(c.isspace() for c in line)
        assert alnum == sum(c.isalnum() for c in line)
        assert symbols == len(ref.line_shape(line))
        # "<" + line: the reference's visible text of a line that starts inside a tag, less the "<" itself
        assert visible == ref.visible_text(("<" if open_tag else "") + line)[0]
        assert still_open == (line.rfind("<") > line.rfind(">") or (open_tag and ">" not in line))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["x", "_y2", "中", "é", " ", "\t", "=", ",", "(", ")", "0x1f", "\u00a0", ";"]),
                max_size=12).map("".join),
       st.lists(st.sampled_from(["a", "b_c", "7", " ", "=", ",", "(", ")", ";", "中"]), max_size=12).map("".join))
def test_line_shape_hashes_are_equal_exactly_when_the_shapes_are(first, second):
    def shape_hash(line: str) -> int:
        cps = codepoints(line)
        return int(source_code._scan_line(cps, FLAGS, 0, len(cps), False)[2])
    assert (shape_hash(first) == shape_hash(second)) == (ref.line_shape(first) == ref.line_shape(second))


def test_flag_table_equals_python_predicates_on_every_code_point():
    from midtrain.curation.rules import charclass as cc
    checks = {cc.WS: str.isspace, cc.ALPHA: str.isalpha, cc.ALNUM: str.isalnum, cc.LOWER: str.islower,
              cc.UPPER: str.isupper, cc.UPUNCT: ref.is_punct, cc.ICON: ref.is_icon, cc.CURRENCY: ref.is_currency,
              cc.AFFIX: ref.is_affix, cc.DIGIT: lambda c: c in ref.DIGITS,
              cc.SYMBOL: lambda c: c in ref.PUNCTUATION_SET, cc.TERMINAL: lambda c: c in ref.TERMINAL_PUNCTUATION,
              cc.LINEBREAK: lambda c: len(("a" + c + "a").splitlines()) == 2}
    chars = [chr(cp) for cp in range(cc.N_CODEPOINTS)]
    for flag, test in checks.items():
        want = np.fromiter(map(test, chars), dtype=bool, count=len(chars))
        wrong = np.flatnonzero(((FLAGS & flag) != 0) != want)
        assert not len(wrong), (int(flag), [hex(cp) for cp in wrong[:5]])

"""The English word splitter behind the prose rules: known splits, and the compiled kernel and each of
its helpers equal their pure-Python twins (helpers/rules_reference.py) on real text and on any Unicode string."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest
from helpers import rules_reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.rules import words as kernel
from midtrain.curation.rules.charclass import char_flags
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import TABLES, split_words

FLAGS = char_flags()


def kernel_words(texts: list[str]) -> list[list[str]]:
    batch = TextBatch.from_texts(texts)
    w = split_words(batch)
    cps = batch.codepoints
    out = []
    for d in range(len(texts)):
        a, b = w.doc_offsets[d], w.doc_offsets[d + 1]
        out.append(["".join(map(chr, cps[s:e])) for s, e in zip(w.starts[a:b], w.ends[a:b])])
    return out


def codepoints(text: str) -> np.ndarray:
    """The kernel's view of one string, built without TextBatch."""
    return np.array([ord(c) for c in text], dtype=np.uint32)


def test_contractions_split_like_spacy():
    assert kernel_words(["I don't think they'll go, can't you?"])[0] == [
        "I", "do", "n't", "think", "they", "'ll", "go", ",", "ca", "n't", "you", "?"]


def test_sentence_period_is_a_word_but_abbreviations_keep_theirs():
    assert kernel_words(["Mr. Smith met Dr. Jones, e.g. at 5 p.m. in the U.S. today."])[0] == [
        "Mr.", "Smith", "met", "Dr.", "Jones", ",", "e.g.", "at", "5", "p.m.", "in", "the", "U.S.", "today", "."]


def test_hyphenated_words_split_but_urls_and_host_names_stay_whole():
    assert kernel_words(["A well-known site: https://docs.python.org/3/library/re.html and node.js."])[0] == [
        "A", "well", "-", "known", "site", ":", "https://docs.python.org/3/library/re.html", "and", "node.js", "."]


def test_brackets_quotes_and_emoticons():
    assert kernel_words(['He said "(see f(x)):" then :) left.'])[0] == [
        "He", "said", '"', "(", "see", "f(x", ")", "):", '"', "then", ":)", "left", "."]


def test_units_split_from_numbers_and_fused_forms_split_in_two():
    assert kernel_words(["Run 5km, then 10%... I cannot, gonna rest."])[0] == [
        "Run", "5", "km", ",", "then", "10", "%", "...", "I", "can", "not", ",", "gon", "na", "rest", "."]


def test_titlecase_letters_are_not_capitals_for_contractions():
    # "ǅ" is titlecase, not uppercase: the word splits like a capitalised one
    assert kernel_words(["ǅn't"])[0] == ref.split_words("ǅn't") == ["ǅ", "n't"]


def test_documents_in_a_batch_are_split_independently():
    texts = ["One two.", "", "Three"]
    assert kernel_words(texts) == [["One", "two", "."], [], ["Three"]]


def test_kernel_equals_reference_on_real_documents(sample_raw):
    docs = []
    for name in ("python_docs.jsonl", "mpmath_docs.jsonl", "champ.jsonl", "python_stdlib.jsonl"):
        with open(sample_raw / name, encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f][:40]
    assert kernel_words(docs) == [ref.split_words(t) for t in docs]


# punctuation the rules treat specially, letters of every case class, digits of other scripts, symbols
_CHARS = list("ab A.,'’-/:;()[]{}\"…$%+5 \n\t\u00a0é中🙂n't@#_~<>=^*§²ǅÉⅣ١Ⓐ\ud800") + ["://", "www.", ".com", "..."]
_TEXT = st.lists(st.sampled_from(_CHARS) | st.characters(), max_size=40).map("".join)
_CHUNK = _TEXT.map(lambda t: "".join(t.split())).filter(bool)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_any_unicode_string_splits_as_the_reference_does(text):
    assert kernel_words([text])[0] == ref.split_words(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXT, max_size=6))
def test_words_cover_no_whitespace_and_stay_in_order(texts):
    batch = TextBatch.from_texts(texts)
    w = split_words(batch)
    assert w.doc_offsets[-1] == len(w.starts)
    assert (w.ends > w.starts).all()
    assert (w.starts[1:] >= w.ends[:-1]).all()


@lru_cache(maxsize=1)
def _one_character_per_class() -> list[str]:
    """The first character of every combination of the classes the splitter reads (BMP, and a sample
    beyond), so that every class meets every rule below, whatever hypothesis draws."""
    seen = {}
    for cp in [*range(0x10000), *range(0x10000, 0x110000, 61)]:
        c = chr(cp)
        key = (c.isspace(), c.isalpha(), c.islower(), c.isupper(), c.isalnum(), ref.unicodedata.category(c),
               ref.is_affix(c), c in ref.DIGITS)
        seen.setdefault(key, c)
    return [c for c in seen.values() if not c.isspace()] + list(".,'’-–—/:+%^*~<>=#@_…§²")


@pytest.mark.parametrize("template", ["{c}", "a{c}", "{c}a", "a{c}b", "A{c}B", "1{c}2", "{c}.", "a{c}.", "{c}{c}",
                                      "a.{c}", "{c}n't", "{c}o'll", "x{c}.com", "5{c}", "{c}..", "..{c}", "{c}'s",
                                      "a-{c}", "{c}-a", "(:{c}", "e.{c}."])
def test_every_character_class_in_every_context_splits_as_the_reference_does(template):
    texts = [template.format(c=c) for c in _one_character_per_class()]
    assert kernel_words(texts) == [ref.split_words(t) for t in texts]


# ----------------------------------------------------------------------------------------------
# each helper of the kernel against its twin, on one chunk


@settings(max_examples=300, deadline=None)
@given(_CHUNK)
def test_prefix_and_suffix_rules_equal_the_reference(chunk):
    cps = codepoints(chunk)
    assert kernel._prefix_len(cps, FLAGS, 0, len(cps)) == ref.prefix_len(chunk)
    assert kernel._suffix_len(cps, FLAGS, 0, len(cps), TABLES.units) == ref.suffix_len(chunk)


@settings(max_examples=300, deadline=None)
@given(_CHUNK, st.sampled_from(["n't", "’t", "'ll", "'re", "’m", "'d", "nt", ""]),
       st.sampled_from(["", "do", "They", "you", "ca", "Should", "cannot", "GONNA", "im"]))
def test_contractions_equal_the_reference(chunk, suffix, stem):
    for text in (chunk, stem + suffix, chunk + suffix):
        cps = codepoints(text)
        assert kernel._contraction(cps, FLAGS, 0, len(cps), TABLES.as_tuple()) == ref.contraction(text), text


@settings(max_examples=300, deadline=None)
@given(_CHUNK, st.data())
def test_infix_rule_equals_the_reference_at_every_position(chunk, data):
    cps = codepoints(chunk)
    i = data.draw(st.integers(0, len(chunk) - 1))
    assert kernel._infix_len(cps, FLAGS, 0, len(cps), i) == ref.infix_len(chunk, i)


_HOSTS = st.lists(st.sampled_from(["http", "://", "user@", "docs", "a-b", "_x", "é", "中", ".", "org", "Org",
                                   "c", ":8080", ":1", "/path", "?q", "#f", "5"]), max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(_HOSTS | _CHUNK)
def test_url_rule_equals_the_reference(chunk):
    cps = codepoints(chunk)
    assert kernel._is_url(cps, FLAGS, 0, len(cps)) == ref.is_url(chunk)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([":", "-", ")", "(", "'", "e", ".", "g", "x", "D", "<", "3", "^", "_"]),
                min_size=1, max_size=8))
def test_merging_specials_equals_the_reference(pieces):
    text = "".join(pieces)
    cps = codepoints(text)
    ends = np.cumsum([len(p) for p in pieces]).astype(np.int64)
    starts = ends - np.array([len(p) for p in pieces], dtype=np.int64)
    k = kernel._merge_specials(cps, starts, ends, 0, len(pieces), TABLES.specials)
    assert ["".join(map(chr, cps[s:e])) for s, e in zip(starts[:k], ends[:k])] == ref.merge_specials(pieces)


@settings(max_examples=300, deadline=None)
@given(_CHUNK)
def test_one_chunk_splits_as_the_reference_does(chunk):
    cps = codepoints(chunk)
    starts, ends = np.empty(4, np.int64), np.empty(4, np.int64)
    cut_s = np.empty(kernel.MAX_SUFFIXES, np.int64)
    starts, ends, k = kernel._split_chunk(cps, FLAGS, 0, len(cps), TABLES.as_tuple(), starts, ends, 0, cut_s)
    assert ["".join(map(chr, cps[s:e])) for s, e in zip(starts[:k], ends[:k])] == ref.split_chunk(chunk)

"""The English word splitter behind the prose rules: known splits, and the compiled kernel equals its
pure-Python twin on real text and on any Unicode string."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import split_words, split_words_reference


def kernel_words(texts: list[str]) -> list[list[str]]:
    batch = TextBatch.from_texts(texts)
    w = split_words(batch)
    cps = batch.codepoints
    out = []
    for d in range(len(texts)):
        a, b = w.doc_offsets[d], w.doc_offsets[d + 1]
        out.append(["".join(map(chr, cps[s:e])) for s, e in zip(w.starts[a:b], w.ends[a:b])])
    return out


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


def test_documents_in_a_batch_are_split_independently():
    texts = ["One two.", "", "Three"]
    assert kernel_words(texts) == [["One", "two", "."], [], ["Three"]]


def test_kernel_equals_reference_on_real_documents(sample_raw):
    docs = []
    for name in ("python_docs.jsonl", "mpmath_docs.jsonl", "champ.jsonl", "python_stdlib.jsonl"):
        with open(sample_raw / name, encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f][:40]
    assert kernel_words(docs) == [split_words_reference(t) for t in docs]


_TEXT = st.text(alphabet=st.sampled_from(list("ab A.,'’-/:;()[]{}\"…$%+5 \n\t\u00a0é中🙂n't")) | st.characters(),
                max_size=80)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_any_unicode_string_splits_as_the_reference_does(text):
    assert kernel_words([text])[0] == split_words_reference(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXT, max_size=6))
def test_words_cover_no_whitespace_and_stay_in_order(texts):
    batch = TextBatch.from_texts(texts)
    w = split_words(batch)
    assert w.doc_offsets[-1] == len(w.starts)
    assert (w.ends > w.starts).all()
    assert (w.starts[1:] >= w.ends[:-1]).all()

"""The one-pass character-class kernel against Arrow's regex counts, which it replaces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels import domain, unicode_tables
from midtrain.curation.labels.unicode_counts import class_counts

REGEX = {1: r"\p{L}", 2: r"\p{Latin}", 3: domain._BINARY, 4: domain._DIGIT, 5: domain._MATH_SYMBOL,
         6: domain._NONEMPTY_LINE, 7: domain._LATEX, 8: r"\?"}


def regex_counts(texts: pa.Array) -> np.ndarray:
    """The reference: Arrow's length and regex counts, one kernel per column."""
    cols = [pc.utf8_length(texts)] + [pc.count_substring_regex(texts, REGEX[k]) for k in sorted(REGEX)]
    return np.stack([np.asarray(c.to_numpy(zero_copy_only=False), np.int64) for c in cols], axis=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60), max_size=20))
def test_counts_equal_arrow_regex_on_random_text(texts):
    arr = pa.array(texts, pa.large_string())
    assert class_counts(arr).tolist() == regex_counts(arr).tolist()


def test_counts_equal_arrow_regex_on_real_text_and_edge_cases():
    fixture = Path(__file__).parent / "fixtures" / "labels_heldout.jsonl"
    texts = [json.loads(line)["text"] for line in fixture.read_text().splitlines()]
    texts += ["", "\x00\x01\t\n\r\x0b\x0c\x7f\ufffd", "Ωμέγα кириллица 中文 العربية ﬁ Ⅻ",
              "x" * 5000, "🙂" * 3]
    arr = pa.array(texts, pa.large_string())
    assert class_counts(arr).tolist() == regex_counts(arr).tolist()
    sliced = arr.slice(3, 50)  # an array offset into its buffers
    assert class_counts(sliced).tolist() == regex_counts(sliced).tolist()


def test_nulls_and_small_strings_count_as_empty():
    arr = pa.array(["ab", None, "é"], pa.string())
    assert class_counts(arr).tolist() == [[2, 2, 2, 0, 0, 0, 1, 0, 0], [0] * 9, [1, 1, 1, 0, 0, 0, 1, 0, 0]]


LINES = st.lists(st.sampled_from(["", " ", "\t", "\r", "\x0c", "\x0b", "a", "∑", "7", " \t", "\u00a0"]),
                 max_size=8).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(LINES, max_size=6).map("\n".join), max_size=10))
def test_lines_digits_and_symbols_equal_arrow_on_line_shaped_text(texts):
    """Lines that open with blanks, carriage returns, form feeds: where the non-empty-line regex is subtle."""
    arr = pa.array(texts, pa.large_string())
    assert class_counts(arr).tolist() == regex_counts(arr).tolist()


def test_shipped_tables_equal_this_pyarrow():
    """The generated ranges still match what this pyarrow's regexes call a letter / Latin."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from scripts.make_unicode_tables import regex_ranges

    assert tuple(regex_ranges(r"\p{L}")) == unicode_tables.LETTER_RANGES
    assert tuple(regex_ranges(r"\p{Latin}")) == unicode_tables.LATIN_RANGES
    assert tuple(regex_ranges(domain._MATH_SYMBOL)) == unicode_tables.MATH_SYMBOL_RANGES


LATEX_PIECES = st.sampled_from(["\\", "\\frac", "a", "Z", "1", "$", "$$", ".", "..", ".. ", "math", "::", ":",
                                ":math:", "`", " ", "\n", "?", "é", "\\é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(LATEX_PIECES, max_size=12).map("".join), max_size=10))
def test_latex_and_question_marks_equal_arrow_on_markup_shaped_text(texts):
    """Backslashes, dollars and the reST math markers run together, where non-overlapping matches are subtle
    (``.. math::math:`` holds one match, not two)."""
    arr = pa.array(texts + [".. math::math:`", ":math:`x` .. math:: \\alpha$", "\\\\ab"], pa.large_string())
    assert class_counts(arr).tolist() == regex_counts(arr).tolist()

"""The line-shape kernel against Arrow's regex counts, which it replaces (domain._CODE_LINE, _STEP_LINE)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels import domain
from midtrain.curation.labels.line_shapes import CODE_KEYWORDS, line_shape_counts


def regex_counts(texts: pa.Array) -> list[list[int]]:
    """The reference: Arrow's (RE2's) count of each pattern."""
    cols = [pc.count_substring_regex(texts, pattern) for pattern in (domain._CODE_LINE, domain._STEP_LINE)]
    return np.stack([np.asarray(c.to_numpy(zero_copy_only=False), np.int64) for c in cols], axis=1).tolist()


# pieces where the patterns are subtle: keywords with and without a word boundary after them, the ends of a
# code line before blanks and carriage returns, step words in any case (and with U+017F, which folds onto s),
# numbers of one to three digits before . or ), bullets, non-ASCII bytes next to keywords
PIECES = st.sampled_from([*(k.decode() for k in CODE_KEYWORDS), "x", "_", "9", " ", "\t", "\r", "\n", "\n", ";",
                          "{", "}", ")", "(", ":", ",", ".", "é", "∑", "Step", "STEP", "ſtep", "step", "first,",
                          "FIRST", "then,", "Therefore", "thus", "ThUs", "hence", "so", "So,", "ſo ", "1", "12",
                          "123", "-", "*", "•", "•\t", "K", "ǅ", "/", "#"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=14).map("".join), max_size=8))
def test_counts_equal_arrow_regex_on_line_shaped_text(texts):
    arr = pa.array(texts, pa.large_string())
    assert line_shape_counts(arr).tolist() == regex_counts(arr)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60), max_size=20))
def test_counts_equal_arrow_regex_on_random_text(texts):
    arr = pa.array(texts, pa.large_string())
    assert line_shape_counts(arr).tolist() == regex_counts(arr)


def test_counts_equal_arrow_regex_on_real_text_and_edge_cases():
    fixture = Path(__file__).parent / "fixtures" / "labels_heldout.jsonl"
    texts = [json.loads(line)["text"] for line in fixture.read_text().splitlines()]
    texts += ["", "\n\n", "def f():\n    return 1;\r\n// note\n//note\n#include <x>\n# title\n*ptr = 0\n",
              "Step 1: add.\nstep\t2\n1. one\n12) two\n123. three\n(1) a\n(12)\n• item\n- item\nSo, then\nso\n",
              "x" * 5000, "for" * 100]
    arr = pa.array(texts, pa.large_string())
    assert line_shape_counts(arr).tolist() == regex_counts(arr)
    sliced = arr.slice(3, 50)  # an array offset into its buffers
    assert line_shape_counts(sliced).tolist() == regex_counts(sliced)


def test_the_counts_of_known_lines_and_nulls():
    code = "def f():\n    return 1\n// note\n//note\n# title\nx = 1;  \ny = 2;\r\n"
    steps = "Step 3 then\nFIRST, we\n(2) b\n12. c\n123. d\nſo it goes\n"
    chained = "First, - then, x\n1. 2. 3.\n"  # Arrow matches again where a match ended: 3 and 2
    arr = pa.array([code, steps, chained, None], pa.string())
    # code: def, return, //note and "x = 1;" (not "// note", "# title" or the line ending in a carriage return)
    assert line_shape_counts(arr).tolist() == [[4, 0], [0, 5], [0, 5], [0, 0]]
    assert line_shape_counts(arr)[:3].tolist() == regex_counts(arr.slice(0, 3))  # Arrow: null for null

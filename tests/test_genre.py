"""Delexicalized text for the genre-model screen (``benchmarks/genre_folds.py``, stop 49's E38): the numba
kernel against plain Python, so the experiment's figures rest on a checked transform."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.rare_words import hash_set

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "genre_folds.py"
_spec = importlib.util.spec_from_file_location("genre_folds", _SCRIPT)
genre = importlib.util.module_from_spec(_spec)
sys.modules["genre_folds"] = genre
_spec.loader.exec_module(genre)
CAPITAL_RUN, DIGIT_RUN, WORD_RUN = genre.CAPITAL_RUN, genre.DIGIT_RUN, genre.WORD_RUN
delexicalize, delexicalize_reference, run_hash = genre.delexicalize, genre.delexicalize_reference, genre.run_hash
run_hashes, shared_runs = genre.run_hashes, genre.shared_runs

SHARED = {"if", "then", "the", "so", "is", "naïve", "of"}
TABLE = hash_set(np.array([run_hash(w) for w in SHARED], np.uint64))
PIECES = st.sampled_from(["If", "then", "The", "x", "_", "1", "2024", " ", "\n", "\\frac", "{", "}", "naïve", "Naïve",
                          "Ünicode", "日本語", "ℕ", "r5c4", ".", "ǅ", "\x00", "\ufffd", "SELECT", "is", "OF"])


def test_runs_become_shapes_unless_shared() -> None:
    text = "If x_1 = 3.5 then Theorem 2 holds, so r5c4 is \\frac{1}{2}."
    assert delexicalize([text], TABLE).to_pylist() == [
        f"if {WORD_RUN}_{DIGIT_RUN} = {DIGIT_RUN}.{DIGIT_RUN} then {CAPITAL_RUN} {DIGIT_RUN} {WORD_RUN}, so "
        f"{WORD_RUN}{DIGIT_RUN}{WORD_RUN}{DIGIT_RUN} is \\{WORD_RUN}{{{DIGIT_RUN}}}{{{DIGIT_RUN}}}."]


def test_nulls_and_empty_texts() -> None:
    assert delexicalize(pa.array(["", None, "So"], pa.string()), TABLE).to_pylist() == ["", "", "so"]
    assert delexicalize([], TABLE).to_pylist() == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=30).map("".join), min_size=1, max_size=8))
def test_kernel_equals_reference(texts: list[str]) -> None:
    assert delexicalize(texts, TABLE).to_pylist() == [delexicalize_reference(t, SHARED) for t in texts]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=6))
def test_kernel_equals_reference_on_any_text(texts: list[str]) -> None:
    texts = [t.encode("utf-8", "replace").decode("utf-8", "replace") for t in texts]
    assert delexicalize(texts, TABLE).to_pylist() == [delexicalize_reference(t, SHARED) for t in texts]


def test_shared_runs_are_counted_by_source() -> None:
    per_source = [run_hashes(["The cat sat"]), run_hashes(["the dog"]), run_hashes(["a cat", "The end"])]
    shared = set(shared_runs(per_source, 0.5).tolist())  # in at least 2 of the 3 sources
    assert shared == {run_hash("the"), run_hash("cat")}
    assert set(run_hashes(["The THE the"]).tolist()) == {run_hash("the")}

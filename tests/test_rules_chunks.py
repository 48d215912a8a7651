"""Long documents judged by their chunks (rules/chunks.py): the chunk cut and the median equal simple Python twins,
short documents do not move, a long document keeps its counts, duplicates and head flags whole, and takes the
median of its chunks for the rest."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers.rules_reference import reference_signals

from midtrain.curation.config import StepConfig
from midtrain.curation.pipeline import build_steps
from midtrain.curation.rules import DEFAULT_THRESHOLDS, SIGNAL_SCHEMA, apply_thresholds, compute_signals
from midtrain.curation.rules.chunks import (LOCAL_SIGNALS, LONG_CHUNK_CHARS, WHOLE_SIGNALS, _chunk_bounds, chunk_batch,
                                            group_median, long_documents)
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.errors import ConfigError

PROSE = ("The committee met on Tuesday and agreed, after a long debate, that the bridge should be repaired before "
         "the winter rains arrive in the valley.\n")
TABLE = "| 10 | 20 | 30 | 40 | 50 | 60 |\n"
WORDS = ("river bridge council winter harvest market teacher village letter garden morning station doctor kitchen "
         "window basket island forest mountain engine painter captain orchard lantern harbour meadow blanket "
         "carpenter").split()


def prose(lines: int, seed: int) -> str:
    """Lines of distinct sentences (no repeated line, hardly a repeated 5-gram), each ending in a full stop."""
    rng = np.random.default_rng(seed)
    vocabulary = WORDS + ["the", "of", "and", "to", "with", "that"]
    return "".join(f"The {' '.join(rng.choice(vocabulary, 17))}.\n" for _ in range(lines))


def table(rows: int, start: int) -> str:
    return "".join(f"| {i} | {3 * i} | {7 * i} | {11 * i} | {13 * i} |\n" for i in range(start, start + rows))


def assert_tables_equal(a, b) -> None:
    assert a.schema == b.schema
    for name in a.column_names:
        np.testing.assert_equal(a.column(name).to_numpy(zero_copy_only=False),
                                b.column(name).to_numpy(zero_copy_only=False), err_msg=name)


def chunk_texts(text: str, size: int) -> list[str]:
    """The slow twin of ``_chunk_bounds`` for one document, from its docstring."""
    out, pos, end = [], 0, len(text)
    while pos < end:
        cut = end
        if end - pos >= size + size // 2:
            nl = text.find("\n", pos + size, min(end, pos + 2 * size))
            cut = nl + 1 if nl >= 0 else pos + 2 * size
            if end - cut < size // 2:
                cut = end
        out.append(text[pos:cut])
        pos = cut
    return out


def chunk_median(values: list):
    """What a long document's local signal should be, from its chunks' values (the docstring of chunks.py)."""
    if isinstance(values[0], bool):
        return sum(values) * 2 > len(values)
    if isinstance(values[0], int):
        return math.floor(statistics.median(values))
    return pytest.approx(statistics.median(values), rel=1e-12, abs=1e-12)


def test_every_signal_is_either_local_or_whole():
    assert sorted(LOCAL_SIGNALS + WHOLE_SIGNALS) == sorted(SIGNAL_SCHEMA)
    assert not set(LOCAL_SIGNALS) & set(WHOLE_SIGNALS)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab \n", min_size=0, max_size=40), min_size=0, max_size=60),
       size=st.integers(1, 50))
def test_chunk_cut_equals_the_python_twin(lines, size):
    texts = ["".join(lines), "x" * 7, "".join(reversed(lines))]
    batch = TextBatch.from_texts(texts)
    docs = np.array([0, 2], np.int64)
    chunks, owners = chunk_batch(batch, docs, size)
    got = [["".join(map(chr, chunks.codepoints[chunks.offsets[k]:chunks.offsets[k + 1]]))
            for k in range(owners[i], owners[i + 1])] for i in range(len(docs))]
    assert got == [chunk_texts(texts[0], size), chunk_texts(texts[2], size)]
    assert ["".join(g) for g in got] == [texts[0], texts[2]]  # the chunks tile the document


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=9), min_size=1, max_size=8))
def test_group_median_equals_statistics_median(groups):
    values = np.array([v for g in groups for v in g], np.float64)
    owners = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
    got = group_median(values, owners)
    for g, m in zip(groups, got):
        if g:
            assert m == pytest.approx(statistics.median(g), rel=1e-12, abs=1e-9)
        else:
            assert math.isnan(m)


def test_short_documents_are_judged_whole():
    texts = [PROSE * 20, TABLE * 50, ""]
    assert_tables_equal(compute_signals(texts), compute_signals(texts, long_chunk_chars=None))
    assert len(long_documents(TextBatch.from_texts(texts), 4096)) == 0


def test_long_document_takes_chunk_medians_and_keeps_whole_counts():
    size = 2048
    text = (PROSE * 60 + TABLE * 40) * 4  # prose chunks with table chunks between them
    short = PROSE * 3
    chunked = compute_signals([short, text], long_chunk_chars=size).to_pylist()
    whole = compute_signals([short, text], long_chunk_chars=None).to_pylist()
    parts = compute_signals(chunk_texts(text, size), long_chunk_chars=None).to_pylist()
    assert len(parts) > 2
    assert chunked[0] == whole[0]
    for name in WHOLE_SIGNALS:
        assert chunked[1][name] == whole[1][name], name
    for name in LOCAL_SIGNALS:
        assert chunked[1][name] == chunk_median([p[name] for p in parts]), name


def test_a_manual_with_tables_is_kept_and_repeated_pages_still_dropped():
    size = 2048
    # tables of numbers, a third of the text, pull the whole share of alphabetic words under Gopher's 0.8
    manual = "".join(prose(100, seed) + table(150, 150 * seed) for seed in range(3))
    whole = compute_signals([manual], long_chunk_chars=None)
    chunked = compute_signals([manual], long_chunk_chars=size)
    assert whole.column("gopher_quality_alpha_words_ratio")[0].as_py() < 0.8
    assert apply_thresholds(whole, ["web"], DEFAULT_THRESHOLDS)[1][0].as_py() == "gopher_below_alpha_threshold"
    assert chunked.column("gopher_quality_alpha_words_ratio")[0].as_py() >= 0.8
    assert apply_thresholds(chunked, ["web"], DEFAULT_THRESHOLDS)[0][0].as_py() is None
    # one page repeated: every chunk reads well, but duplicated content is measured on the whole document
    page = prose(40, 99)
    repeated = compute_signals([page * 8], long_chunk_chars=size)
    assert repeated.column("gopher_rep_dup_line_frac")[0].as_py() > 0.8
    assert apply_thresholds(repeated, ["web"], DEFAULT_THRESHOLDS)[0][0].as_py() == "gopher_repetition"


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="long_chunk_chars"):
        compute_signals(["text"], long_chunk_chars=0)
    with pytest.raises(ValueError, match="long_chunk_chars"):
        compute_signals(["text"], long_chunk_chars=True)  # not a size of one character
    with pytest.raises(ConfigError, match=r"signals.*long_chunk_chars"):
        build_steps([StepConfig(name="signals", params={"long_chunk_chars": -5})])
    step = build_steps([StepConfig(name="signals", params={"long_chunk_chars": None})])[0]
    assert step.long_chunk_chars is None


def test_chunk_bounds_cut_at_line_ends_or_hard():
    text = "a" * 10 + "\n" + "b" * 40
    cps = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    bounds, owners = _chunk_bounds(cps, np.array([0], np.int64), np.array([len(text)], np.int64), 8)
    # the line end at 10 closes the first chunk; the b's have none, so hard cuts 16 characters on, until a rest
    # under 1.5 chunks is the last chunk
    assert bounds.tolist() == [0, 11, 27, 43, 51] and owners.tolist() == [0, 4]


def test_real_long_files_equal_the_reference_on_their_chunks(sample_raw):
    with open(sample_raw / "python_stdlib.jsonl", encoding="utf-8") as f:
        texts = [t for t in (json.loads(line)["text"] for line in f) if len(t) >= 2 * LONG_CHUNK_CHARS][:2]
    assert texts, "the sample holds a stdlib module of at least 64K characters"
    rows = compute_signals(texts).to_pylist()
    for text, row in zip(texts, rows):
        whole = reference_signals(text)
        parts = [reference_signals(c) for c in chunk_texts(text, LONG_CHUNK_CHARS)]
        for name in WHOLE_SIGNALS:
            assert row[name] == pytest.approx(whole[name], rel=1e-12, abs=1e-12, nan_ok=True), name
        for name in LOCAL_SIGNALS:
            assert row[name] == chunk_median([p[name] for p in parts]), name

"""Rare-word placeholders (``TrainConfig.min_sources``): the numba kernels against plain Python, and
a model trained with them labels through the same replacement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels import DomainConfig, label_domains
from midtrain.curation.labels.domain import classifier_lines
from midtrain.curation.labels.models import FastTextClassifier
from midtrain.curation.labels.rare_words import (RARE_NUMBER, RARE_UNICODE, RARE_WORD, hash_set, known_fractions,
                                                 model_lines, replace_rare, shared_words, word_hashes)
from midtrain.curation.labels.text_windows import text_windows
from midtrain.curation.labels.training import TrainConfig, train_classifier
from midtrain.errors import ConfigError


def reference_replace(line: str, known: set[str]) -> str:
    out = []
    for token in line.split(" "):
        if not token:
            continue
        if token in known:
            out.append(token)
        elif any(ord(c) >= 128 for c in token):
            out.append(RARE_UNICODE)
        elif any(c.isdigit() for c in token):
            out.append(RARE_NUMBER)
        else:
            out.append(RARE_WORD)
    return " ".join(out)


TOKENS = st.sampled_from(["the", "cat", "(", ")", "_nl_", "x1", "12", "ℕ", "über", "def", "fx", "a_b", "", " "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(TOKENS, max_size=12).map(" ".join), max_size=6),
       st.sets(st.sampled_from(["the", "(", "_nl_", "12", "über", "def"])))
def test_replace_rare_matches_plain_python(lines, known):
    assert replace_rare(lines, word_hashes(sorted(known))) == [reference_replace(line, known) for line in lines]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(TOKENS, max_size=12).map(" ".join), max_size=6),
       st.sets(st.sampled_from(["the", "(", "_nl_", "12", "über", "def"])))
def test_known_fractions_match_plain_python(lines, known):
    tokens = [[t for t in line.split(" ") if t] for line in lines]
    expected = [sum(t in known for t in ts) / len(ts) if ts else 1.0 for ts in tokens]
    assert known_fractions(lines, hash_set(word_hashes(sorted(known)))).tolist() == pytest.approx(expected)


def test_known_fractions_of_no_lines_and_null_lines():
    assert known_fractions([], hash_set(word_hashes(["a"]))).shape == (0,)
    assert known_fractions(["a b a c", None], hash_set(word_hashes(["a", "b"]))).tolist() == [0.75, 1.0]
    assert known_fractions(["a b"], hash_set(word_hashes([]))).tolist() == [0.0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(TOKENS, max_size=8).map(" ".join), st.sampled_from("abcd")), max_size=12),
       st.integers(1, 3))
def test_shared_words_counts_distinct_sources(rows, min_groups):
    lines, groups = [r[0] for r in rows], [r[1] for r in rows]
    seen: dict[str, set[str]] = {}
    for line, group in rows:
        for token in line.split(" "):
            if token:
                seen.setdefault(token, set()).add(group)
    expected = sorted(t for t, g in seen.items() if len(g) >= min_groups) + [RARE_WORD, RARE_NUMBER, RARE_UNICODE]
    assert np.array_equal(shared_words(lines, groups, min_groups), word_hashes(expected))


def test_min_sources_needs_one_group_per_example(tmp_path):
    with pytest.raises(ConfigError, match="min_sources=2"):
        train_classifier(["a", "b"], ["x y", "z w"], tmp_path / "m.bin", TrainConfig(min_sources=2, holdout=0.0))
    with pytest.raises(ConfigError, match="min_sources=-1"):
        train_classifier(["a", "b"], ["x y", "z w"], tmp_path / "m.bin", TrainConfig(min_sources=-1, holdout=0.0),
                         groups=["s", "t"])


def _examples(sample_raw: Path) -> tuple[list[str], list[str], list[str]]:
    labels, texts, groups = [], [], []
    for name, label in (("python_docs", "web"), ("python_stdlib", "code"), ("champ", "reasoning")):
        for k, line in enumerate((sample_raw / f"{name}.jsonl").read_text().splitlines()[:60]):
            labels.append(label)
            texts.append(json.loads(line)["text"])
            groups.append(f"{name}-{k % 3}")  # three "sources" per label, so shared words exist
    return labels, texts, groups


def test_a_model_trained_with_min_sources_reads_unknown_words_as_placeholders(sample_raw, tmp_path):
    labels, texts, groups = _examples(sample_raw)
    config = TrainConfig(epochs=5, holdout=0.0, shape_features=True, min_sources=2)
    train_classifier(labels, texts, tmp_path / "a.bin", config, groups=groups)
    train_classifier(labels, texts, tmp_path / "b.bin", config, groups=groups)
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    model = FastTextClassifier(tmp_path / "a.bin")
    assert model.knows(RARE_WORD) and not model.knows("zqxjvw")
    lines = model_lines(model, classifier_lines(text_windows(["zqxjvw 12345 ℕℕ the"], 512, 512), True))
    assert lines[0].startswith(f"{RARE_WORD} {RARE_NUMBER} {RARE_UNICODE} the ")
    # the labeller goes through the same replacement: same labels as predicting on the replaced lines
    got = label_domains(texts, config=DomainConfig(model=str(tmp_path / "a.bin"), code_language=False))
    windows = text_windows(texts, 512, 512)
    direct = model.predict(model_lines(model, classifier_lines(windows, True)))
    assert got["domain_classifier"].to_pylist() == direct.labels.tolist()
    # a model trained without it is read unchanged
    train_classifier(labels, texts, tmp_path / "plain.bin", TrainConfig(epochs=5, holdout=0.0, shape_features=True))
    plain = FastTextClassifier(tmp_path / "plain.bin")
    assert model_lines(plain, ["zqxjvw the"]) == ["zqxjvw the"]

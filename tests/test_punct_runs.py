"""The domain classifier's opt-in punctuation-run cap (stop 64's E78) and its joined form (stop 65's E80): the
kernel against a plain-Python reference, the settings, and training with it."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels import domain
from midtrain.curation.labels.domain import DomainConfig, label_domains
from midtrain.curation.labels.text_windows import capped_punct_runs, fasttext_line_array
from midtrain.curation.labels.training import TrainConfig, train_classifier
from midtrain.errors import ConfigError


def reference(line: str, cap: int) -> str:
    """Each token kept unless it is the (cap + 1)-th or later of a run of one ASCII punctuation byte."""
    kept, last, run = [], None, 0
    for token in line.split():
        punct = len(token) == 1 and token.isascii() and not (token.isalnum() or token == "_")
        if punct and token == last:
            run += 1
        else:
            last, run = (token if punct else None), 1
        if run <= cap:
            kept.append(token)
    return " ".join(kept)


def join_reference(line: str, cap: int) -> str:
    """Each run of more than ``cap`` tokens of one ASCII punctuation byte replaced by one token of ``cap`` copies
    of the byte; every other token kept."""
    tokens, out, i = line.split(), [], 0
    while i < len(tokens):
        token, j = tokens[i], i
        punct = len(token) == 1 and token.isascii() and not (token.isalnum() or token == "_")
        while punct and j < len(tokens) and tokens[j] == token:
            j += 1
        if punct and j - i > cap:
            out.append(token * cap)
            i = j
        else:
            out.append(token)
            i += 1
    return " ".join(out)


TEXT = st.lists(st.sampled_from(["=", "-", "*", "#", "(", "_", "a", "ab", "é", "==", " ", "\n", "\t", "1", "."]),
                max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, max_size=6), st.integers(1, 5))
def test_cap_equals_the_reference_on_normalised_lines(texts, cap):
    lines = fasttext_line_array(pa.array(texts, pa.large_string()))
    assert capped_punct_runs(lines, cap).to_pylist() == [reference(line, cap) for line in lines.to_pylist()]


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, max_size=6), st.integers(1, 5))
def test_joined_runs_equal_the_reference_on_normalised_lines(texts, cap):
    lines = fasttext_line_array(pa.array(texts, pa.large_string()))
    assert capped_punct_runs(lines, cap, join=True).to_pylist() == [join_reference(line, cap)
                                                                    for line in lines.to_pylist()]


def test_a_joined_run_is_one_new_word_and_short_runs_stay():
    lines = fasttext_line_array(pa.array(["Title\n=========\n-- ==== x\nfoo(a);;;; === end"], pa.large_string()))
    assert capped_punct_runs(lines, 3, join=True).to_pylist() == [
        "title _nl_ === _nl_ - - === x _nl_ foo ( a ) ;;; = = = end"]


def test_a_cap_under_one_is_refused():
    with pytest.raises(ValueError, match="cap=0"):
        capped_punct_runs(pa.array(["= = ="], pa.large_string()), 0)


def test_an_underline_reads_as_three_tokens_and_words_are_untouched():
    lines = fasttext_line_array(pa.array(["Title\n=========\n-- ==== x\nfoo(a);;;; ---- end", "", "aaaa"],
                                         pa.large_string()))
    assert capped_punct_runs(lines, 3).to_pylist() == [
        "title _nl_ = = = _nl_ - - = = = x _nl_ foo ( a ) ; ; ; - - - end", "", "aaaa"]


def test_runs_are_joined_by_default_and_only_in_lines_with_the_feature_tokens():
    windows = pa.array(["Usage\n" + "=" * 40 + "\nRun the tool."], pa.large_string())
    assert (DomainConfig().punct_run_cap, DomainConfig().punct_run_join) == (3, True)
    assert (TrainConfig().punct_run_cap, TrainConfig().punct_run_join) == (3, True)
    assert domain.classifier_line_array(windows, with_features=True, punct_run_cap=0).to_pylist()[0].count("=") == 40
    assert domain.classifier_line_array(windows, with_features=False).to_pylist()[0].count("=") == 40
    capped = domain.classifier_line_array(windows, with_features=True, punct_run_join=False).to_pylist()[0]
    assert capped.count("=") == 3 and "===" not in capped and capped.split()[-1].startswith(domain.FEATURE_PREFIX)
    joined = domain.classifier_line_array(windows, with_features=True).to_pylist()[0].split()
    assert "===" in joined and "=" not in joined


def test_the_shipped_model_was_trained_with_joined_runs():
    from midtrain.curation.labels.models import load_classifier

    model = load_classifier("domain")
    assert model.knows("===") and model.knows("---")


def test_the_labeller_reads_capped_lines_and_windows_without_runs_are_labelled_alike():
    runs = ["Usage\n" + "=" * 60 + "\nRun the tool with one file.\n" + "-" * 60 + "\nIt prints a line per record."]
    plain = ["The committee met on Tuesday and agreed the budget for the coming year.",
             "def area(r):\n    return 3.14159 * r * r\n"]
    on, off = (label_domains(runs + plain, config=DomainConfig(code_language=False, punct_run_cap=cap,
                                                               punct_run_join=cap > 0))
               for cap in (3, 0))  # the shipped model read both ways: only the window with runs differs
    assert on["domain_score"].to_pylist()[1:] == off["domain_score"].to_pylist()[1:]
    assert on["domain_score"].to_pylist()[0] != off["domain_score"].to_pylist()[0]


def test_training_with_the_cap_changes_the_model_deterministically_and_checks_its_value(tmp_path):
    texts = [f"Section {i}\n" + "=" * 30 + f"\nThe report number {i} says the market rose." for i in range(20)]
    texts += [f"int f{i}(void) {{\n    return {i};  /* {'*' * 20} */\n}}\n" for i in range(20)]
    labels = ["web"] * 20 + ["code"] * 20
    config = TrainConfig(epochs=2, holdout=0.0, dim=4, shape_features=True)
    paths = {}
    for name, cap in (("off", 0), ("a", 3), ("b", 3)):  # cut to three separate tokens (stop 64's E78), or off
        paths[name] = tmp_path / f"{name}.bin"
        train_classifier(labels, texts, paths[name], replace(config, punct_run_cap=cap, punct_run_join=False))
    assert paths["a"].read_bytes() == paths["b"].read_bytes() != paths["off"].read_bytes()
    with pytest.raises(ConfigError, match="punct_run_cap"):
        train_classifier(labels, texts, tmp_path / "x.bin", replace(config, punct_run_cap=-1))
    with pytest.raises(ConfigError, match="punct_run_cap"):
        DomainConfig(punct_run_cap=-1)
    joined = tmp_path / "joined.bin"
    train_classifier(labels, texts, joined, config)  # the default: joined runs
    train_classifier(labels, texts, tmp_path / "joined2.bin", config)
    assert joined.read_bytes() == (tmp_path / "joined2.bin").read_bytes() != paths["a"].read_bytes()
    with pytest.raises(ConfigError, match="punct_run_join"):
        train_classifier(labels, texts, tmp_path / "x.bin", replace(config, punct_run_join="yes"))
    with pytest.raises(ConfigError, match="punct_run_join"):
        DomainConfig(punct_run_join=1)
    off_joined = tmp_path / "off_joined.bin"  # a cap of 0 turns the pass off, joined or not
    train_classifier(labels, texts, off_joined, replace(config, punct_run_cap=0))
    assert off_joined.read_bytes() == paths["off"].read_bytes()

"""`midtrain train-classifier` on a small real labelled set: trains, scores held-out, errors are one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.cli import main
from midtrain.curation.labels.evaluation import classification_report
from midtrain.curation.labels.models import FastTextClassifier
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows
from midtrain.curation.labels.training import (TrainConfig, dropped_words, fold_models, read_examples,
                                               train_classifier)
from midtrain.errors import ConfigError


def _labelled(sample_raw: Path, n: int = 80) -> list[dict]:
    recs = []
    for name, label in (("python_docs", "web"), ("python_stdlib", "code"), ("champ", "reasoning")):
        for line in (sample_raw / f"{name}.jsonl").read_text().splitlines()[:n]:
            recs.append({"label": label, "text": json.loads(line)["text"]})
    return recs


def test_train_classifier_cli_reports_per_label_scores_and_confusion(sample_raw, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _labelled(sample_raw)))
    assert main(["train-classifier", str(data), "--output", str(tmp_path / "m.ftz"), "--quantize",
                 "--epochs", "15"]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "confusion" in out and "macro-F1" in out
    report = json.loads((tmp_path / "m.json").read_text())
    scores = report["holdout_scores"]
    assert set(scores["per_label"]) == {"web", "code", "reasoning"}
    assert scores["documents"] == sum(report["holdout_counts"].values()) > 0
    assert sum(map(sum, scores["confusion"])) == scores["documents"]
    assert scores["macro_f1"] >= 0.8  # three well-separated real sources


def test_folder_per_label_reads_like_jsonl(sample_raw, tmp_path):
    recs = _labelled(sample_raw, 10)
    for i, r in enumerate(recs):
        (tmp_path / "ex" / r["label"]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "ex" / r["label"] / f"{i:03d}.txt").write_text(r["text"])
    labels, texts = read_examples(tmp_path / "ex")
    assert sorted(zip(labels, texts)) == sorted((r["label"], r["text"]) for r in recs if r["text"].strip())


def test_training_is_deterministic(sample_raw, tmp_path):
    """Two fresh processes, same examples and seed: the same model bytes and scores."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _labelled(sample_raw, 40)))
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-m", "midtrain.cli", "train-classifier", str(data), "--output",
                        str(tmp_path / f"{name}.ftz"), "--epochs", "5"], check=True, capture_output=True)
    assert (tmp_path / "a.ftz").read_bytes() == (tmp_path / "b.ftz").read_bytes()
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["holdout_scores"] for n in "ab")
    assert a == b
    recs = _labelled(sample_raw, 40)
    pred = FastTextClassifier(tmp_path / "a.ftz").predict(fasttext_lines(text_windows([r["text"] for r in recs])))
    assert classification_report([r["label"] for r in recs], pred.labels.tolist())["accuracy"] > 0.8


def test_repeated_training_in_one_process_gives_the_same_model(sample_raw, tmp_path):
    """fasttext-numpy2 carries state between calls in a process; each model is trained in a new one."""
    recs = _labelled(sample_raw, 40)
    labels, texts = [r["label"] for r in recs], [r["text"] for r in recs]
    for name in ("a", "b", "c"):
        train_classifier(labels, texts, tmp_path / f"{name}.ftz", TrainConfig(epochs=5))
    assert len({(tmp_path / f"{n}.ftz").read_bytes() for n in "abc"}) == 1


def _softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_seeds_fold_into_one_model_with_the_mean_logits(sample_raw, tmp_path):
    """``seeds=3``: one model whose probabilities are the softmax of the three seeds' mean logits, which a
    reference computes from each model's own vectors (the binding's sentence vector, times its output matrix)."""
    recs = _labelled(sample_raw, 40)
    labels, texts = [r["label"] for r in recs], [r["text"] for r in recs]
    config = TrainConfig(epochs=5, holdout=0.0, dim=8)
    for seed in range(3):
        train_classifier(labels, texts, tmp_path / f"s{seed}.bin", replace(config, seed=seed))
    train_classifier(labels, texts, tmp_path / "folded.bin", replace(config, seeds=3))
    lines = list(fasttext_lines(text_windows(texts[::7])))
    import fasttext

    order = None
    logits = []
    for seed in range(3):
        model = fasttext.load_model(str(tmp_path / f"s{seed}.bin"))
        names = model.get_labels()
        order = order or sorted(names)
        rows = np.array([model.get_sentence_vector(line) for line in lines]) @ model.get_output_matrix().T
        logits.append(rows[:, [names.index(name) for name in order]])
    expected = _softmax_rows(np.mean(logits, axis=0))
    scores, got_labels = FastTextClassifier(tmp_path / "folded.bin").predict_all(lines)
    got = scores[:, [got_labels.index(name.removeprefix("__label__")) for name in order]] - 1e-5
    assert np.allclose(got, expected, atol=1e-4)
    assert fasttext.load_model(str(tmp_path / "folded.bin")).get_dimension() == len(order)
    # one seed is fastText's own model; models of other examples do not fold
    assert (tmp_path / "s0.bin").read_bytes() != (tmp_path / "folded.bin").read_bytes()
    single = FastTextClassifier(tmp_path / "s0.bin").predict(lines).labels
    assert (single != FastTextClassifier(tmp_path / "folded.bin").predict(lines).labels).sum() < len(lines)
    train_classifier(labels[:60], texts[:60], tmp_path / "other.bin", config)
    with pytest.raises(ConfigError, match="same examples"):
        fold_models([tmp_path / "s0.bin", tmp_path / "other.bin"], tmp_path / "bad.bin")
    with pytest.raises(ConfigError, match="quantized"):
        train_classifier(labels, texts, tmp_path / "q.ftz", replace(config, seeds=2, quantize=True))


def test_quantization_sub_vectors_and_cutoff_are_applied(sample_raw, tmp_path):
    """``dsub``/``cutoff`` reach fastText's quantizer: whole-vector codes without pruning make a model
    of another size that still labels its training examples like the unquantized one."""
    recs = _labelled(sample_raw, 40)
    labels, texts = [r["label"] for r in recs], [r["text"] for r in recs]
    base = TrainConfig(epochs=5, dim=16, holdout=0.0)
    paths = {}
    for name, cfg in (("plain", base), ("default", replace(base, quantize=True)),
                      ("coarse", replace(base, quantize=True, dsub=8, cutoff=0))):
        paths[name] = tmp_path / f"{name}.ftz"
        train_classifier(labels, texts, paths[name], cfg)
    assert paths["coarse"].stat().st_size != paths["default"].stat().st_size
    lines = fasttext_lines(text_windows(texts))
    plain = FastTextClassifier(paths["plain"]).predict(lines).labels
    coarse = FastTextClassifier(paths["coarse"]).predict(lines).labels
    assert (plain == coarse).mean() >= 0.9


def test_cli_quantizes_with_the_shipped_recipe_unless_told(sample_raw, tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _labelled(sample_raw, 30)))
    common = ["train-classifier", str(data), "--epochs", "3", "--dim", "16", "--quantize"]
    assert main([*common, "--output", str(tmp_path / "shipped.ftz")]) == 0
    assert main([*common, "--output", str(tmp_path / "default.ftz"), "--dsub", "2", "--cutoff", "1000"]) == 0
    assert (tmp_path / "shipped.ftz").stat().st_size != (tmp_path / "default.ftz").stat().st_size
    assert main([*common, "--output", str(tmp_path / "bad.ftz"), "--dsub", "5"]) == 2
    assert "--dsub must divide --dim (16)" in capsys.readouterr().err
    assert main([*common[:-1], "--output", str(tmp_path / "plain.ftz"), "--dsub", "8"]) == 2
    assert "add --quantize" in capsys.readouterr().err and not (tmp_path / "plain.ftz").exists()


def test_divergence_is_a_clear_error(sample_raw, tmp_path):
    recs = _labelled(sample_raw, 20)
    with pytest.raises(ConfigError, match="diverged .* smaller --lr"):
        train_classifier([r["label"] for r in recs], [r["text"] for r in recs], tmp_path / "m.ftz",
                         TrainConfig(epochs=5, lr=1e9))
    assert not (tmp_path / "m.ftz").exists()


def test_bad_jsonl_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"label": "web", "text": "fine"}\n{"label": 3}\n')
    assert main(["train-classifier", str(data), "--output", str(tmp_path / "m.ftz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.jsonl:2" in err and "'label'" in err


def test_cli_folds_seeds_and_refuses_them_quantized(sample_raw, tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _labelled(sample_raw, 30)))
    common = ["train-classifier", str(data), "--epochs", "3", "--dim", "8", "--seeds", "2"]
    assert main([*common, "--output", str(tmp_path / "m.bin")]) == 0
    import fasttext

    assert fasttext.load_model(str(tmp_path / "m.bin")).get_dimension() == 3  # one column per label
    assert main([*common, "--quantize", "--output", str(tmp_path / "q.ftz")]) == 2
    assert "cannot be folded" in capsys.readouterr().err
    assert main([*common[:-1], "0", "--output", str(tmp_path / "z.bin")]) == 2
    assert "seeds=0" in capsys.readouterr().err


def test_one_label_is_refused(tmp_path, capsys):
    data = tmp_path / "one.jsonl"
    data.write_text('{"label": "web", "text": "The quick brown fox."}\n')
    assert main(["train-classifier", str(data), "--output", str(tmp_path / "m.ftz")]) == 2
    assert "at least two labels" in capsys.readouterr().err


def test_classification_report_counts():
    rep = classification_report(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert rep["per_label"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert rep["confusion"] == [[1, 1], [0, 2]]
    assert rep["macro_f1"] == pytest.approx((0.6667 + 0.8) / 2, abs=1e-4)


@pytest.fixture(scope="module")
def tiny_model(sample_raw, tmp_path_factory):
    """One small trained model: its dictionary and buckets carry the random weights of the property test."""
    recs = _labelled(sample_raw, 40)
    path = tmp_path_factory.mktemp("tiny") / "tiny.bin"
    train_classifier([r["label"] for r in recs], [r["text"] for r in recs], path,
                     TrainConfig(epochs=5, holdout=0.0, dim=8))
    return path


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 3), seed=st.integers(0, 2**32 - 1), picks=st.lists(st.integers(0, 10**6), min_size=1,
                                                                            max_size=30))
def test_folding_random_weights_gives_the_mean_logits(tiny_model, tmp_path, k, seed, picks):
    """Property: for any k models of one dictionary (random input and output matrices), the folded model's
    probabilities are the softmax of the mean of their logits on any line of the dictionary's words."""
    import fasttext

    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # hypothesis reuses tmp_path; model files are read by path
    paths, logits = [], []
    model = fasttext.load_model(str(tiny_model))
    words = model.get_words()
    line = " ".join(words[p % len(words)] for p in picks)
    for i in range(k):
        inp = rng.normal(0, 1, model.get_input_matrix().shape).astype(np.float32)
        out = rng.normal(0, 1, model.get_output_matrix().shape).astype(np.float32)
        model.set_matrices(inp, out)
        paths.append(folder / f"r{i}.bin")
        model.save_model(str(paths[-1]))
        logits.append(model.get_output_matrix() @ model.get_sentence_vector(line))
    fold_models(paths, folder / "folded.bin")
    names = [name.removeprefix("__label__") for name in model.get_labels()]
    scores, got_labels = FastTextClassifier(folder / "folded.bin").predict_all([line])
    got = scores[0, [got_labels.index(name) for name in names]] - 1e-5
    assert np.allclose(got, _softmax_rows(np.mean(logits, axis=0)[None])[0], atol=1e-4)


def _dropped_reference(lines: list[str], p: float, seed: int) -> list[str]:
    """``dropped_words`` in plain Python: the same draws, one per space-separated piece in order."""
    draws = iter(np.random.default_rng(seed).random(sum(len(line.split(" ")) for line in lines)))
    out = []
    for line in lines:
        pieces = [(w, next(draws)) for w in line.split(" ")]
        kept = [w for w, draw in pieces if w and (draw >= p or re.fullmatch(r"fx[a-z]+[0-9]+", w))]
        out.append(" ".join(kept))
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["the", "x", "fxcode3", "fxlatex0", "fx", "fxA1", "fxcode", "é", "",
                                          "__nl__", "return;"]), max_size=12).map(" ".join), max_size=8),
       st.sampled_from([0.0, 0.3, 0.5, 0.9]), st.integers(0, 3))
def test_word_dropout_thins_words_and_keeps_feature_tokens(lines, p, seed):
    """Property: ``dropped_words`` equals a plain-Python reference with the same draws; every feature token stays,
    the kept words keep their order, and the same seed gives the same lines."""
    got = dropped_words(lines, p, seed)
    assert got == _dropped_reference(lines, p, seed) == dropped_words(lines, p, seed)
    for line, thin in zip(lines, got):
        words = [w for w in line.split(" ") if w]
        assert [w for w in words if w in ("fxcode3", "fxlatex0")] == [w for w in thin.split(" ") if w in
                                                                        ("fxcode3", "fxlatex0")]
        it = iter(words)
        assert all(w in it for w in thin.split(" ") if w)  # a subsequence
    if p == 0.0:
        assert got == [" ".join(w for w in line.split(" ") if w) for line in lines]


def test_word_dropout_trains_deterministically_and_checks_its_value(sample_raw, tmp_path):
    """``TrainConfig.word_dropout``: the thinned copies change the model, the same seed gives the same bytes, and a
    probability outside [0, 1) is a ConfigError naming the field."""
    recs = _labelled(sample_raw, 30)
    labels, texts = [r["label"] for r in recs], [r["text"] for r in recs]
    config = TrainConfig(epochs=3, holdout=0.0, dim=8, shape_features=True)
    paths = {}
    for name, p in (("plain", 0.0), ("a", 0.5), ("b", 0.5)):
        paths[name] = tmp_path / f"{name}.bin"
        train_classifier(labels, texts, paths[name], replace(config, word_dropout=p))
    assert paths["a"].read_bytes() == paths["b"].read_bytes() != paths["plain"].read_bytes()
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="word_dropout"):
            train_classifier(labels, texts, tmp_path / "x.bin", replace(config, word_dropout=bad))

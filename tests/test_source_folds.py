"""Leave-one-source-out scores of `midtrain train-classifier --by-source`, on the quickstart's real sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.cli import main
from midtrain.curation.labels.source_folds import score_by_source, source_folds, source_labels
from midtrain.curation.labels.training import TrainConfig, read_sourced_examples
from midtrain.errors import ConfigError

FAST = TrainConfig(epochs=5)


def _sourced(sample_raw: Path, per_source: int = 40) -> list[dict]:
    """Four real sources in three labels; `champ` alone is `reasoning`, so no other fold can teach it."""
    recs, seen = [], {}
    for name, label in (("python_docs", "web"), ("mpmath_docs", "math"), ("champ", "reasoning")):
        for line in (sample_raw / f"{name}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if seen.get(rec["source"], 0) < per_source:
                seen[rec["source"]] = seen.get(rec["source"], 0) + 1
                recs.append({"label": label, "text": rec["text"], "source": rec["source"]})
    return recs


def _columns(recs: list[dict]) -> tuple[list[str], list[str], list[str]]:
    return [r["label"] for r in recs], [r["text"] for r in recs], [r["source"] for r in recs]


def test_every_example_is_labelled_once_by_a_model_that_never_saw_its_source(sample_raw):
    recs = _sourced(sample_raw)
    labels, texts, sources = _columns(recs)
    assert sorted(set(sources)) == ["champ", "mpmath", "pydoc_data", "python-docstrings"]
    result = score_by_source(labels, texts, sources, FAST)
    assert result["folds"] == [["champ"], ["mpmath"], ["pydoc_data"], ["python-docstrings"]]
    assert result["pooled"]["documents"] == len(recs)
    assert sum(row["documents"] for row in result["per_source"].values()) == len(recs)
    assert all(sum(row["predicted"].values()) == row["documents"] for row in result["per_source"].values())
    # `reasoning` comes from champ alone: a model trained without champ cannot give it, so champ's recall
    # is 0 (a model that had seen champ labels it near perfectly, as the random split shows)
    assert result["per_source"]["champ"]["recall"] == 0.0
    assert "reasoning" not in result["per_source"]["champ"]["predicted"]
    assert "champ" in result["sources_under"]
    ci = result["macro_f1_interval"]
    assert ci["low"] <= result["pooled"]["macro_f1"] <= ci["high"] and ci["groups"] == 4


def test_the_score_is_deterministic_and_does_not_depend_on_workers(sample_raw):
    labels, texts, sources = _columns(_sourced(sample_raw, 25))
    one = score_by_source(labels, texts, sources, FAST, folds=2)
    assert score_by_source(labels, texts, sources, FAST, folds=2, workers=2) == one
    assert len(one["folds"]) == 2 and sorted(sum(one["folds"], [])) == sorted(set(sources))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=6), st.sampled_from(["web", "code", "math"]),
                       min_size=1, max_size=30),
       st.integers(0, 12), st.integers(0, 3))
def test_folds_partition_the_sources_evenly_within_each_label(source_label, folds, seed):
    plan = source_folds(source_label, folds, seed)
    assert sorted(sum(plan, [])) == sorted(source_label)  # every source in exactly one fold
    assert plan == source_folds(dict(reversed(list(source_label.items()))), folds, seed)  # names decide, not order
    if not folds or folds >= len(source_label):
        assert plan == [[s] for s in sorted(source_label)]
        return
    assert len(plan) == folds
    sizes = [len(fold) for fold in plan]
    assert max(sizes) - min(sizes) <= 1
    for label in set(source_label.values()):
        per_fold = [sum(source_label[s] == label for s in fold) for fold in plan]
        assert max(per_fold) - min(per_fold) <= 1


def test_a_source_gets_its_most_common_label():
    assert source_labels(["a", "b", "b", "c", "a"], ["s", "s", "s", "t", "t"]) == {"s": "b", "t": "a"}


def test_examples_without_a_source_and_bad_settings_are_refused(sample_raw):
    labels, texts, sources = _columns(_sourced(sample_raw, 5))
    with pytest.raises(ConfigError, match="3 of .* have none .* example 2"):
        score_by_source(labels, texts, [None if i in (1, 4, 7) else s for i, s in enumerate(sources)], FAST)
    two = [i for i, s in enumerate(sources) if s in ("champ", "mpmath")]
    with pytest.raises(ConfigError, match=r"leaving out \['champ'\] leaves examples of one label only"):
        score_by_source([labels[i] for i in two], [texts[i] for i in two], [sources[i] for i in two], FAST)
    with pytest.raises(ConfigError, match="folds"):
        source_folds({"a": "web"}, -1)


def test_cli_by_source_reads_jsonl_and_folder_sources(sample_raw, tmp_path, capsys):
    recs = _sourced(sample_raw, 20)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["train-classifier", str(data), "--output", str(tmp_path / "m.bin"), "--epochs", "5",
                 "--by-source", "--source-folds", "3"]) == 0
    out = capsys.readouterr().out
    assert "leave-one-source-out (3 folds over 4 sources)" in out and "sources with recall < 0.70" in out
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["by_source"]["pooled"]["documents"] == len(recs)
    for i, r in enumerate(recs):  # LABEL/SOURCE/file reads as the same sources
        folder = tmp_path / "ex" / r["label"] / r["source"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.txt").write_text(r["text"])
    (tmp_path / "ex" / "web" / "loose.txt").write_text(recs[0]["text"])  # no source sub-folder
    labels, texts, sources = read_sourced_examples(tmp_path / "ex")
    assert sorted((lab, s) for lab, s in zip(labels, sources) if s) == sorted((r["label"], r["source"]) for r in recs)
    assert [lab for lab, s in zip(labels, sources) if s is None] == ["web"]
    assert main(["train-classifier", str(tmp_path / "ex"), "--output", str(tmp_path / "f.bin"),
                 "--by-source"]) == 2
    assert "have none" in capsys.readouterr().err


def test_cli_refuses_fold_settings_without_by_source_and_a_bad_source_field(sample_raw, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"label": "web", "text": "some words here", "source": 3}) + "\n")
    assert main(["train-classifier", str(data), "--output", str(tmp_path / "m.bin"), "--source-folds", "2"]) == 2
    assert "add --by-source" in capsys.readouterr().err
    assert main(["train-classifier", str(data), "--output", str(tmp_path / "m.bin")]) == 2
    assert "train.jsonl:1: 'source' must be a string" in capsys.readouterr().err

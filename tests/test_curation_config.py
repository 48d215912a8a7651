"""The pipeline config: a YAML file checked before anything runs, errors naming the key path."""

from __future__ import annotations

import textwrap

import pytest

from midtrain.curation.config import CurateConfig, load_config
from midtrain.curation.stages.decontaminate import EvalSet
from midtrain.curation.stages.dedup import DedupConfig
from midtrain.curation.pipeline import build_steps, default_pipeline, signal_columns
from midtrain.curation.refiltering import parse_overrides
from midtrain.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "curate.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_full_config_file_loads_with_paths_relative_to_it(tmp_path):
    cfg = load_config(write(tmp_path, """
        inputs:
          - {path: raw/web.jsonl, domain: web}
          - raw/code=code
        pipeline:
          - normalise: {unicode_form: NFKC}
          - signals
        executor: {kind: local, workers: 2}
        output: {shard_size_mb: 8}
    """))
    assert [(s.path, s.domain) for s in cfg.inputs] == [("raw/web.jsonl", "web"), ("raw/code", "code")]
    assert [s.name for s in cfg.pipeline] == ["normalise", "signals"]
    assert cfg.pipeline[0].params == {"unicode_form": "NFKC"}
    assert (cfg.executor.workers, cfg.output.shard_size_mb, cfg.base_dir) == (2, 8.0, str(tmp_path))


def test_empty_config_means_defaults():
    assert load_config({}) == CurateConfig()


@pytest.mark.parametrize(("text", "message"), [
    ("executor: {workers: two}", r"executor.workers: expected an integer, got str \('two'\)"),
    ("executor: {kind: spark}", r"executor.kind: expected one of 'local', 'ray', 'slurm', got 'spark'"),
    ("output: {shard_mb: 8}", r"output.shard_mb: unknown key \(known: keep_stages, shard_size_mb\)"),
    ("inputs: [{path: a.jsonl, domian: web}]", r"inputs\[0\].domian: unknown key"),
    ("inputs: [{path: a.jsonl, id_field: 3}]", r"inputs\[0\].id_field: expected str or NoneType, got int"),
    ("colour: blue", r"curate.yaml.colour: unknown key"),
    ("pipeline: [{normalise: {}, signals: {}}]", r"pipeline\[0\]: a step is a name or a one-key mapping"),
    ("pipeline: normalise", r"pipeline: expected a list of steps"),
    ("inputs: [[1]", r"not valid YAML"),
    ("dedup: {bands: 0}", r"curate.yaml.dedup.bands: must be a positive integer, got 0"),
    ("dedup: [threshold]", r"dedup: expected DedupConfig or NoneType, got list"),
    ("decontaminate: {against: [{path: a.jsonl}]}", r"decontaminate.against\[0\].path: unknown key \(known: answer_field, fields"),
])
def test_config_mistakes_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_corpus_stage_sections_build_their_typed_configs(tmp_path):
    cfg = load_config(write(tmp_path, """
        dedup: {threshold: 0.9}
        decontaminate: {against: [gsm8k=eval/test.jsonl:question]}
    """))
    assert cfg.dedup == DedupConfig(threshold=0.9)
    assert cfg.decontaminate.against == (EvalSet(source="eval/test.jsonl", name="gsm8k", fields=("question",)),)
    assert cfg.stages() == [cfg.dedup, cfg.decontaminate]


def test_step_parameters_are_checked_against_the_step(tmp_path):
    cfg = load_config(write(tmp_path, "pipeline: [normalise: {unicode_form: NFD}]"))
    with pytest.raises(ConfigError, match=r"config.pipeline\[0\].normalise.unicode_form: expected one of 'NFC'"):
        build_steps(cfg.pipeline)
    cfg = load_config(write(tmp_path, "pipeline: [normalise: {form: NFC}]"))
    with pytest.raises(ConfigError, match=r"pipeline\[0\].normalise.form: unknown parameter \(known: unicode_form\)"):
        build_steps(cfg.pipeline)


def test_unknown_step_names_the_known_ones(tmp_path):
    cfg = load_config(write(tmp_path, "pipeline: [normalise, dedupe]"))
    with pytest.raises(ConfigError, match=r"pipeline\[1\].dedupe: unknown step 'dedupe' \(known: normalise"):
        build_steps(cfg.pipeline)


def test_default_pipeline_follows_the_contract_order():
    names = [s.name for s in default_pipeline()]
    assert names == ["normalise", "language_id", "domain_labeller", "quality_scorer", "signals", "thresholds"]


def test_writer_columns_are_the_union_of_declared_signals():
    steps = build_steps(default_pipeline())
    columns = signal_columns(steps)
    assert {"language", "language_score", "domain_score", "quality_score"} <= set(columns)
    assert str(columns["language_score"]) == "float"


def test_refilter_overrides_parse_values_as_yaml():
    assert parse_overrides(["gopher_quality.min_doc_words=30", "c4.filter_curly_bracket=false", "quality.web=0.7"]) == {
        "gopher_quality": {"min_doc_words": 30}, "c4": {"filter_curly_bracket": False}, "quality": {"web": 0.7}}
    with pytest.raises(ConfigError, match="expected RULE.PARAM=VALUE"):
        parse_overrides(["gopher_quality.min_doc_words"])

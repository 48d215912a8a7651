"""Evaluation sets load from JSONL, Parquet and datasets folders; mistakes name the file and key."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.dedup_corpora import GSM8K, eval_file, real_documents, write_corpus

from midtrain.corpus import CorpusError
from midtrain.curation.config import load_config
from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet, decontaminate_corpus
from midtrain.curation.stages.decontaminate.eval_sets import build_eval_index
from midtrain.errors import ConfigError


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return [json.loads(line) for line in eval_file(*GSM8K).read_text().splitlines()[:50]]


def test_jsonl_parquet_and_datasets_folder_give_the_same_index(questions, tmp_path):
    import datasets

    pq.write_table(pa.Table.from_pylist(questions), tmp_path / "q.parquet")
    datasets.Dataset.from_list(questions).save_to_disk(str(tmp_path / "q_ds"))
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    indexes = [build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / p, name="q"),)))
               for p in ("q.jsonl", "q.parquet", "q_ds")]
    assert all((ix.hashes == indexes[0].hashes).all() and ix.item_id == indexes[0].item_id for ix in indexes)
    assert len(indexes[0].item_id) == 50 and indexes[0].item_set[0] == "q"


def test_spec_strings_name_set_path_and_fields():
    e = EvalSet.parse("gsm8k=/data/test.jsonl:question+answer")
    assert (e.name, str(e.source), e.fields) == ("gsm8k", "/data/test.jsonl", ("question", "answer"))
    assert EvalSet.parse("/data/HumanEval.jsonl.gz").label == "HumanEval"


def test_missing_text_field_names_the_file(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps({"body": "a b c"}) + "\n")
    with pytest.raises(CorpusError, match=r"x.jsonl: no text field"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "x.jsonl"),)))


def test_short_items_are_reported_as_unmatchable(tmp_path, sample_raw):
    (tmp_path / "short.jsonl").write_text(json.dumps({"question": "What is two plus two?"}) + "\n")
    corpus = write_corpus(tmp_path / "in", real_documents(sample_raw, per_source=2))
    with pytest.warns(UserWarning, match=r"short.jsonl: 1 of 1 items of 'short' skipped.*1 with fewer than 13 words"):
        report = decontaminate_corpus(corpus, tmp_path / "out",
                                      DecontConfig(against=(EvalSet(source=tmp_path / "short.jsonl"),)))
    assert report.unmatchable == {"short": 1}


def test_bad_config_names_the_key():
    with pytest.raises(ConfigError, match=r"config.decontaminate.mode: expected one of 'drop', 'cut', got 'erase'"):
        load_config({"decontaminate": {"against": ["a.jsonl"], "mode": "erase"}})
    with pytest.raises(ConfigError, match=r"config.decontaminate.ngrams: unknown key"):
        load_config({"decontaminate": {"against": ["a.jsonl"], "ngrams": 13}})
    with pytest.raises(ConfigError, match=r"config.decontaminate.against\[0\].feilds: unknown key"):
        load_config({"decontaminate": {"against": [{"source": "a.jsonl", "feilds": ["q"]}]}})
    with pytest.raises(ConfigError, match=r"config.decontaminate.against: give at least one evaluation set"):
        load_config({"decontaminate": {}})
    with pytest.raises(ConfigError, match="against"):
        DecontConfig()


def test_eval_sets_in_a_config_file_are_specs_or_mappings():
    cfg = load_config({"decontaminate": {"against": ["gsm8k=test.jsonl:question+answer",
                                                     {"source": "he.jsonl", "fields": ["prompt"]}]}})
    assert cfg.decontaminate.against == (EvalSet(source="test.jsonl", name="gsm8k", fields=("question", "answer")),
                                         EvalSet(source="he.jsonl", fields=("prompt",)))

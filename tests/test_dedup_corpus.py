"""dedup_corpus end to end on real text: what is removed, what is kept, and that counts add up."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from helpers.dedup_corpora import edit_words, real_documents, write_corpus

from midtrain.corpus import Manifest, read_text_shard, validate
from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus
from midtrain.curation.config import load_config
from midtrain.errors import ConfigError


@pytest.fixture(scope="module")
def docs(sample_raw) -> list[dict]:
    return real_documents(sample_raw, per_source=12)


def rows(corpus, folder="shards") -> list[dict]:
    manifest = Manifest.read(corpus)
    out = []
    for s in getattr(manifest, folder):
        out += read_text_shard(corpus / s.path).to_pylist()
    return out


def test_whitespace_copies_and_near_duplicates_are_removed_across_domains(docs, tmp_path):
    original = docs[3]  # copies get ids sorting after the originals ("~"), so the originals are kept
    spaced = {**original, "id": "~copy#spaced", "domain": "web", "text": re.sub(" ", "  \n", original["text"])}
    near = {**docs[20], "id": "~copy#near", "domain": "math", "text": edit_words(docs[20]["text"], 0.01, seed=1)}
    corpus = write_corpus(tmp_path / "in", docs + [spaced, near])
    report = dedup_corpus(corpus, tmp_path / "out", DedupConfig())
    rejected = {r["id"]: r for r in rows(tmp_path / "out", "rejected")}
    assert rejected["~copy#spaced"]["reason"] == f"duplicate_of={original['id']}"
    assert rejected["~copy#spaced"]["step"] == "exact_dedup"
    assert rejected["~copy#near"]["reason"] == f"duplicate_of={docs[20]['id']}"
    assert rejected["~copy#near"]["step"] == "minhash_dedup"
    assert report.input == len(docs) + 2
    assert validate(tmp_path / "out") == []


def test_cluster_keeps_highest_quality_then_smallest_id(docs, tmp_path):
    base = docs[5]
    copies = [{**base, "id": f"q#{i}", "quality_score": q} for i, q in enumerate([0.2, 0.9, 0.9, None])]
    corpus = write_corpus(tmp_path / "in", [{**d, "quality_score": 0.5} for d in docs if d is not base] + copies)
    dedup_corpus(corpus, tmp_path / "out", DedupConfig())
    kept_ids = {r["id"] for r in rows(tmp_path / "out")}
    assert "q#1" in kept_ids and not {"q#0", "q#2", "q#3"} & kept_ids
    assert {r["reason"] for r in rows(tmp_path / "out", "rejected")} == {"duplicate_of=q#1"}


def test_input_rejected_shards_are_carried_over(docs, tmp_path):
    dropped = {**docs[0], "id": "early#1", "step": "gopher_quality", "reason": "word_count"}
    corpus = write_corpus(tmp_path / "in", docs + [{**docs[1], "id": "~dup#1"}], rejected=[dropped])
    dedup_corpus(corpus, tmp_path / "out", DedupConfig())
    rejected = rows(tmp_path / "out", "rejected")
    assert {(r["id"], r["step"]) for r in rejected} == {("early#1", "gopher_quality"), ("~dup#1", "exact_dedup")}
    assert validate(tmp_path / "out") == []


def test_output_does_not_depend_on_worker_count(docs, tmp_path):
    corpus = write_corpus(tmp_path / "in", docs + [{**d, "id": d["id"] + "/again"} for d in docs[::7]],
                          shards_per_domain=3)
    dedup_corpus(corpus, tmp_path / "one", DedupConfig(), workers=1)
    dedup_corpus(corpus, tmp_path / "two", DedupConfig(), workers=2)
    one, two = Manifest.read(tmp_path / "one"), Manifest.read(tmp_path / "two")
    assert [(s.path, s.checksum) for s in one.shards + one.rejected] == \
           [(s.path, s.checksum) for s in two.shards + two.rejected]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_counts_add_up(docs, tmp_path_factory, data):
    chosen = data.draw(st.lists(st.sampled_from(range(len(docs))), min_size=1, max_size=30))
    exact_only = data.draw(st.booleans())
    batch_rows = data.draw(st.sampled_from([3, 64]))
    corpus_docs = [{**docs[i], "id": f"{docs[i]['id']}/{k}"} for k, i in enumerate(chosen)]
    tmp = tmp_path_factory.mktemp("counts")
    corpus = write_corpus(tmp / "in", corpus_docs, shards_per_domain=data.draw(st.integers(1, 3)))
    config = DedupConfig(fuzzy=not exact_only, batch_rows=batch_rows)
    report = dedup_corpus(corpus, tmp / "out", config)
    out = Manifest.read(tmp / "out")
    removed = sum(sum(r.values()) for r in report.rejected.values())
    assert report.input == len(corpus_docs) == report.kept + removed == report.kept + report.removed
    assert sum(s.rows for s in out.shards) == report.kept
    assert sum(s.rows for s in out.rejected) == removed
    # every distinct source document survives exactly once (copies differ only in id)
    assert report.kept == len(set(chosen))


def test_bad_config_names_the_key():
    with pytest.raises(ConfigError, match=r"config.dedup.thresold: unknown key \(known: .*threshold"):
        load_config({"dedup": {"thresold": 0.8}})
    with pytest.raises(ConfigError, match=r"config.dedup.threshold: must be in \(0, 1\], got 1.5"):
        load_config({"dedup": {"threshold": 1.5}})
    with pytest.raises(ConfigError, match=r"config.dedup.ngram: expected an integer, got str"):
        load_config({"dedup": {"ngram": "five"}})
    with pytest.raises(ConfigError, match="num_perm"):
        DedupConfig(num_perm=64)


def test_slurm_is_refused_before_the_output_exists(docs, tmp_path):
    corpus = write_corpus(tmp_path / "in", docs[:3])
    with pytest.raises(ConfigError, match="dedup: runs on the local or ray executor, not slurm"):
        dedup_corpus(corpus, tmp_path / "out", DedupConfig(), executor="slurm")
    assert not (tmp_path / "out").exists()


def test_config_file_section_builds_the_dedup_config():
    assert load_config({"dedup": {"fuzzy": False}}).dedup == DedupConfig(fuzzy=False)
    assert load_config({"dedup": {}}).dedup == DedupConfig()
    assert load_config({}).dedup is None


def test_manifest_extra_records_the_dedup_report(docs, tmp_path):
    corpus = write_corpus(tmp_path / "in", docs)
    report = dedup_corpus(corpus, tmp_path / "out", DedupConfig())
    extra = json.loads((tmp_path / "out" / "manifest.json").read_text())["extra"]["dedup"]
    assert extra["counts"] == report.to_dict() and extra["config"]["threshold"] == 0.8
    assert set(report.to_dict()) == {"input", "kept", "rejected", "lsh"}
    assert not (tmp_path / "out" / ".dedup-work").exists()


def test_work_folder_of_another_signature_scheme_is_not_resumed(tmp_path):
    # a work folder stamped by midtrain before issue 19 (no scheme) holds signatures of the old scheme
    from midtrain.curation.stages.dedup.config import SIGNATURE_SCHEME
    from midtrain.curation.stages.dedup.job import _reset_work_if_changed
    from midtrain.curation.stages.dedup.steps import DedupJob

    work = tmp_path / "work"
    job = DedupJob(corpus=str(tmp_path / "in"), work=str(work), output=str(tmp_path / "out"), shards=(),
                   config=DedupConfig())
    _reset_work_if_changed(work, job)
    stamp = json.loads((work / "job.json").read_text())
    assert stamp["scheme"] == SIGNATURE_SCHEME
    stale = work / "signatures" / "00000.npy"
    stale.parent.mkdir()
    stale.write_bytes(b"signatures")
    _reset_work_if_changed(work, job)
    assert stale.exists()  # the same job resumes
    del stamp["scheme"]
    (work / "job.json").write_text(json.dumps(stamp, sort_keys=True))
    _reset_work_if_changed(work, job)
    assert not stale.exists() and json.loads((work / "job.json").read_text())["scheme"] == SIGNATURE_SCHEME

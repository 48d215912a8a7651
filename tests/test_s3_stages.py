"""``tokenize``, ``dedup``, ``decontaminate`` and ``group`` with ``s3://`` URLs for input and output, against a
real S3-API server (moto) on loopback: the published corpus equals the one a local run writes, the work
folder is removed after publishing, an existing output is refused without ``--overwrite``, and mistakes
are one line naming the URL, never the credentials."""

from __future__ import annotations

import json

import pytest

from midtrain.cli import main
from midtrain.corpus import Manifest, validate
from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet, decontaminate_corpus
from midtrain.curation.stages.group import GroupConfig, group_corpus
from midtrain.storage import download_corpus, exists, read_object, upload_corpus
from midtrain.storage import stage as stage_module
from midtrain.tokenize import tokenize_corpus, train_bpe

from helpers.s3_server import s3_server
from helpers.s3_stage_corpora import write_eval_set, write_stage_corpus


@pytest.fixture(scope="module")
def bucket():
    with s3_server() as root:
        yield root


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return write_stage_corpus(tmp_path_factory.mktemp("s3stage") / "text")


@pytest.fixture(scope="module")
def text_url(text_dir, bucket):
    url = f"{bucket}/text"
    upload_corpus(text_dir, url)
    return url


@pytest.fixture(scope="module")
def tokenizer(text_dir, tmp_path_factory):
    return str(train_bpe(text_dir, tmp_path_factory.mktemp("bpe") / "tokenizer.json", vocab_size=400).output)


def published_manifest(url: str) -> str:
    return read_object(f"{url}/manifest.json").decode()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tokenize_url_input_local_output_equals_local(text_dir, text_url, tokenizer, tmp_path):
    here = tokenize_corpus(text_dir, tmp_path / "here", tokenizer, progress=False)
    there = tokenize_corpus(text_url, tmp_path / "there", tokenizer, progress=False, work_dir=tmp_path / "work")
    assert there.manifest.to_json() == here.manifest.to_json()
    assert validate(tmp_path / "there") == []
    assert not (tmp_path / "work").exists()  # the downloaded input goes once the job is done


def test_tokenize_local_input_url_output(text_dir, bucket, tokenizer, tmp_path, capsys):
    here = tokenize_corpus(text_dir, tmp_path / "here", tokenizer, progress=False)
    url = f"{bucket}/tok-from-local"
    code, out, err = run(capsys, "tokenize", text_dir, "-o", url, "--tokenizer", tokenizer, "--quiet",
                         "--work-dir", tmp_path / "work")
    assert code == 0, err
    assert out.splitlines()[-1].startswith(f"ok: {url} (")
    assert published_manifest(url) == here.manifest.to_json()
    assert exists(f"{url}/block_checksums.json") and validate(url) == []
    assert not (tmp_path / "work").exists()


def test_dedup_url_to_url_equals_local(text_dir, text_url, bucket, tmp_path, capsys):
    code, local_out, _ = run(capsys, "dedup", text_dir, "-o", tmp_path / "here", "--quiet")
    assert code == 0
    url = f"{bucket}/dedup"
    code, out, err = run(capsys, "dedup", text_url, "-o", url, "--quiet", "--work-dir", tmp_path / "work")
    assert code == 0, err
    assert out.replace(url, "OUT") == local_out.replace(str(tmp_path / "here"), "OUT")
    assert "kept 48, removed 2" in out  # the copy (exact) and the leak (near)
    assert published_manifest(url) == (tmp_path / "here" / "manifest.json").read_text()
    got = download_corpus(url, tmp_path / "back")
    assert got.rejected and validate(tmp_path / "back") == []
    assert not (tmp_path / "work").exists()


def test_decontaminate_url_to_url_equals_local(text_dir, text_url, bucket, tmp_path):
    config = DecontConfig(against=(EvalSet.parse(f"quiz={write_eval_set(tmp_path / 'eval.jsonl')}:question"),))
    here = decontaminate_corpus(text_dir, tmp_path / "here", config)
    url = f"{bucket}/decont"
    there = decontaminate_corpus(text_url, url, config, work_dir=tmp_path / "work")
    assert there.to_dict() == here.to_dict() and here.input - here.kept == 1
    assert published_manifest(url) == (tmp_path / "here" / "manifest.json").read_text()


def test_group_url_to_url_publishes_the_report(text_dir, text_url, bucket, tmp_path):
    here = group_corpus(text_dir, tmp_path / "here", GroupConfig(group_by="repo"))
    url = f"{bucket}/group"
    there = group_corpus(text_url, url, GroupConfig(group_by="repo"), work_dir=tmp_path / "work")
    assert there.to_dict() == here.to_dict() and here.kept == 4
    assert published_manifest(url) == (tmp_path / "here" / "manifest.json").read_text()
    assert json.loads(read_object(f"{url}/group-report.json")) == json.loads(
        (tmp_path / "here" / "group-report.json").read_text())


def test_existing_output_is_refused_without_overwrite(text_url, bucket, tmp_path, capsys):
    url = f"{bucket}/twice"
    argv = ["dedup", text_url, "-o", url, "--quiet", "--no-fuzzy", "--work-dir", tmp_path / "work"]
    assert run(capsys, *argv)[0] == 0
    before = published_manifest(url)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"midtrain dedup: error: {url}/manifest.json: a corpus is already published there; "
                          "pass --overwrite")
    code, _, err = run(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert published_manifest(url) == before


def test_missing_input_url_is_one_line_without_credentials(bucket, tmp_path, capsys):
    for argv in (["dedup", f"{bucket}/nothing", "-o", tmp_path / "o", "--quiet"],
                 ["group", f"{bucket}/nothing", "--by", "repo", "-o", f"{bucket}/out", "--quiet"]):
        code, out, err = run(capsys, *argv, "--work-dir", tmp_path / "work")
        assert code == 2 and out == "" and err.count("\n") == 1
        assert f"{bucket}/nothing/manifest.json: no manifest.json; the corpus is missing or incomplete" in err
        assert "testing" not in err  # the fake key id and secret
    assert not exists(f"{bucket}/out/manifest.json")


def test_output_url_equal_to_input_is_refused(text_url, capsys):
    code, _, err = run(capsys, "dedup", text_url, "-o", text_url + "/", "--quiet")
    assert code == 2 and f"{text_url}/: the output is the input corpus" in err


def test_download_twice_fetches_nothing_the_second_time(text_dir, text_url, tmp_path, monkeypatch):
    fetched = []
    real = stage_module.filesystem

    class Counting:
        def __init__(self, fs):
            self.fs = fs

        def get_file(self, src, dst):
            fetched.append(src)
            return self.fs.get_file(src, dst)

    monkeypatch.setattr(stage_module, "filesystem", lambda url: Counting(real(url)))
    manifest = download_corpus(text_url, tmp_path / "copy")
    assert len(fetched) == len(manifest.shards) + len(manifest.rejected) > 0
    assert (tmp_path / "copy" / "manifest.json").read_bytes() == (text_dir / "manifest.json").read_bytes()
    fetched.clear()
    (tmp_path / "copy" / manifest.shards[0].path).write_bytes(b"stale")  # one file wrong: only it comes again
    assert download_corpus(text_url, tmp_path / "copy") == Manifest.read(text_dir)
    assert fetched == [f"{text_url}/{manifest.shards[0].path}"]
    fetched.clear()
    download_corpus(text_url, tmp_path / "copy")
    assert fetched == [] and validate(tmp_path / "copy") == []

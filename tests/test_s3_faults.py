"""Faults of object storage, on a real S3-API server (moto) on loopback that the tests kill and restart.

- the server dies mid-upload: no ``manifest.json`` at the URL, the command fails in one line naming a URL
  (never the credentials); rerunning the same command against a live server completes, and the corpus
  validates;
- the server dies mid-read (a loader epoch, ``RemoteTokenCorpus.blocks``): the reads are retried, then
  fail with a :class:`CorpusError` naming the URL; once the server is back they succeed;
- an object is corrupted in place (same size): refused by its checksum — per block when read, whole-file
  in ``download_corpus`` and ``validate``;
- ``tokenize`` from a URL to a URL publishes the same corpus as a local run, and the loader's batches on
  the URL equal those on the local output.

moto keeps objects in memory; the servers here record every request they receive, and a restart
with ``keep_data`` replays them, so the fresh server holds what the killed one had received.
"""

from __future__ import annotations

import itertools

import fsspec
import pytest

from midtrain.cli import main
from midtrain.corpus import CorpusError, validate
from midtrain.corpus.remote import open_remote_corpus
from midtrain.loaders import build_loader
from midtrain.storage import download_corpus, exists, object_size, put_atomic, upload_corpus
from midtrain.storage import objects, stage, upload
from midtrain.tokenize import tokenize_corpus, train_bpe

from helpers.loader_corpora import batch_digest, make_token_corpus
from helpers.s3_server import moto_server
from helpers.s3_stage_corpora import write_stage_corpus

BLOCK = 64 << 10
MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Retries as in production (five tries) but with millisecond waits."""
    monkeypatch.setattr(objects, "BACKOFF_S", 0.001)


@pytest.fixture
def server(tmp_path):
    with moto_server(record=str(tmp_path / "requests.jsonl")) as srv:
        yield srv


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return write_stage_corpus(tmp_path_factory.mktemp("s3faults") / "text")


@pytest.fixture(scope="module")
def tokenizer(text_dir, tmp_path_factory):
    return str(train_bpe(text_dir, tmp_path_factory.mktemp("bpe") / "tokenizer.json", vocab_size=400).output)


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("s3faults") / "tok", docs_per_shard=150)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_server_killed_mid_upload_leaves_no_manifest_and_a_rerun_completes(server, text_dir, tokenizer, tmp_path,
                                                                          monkeypatch, capsys):
    text_url, out_url = f"{server.url}/text", f"{server.url}/tok"
    upload_corpus(text_dir, text_url)
    uploaded = []
    real_put = upload.put_file_atomic

    def put_then_die(local_path, url):
        real_put(local_path, url)
        uploaded.append(url)
        server.kill()  # after the first shard: every later request finds no server

    monkeypatch.setattr(upload, "put_file_atomic", put_then_die)
    argv = ["tokenize", text_url, "-o", out_url, "--tokenizer", tokenizer, "--quiet", "--work-dir", tmp_path / "w"]
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"midtrain tokenize: error: {out_url}/") and "failed after 5 tries" in err
    assert "testing" not in out + err  # the fake key id and secret
    assert len(uploaded) == 1 and (tmp_path / "w" / "output" / "manifest.json").is_file()  # the work is kept

    server.restart(keep_data=True)  # what the store had received: the input and one shard
    assert exists(uploaded[0]) and not exists(f"{out_url}/manifest.json")
    assert validate(out_url) == [f"{out_url}/manifest.json: no manifest.json; the corpus is missing or incomplete"]

    monkeypatch.setattr(upload, "put_file_atomic", real_put)
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert validate(out_url) == [] and not (tmp_path / "w").exists()
    here = tokenize_corpus(text_dir, tmp_path / "here", tokenizer, progress=False)
    assert fsspec.filesystem("s3").cat_file(f"{out_url}/manifest.json").decode() == here.manifest.to_json()


def test_server_killed_mid_read_is_retried_then_names_the_url(server, token_dir, monkeypatch):
    url = f"{server.url}/tok"
    upload_corpus(token_dir, url, block_bytes=BLOCK)
    corpus = open_remote_corpus(url, cache_bytes=4 * BLOCK)
    shard = corpus.shards["web"][0]
    assert len(corpus.blocks([(shard, 0)])[0]) > 0
    tries = []
    real_retries = objects.with_retries

    def counting(url_, what, call, **kw):
        return real_retries(url_, what, lambda: (tries.append(url_), call())[1], **kw)

    monkeypatch.setattr(objects, "with_retries", counting)
    server.kill()
    with pytest.raises(CorpusError) as info:
        corpus.blocks([(shard, 1)])
    message = str(info.value)
    assert message.startswith(f"{url}/{shard.info.path}: read bytes ") and "failed after 5 tries" in message
    assert tries == [f"{url}/{shard.info.path}"] * 5 and "testing" not in message

    server.restart(keep_data=True)  # back: the same corpus object serves again
    assert len(corpus.blocks([(shard, 1)])[0]) > 0


def test_server_killed_during_a_loader_epoch(server, token_dir):
    url = f"{server.url}/tok"
    upload_corpus(token_dir, url, block_bytes=BLOCK)
    loader = build_loader(url, MIX, seq_len=128, batch_size=4, seed=3, num_workers=0, cache_bytes=4 * BLOCK)
    batches = iter(loader)
    next(batches)
    server.kill()
    with pytest.raises(CorpusError) as info:
        for _ in itertools.islice(batches, 10_000):
            pass
    message = str(info.value)
    assert message.startswith(f"{url}/data/") and "failed after 5 tries" in message and "testing" not in message


def test_corrupted_object_is_refused_by_its_checksums(server, token_dir, text_dir, tmp_path, capsys):
    url = f"{server.url}/tok"
    upload_corpus(token_dir, url, block_bytes=BLOCK)
    corpus = open_remote_corpus(url)
    shard = corpus.shards["math"][1]
    shard_url = f"{url}/{shard.info.path}"
    data = bytearray(fsspec.filesystem("s3").cat_file(shard_url))
    at = shard.layout.values_start + BLOCK + 5  # a token of block 1
    data[at] ^= 0x40
    put_atomic(shard_url, bytes(data))
    assert object_size(shard_url) == shard.info.bytes

    with pytest.raises(CorpusError, match=f"^{shard_url}: checksum mismatch in bytes .*\\(block 1\\); the object "
                                          "is corrupted$"):
        open_remote_corpus(url).blocks([(shard, 1)])
    with pytest.raises(CorpusError, match=f"^{shard_url}: checksum mismatch \\(xxh3_128:.* != manifest "
                                          f"{shard.info.checksum}\\); the object is corrupted$"):
        download_corpus(url, tmp_path / "copy")
    assert not (tmp_path / "copy" / "manifest.json").exists() and not (tmp_path / "copy" / shard.info.path).exists()
    problems = validate(url, checksums=True)
    assert len(problems) == 1 and problems[0].startswith(shard_url)

    text_url = f"{server.url}/text"  # a stage whose input is corrupted refuses it before any work
    upload_corpus(text_dir, text_url)
    first = f"{text_url}/data/code/00000.arrow"
    raw = bytearray(fsspec.filesystem("s3").cat_file(first))
    raw[len(raw) // 2] ^= 1
    put_atomic(first, bytes(raw))
    code, out, err = run(capsys, "dedup", text_url, "-o", f"{server.url}/out", "--quiet", "--work-dir", tmp_path / "w")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"midtrain dedup: error: {first}: checksum mismatch")
    assert not exists(f"{server.url}/out/manifest.json")


def test_tokenize_url_to_url_equals_the_local_run(server, text_dir, tokenizer, tmp_path):
    here = tokenize_corpus(text_dir, tmp_path / "here", tokenizer, progress=False, shard_tokens=4000)
    text_url, out_url = f"{server.url}/text", f"{server.url}/tok"
    upload_corpus(text_dir, text_url)
    there = tokenize_corpus(text_url, out_url, tokenizer, progress=False, shard_tokens=4000,
                            work_dir=tmp_path / "work")
    assert there.output == out_url and there.manifest.to_json() == here.manifest.to_json()
    assert len(here.manifest.shards) > 3
    assert [s.checksum for s in there.manifest.shards] == [s.checksum for s in here.manifest.shards]
    assert validate(out_url) == []

    def digests(corpus):
        loader = build_loader(corpus, MIX, seq_len=64, batch_size=4, seed=5, num_workers=0)
        return [batch_digest(b) for b in itertools.islice(iter(loader), 8)]

    assert digests(out_url) == digests(tmp_path / "here")


def test_download_is_refused_when_the_manifest_is_missing(server, token_dir, tmp_path):
    url = f"{server.url}/partial"
    upload_corpus(token_dir, url, manifest=False)
    with pytest.raises(CorpusError, match=f"^{url}/manifest.json: no manifest.json; the corpus is missing or "
                                          "incomplete$"):
        download_corpus(url, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_stage_failure_publishes_nothing(server, text_dir, tmp_path):
    """An exception inside the job: no manifest at the URL, the work folder kept for the rerun."""
    url = f"{server.url}/out"
    with pytest.raises(RuntimeError, match="boom"):
        with stage.url_job(str(text_dir), url, tmp_path / "w") as (local_in, local_out):
            assert local_in == text_dir and local_out == tmp_path / "w" / "output"
            local_out.mkdir(parents=True)
            (local_out / "partial.arrow").write_bytes(b"half")
            raise RuntimeError("boom")
    assert not exists(f"{url}/manifest.json") and not exists(f"{url}/partial.arrow")
    assert (tmp_path / "w" / "output" / "partial.arrow").read_bytes() == b"half"

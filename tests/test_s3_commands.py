"""The read-only commands on a token corpus at an ``s3://`` URL, against a real S3-API server (moto) on
loopback: ``validate``, ``stats`` and ``plan`` print what they print for the local copy, a schedule file
or dict resolves against the URL, corruption and incompleteness are one clear line naming the URL."""

from __future__ import annotations

import itertools
import json

import fsspec
import pyarrow as pa
import pytest

from midtrain.cli import main
from midtrain.corpus import CorpusWriter, check_corpus, document_lengths, validate
from midtrain.corpus.remote import open_remote_corpus
from midtrain.loaders import build_loader
from midtrain.mixers import corpus_domain_tokens, load_schedule_for_corpus
from midtrain.mixers.domain_sizes import plan_domain_lengths
from midtrain.storage import put_atomic, upload_corpus

from helpers.loader_corpora import batch_digest, make_token_corpus
from helpers.s3_server import FAKE_ENV, s3_server

BLOCK = 64 << 10
"""Small blocks, so that each shard (about 0.4 MB) spans several blocks."""
MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
LONG_MIX = {"phases": [{"weights": {"web": 0.6, "code": 0.2, "long": 0.2}}], "long": {"min_tokens": 2000}}
"""Names ``long`` on a corpus without a ``long`` domain: sizes and lengths need every document's length."""


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("s3cmd") / "tok", docs_per_shard=200)


@pytest.fixture(scope="module")
def bucket():
    with s3_server() as root:
        yield root


@pytest.fixture(scope="module")
def remote(local, bucket):
    url = f"{bucket}/tok"
    upload_corpus(local, url, block_bytes=BLOCK)
    return url


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_accepts_the_uploaded_corpus(local, remote, capsys):
    assert validate(remote, checksums=False) == []
    assert check_corpus(remote, checksums=False).shards == check_corpus(local).shards
    assert run(capsys, "validate", remote) == (0, f"ok: {remote}\n", "")


def test_stats_equal_the_local_copy(local, remote, capsys):
    code, here, _ = run(capsys, "stats", str(local), "--json")
    assert code == 0
    code, there, _ = run(capsys, "stats", remote, "--json")
    assert code == 0
    here, there = json.loads(here), json.loads(there)
    assert there.pop("corpus") == remote and here.pop("corpus") == str(local)
    assert there == here and there["total"]["documents"] == 1200


def test_stats_table_names_the_url(local, remote, capsys):
    _, here, _ = run(capsys, "stats", str(local))
    _, there, _ = run(capsys, "stats", remote)
    assert there.splitlines()[0] == f"token corpus {remote}"
    assert there.splitlines()[1:] == here.splitlines()[1:]


def test_plan_equals_the_local_copy(local, remote, tmp_path, capsys):
    schedule = tmp_path / "long.json"
    schedule.write_text(json.dumps(LONG_MIX))
    outs = [run(capsys, "plan", str(schedule), "--corpus", corpus, "--total-tokens", "2M", "--json")
            for corpus in (str(local), remote)]
    assert outs[0][0] == 0 and outs[0] == outs[1]
    assert json.loads(outs[1][1])["domains"]


def test_sizes_and_lengths_come_from_the_offsets(local, remote):
    """The virtual ``long`` needs every document's length: read from the offsets, no token block fetched."""
    assert corpus_domain_tokens(remote, schedule=LONG_MIX) == corpus_domain_tokens(local, schedule=LONG_MIX)
    schedule, sizes = load_schedule_for_corpus(LONG_MIX, remote)
    assert sizes == load_schedule_for_corpus(LONG_MIX, local)[1] and sizes["long"] > 0
    there, here = plan_domain_lengths(remote, schedule, 2000), plan_domain_lengths(local, schedule, 2000)
    assert here.keys() == there.keys() and all((here[d] == there[d]).all() for d in here)
    corpus = open_remote_corpus(remote)
    lengths = document_lengths(corpus)
    assert corpus.blocks_fetched == 0 and all((lengths[d] == document_lengths(local)[d]).all() for d in lengths)


@pytest.mark.parametrize("schedule", ["dict", "file"])
def test_build_loader_resolves_a_schedule_against_the_url(local, remote, tmp_path, schedule):
    if schedule == "file":
        path = tmp_path / "mix.json"
        path.write_text(json.dumps(MIX))
        source = str(path)
    else:
        source = MIX

    def digests(corpus):
        loader = build_loader(corpus, source, seq_len=128, batch_size=4, seed=3, num_workers=0)
        return [batch_digest(b) for b in itertools.islice(iter(loader), 4)]

    assert digests(remote) == digests(local)


def test_corrupted_object_fails_validation_naming_the_url(local, bucket, capsys):
    url = f"{bucket}/corrupt"
    upload_corpus(local, url, block_bytes=BLOCK)
    shard_url = f"{url}/data/math/00001.arrow"
    corpus = open_remote_corpus(url)
    values_start = corpus.shards["math"][1].layout.values_start
    data = bytearray(fsspec.filesystem("s3").cat_file(shard_url))
    data[values_start + 2 * BLOCK + 3] ^= 1  # a token of block 2
    put_atomic(shard_url, bytes(data))
    assert validate(url, checksums=False) == []  # structure only: no token read
    code, out, err = run(capsys, "validate", url)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"invalid: {shard_url}: checksum mismatch in bytes {values_start + 2 * BLOCK}-")
    assert err.endswith("(block 2); the object is corrupted\n")


def test_truncated_object_fails_validation_naming_the_url(local, bucket):
    url = f"{bucket}/truncated"
    upload_corpus(local, url, block_bytes=BLOCK)
    shard_url = f"{url}/data/web/00000.arrow"
    put_atomic(shard_url, fsspec.filesystem("s3").cat_file(shard_url)[:-100])
    problems = validate(url, checksums=False)
    assert len(problems) == 1 and problems[0].startswith(f"{shard_url}: size ")


def test_corpus_without_manifest_is_incomplete_everywhere(local, bucket, tmp_path, capsys):
    url = f"{bucket}/partial"
    upload_corpus(local, url, manifest=False)
    line = f"{url}/manifest.json: no manifest.json; the corpus is missing or incomplete"
    assert validate(url) == [line]
    assert run(capsys, "validate", url) == (1, "", f"invalid: {line}\n")
    schedule = tmp_path / "mix.json"
    schedule.write_text(json.dumps(MIX))
    for argv in (["stats", url], ["plan", str(schedule), "--corpus", url]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and line in err and err.count("\n") == 1


def test_text_corpus_at_a_url_validates_and_summarises_as_its_local_copy(bucket, tmp_path, capsys):
    writer = CorpusWriter(tmp_path / "text", "text")
    writer.write_table("web", pa.table({"id": ["a", "b"], "text": ["hello", "wörld!"], "domain": ["web"] * 2,
                                        "source": ["t"] * 2, "score": [0.5, 1.0]}))
    writer.write_table("code", pa.table({"id": ["c"], "text": ["x = 1"], "domain": ["code"], "source": ["t"]}))
    writer.finish()
    url = f"{bucket}/text"
    upload_corpus(tmp_path / "text", url)
    assert validate(url) == []
    assert run(capsys, "stats", url)[1] == run(capsys, "stats", str(tmp_path / "text"))[1].replace(
        str(tmp_path / "text"), url)
    shard = check_corpus(url).shards[0]
    data = bytearray(fsspec.filesystem("s3").cat_file(f"{url}/{shard.path}"))
    data[-20] ^= 1
    put_atomic(f"{url}/{shard.path}", bytes(data))
    assert validate(url) == [f"{url}/{shard.path}: checksum mismatch; the object is corrupted"]
    assert validate(url, checksums=False)[0].startswith(f"{url}/{shard.path}: ")


def test_errors_never_print_credentials(bucket, capsys):
    """The server's fake key id and secret are both ``testing``; no error line carries them."""
    assert FAKE_ENV["AWS_SECRET_ACCESS_KEY"] == FAKE_ENV["AWS_ACCESS_KEY_ID"] == "testing"
    code, out, err = run(capsys, "stats", f"{bucket}/nothing")
    assert code == 2 and "nothing/manifest.json" in err and "testing" not in out + err

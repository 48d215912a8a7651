"""``curate`` and ``refilter`` with inputs and outputs at ``s3://`` URLs, against a real S3-API server (moto)
on loopback: the corpus published at the URL equals the one a local run writes (same shards, same
checksums, same counts), on the local executor and on Ray; the manifest goes up last, so an interrupted
publish leaves none and rerunning the same command completes it; a missing input URL is one clear line."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import fsspec
import pytest

from midtrain.cli import main
from midtrain.corpus import Manifest, validate
from midtrain.corpus.remote import read_manifest
from midtrain.curation import curate, refilter
from midtrain.errors import ConfigError

from helpers.s3_server import FAKE_ENV, s3_server

CONFIG = {"pipeline": ["normalise", "signals", "thresholds"], "output": {"shard_size_mb": 0.02}}
LOOSE = {"gopher_quality": {"min_doc_words": 3, "min_stop_words": 0}}
WORDS = ("the river carries cold water past old stone houses while children watch boats drift slowly toward "
         "harbour lights and fishermen mend nets under grey clouds before evening rain begins").split()


def _document(rng: random.Random, k: int) -> dict:
    if k % 3 == 0:  # short fragments: rejected by the rules
        return {"id": f"d{k}", "text": " ".join(rng.choices(WORDS, k=4))}
    sentences = [" ".join(rng.choices(WORDS, k=rng.randint(8, 16))).capitalize() + "."
                 for _ in range(rng.randint(4, 9))]
    return {"id": f"d{k}", "text": " ".join(sentences)}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """``raw/`` with two gzipped JSONL files and a plain one: 90 documents, about a third rejected."""
    root = tmp_path_factory.mktemp("s3curate") / "raw"
    root.mkdir()
    rng = random.Random(7)
    for n, name in enumerate(("a.jsonl.gz", "b.jsonl.gz", "c.jsonl")):
        lines = "".join(json.dumps(_document(rng, 30 * n + k)) + "\n" for k in range(30)).encode()
        (root / name).write_bytes(gzip.compress(lines, mtime=0) if name.endswith(".gz") else lines)
    return root


@pytest.fixture(scope="module")
def bucket(raw):
    with s3_server() as root:
        fs = fsspec.filesystem("s3")
        for path in sorted(raw.iterdir()):
            fs.put_file(str(path), f"{root}/raw/{path.name}")
        yield root


@pytest.fixture(scope="module")
def reference(raw, tmp_path_factory) -> Path:
    """The same job with local inputs and a local output."""
    out = tmp_path_factory.mktemp("s3curate_ref") / "curated"
    curate([(raw / "a.jsonl.gz", "web"), (raw / "c.jsonl", None)], out, CONFIG)
    return out


@pytest.fixture(scope="module")
def uploaded_reference(bucket, reference) -> str:
    from midtrain.storage import upload_corpus

    url = f"{bucket}/ref/{reference.name}"  # the same name: a corpus input's documents keep it as their source
    upload_corpus(reference, url)
    return url


def summary(manifest: Manifest) -> dict:
    """What must be equal between two runs of one job: every shard and its checksum, and the read counts."""
    return {"shards": [(s.path, s.domain, s.rows, s.bytes, s.checksum) for s in manifest.shards],
            "rejected": [(s.path, s.domain, s.rows, s.bytes, s.checksum) for s in manifest.rejected],
            "reads": manifest.extra["curation"]["reads"]}


def assert_valid(url: str, tmp_path: Path) -> None:
    """``validate(url)``; where text corpora at URLs are not validated yet, validate a byte copy of the objects."""
    problems = validate(url)
    if problems and "not supported yet" in problems[0]:
        copy = tmp_path / "copy"
        fsspec.filesystem("s3").get(url.rstrip("/") + "/", str(copy), recursive=True)
        problems = validate(copy)
    assert problems == []


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_curate_from_and_to_s3_equals_the_local_run(bucket, reference, tmp_path, capsys):
    url = f"{bucket}/out"
    code, out, err = run(capsys, "curate", f"{bucket}/raw/a.jsonl.gz=web", f"{bucket}/raw/c.jsonl", "--output", url,
                         "--config", _config_file(tmp_path), "--work-dir", str(tmp_path / "work"), "--quiet")
    assert code == 0, err
    assert out.splitlines()[-1] == f"report: {url}/report.md (and report.json, funnel.png)"
    there, here = read_manifest(url), Manifest.read(reference)
    assert summary(there) == summary(here) and here.shards and here.rejected
    fs = fsspec.filesystem("s3")
    assert {"report.json", "report.md", "funnel.png", "manifest.json"} <= {p.rsplit("/", 1)[-1] for p in fs.ls(url)}
    report = json.loads(fs.cat_file(f"{url}/report.json"))
    assert report["output"] == url and report == {**json.loads((reference / "report.json").read_text()), "output": url}
    assert not any("job" == p.rsplit("/", 1)[-1] for p in fs.ls(url))  # the job folder stays local
    assert_valid(url, tmp_path)


def _config_file(tmp_path: Path) -> str:
    path = tmp_path / "curate.json"
    path.write_text(json.dumps(CONFIG))  # JSON is YAML
    return str(path)


def test_url_glob_equals_the_local_folder(bucket, raw, tmp_path):
    local = curate([(raw, "web")], tmp_path / "local", CONFIG)
    remote = curate([(f"{bucket}/raw/*.jsonl*", "web")], f"{bucket}/glob", CONFIG, work_dir=tmp_path / "work")
    assert summary(read_manifest(f"{bucket}/glob")) == summary(Manifest.read(tmp_path / "local"))
    assert remote.to_dict()["totals"] == local.to_dict()["totals"] and local.input_records == 90
    folder = curate([(f"{bucket}/raw/", "web")], tmp_path / "folder", CONFIG)  # a URL folder, local output
    assert summary(Manifest.read(tmp_path / "folder")) == summary(Manifest.read(tmp_path / "local"))
    assert folder.balanced


def test_interrupted_publish_leaves_no_manifest_and_a_rerun_completes_it(bucket, raw, reference, tmp_path,
                                                                         monkeypatch):
    import midtrain.storage.upload as upload

    url = f"{bucket}/interrupted"
    real = upload.put_atomic

    def crash_at_manifest(target: str, data: bytes) -> None:
        if target.endswith("/manifest.json"):
            raise KeyboardInterrupt("killed during publish")
        real(target, data)

    monkeypatch.setattr(upload, "put_atomic", crash_at_manifest)
    args = ([(f"{bucket}/raw/a.jsonl.gz", "web"), (f"{bucket}/raw/c.jsonl", None)], url, CONFIG)
    with pytest.raises(KeyboardInterrupt):
        curate(*args, work_dir=tmp_path / "work")
    fs = fsspec.filesystem("s3")
    assert not fs.exists(f"{url}/manifest.json")
    assert fs.exists(f"{url}/{Manifest.read(reference).shards[0].path}")  # shards went first
    monkeypatch.undo()
    curate(*args, work_dir=tmp_path / "work")
    assert summary(read_manifest(url)) == summary(Manifest.read(reference))
    with pytest.raises(ConfigError, match=f"--output: {url} already holds a corpus .*--overwrite"):
        curate(*args, work_dir=tmp_path / "work")
    curate(*args, work_dir=tmp_path / "work", overwrite=True)
    assert summary(read_manifest(url)) == summary(Manifest.read(reference))


def test_parquet_arrow_files_and_corpora_at_urls_equal_local_inputs(bucket, raw, reference, uploaded_reference,
                                                                   tmp_path):
    """Every other URL format in one job: Parquet, Arrow IPC, a folder of plain files, a midtrain corpus."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (raw / "c.jsonl").read_text().splitlines()]
    table = pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})
    local = tmp_path / "in"
    (local / "code" / "pkg").mkdir(parents=True)
    pq.write_table(table.slice(0, 15), local / "part.parquet")
    with pa.ipc.new_file(local / "part.arrow", table.schema) as writer:
        writer.write_table(table.slice(15))
    (local / "code" / "main.py").write_text("def main() -> None:\n    print('hello')\n")
    (local / "code" / "pkg" / "util.py").write_text("X = 1\n")
    (local / "code" / "blob.bin").write_bytes(b"\0\1\2")
    fs = fsspec.filesystem("s3")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.put_file(str(path), f"{bucket}/in/{path.relative_to(local).as_posix()}")
    light = {"pipeline": ["normalise"]}
    names = [("part.parquet", "web"), ("part.arrow", "web"), ("code", "code")]
    here = curate([*((local / n, d) for n, d in names), (reference, None)], tmp_path / "here", light)
    there = curate([*((f"{bucket}/in/{n}", d) for n, d in names), (uploaded_reference, None)],
                   f"{bucket}/formats", light, work_dir=tmp_path / "work")
    assert summary(read_manifest(f"{bucket}/formats")) == summary(Manifest.read(tmp_path / "here"))
    assert here.invalid == there.invalid == {"binary_file": 1}
    assert there.input_records == 30 + 3 + 29  # a corpus input reads its kept documents


@pytest.mark.parametrize("kind", ["missing key", "missing bucket", "empty glob", "hf data files", "hf_disk"])
def test_bad_input_url_is_one_clear_line(bucket, tmp_path, capsys, kind):
    url = {"missing key": f"{bucket}/raw/nope.jsonl", "missing bucket": "s3://no-such-bucket-here/raw.jsonl",
           "empty glob": f"{bucket}/raw/*.parquet", "hf data files": f"{bucket}/raw/a.jsonl.gz",
           "hf_disk": f"{bucket}/raw"}[kind]
    argv = ["curate", f"hf:json?data_files={url}&split=train" if kind == "hf data files" else url,
            "--output", str(tmp_path / "out"), "--quiet"]
    if kind == "hf_disk":
        argv = ["curate", "--config", str(_hf_config(tmp_path, url)), *argv[2:]]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("midtrain curate: error: inputs[0]") and "Traceback" not in err
    assert url in err
    if kind.startswith("missing"):
        assert err.endswith(" does not exist (no object and no folder at that URL; check the bucket and the key)\n")
    assert FAKE_ENV["AWS_SECRET_ACCESS_KEY"] not in err
    assert not (tmp_path / "out").exists()


def test_denied_bucket_is_one_clear_line(tmp_path, capsys, monkeypatch):
    """A 403 (s3fs raises PermissionError) is not retried and names the URL; moto grants everything, so the
    filesystem is stubbed."""
    import midtrain.curation.urls as urls

    class Denied:
        def info(self, url):
            raise PermissionError("Access Denied")

    monkeypatch.setattr(urls, "filesystem", lambda url: Denied())
    code, out, err = run(capsys, "curate", "s3://private-bucket/raw/a.jsonl", "--output", str(tmp_path / "o"),
                         "--quiet")
    assert code == 2 and out == "" and err == (
        "midtrain curate: error: inputs[0].path: s3://private-bucket/raw/a.jsonl: look up: access denied (403); "
        "check the credentials and the bucket policy\n")


def _hf_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "hf.json"
    path.write_text(json.dumps({"inputs": [{"path": url, "format": "hf_disk"}]}))
    return path


def test_refilter_from_and_to_s3_equals_the_local_refilter(bucket, reference, uploaded_reference, tmp_path):
    source = uploaded_reference
    local = refilter(reference, tmp_path / "loose", LOOSE)
    remote = refilter(source, f"{bucket}/loose", LOOSE, work_dir=tmp_path / "work")
    here, there = Manifest.read(tmp_path / "loose"), read_manifest(f"{bucket}/loose")
    assert summary(there) == summary(here) and len(here.shards) > 0
    assert remote.kept_documents == local.kept_documents > sum(s.rows for s in Manifest.read(reference).shards)
    assert there.extra["refilter"]["from"] == source
    assert_valid(f"{bucket}/loose", tmp_path)


def test_curate_on_ray_from_and_to_s3_equals_the_local_run(bucket, reference, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # after the server set the environment
    try:
        url = f"{bucket}/on-ray"
        curate([(f"{bucket}/raw/a.jsonl.gz", "web"), (f"{bucket}/raw/c.jsonl", None)], url, CONFIG,
               executor="ray", workers=2, work_dir=tmp_path / "work")
    finally:
        ray.shutdown()
    assert summary(read_manifest(url)) == summary(Manifest.read(reference))
    assert sorted(p.name for p in (tmp_path / "work" / "job" / "completions").iterdir()) == ["00000", "00001"]

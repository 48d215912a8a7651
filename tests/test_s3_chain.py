"""The whole chain on object storage: raw JSONL at ``s3://`` -> ``curate`` -> ``tokenize`` -> the loader,
every step reading and writing URLs on a real S3-API server (moto) on loopback, equals the same chain on
local folders: the same manifests (shard paths and checksums) at each step and the same batches."""

from __future__ import annotations

import itertools
import json

import fsspec

from midtrain.corpus import Manifest, validate
from midtrain.corpus.remote import read_manifest
from midtrain.curation import curate
from midtrain.loaders import build_loader
from midtrain.tokenize import tokenize_corpus, train_bpe

from helpers.loader_corpora import batch_digest
from helpers.s3_server import s3_server
from helpers.s3_stage_corpora import stage_documents

CONFIG = {"pipeline": ["normalise"], "output": {"shard_size_mb": 0.01}}
MIX = {"phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


def _shards(manifest: Manifest) -> list[tuple[str, str, int]]:
    return [(s.path, s.checksum, s.rows) for s in manifest.shards]


def test_curate_tokenize_load_on_s3_equals_the_local_chain(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    docs = stage_documents(n=60, seed=3)
    for domain in ("web", "code", "math"):
        lines = "".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs if d["domain"] == domain)
        (raw / f"{domain}.jsonl").write_text(lines)

    inputs = [f"{raw / d}.jsonl={d}" for d in ("web", "code", "math")]
    here = tmp_path / "here"
    curate(inputs, here / "text", CONFIG)
    tokenizer = str(train_bpe(here / "text", tmp_path / "tokenizer.json", vocab_size=400).output)
    tokenize_corpus(here / "text", here / "tok", tokenizer, progress=False, shard_tokens=3000)

    with s3_server() as bucket:
        fs = fsspec.filesystem("s3")
        for d in ("web", "code", "math"):
            fs.put_file(str(raw / f"{d}.jsonl"), f"{bucket}/raw/{d}.jsonl")
        curate([f"{bucket}/raw/{d}.jsonl={d}" for d in ("web", "code", "math")], f"{bucket}/text", CONFIG,
               work_dir=tmp_path / "w1")
        tokenize_corpus(f"{bucket}/text", f"{bucket}/tok", tokenizer, progress=False, shard_tokens=3000,
                        work_dir=tmp_path / "w2")

        text_here, text_there = Manifest.read(here / "text"), read_manifest(f"{bucket}/text")
        assert _shards(text_there) == _shards(text_here) and len(text_here.shards) >= 3
        tok_here, tok_there = Manifest.read(here / "tok"), read_manifest(f"{bucket}/tok")
        assert _shards(tok_there) == _shards(tok_here) and len(tok_here.shards) >= 3
        assert validate(f"{bucket}/text") == [] and validate(f"{bucket}/tok") == []

        def digests(corpus, **kw):
            loader = build_loader(corpus, MIX, seq_len=64, batch_size=4, seed=11, **kw)
            return [batch_digest(b) for b in itertools.islice(iter(loader), 12)]

        local = digests(str(here / "tok"))
        assert digests(f"{bucket}/tok", fetch="documents") == local
        assert digests(f"{bucket}/tok", fetch="blocks") == local

"""The corpus formats: atomic writes, zero-copy token views, manifest contents."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pyarrow as pa

from midtrain.corpus import CorpusWriter, Manifest, TokenShard, open_token_corpus, read_text_shard, validate
from midtrain.corpus.manifest import file_checksum


def test_token_shard_views_share_memory_with_the_map(small_token_corpus):
    manifest = Manifest.read(small_token_corpus)
    shard = TokenShard(small_token_corpus / manifest.shards[0].path)
    whole_map = np.frombuffer(shard._mmap, dtype=np.uint8)
    assert np.shares_memory(shard.tokens, whole_map)
    assert np.shares_memory(shard.offsets, whole_map)
    assert not shard.tokens.flags.writeable


def test_token_shard_round_trips_documents(tmp_path):
    docs = [np.array([5, 6, 7], np.uint32), np.array([], np.uint32), np.array([70000], np.uint32)]
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    writer = CorpusWriter(tmp_path, "token")
    info = writer.write_tokens("web", ["a", "b", "c"], np.concatenate(docs), offsets)
    writer.finish()
    shard = TokenShard(tmp_path / info.path)
    assert shard.dtype == np.uint32
    assert [shard.doc(i).tolist() for i in range(3)] == [[5, 6, 7], [], [70000]]
    assert shard.ids() == ["a", "b", "c"]
    assert info.rows == 3 and info.tokens == 4


def test_manifest_records_every_shard_with_checksum(small_token_corpus):
    manifest = Manifest.read(small_token_corpus)
    assert manifest.kind == "token"
    assert len(manifest.shards) == 4
    for s in manifest.shards:
        assert s.checksum == file_checksum(small_token_corpus / s.path)
        assert s.bytes == os.path.getsize(small_token_corpus / s.path)
        assert not os.path.isabs(s.path) and s.path.startswith(f"data/{s.domain}/")
    body = json.loads((small_token_corpus / "manifest.json").read_text())
    assert body["domains"]["web"]["rows"] == 100 and body["domains"]["code"]["rows"] == 60
    assert validate(small_token_corpus) == []


def test_writes_leave_no_temporary_files(small_token_corpus):
    leftovers = [p for p in small_token_corpus.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_text_corpus_readable_by_pyarrow_polars_and_datasets(tmp_path):
    import datasets
    import polars as pl

    writer = CorpusWriter(tmp_path, "text")
    table = pa.table({"id": ["1", "2"], "text": ["héllo world", "x = 1\n"], "domain": ["web", "web"],
                      "source": ["s", "s"], "quality": [0.5, 0.25]})
    info = writer.write_table("web", table)
    writer.finish()
    path = tmp_path / info.path
    assert read_text_shard(path).to_pylist() == table.to_pylist()
    assert pl.scan_ipc(str(path)).collect()["text"].to_list() == ["héllo world", "x = 1\n"]
    ds = datasets.load_dataset("arrow", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds["quality"] == [0.5, 0.25]
    assert info.text_bytes == len("héllo world".encode()) + 6


def test_token_corpus_readable_by_datasets(small_token_corpus, tmp_path):
    import datasets

    manifest = Manifest.read(small_token_corpus)
    path = small_token_corpus / manifest.shards[0].path
    ds = datasets.load_dataset("arrow", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    shard = TokenShard(path)
    assert ds[3]["tokens"] == shard.doc(3).tolist()


def test_open_of_a_100m_token_shard_reads_no_tokens(tmp_path):
    n = 100_000_000
    tokens = np.lib.stride_tricks.as_strided(np.arange(7, dtype=np.uint16), shape=(n,), strides=(0,)).copy()
    offsets = np.arange(0, n + 1, 2048, dtype=np.int64)
    offsets[-1] = n
    writer = CorpusWriter(tmp_path, "token")
    info = writer.write_tokens("web", [str(i) for i in range(len(offsets) - 1)], tokens, offsets)
    writer.finish()
    del tokens
    t = time.perf_counter()
    corpus = open_token_corpus(tmp_path)
    elapsed = time.perf_counter() - t
    assert corpus.num_tokens("web") == n
    # a generous bound: the real figure (a few ms) is printed by benchmarks/bench_corpus_open.py
    assert elapsed < 2.0, f"open took {elapsed:.3f}s for {info.bytes / 1e6:.0f} MB"


def test_rejected_shards_are_listed_and_validated(tmp_path):
    writer = CorpusWriter(tmp_path, "text")
    writer.write_table("web", pa.table({"id": ["1"], "text": ["kept"], "domain": ["web"], "source": ["s"]}))
    info = writer.write_rejected("web", pa.table({"id": ["2"], "text": ["dropped"], "domain": ["web"],
                                                 "source": ["s"], "step": ["gopher"], "reason": ["too_short"]}))
    writer.finish()
    manifest = Manifest.read(tmp_path)
    assert info.path == "rejected/web/00000.arrow"
    assert manifest.rejected == [info] and len(manifest.shards) == 1
    assert validate(tmp_path) == []
    (tmp_path / info.path).unlink()
    assert "missing" in validate(tmp_path)[0]

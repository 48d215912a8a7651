"""``midtrain validate`` on broken corpora: one line naming the shard, non-zero exit, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from midtrain.corpus import CorpusWriter, Manifest
from midtrain.corpus.shards import write_arrow_file


def run_validate(corpus) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midtrain.cli", "validate", str(corpus)],
                          capture_output=True, text=True, timeout=120)


def first_shard(corpus):
    return corpus / Manifest.read(corpus).shards[0].path


def assert_one_clear_line(result, *needles):
    assert result.returncode == 1, result
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_sound_corpus_passes(small_token_corpus):
    result = run_validate(small_token_corpus)
    assert result.returncode == 0 and "ok" in result.stdout


def test_truncated_shard(small_token_corpus):
    shard = first_shard(small_token_corpus)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    assert_one_clear_line(run_validate(small_token_corpus), shard.name, "truncated")


def test_flipped_byte(small_token_corpus):
    shard = first_shard(small_token_corpus)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert_one_clear_line(run_validate(small_token_corpus), shard.name, "checksum")


def test_missing_shard(small_token_corpus):
    shard = first_shard(small_token_corpus)
    shard.unlink()
    assert_one_clear_line(run_validate(small_token_corpus), shard.name, "missing")


@pytest.mark.parametrize("bad_path", ["../outside.arrow", "/etc/passwd", "data/web/../../../x.arrow"])
def test_manifest_path_escaping_the_folder(small_token_corpus, bad_path):
    manifest_path = small_token_corpus / "manifest.json"
    body = json.loads(manifest_path.read_text())
    body["shards"][0]["path"] = bad_path
    manifest_path.write_text(json.dumps(body))
    assert_one_clear_line(run_validate(small_token_corpus), bad_path)


def test_symlink_leaving_the_folder(small_token_corpus, tmp_path):
    shard = first_shard(small_token_corpus)
    outside = tmp_path / "outside.arrow"
    outside.write_bytes(shard.read_bytes())
    shard.unlink()
    os.symlink(outside, shard)
    assert_one_clear_line(run_validate(small_token_corpus), "outside the corpus folder")


def test_wrong_schema(tmp_path):
    writer = CorpusWriter(tmp_path, "text")
    info = writer.write_table("web", pa.table({"id": ["1"], "text": ["hi"], "domain": ["web"], "source": ["s"]}))
    writer.finish()
    # replace the shard with one whose 'text' column is an integer, and fix up size/checksum so
    # that only the schema is wrong
    shard = tmp_path / info.path
    write_arrow_file(shard, pa.table({"id": ["1"], "text": [3], "domain": ["web"], "source": ["s"]}),
                     compression="zstd")
    from midtrain.corpus.manifest import file_checksum

    body = json.loads((tmp_path / "manifest.json").read_text())
    body["shards"][0].update(bytes=shard.stat().st_size, checksum=file_checksum(shard))
    (tmp_path / "manifest.json").write_text(json.dumps(body))
    assert_one_clear_line(run_validate(tmp_path), shard.name, "wrong schema", "'text'")


def test_corrupted_offsets_in_token_shard(tmp_path):
    """Offsets that decrease are caught even when size and checksum were recomputed."""
    from midtrain.corpus.manifest import file_checksum
    from midtrain.corpus.shards import TokenShard

    writer = CorpusWriter(tmp_path, "token")
    info = writer.write_tokens("web", ["a", "b"], np.arange(10, dtype=np.uint16), np.array([0, 4, 10]))
    writer.finish()
    shard = tmp_path / info.path
    data = bytearray(shard.read_bytes())
    ts = TokenShard(shard)
    base = ts.offsets.ctypes.data - np.frombuffer(ts._mmap, np.uint8).ctypes.data
    del ts
    data[base + 8: base + 16] = np.int64(12).tobytes()  # offsets become 0, 12, 10
    shard.write_bytes(bytes(data))
    body = json.loads((tmp_path / "manifest.json").read_text())
    body["shards"][0]["checksum"] = file_checksum(shard)
    (tmp_path / "manifest.json").write_text(json.dumps(body))
    assert_one_clear_line(run_validate(tmp_path), shard.name, "offsets decrease")


def test_no_manifest(tmp_path):
    result = run_validate(tmp_path)
    assert result.returncode == 1 and "manifest.json" in result.stderr and "Traceback" not in result.stderr

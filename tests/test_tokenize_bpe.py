"""Specification of ``train_bpe``: the quickstart's offline tokenizer, trained on the real sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from midtrain.cli import main
from midtrain.tokenize import load_tokenizer, train_bpe

from test_tokenize_job import input_documents, write_text_corpus


@pytest.fixture(scope="module")
def text_dir(sample_raw, tmp_path_factory) -> Path:
    return write_text_corpus(sample_raw, tmp_path_factory.mktemp("bpe") / "text")


def test_training_twice_writes_the_same_bytes(text_dir, tmp_path):
    a = train_bpe(text_dir, tmp_path / "a.json", vocab_size=2048).output
    b = train_bpe(text_dir, tmp_path / "b.json", vocab_size=2048).output
    assert a.read_bytes() == b.read_bytes()


def test_vocabulary_has_the_asked_size_and_eos_bos_first(text_dir, tmp_path):
    report = train_bpe(text_dir, tmp_path / "t.json", vocab_size=2048)
    info, _ = load_tokenizer(str(report.output), add_bos=True)
    assert (info.vocab_size, info.eos_id, info.bos_id, info.dtype.name) == (2048, 0, 1, "uint16")
    documents = sum(1 for docs in input_documents(text_dir).values() for _, text in docs if text)
    assert report.to_dict() == {"output": str(tmp_path / "t.json"), "vocab_size": 2048, "documents": documents}


def test_byte_level_covers_text_never_seen_in_training(text_dir, tmp_path):
    tok = Tokenizer.from_file(str(train_bpe(text_dir, tmp_path / "t.json", vocab_size=2048).output))
    text = "Ελληνικά, 中文 and ∮ E⋅da = Q — with an emoji 🙂"
    assert tok.decode(tok.encode(text).ids) == text


def test_cli_train_bpe(text_dir, tmp_path, capsys):
    assert main(["train-bpe", str(text_dir), "--output", str(tmp_path / "tok.json"), "--vocab-size", "1024"]) == 0
    assert Tokenizer.from_file(str(tmp_path / "tok.json")).get_vocab_size() == 1024

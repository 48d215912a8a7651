"""Interchange: Megatron-LM indexed datasets out, datatrove tokenized output in, checked by each tool's reader."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from midtrain.cli import main
from midtrain.corpus import Manifest, open_token_corpus, validate
from midtrain.tokenize import export_megatron, import_datatrove, load_tokenizer, tokenize_corpus, train_bpe

from test_tokenize_job import input_documents, token_documents, write_text_corpus


@pytest.fixture(scope="module")
def corpus(sample_raw, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(text corpus, trained BPE, its token corpus) from the real sample."""
    root = tmp_path_factory.mktemp("interchange")
    text = write_text_corpus(sample_raw, root / "text")
    bpe = train_bpe(text, root / "tokenizer.json", vocab_size=4096).output
    tokenize_corpus(text, root / "tokens", str(bpe), progress=False)
    return text, bpe, root / "tokens"


def read_megatron_independently(prefix: Path) -> list[np.ndarray]:
    """A reader written from Megatron-LM's documented format, not from midtrain's writer."""
    idx = prefix.with_name(prefix.name + ".idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    version, code = struct.unpack_from("<QB", idx, 9)
    n_seq, n_doc = struct.unpack_from("<QQ", idx, 18)
    dtype = {8: np.uint16, 4: np.int32}[code]
    lengths = np.frombuffer(idx, "<i4", n_seq, 34)
    pointers = np.frombuffer(idx, "<i8", n_seq, 34 + 4 * n_seq)
    doc_idx = np.frombuffer(idx, "<i8", n_doc, 34 + 12 * n_seq)
    assert version == 1 and doc_idx.tolist() == list(range(n_seq + 1))
    assert len(idx) == 34 + 12 * n_seq + 8 * n_doc
    data = prefix.with_name(prefix.name + ".bin").read_bytes()
    return [np.frombuffer(data, dtype, int(n), int(p)) for n, p in zip(lengths, pointers)]


def test_megatron_export_reads_back_document_for_document(corpus, tmp_path):
    _, _, tokens = corpus
    prefixes = export_megatron(tokens, tmp_path / "mix").prefixes
    assert sorted(prefixes) == ["code", "math", "web"]
    docs = token_documents(tokens)
    for domain, prefix in prefixes.items():
        assert [d.tolist() for d in read_megatron_independently(prefix)] == [ids for _, ids in docs[domain]]


def test_megatron_core_indexed_dataset_reads_the_export(corpus, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    _, _, tokens = corpus
    prefixes = export_megatron(tokens, tmp_path / "mix").prefixes
    docs = token_documents(tokens)
    for domain, prefix in prefixes.items():
        ds = indexed.IndexedDataset(str(prefix), mmap=True)
        assert len(ds) == len(docs[domain])
        assert ds.document_indices.tolist() == list(range(len(docs[domain]) + 1))
        for i, (_, ids) in enumerate(docs[domain]):
            assert ds[i].tolist() == ids
        assert ds[0].dtype == np.uint16


def test_vocabularies_over_65536_export_as_int32(tmp_path):
    from midtrain.corpus import CorpusWriter

    w = CorpusWriter(tmp_path / "big", "token", tokenizer={"fingerprint": "x", "name": "x", "vocab_size": 100_277,
                                                         "bos_id": None, "eos_id": 100_257, "dtype": "uint32"})
    w.write_tokens("web", ["a", "b"], np.array([100_000, 5, 100_257, 7, 100_257], np.uint32), np.array([0, 3, 5]))
    w.finish()
    prefix = export_megatron(tmp_path / "big", tmp_path / "m").prefixes["web"]
    docs = read_megatron_independently(prefix)
    assert [d.dtype for d in docs] == [np.int32, np.int32]
    assert [d.tolist() for d in docs] == [[100_000, 5, 100_257], [7, 100_257]]


def test_cli_export_megatron_prints_the_data_path_blend(corpus, tmp_path, capsys):
    _, _, tokens = corpus
    assert main(["export-megatron", str(tokens), "-o", str(tmp_path / "mix")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    m = Manifest.read(tokens)
    assert line == "--data-path " + " ".join(f"{m.domains[d]['tokens']} {tmp_path / 'mix'}_{d}"
                                             for d in sorted(m.domains))
    assert line == "--data-path " + export_megatron(tokens, tmp_path / "mix").to_dict()["data_path"]


@pytest.fixture(scope="module")
def datatrove_output(corpus, tmp_path_factory) -> Path:
    """datatrove's own DocumentTokenizer over the sample's math documents, with the same BPE and EOS."""
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.tokens import DocumentTokenizer

    text, bpe, _ = corpus
    docs = input_documents(text)["math"]
    out = tmp_path_factory.mktemp("datatrove")

    def reader(data, rank: int = 0, world_size: int = 1):
        for doc_id, t in docs:
            yield Document(text=t, id=doc_id)

    LocalPipelineExecutor(pipeline=[reader, DocumentTokenizer(str(out / "math"), str(bpe), eos_token="<|endoftext|>",
                                                              shuffle_documents=False)],
                          tasks=1, workers=1, logging_dir=str(out / "logs")).run()
    return out / "math"


def test_datatrove_import_equals_datatrove_reader_and_midtrain_tokenize(corpus, datatrove_output, tmp_path):
    from datatrove.utils.dataset import DatatroveFolderDataset

    text, bpe, tokens = corpus
    manifest = import_datatrove(datatrove_output, tmp_path / "imported", tokenizer=str(bpe)).manifest
    assert validate(tmp_path / "imported") == []
    assert manifest.tokenizer["fingerprint"] == load_tokenizer(str(bpe))[0].fingerprint
    imported = open_token_corpus(tmp_path / "imported")
    stream = np.concatenate([s.tokens for s in imported.shards["math"]])
    # datatrove's own reader: consecutive, non-overlapping windows of seq_len + 1 tokens.
    window = 257
    ds = DatatroveFolderDataset(str(datatrove_output), seq_len=window - 1, token_size=2)
    assert len(ds) == len(stream) // window
    read = np.concatenate([ds[i]["input_ids"].numpy() for i in range(len(ds))])
    assert read.tolist() == stream[:len(ds) * window].tolist()
    # and document by document, what midtrain's own tokenize wrote for the same texts
    assert [ids for _, ids in token_documents(tmp_path / "imported")["math"]] == \
        [ids for _, ids in token_documents(tokens)["math"]]


def test_cli_import_datatrove_without_tokenizer_records_datatrove_name(datatrove_output, tmp_path, capsys):
    out = tmp_path / "imp"
    assert main(["import-datatrove", str(datatrove_output), "-o", str(out), "--shard-tokens", "20000"]) == 0
    manifest = Manifest.read(tmp_path / "imp")
    assert list(manifest.domains) == ["math"] and manifest.domains["math"]["shards"] > 1
    assert manifest.tokenizer["dtype"] == "uint16"
    assert manifest.tokenizer["fingerprint"].startswith("datatrove:") and "tokenizer.json" in manifest.tokenizer["name"]
    assert validate(tmp_path / "imp") == []


def test_import_of_a_folder_without_ds_files_is_a_clear_error(tmp_path, capsys):
    assert main(["import-datatrove", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert "no datatrove .ds files" in capsys.readouterr().err

"""Readers: every supported input format becomes the same documents, and no bad record is lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from midtrain.curation.inputs import InputSpec, detect_format, parse_input_arg, plan_units, resolve_spec
from midtrain.curation.readers import READERS
from midtrain.curation.readers.jsonl import record_spans
from midtrain.curation.readers.log import ReadLog
from midtrain.errors import ConfigError


def read_all(spec: InputSpec) -> tuple[list, ReadLog]:
    spec = resolve_spec(spec, 0)
    log = ReadLog()
    docs = [d for u in plan_units([spec]) for d in READERS[u.format](spec, u, log)]
    return docs, log


def sample_records(sample_raw: Path, n: int = 40) -> list[dict]:
    lines = (sample_raw / "python_docs.jsonl").read_text().splitlines()[:n]
    return [json.loads(line) for line in lines]


def test_jsonl_reads_every_record_with_id_text_source_and_hint(sample_raw):
    docs, log = read_all(InputSpec(path=str(sample_raw / "python_docs.jsonl"), domain="web"))
    expected = [json.loads(line) for line in (sample_raw / "python_docs.jsonl").read_text().splitlines()]
    assert [d.id for d in docs] == [r["id"] for r in expected]
    assert [d.text for d in docs] == [r["text"] for r in expected]
    assert {d.metadata["source"] for d in docs} == {"python_docs"}
    assert {(d.metadata["domain_hint"], d.metadata["domain"]) for d in docs} == {("web", "web")}
    assert log.summary()["sources"]["python_docs"] == {"records": len(expected), "invalid": {}}


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl_reads_like_plain(tmp_path, sample_raw, suffix):
    raw = (sample_raw / "champ.jsonl").read_bytes()
    path = tmp_path / f"champ{suffix}"
    path.write_bytes(gzip.compress(raw) if suffix.endswith("gz") else zstandard.ZstdCompressor().compress(raw))
    plain, _ = read_all(InputSpec(path=str(sample_raw / "champ.jsonl")))
    packed, _ = read_all(InputSpec(path=str(path)))
    assert [(d.id, d.text) for d in packed] == [(d.id, d.text) for d in plain]
    assert packed[0].metadata["source"] == "champ"


def test_records_without_the_id_field_get_path_and_record_index(tmp_path, sample_raw):
    recs = sample_records(sample_raw, 3)
    path = tmp_path / "noid.jsonl"
    path.write_text("\n".join(json.dumps({"body": r["text"]}) for r in recs) + "\n")
    docs, _ = read_all(InputSpec(path=str(path), text_field="body"))
    assert [d.id for d in docs] == ["noid.jsonl#0", "noid.jsonl#1", "noid.jsonl#2"]


def test_integer_ids_are_kept_as_strings(tmp_path, sample_raw):
    recs = sample_records(sample_raw, 2)
    path = tmp_path / "ints.jsonl"
    path.write_text("\n".join(json.dumps({"id": 10 + i, "text": r["text"]}) for i, r in enumerate(recs)) + "\n")
    docs, log = read_all(InputSpec(path=str(path)))
    assert [d.id for d in docs] == ["10", "11"] and not log.invalid


def test_bad_jsonl_lines_are_invalid_with_file_line_and_error(tmp_path, sample_raw):
    good = [json.dumps(r).encode() for r in sample_records(sample_raw, 4)]
    lines = [good[0], b'{"text": "unterminated', b'{"text": "bad \xff byte"}', b'{"id": "x"}', b'{"text": 5}',
             b"", b"[1, 2]", b'{"text": "lone \\ud800 surrogate"}', good[1], b'{"text": "a"}{"text": "b"}', good[2]]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    docs, log = read_all(InputSpec(path=str(path)))
    assert [d.text for d in docs] == [json.loads(g)["text"] for g in good[:3]]
    found = {(e["line"], e["kind"]) for e in log.entries}
    assert found == {("line 2", "malformed_json"), ("line 3", "invalid_utf8"), ("line 4", "missing_text"),
                     ("line 5", "not_text"), ("line 7", "malformed_json"), ("line 8", "invalid_utf8"),
                     ("line 10", "malformed_json")}
    assert all(e["file"] == "bad.jsonl" and e["error"] for e in log.entries)
    assert log.records["bad"] == 10  # the blank line is not a record
    # record indices skip blank lines but count invalid records, so ids stay stable
    assert [d.id for d in docs] == [json.loads(g)["id"] for g in good[:3]]


def test_truncated_gzip_keeps_what_was_read_and_logs_the_rest(tmp_path, sample_raw):
    raw = (sample_raw / "python_docs.jsonl").read_bytes()
    packed = gzip.compress(raw)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    docs, log = read_all(InputSpec(path=str(path)))
    assert 0 < len(docs) < raw.count(b"\n")
    assert [e["kind"] for e in log.entries] == ["unreadable"]
    assert "rest of the file" in log.entries[0]["error"]


def test_record_spans_match_a_pure_python_line_splitter():
    block = b'{"a":1}\n\n  \t\n{"b":2}\r\n \n{"c":3}'

    def reference(data: bytes) -> list[tuple[int, int]]:
        spans, pos = [], 0
        for line in data.split(b"\n"):
            if line.strip(b" \t\r"):
                spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans

    starts, ends = record_spans(block)
    assert list(zip(starts.tolist(), ends.tolist())) == reference(block)
    rng = np.random.default_rng(0)
    for _ in range(50):
        data = bytes(rng.choice(list(b'ab \t\r\n{}"'), size=int(rng.integers(0, 60))).tolist())
        starts, ends = record_spans(data)
        assert list(zip(starts.tolist(), ends.tolist())) == reference(data)


def test_parquet_and_arrow_files_read_like_jsonl(tmp_path, sample_raw):
    recs = sample_records(sample_raw, 30)
    table = pa.table({"id": [r["id"] for r in recs], "text": [r["text"] for r in recs]})
    pq.write_table(table, tmp_path / "docs.parquet", row_group_size=7)
    with pa.OSFile(str(tmp_path / "docs.arrow"), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table, max_chunksize=9)
    with pa.OSFile(str(tmp_path / "stream.arrow"), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)
    for name in ("docs.parquet", "docs.arrow", "stream.arrow"):
        docs, log = read_all(InputSpec(path=str(tmp_path / name)))
        assert [(d.id, d.text) for d in docs] == [(r["id"], r["text"]) for r in recs], name
        assert not log.invalid


def test_null_text_in_parquet_is_an_invalid_row(tmp_path, sample_raw):
    recs = sample_records(sample_raw, 3)
    pq.write_table(pa.table({"text": [recs[0]["text"], None, recs[2]["text"]]}), tmp_path / "n.parquet")
    docs, log = read_all(InputSpec(path=str(tmp_path / "n.parquet")))
    assert [d.id for d in docs] == ["n.parquet#0", "n.parquet#2"]
    assert [(e["kind"], e["line"]) for e in log.entries] == [("missing_text", "row 1")]


def test_parquet_without_the_text_column_fails_before_the_job(tmp_path):
    pq.write_table(pa.table({"content": ["x"]}), tmp_path / "c.parquet")
    with pytest.raises(ConfigError, match=r"inputs\[0\].text_field: .*c.parquet has no column 'text'.*content"):
        read_all(InputSpec(path=str(tmp_path / "c.parquet")))


def test_a_midtrain_text_corpus_is_an_input_with_per_document_domains(tmp_path, sample_raw):
    from midtrain.corpus import CorpusWriter

    recs = sample_records(sample_raw, 6)
    w = CorpusWriter(tmp_path / "corpus", "text")
    for domain, part in (("web", recs[:4]), ("math", recs[4:])):
        w.write_table(domain, pa.table({"id": [r["id"] for r in part], "text": [r["text"] for r in part],
                                        "domain": [domain] * len(part), "source": ["s"] * len(part)}))
    w.finish()
    assert detect_format(tmp_path / "corpus") == "corpus"
    docs, _ = read_all(InputSpec(path=str(tmp_path / "corpus")))
    assert sorted((d.id, d.metadata["domain"]) for d in docs) == sorted(
        [(r["id"], "web") for r in recs[:4]] + [(r["id"], "math") for r in recs[4:]])


def test_hugging_face_saved_dataset_and_offline_load_dataset(tmp_path, sample_raw):
    import datasets

    recs = sample_records(sample_raw, 12)
    datasets.Dataset.from_list(recs).save_to_disk(str(tmp_path / "saved"))
    saved, _ = read_all(InputSpec(path=str(tmp_path / "saved")))
    assert [(d.id, d.text) for d in saved] == [(r["id"], r["text"]) for r in recs]
    spec = parse_input_arg(f"hf:json?data_files={sample_raw / 'champ.jsonl'}&split=train=math")
    assert (spec.format, spec.domain, spec.split) == ("hf", "math", "train")
    loaded, _ = read_all(spec)
    plain, _ = read_all(InputSpec(path=str(sample_raw / "champ.jsonl")))
    assert [(d.id, d.text) for d in loaded] == [(d.id, d.text) for d in plain]
    assert {d.metadata["domain"] for d in loaded} == {"math"}


def test_plain_file_folder_is_one_document_per_file_with_path_and_language(tmp_path):
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for name in ("json/decoder.py", "json/encoder.py"):
        (src / "pkg" / Path(name).name).write_bytes((stdlib / name).read_bytes())
    (src / "README.md").write_text((stdlib / "json" / "__init__.py").read_text()[:500])
    (src / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (src / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (src / ".hidden.py").write_text("ignored = True\n")
    docs, log = read_all(InputSpec(path=str(src), domain="code"))
    assert [d.id for d in docs] == ["src/README.md", "src/pkg/decoder.py", "src/pkg/encoder.py"]
    assert [d.metadata["programming_language"] for d in docs] == ["markdown", "python", "python"]
    assert docs[1].text == (stdlib / "json/decoder.py").read_text()
    assert {(e["file"], e["kind"]) for e in log.entries} == {("src/blob.bin", "binary_file"),
                                                           ("src/latin1.txt", "invalid_utf8")}
    assert log.records["src"] == 5


def test_input_argument_domain_hints(tmp_path):
    assert parse_input_arg("data/web.jsonl=web") == InputSpec(path="data/web.jsonl", domain="web")
    assert parse_input_arg("data/web.jsonl=web pages") == InputSpec(path="data/web.jsonl=web pages")
    (tmp_path / "a=b.jsonl").write_text("")
    assert parse_input_arg(f"{tmp_path}/a=b.jsonl") == InputSpec(path=f"{tmp_path}/a=b.jsonl")  # an existing file
    assert parse_input_arg("hf:json?split=train").domain is None
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        parse_input_arg("hf:json?colour=red")


def test_missing_input_and_bad_domain_name_name_the_input(tmp_path):
    with pytest.raises(ConfigError, match=r"inputs\[0\].path: .*nope.jsonl does not exist"):
        resolve_spec(InputSpec(path=str(tmp_path / "nope.jsonl")), 0)
    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"inputs\[0\].domain: .*not a valid name"):
        resolve_spec(InputSpec(path=str(tmp_path / "a.jsonl"), domain="web pages"), 0)

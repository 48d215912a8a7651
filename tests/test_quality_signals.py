"""The quality scorer's numba signals against plain-Python references, and what they separate."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.quality import (COHESION_COMBINER_SIZE, COHESION_SIGNALS, OLD_COMBINER_SIZE,
                                              ORDER_COMBINER_SIZE, QUADRATIC_COMBINER_SIZE, SHORT_LINE_BYTES,
                                              SHORT_LINE_COMBINER_SIZE, SIGNALS, apply_combiner, combiner,
                                              document_brackets, document_cohesion, document_order,
                                              document_order_cohesion, document_structure, quadratic_features,
                                              order_signals, quality_features, reads_cohesion, score_quality)
from midtrain.curation.labels.text_windows import string_buffers

SPACE = " \t\n\r"


def ends_sentence(word: str) -> bool:
    return len(word) >= 2 and word[-1] in ".!?" and "a" <= word[-2] <= "z"


def reference_order(text: str, max_bytes: int = 8192, top: int = 5) -> tuple[float, float, float, float]:
    """:func:`order_signals` in plain Python, from its docstring (bytes, ASCII rules)."""
    data = text.encode()[:max_bytes].decode("latin-1")  # one char per byte, like the kernel
    words = [w for w in data.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ") if w]
    stops = [ends_sentence(w) for w in words]
    after = [("a" <= nxt[0] <= "z") for prev, nxt in zip(stops, words[1:]) if prev]
    lines = [line.strip(SPACE) for line in data.split("\n")]
    lines = [line for line in lines if line]
    line_after = [("a" <= nxt[0] <= "z") for prev, nxt in zip(lines, lines[1:])
                  if ends_sentence(prev.split()[-1] if prev.split() else prev)]
    long_words = [w.encode("latin-1").lower().decode("latin-1") for w in words if len(w) > 3]
    counts = sorted((long_words.count(w) for w in set(long_words)), reverse=True)
    short = [len(line) <= SHORT_LINE_BYTES for line in lines]
    return (sum(after) / len(after) if after else 0.0,
            sum(line_after) / len(line_after) if line_after else 0.0,
            sum(counts[:top]) / len(long_words) if long_words else 0.0,
            sum(short) / len(short) if short else 0.0)


def kernel_order(texts: list[str]) -> list[tuple[float, float, float, float]]:
    return list(zip(*(signal.tolist() for signal in document_order(pa.array(texts, pa.large_string())))))


WORDS = st.sampled_from(["the", "Cat", "sat.", "on", "Mat!", "word", "WORD", "U.S.", "3.", "end?", "é", "naïve.", "",
                         "a-long-word-of-twenty-bytes", "\t", "\r"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(WORDS, max_size=12).map(" ".join), max_size=15).map("\n".join))
def test_order_signals_equal_the_reference(text):
    got = kernel_order([text])[0]
    assert np.allclose(got, reference_order(text), atol=1e-6), (text, got, reference_order(text))


def test_order_signals_on_edge_cases_and_long_text():
    texts = ["", " \n\t", "One.", "Done. next line\nStarts here. and on", "x" * 20_000,
             ("A sentence ends here.\nand the next line starts low.\n" * 400)]
    for text, got in zip(texts, kernel_order(texts)):
        assert np.allclose(got, reference_order(text), atol=1e-6), text[:40]


def test_order_signals_separate_prose_from_its_shuffled_and_salad_versions():
    rng = np.random.default_rng(0)
    prose = ("The committee met on Tuesday to discuss the budget for the coming\nyear. Several members "
             "raised concerns about the rising cost of\nmaintenance. After a long debate, the proposal "
             "was approved by\na narrow margin. The chair thanked everyone for their patience.\n") * 3
    lines = prose.split("\n")
    shuffled = "\n".join(lines[i] for i in rng.permutation(len(lines)))
    words = prose.split()
    salad = " ".join(words[i] for i in rng.permutation(len(words)))
    stuffed = " ".join(["budget", "maintenance", "proposal"] * 60)
    menu = "\n".join(["Home", "About Us", "Contact"] + lines + ["Privacy Policy", "Share this:", "Back to top"])
    (w0, l0, r0, s0), (w1, l1, _, _), (w2, _, _, _), (_, _, r3, _), (_, _, _, s4) = kernel_order(
        [prose, shuffled, salad, stuffed, menu])
    assert l1 > l0 and w2 > w0 and r3 > r0 and s4 > s0


def reference_brackets(text: str, max_open: int = 20) -> tuple[float, float]:
    """:func:`bracket_signals` in plain Python, from its docstring."""
    depth = unmatched = 0
    bracket_lines = 0
    for line in text.split("\n"):
        bracket_lines += any(c in "()[]{}" for c in line)
        for c in line:
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth:
                    depth -= 1
                else:
                    unmatched += 1
    return (unmatched / bracket_lines if bracket_lines else 0.0, min(depth, max_open) / max_open)


def kernel_brackets(texts: list[str]) -> list[tuple[float, float]]:
    return list(zip(*(signal.tolist() for signal in document_brackets(pa.array(texts, pa.large_string())))))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="()[]{}x \n\té", max_size=200))
def test_bracket_signals_equal_the_reference(text):
    got = kernel_brackets([text])[0]
    assert np.allclose(got, reference_brackets(text), atol=1e-6), (text, got, reference_brackets(text))


def test_bracket_signals_separate_code_from_its_shuffled_and_cut_versions():
    code = ("def area(shape):\n    if shape.kind == 'circle':\n        return pi * (shape.r ** 2)\n"
            "    return sum([side for side in shape.sides])\n\n"
            "int main(void) {\n    for (int i = 0; i < 3; i++) {\n        printf(\"%d\\n\", f(i));\n    }\n"
            "    return 0;\n}\n")
    lines = code.split("\n")
    shuffled = "\n".join(lines[i] for i in np.random.default_rng(3).permutation(len(lines)))
    cut = code[:code.index("printf")]
    (u0, o0), (u1, _), (_, o2) = kernel_brackets([code, shuffled, cut])
    assert u0 == 0.0 and o0 == 0.0 and u1 > 0.0 and o2 > 0.0


def reference_cohesion(text: str, by_line: bool, max_bytes: int = 8192, min_units: int = 6, far_from: int = 3,
                       far_to: int = 6) -> float:
    """The cohesion signals of :func:`order_signals` in plain Python, from its docstring: units cut at
    sentence ends (and at line ends when ``by_line``), each a set of case-folded words over 3 bytes;
    adjacent overlap minus the overlap of units ``far_from`` to ``far_to`` apart."""
    data = text.encode()[:max_bytes].decode("latin-1")  # one char per byte, like the kernel
    units: list[set[str]] = []
    unit: set[str] = set()
    for line_no, line in enumerate(data.split("\n")):
        if line_no and by_line and unit:
            units.append(unit)
            unit = set()
        for word in line.replace("\t", " ").replace("\r", " ").split(" "):
            if len(word) > 3:
                unit.add(word.encode("latin-1").lower().decode("latin-1"))
            if ends_sentence(word) and unit:
                units.append(unit)
                unit = set()
    if unit:
        units.append(unit)
    if len(units) < max(min_units, 2):
        return 0.0

    def overlap(u: set[str], v: set[str]) -> float:
        return len(u & v) / min(len(u), len(v))

    near = [overlap(units[i], units[i + 1]) for i in range(len(units) - 1)]
    far = [overlap(units[i], units[i + d]) for d in range(max(far_from, 2), far_to + 1)
           for i in range(len(units) - d)]
    return sum(near) / len(near) - (sum(far) / len(far) if far else 0.0)


COHESION_WORDS = st.sampled_from(["ship", "whale", "Whale", "WHALE.", "sea", "harpoon", "captain.", "the", "end?",
                                  "naïve", "sailed!", "U.S.", "", "\t", "\r", "deck", "Deck", "rope"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(COHESION_WORDS, max_size=10).map(" ".join), max_size=20).map("\n".join))
def test_cohesion_signals_equal_the_reference(text):
    by_line, by_sentence = (float(s[0]) for s in document_cohesion(pa.array([text], pa.large_string())))
    assert by_line == pytest.approx(reference_cohesion(text, True), abs=1e-6), text
    assert by_sentence == pytest.approx(reference_cohesion(text, False), abs=1e-6), text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(COHESION_WORDS, max_size=6).map(" ".join), max_size=30).map("\n".join),
       st.integers(1, 12), st.integers(2, 12), st.integers(0, 8))
def test_cohesion_signals_equal_the_reference_for_any_window(text, far_to, far_from, min_units):
    """Each word remembers the units it was seen in, ``far_to`` back, as bits: any window reads the same
    overlaps as comparing the units' word sets."""
    data, offsets = string_buffers(pa.array([text], pa.large_string()))
    signals = order_signals(offsets, data, cohesion=True, min_units=min_units, far_from=far_from, far_to=far_to)
    for got, by_line in ((signals[4][0], True), (signals[5][0], False)):
        want = reference_cohesion(text, by_line, min_units=min_units, far_from=far_from, far_to=far_to)
        assert got == pytest.approx(want, abs=1e-6), (text, far_to, far_from, min_units)


def test_cohesion_window_must_fit_a_word_of_bits():
    data, offsets = string_buffers(pa.array(["One. Two."], pa.large_string()))
    with pytest.raises(ValueError, match="far_to"):
        order_signals(offsets, data, cohesion=True, far_to=63)


def test_cohesion_signals_on_edge_cases_and_long_text():
    texts = ["", " \n\t", "One.", "x" * 20_000, "Whale ships sail. " * 2_000,
             "\n".join(f"alpha{i}x beta{i}y. alpha{i}x gamma{i}z." for i in range(600))]
    by_line, by_sentence = document_cohesion(pa.array(texts, pa.large_string()))
    for i, text in enumerate(texts):
        assert by_line[i] == pytest.approx(reference_cohesion(text, True), abs=1e-6)
        assert by_sentence[i] == pytest.approx(reference_cohesion(text, False), abs=1e-6)
    assert by_line[:4].tolist() == [0.0] * 4  # nothing to compare
    assert by_line[5] > 0.2  # half the neighbours share a word (alpha), units 3 to 6 apart share none


def test_cohesion_separates_prose_from_its_shuffled_sentences():
    """Sentences in their written order share words with their neighbours; shuffled, no more than with
    sentences further away."""
    text = ("The lighthouse keeper climbed the spiral stairs before dawn. At the top of the stairs he "
            "trimmed the lamp wick by hand. The lamp had burned all night without a flicker. Below the "
            "tower, fishing boats were leaving the harbour. The harbour master counted every boat that "
            "passed the breakwater. Three boats turned back when the wind rose over the breakwater. By "
            "noon the wind had become a storm from the north. The storm tore slates from the chapel roof. "
            "Villagers gathered in the chapel to wait for news of the boats. Late in the evening the "
            "last boat reached the quay. Its crew tied the ropes to the quay with frozen fingers. Their "
            "ropes and nets were stored in the sheds until spring.")
    parts = text.split(". ")
    shuffled = [". ".join(parts[i] for i in np.random.default_rng(seed).permutation(len(parts))) for seed in range(8)]
    by_line, by_sentence = document_cohesion(pa.array([text, *shuffled], pa.large_string()))
    assert by_line[0] > 0.1 and by_sentence[0] > 0.1
    assert (by_line[1:] < by_line[0] / 2).all() and (by_sentence[1:] < by_sentence[0] / 2).all()


def test_quadratic_features_hold_every_signal_and_every_pair():
    rng = np.random.default_rng(2)
    features = np.column_stack([rng.random((3, SIGNALS)), np.ones(3)])
    wide = quadratic_features(features)
    assert wide.shape[1] == QUADRATIC_COMBINER_SIZE
    pairs = [features[:, i] * features[:, j] for i in range(SIGNALS) for j in range(i, SIGNALS)]
    assert np.allclose(wide, np.column_stack([features[:, :-1], *pairs, np.ones(3)]))


def test_older_combiners_read_the_features_of_their_time():
    probs = np.random.default_rng(1).dirichlet(np.ones(6), size=4)
    dup, clean = np.array([0.0, 0.1, 0.2, 0.3]), np.array([1.0, 0.0, 1.0, 0.0])
    order = (np.full(4, 0.5), np.full(4, 0.25), np.full(4, 0.125), np.full(4, 0.75))
    brackets = (np.full(4, 0.0625), np.full(4, 0.05))
    features = quality_features(probs, dup, clean, order, brackets)
    assert features.shape[1] == SIGNALS + 1
    nine = np.arange(OLD_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(features, nine), np.column_stack([probs, dup, clean, np.ones(4)]) @ nine)
    twelve = np.arange(ORDER_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(features, twelve),
                       np.column_stack([probs, dup, clean, *order[:3], np.ones(4)]) @ twelve)
    thirteen = np.arange(SHORT_LINE_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(features, thirteen),
                       np.column_stack([probs, dup, clean, *order, np.ones(4)]) @ thirteen)
    linear = np.arange(SIGNALS + 1, dtype=np.float64)
    assert np.allclose(apply_combiner(features, linear), features @ linear)
    quadratic = np.arange(QUADRATIC_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(features, quadratic), quadratic_features(features) @ quadratic)
    with pytest.raises(ValueError, match="7 weights"):
        apply_combiner(features, np.ones(7))
    # the prose combiner reads two more signals; the code and math ones ignore them when present
    cohesion = (np.full(4, 0.3), np.full(4, -0.1))
    wider = quality_features(probs, dup, clean, order, brackets, cohesion)
    assert wider.shape[1] == COHESION_SIGNALS + 1
    assert np.allclose(apply_combiner(wider, quadratic), quadratic_features(features) @ quadratic)
    assert np.allclose(apply_combiner(wider, nine), np.column_stack([probs, dup, clean, np.ones(4)]) @ nine)
    prose = np.arange(COHESION_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(wider, prose), quadratic_features(wider) @ prose)
    with pytest.raises(ValueError, match="cohesion"):
        apply_combiner(features, prose)


def test_the_shipped_combiners_read_the_cohesion_signals():
    """``scripts/train_default_classifiers.py`` fits every type's combiner with the cohesion signals
    (``COHESION_TYPES``: prose since stop 40's E13c, code and math since its E14)."""
    assert len(combiner("quality", "prose")) == COHESION_COMBINER_SIZE
    for qtype in ("code", "math"):  # tree combiners since stop 60 (tests/test_tree_combiner.py)
        assert reads_cohesion(combiner("quality", qtype)), qtype


def test_order_and_cohesion_come_from_one_pass_and_leave_the_order_signals_alone():
    texts = ["The cat sat. It purred.\nthe end", "", "word " * 3000, "A. B. C.\nx y z.\n" * 40]
    arr = pa.array(texts, pa.large_string())
    order, cohesion = document_order_cohesion(arr)
    assert all(np.array_equal(a, b) for a, b in zip(order, document_order(arr)))
    assert all(np.array_equal(a, b) for a, b in zip(cohesion, document_cohesion(arr)))


def test_quality_scores_are_deterministic_and_in_range():
    texts = ["A short, well-formed sentence. It ends cleanly.", "", "word " * 500, "x"]
    a = score_quality(texts, ["web", "web", "math", "code"])
    b = score_quality(list(reversed(texts)), ["code", "math", "web", "web"])
    assert a["quality_score"].to_pylist() == list(reversed(b["quality_score"].to_pylist()))
    assert all(0.0 <= s <= 5.0 for s in a["quality_score"].to_pylist())


def test_default_thresholds_are_the_ones_the_training_script_chose():
    """``scripts/train_default_classifiers.py`` chooses the prose thresholds on out-of-source scores and
    writes them beside the model; the defaults in code must be those (retrain, then update both)."""
    import json

    from midtrain.curation.labels.models import MODELS_DIR
    from midtrain.curation.labels.quality import DEFAULT_QUALITY_THRESHOLDS

    chosen = json.loads((MODELS_DIR / "quality-prose.json").read_text())["thresholds"]
    assert DEFAULT_QUALITY_THRESHOLDS == {"web": chosen["web"], "reasoning": chosen["reasoning"]}


def test_a_quality_model_is_scored_on_the_window_it_was_trained_on(sample_raw, tmp_path):
    """A model trained on 64 bytes of head and nothing of the middle is scored on those bytes, read
    from its ``.json`` card: the text past them changes no grade probability."""
    import json
    from dataclasses import asdict

    from midtrain.curation.labels.quality import grade_probabilities, text_window
    from midtrain.curation.labels.text_windows import fasttext_lines, text_windows
    from midtrain.curation.labels.training import TrainConfig, train_classifier

    texts = [json.loads(line)["text"] for line in (sample_raw / "python_docs.jsonl").read_text().splitlines()[:60]]
    texts = [t for t in texts if len(t.encode()) > 2000]
    config = TrainConfig(epochs=2, dim=8, holdout=0.0, head=64, middle=0)
    train_classifier([f"g{i % 6}" for i in range(len(texts))], texts, tmp_path / "q-prose.ftz", config)
    weights = np.zeros(QUADRATIC_COMBINER_SIZE)
    weights[:6] = np.arange(6)  # the expected grade, nothing else
    (tmp_path / "q-prose.json").write_text(json.dumps({"combiner": weights.tolist(), "config": asdict(config)}))
    model = str(tmp_path / "q")
    assert text_window(model, "prose") == (64, 0)

    probs = grade_probabilities(str(tmp_path / "q-prose.ftz"), fasttext_lines(text_windows(texts, 64, 0)))
    scores = score_quality(texts, ["web"] * len(texts), model)["quality_score"].to_numpy()
    assert np.allclose(scores, np.clip(probs @ np.arange(6), 0, 5), atol=1e-5)
    tails = [t[:64] + " ".join(reversed(t[64:].split(" "))) for t in texts]  # the same head, another tail
    assert np.allclose(score_quality(tails, ["web"] * len(texts), model)["quality_score"].to_numpy(), scores,
                       atol=1e-5)


def reference_structure(text: str) -> tuple[float, float]:
    """:func:`structure_signals` in plain Python, from its docstring (bytes; blanks are space, tab, CR)."""
    data = text.encode().decode("latin-1")
    lines = ["".join(ch for ch in line if ch not in " \t\r") for line in data.split("\n")]
    lines = [line for line in lines if line]
    repeats = len(lines) - len(set(lines))
    visible = data.rstrip(" \n\t\r")
    return (repeats / len(lines) if len(lines) > 1 else 0.0,
            1.0 if visible and visible[-1] in ".!?\"')]}>;`" else 0.0)


STRUCTURE_LINES = st.lists(st.sampled_from(["", " ", "\t", "\r", "a", "a b", "ab", "b a.", "x)", "é", "\x00"]),
                           max_size=4).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(STRUCTURE_LINES, max_size=40).map("\n".join), max_size=8))
def test_structure_signals_equal_the_reference(texts):
    """Repeated lines (blanks inside a line ignored), many lines (the kernel's set grows), clean ends."""
    dup, clean = document_structure(pa.array(texts, pa.large_string()))
    expected = [reference_structure(t) for t in texts]
    assert dup.tolist() == pytest.approx([e[0] for e in expected], abs=1e-6)
    assert clean.tolist() == [e[1] for e in expected]


def test_a_model_card_is_read_once_per_version_and_handed_out_as_a_copy(tmp_path):
    """Scoring reads a type's card (combiner, window) each batch: it is parsed once per version of the file,
    a rewritten card is read again, and what model_card hands out can be changed without touching the next."""
    import json
    import os

    from midtrain.curation.labels.quality import model_card, text_window

    prefix = str(tmp_path / "q")
    card = tmp_path / "q-prose.json"
    card.write_text(json.dumps({"config": {"head": 256, "middle": 128}}))
    assert text_window(prefix, "prose") == (256, 128)
    got = model_card(prefix, "prose")
    got["config"]["head"] = 1
    assert text_window(prefix, "prose") == (256, 128)  # the caller's change stayed its own
    card.write_text(json.dumps({"config": {"head": 1024, "middle": 0}}))
    os.utime(card, ns=(card.stat().st_atime_ns, card.stat().st_mtime_ns + 1_000_000))  # a later version
    assert text_window(prefix, "prose") == (1024, 0)
    card.unlink()
    assert model_card(prefix, "prose") == {} and text_window(prefix, "prose") == (512, 512)

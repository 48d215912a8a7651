"""The quality scorer's numba signals against plain-Python references, and what they separate."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.quality import (OLD_COMBINER_SIZE, ORDER_COMBINER_SIZE, SHORT_LINE_BYTES,
                                              apply_combiner, document_order, quality_features, score_quality)

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


def test_older_combiners_read_the_features_of_their_time():
    probs = np.random.default_rng(1).dirichlet(np.ones(6), size=4)
    dup, clean = np.array([0.0, 0.1, 0.2, 0.3]), np.array([1.0, 0.0, 1.0, 0.0])
    order = (np.full(4, 0.5), np.full(4, 0.25), np.full(4, 0.125), np.full(4, 0.75))
    features = quality_features(probs, dup, clean, order)
    assert features.shape[1] == ORDER_COMBINER_SIZE + 1
    nine = np.arange(OLD_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(features, nine), np.column_stack([probs, dup, clean, np.ones(4)]) @ nine)
    twelve = np.arange(ORDER_COMBINER_SIZE, dtype=np.float64)
    assert np.allclose(apply_combiner(features, twelve), np.column_stack([probs, dup, clean, *order[:3], np.ones(4)]) @ twelve)
    current = np.arange(ORDER_COMBINER_SIZE + 1, dtype=np.float64)
    assert np.allclose(apply_combiner(features, current), features @ current)


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

"""The vote of a genre model (or the opt-in encoder's head) in ``benchmarks/screen_word_model.py``'s screen
(stop 55's E54, stop 59's E62): mixed in only where its top label is the voting domain with at least the minimum
probability, against a per-row reference, so the experiments' figures rest on a checked mix."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "screen_word_model.py"
_spec = importlib.util.spec_from_file_location("screen_word_model", _SCRIPT)
screen = importlib.util.module_from_spec(_spec)
sys.modules["screen_word_model"] = screen
_spec.loader.exec_module(screen)


def _probs(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.uniform(0.01, 1.0, (n, len(screen.TOPICAL))) ** 3
    return raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 16), st.sampled_from([0.3, 0.7]), st.sampled_from(["reasoning", "math"]),
       st.sampled_from([0.0, 0.5, 0.7, 0.9]))
def test_the_vote_mixes_only_where_the_genre_model_is_sure_of_its_domain(seed, share, when, low):
    rng = np.random.default_rng(seed)
    n = 30
    signals = np.column_stack([rng.choice([0.0, 10.0], n), rng.choice([0.0, 0.8], n), np.zeros(n), np.ones(n)])
    results = {"S": {f"{kind}/{key}": value for key in ("whole", "crop")
                     for kind, value in (("mixed", _probs(rng, n)), ("genre", _probs(rng, n)), ("signals", signals))}}
    screen.genre_mixed(results, ["S"], share, when, low)
    name = screen.genre_variant(share, low)
    assert name == (f"genre{share:g}" if low == 0 else f"genre{share:g}min{low:g}")
    column = screen.TOPICAL.index(when)
    for key in ("whole", "crop"):
        mixed, genre = results["S"][f"mixed/{key}"], results["S"][f"genre/{key}"]
        for i in range(n):  # per row, in plain Python
            if int(np.argmax(genre[i])) == column and genre[i, column] >= low:
                logits = (1 - share) * np.log(mixed[i] + 1e-6) + share * np.log(genre[i] + 1e-6)
                row = np.exp(logits - logits.max())
                row /= row.sum()
            else:
                row = mixed[i]
            expected = screen.decide(row[None, :], signals[i:i + 1])[0]
            assert results["S"][f"{name}/{key}"][i] == expected

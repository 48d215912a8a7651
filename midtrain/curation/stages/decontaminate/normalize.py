"""The text normalisation of decontamination, applied alike to eval items and corpus documents.

A benchmark item copied into web text rarely keeps its exact form: it is re-wrapped, re-cased,
typeset in Markdown or LaTeX, or re-posed with other numbers (the same template is still the same
item). Before its words are hashed into n-grams, every text goes through, in this order:

1. Unicode NFKC (full-width letters and digits, ligatures, non-breaking spaces -> their plain form);
2. full case folding (``str.casefold``: ``Straße`` -> ``strasse``, not just ASCII);
3. format characters removed (soft hyphen, zero-width space: ``exam\\u00adple`` -> ``example``);
4. LaTeX command names removed, their arguments kept (``\\frac{a}{b}`` -> ``a b``, ``\\sqrt{x}`` -> ``x``);
5. every number -> the placeholder ``0`` (``16``, ``3.75``, ``1,000`` and ``1,000.50`` are one
   token each; digits inside a word split it: ``x2`` -> ``x 0``, ``3rd`` -> ``0 rd``), so an item
   whose numbers were changed still matches its template;
6. every run of punctuation, symbols, spaces and control characters -> one space: Markdown and
   LaTeX markup (``**``, ``#``, backticks, ``$``, ``\\(``, braces), apostrophes and quotes of any
   script, line breaks and indentation all just separate words.

The result is words separated by single spaces, which the ASCII word kernel of
:mod:`midtrain.curation.stages.shingles` then hashes unchanged. Everything runs as Arrow compute
kernels over a whole record batch (NFKC, lowercasing, RE2 regex replacement); only the rare
document holding a character whose case folding differs from its lowercase (``ß``, ``ς``,
Cherokee; the class of those characters is built once per process, ~0.5 s) goes through Python's
``str.casefold``. :func:`normalize_text_reference` is the character-by-character twin the tests
compare it with.
"""

from __future__ import annotations

import functools
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

PLACEHOLDER = "0"
"""The word every number becomes."""

_FORMAT = r"\p{Cf}"
_LATEX_COMMAND = r"\\[a-zA-Z]+"
_NUMBER = r"\p{Nd}+(?:[.,]\p{Nd}+)*"
_SEPARATORS = r"[\p{P}\p{S}\p{Z}\p{Cc}]+"


@functools.cache
def _casefold_differs() -> str:
    """An RE2 class of the characters whose ``str.casefold`` differs from Arrow's ``utf8_lower``.

    About 375: ``ß``, final sigma, ``İ`` (Arrow maps it to ``i``, Python to ``i`` + dot above),
    Cherokee; computed once by comparing the two over the first two Unicode planes.
    """
    chars = [chr(i) for i in range(0x20000) if not 0xD800 <= i < 0xE000]
    lowered = pc.utf8_lower(pa.array(chars, pa.string())).to_pylist()
    differ = [c for c, low in zip(chars, lowered) if low != c.casefold()]
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in differ) + "]"


def normalize_texts(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The decontamination form of every text of a string array (nulls become empty)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.large_string())
    if texts.null_count:
        texts = texts.fill_null("")
    nfkc = pc.utf8_normalize(texts, "NFKC")
    out = pc.utf8_lower(nfkc)
    special = pc.match_substring_regex(nfkc, _casefold_differs())
    if pc.any(special).as_py():  # rare: only documents holding one of those characters
        rows = out.to_pylist()
        for i in pc.indices_nonzero(special).to_pylist():
            rows[i] = nfkc[i].as_py().casefold()
        out = pa.array(rows, pa.large_string())
    out = pc.replace_substring_regex(out, _FORMAT, "")
    out = pc.replace_substring_regex(out, _LATEX_COMMAND, " ")
    out = pc.replace_substring_regex(out, _NUMBER, f" {PLACEHOLDER} ")
    return pc.replace_substring_regex(out, _SEPARATORS, " ")


def normalize_text_reference(text: str) -> str:
    """The same normalisation, one character at a time in plain Python (the tests' reference)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalpha():
            i += 1
            while i < len(text) and text[i].isascii() and text[i].isalpha():
                i += 1
            out.append(" ")
        elif unicodedata.category(ch) == "Nd":
            while i < len(text) and (unicodedata.category(text[i]) == "Nd" or (
                    text[i] in ".," and i + 1 < len(text) and unicodedata.category(text[i + 1]) == "Nd")):
                i += 1
            out.append(f" {PLACEHOLDER} ")
        else:
            out.append(" " if unicodedata.category(ch)[0] in "PSZ" or unicodedata.category(ch) == "Cc" else ch)
            i += 1
    return _fold_spaces("".join(out))


def _fold_spaces(text: str) -> str:
    # the Arrow pass turns each run of separators into one space, keeping a leading/trailing one
    out, prev_space = [], False
    for ch in text:
        if ch == " ":
            if not prev_space:
                out.append(ch)
            prev_space = True
        else:
            out.append(ch)
            prev_space = False
    return "".join(out)

"""Unicode side of FineWeb-style text normalisation, vectorised with Arrow compute.

FineWeb (via datatrove's ``simplify_text``) shingles text that is lowercased, stripped of
punctuation and diacritics, with digits mapped to 0 and whitespace folded. The numba word
splitter in :mod:`midtrain.curation.stages.shingles` already does all of that for ASCII text, so
only documents holding non-ASCII characters go through the regex passes here: Unicode lowercase,
NFD decomposition with combining marks dropped (é -> e), and every non-ASCII character that is
not a letter or a number (punctuation, symbols, separators such as U+00A0) -> space. Pure-ASCII
rows are returned untouched. Non-ASCII digits (e.g. Arabic-Indic) stay as they are; only ASCII
digits fold to 0 (in the numba kernel). ASCII punctuation is left to numba because a regex pass
over code (punctuation everywhere) costs more than the signatures themselves.
"""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

_MARKS = r"\p{Mn}"
# Precomposed letters that NFD splits into base + mark: Latin-1 Supplement to Latin Extended
# Additional, Greek and Cyrillic. Rows without any skip NFD, which is the costly pass.
_DECOMPOSABLE = r"[\x{00C0}-\x{02FF}\x{0370}-\x{04FF}\x{1E00}-\x{1FFF}]"
_NOT_WORD = r"[^\x00-\x7f\pL\pN]+"


def normalize_unicode(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The texts with Unicode case, diacritics and punctuation normalised; same length and order."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = texts.fill_null("") if texts.null_count else texts
    ascii_rows = pc.string_is_ascii(texts)
    if pc.all(ascii_rows).as_py() in (True, None):
        return texts
    mask = pc.invert(ascii_rows)
    other = pc.filter(texts, mask)
    other = pc.utf8_lower(other)
    accented = pc.match_substring_regex(other, _DECOMPOSABLE)
    if pc.any(accented).as_py():
        # CPython's NFD (unicodedata, C) is ~20x faster than Arrow's utf8proc-based utf8_normalize
        # (1.6 ms vs 37 ms on the 1.1 MB of non-ASCII stdlib files); it runs once per accented
        # document, never per character.
        decomposed = pa.array([unicodedata.normalize("NFD", t) for t in pc.filter(other, accented).to_pylist()],
                              other.type)
        decomposed = pc.replace_substring_regex(decomposed, _MARKS, "")
        other = pc.replace_with_mask(other, accented, decomposed)
    other = pc.replace_substring_regex(other, _NOT_WORD, " ")
    return pc.replace_with_mask(texts, mask, other.cast(texts.type))

"""Text normalisation, the first tagger after the reader, in Arrow compute over whole batches.

Unicode NFC (so that the same text in different encodings hashes and dedups the same), one line
ending (``\\r\\n`` and lone ``\\r`` become ``\\n``), no byte-order mark, no trailing whitespace at
the end of the document. A document with nothing but whitespace left is marked rejected as
``empty``; it stays in the stream and the writer routes it to ``rejected/``, like every other rejection.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from datatrove.data import Document

from midtrain.curation.base import BatchStep, reject

UnicodeForm = Literal["NFC", "NFKC", "none"]


def normalise_texts(texts: pa.Array, unicode_form: UnicodeForm = "NFC") -> pa.Array:
    """The normalised texts (same length and order)."""
    out = texts
    if unicode_form != "none":
        out = pc.utf8_normalize(out, unicode_form)
    out = pc.replace_substring(out, "\r\n", "\n")
    out = pc.replace_substring(out, "\r", "\n")
    out = pc.replace_substring_regex(out, "^\ufeff", "")
    return pc.utf8_rtrim_whitespace(out)


def empty_mask(texts: pa.Array) -> pa.Array:
    """True where a normalised text has no non-whitespace character."""
    return pc.equal(pc.utf8_length(pc.utf8_ltrim_whitespace(texts)), 0)


class Normalise(BatchStep):
    """Normalise text in place and mark empty documents rejected (``reject_step="normalise"``)."""

    name = "normalise"
    reject_steps: ClassVar[tuple[str, ...]] = ("normalise",)

    def __init__(self, unicode_form: UnicodeForm = "NFC") -> None:
        super().__init__()
        self.unicode_form = unicode_form

    def process_batch(self, docs: list[Document]) -> None:
        texts = pa.array([d.text for d in docs], pa.large_string())
        normalised = normalise_texts(texts, self.unicode_form)
        changed = pc.not_equal(normalised, texts).to_numpy(zero_copy_only=False)
        empty = empty_mask(normalised).to_numpy(zero_copy_only=False)
        for i in changed.nonzero()[0]:
            docs[i].text = normalised[int(i)].as_py()
        for i in empty.nonzero()[0]:
            if reject(docs[i], "normalise", "empty"):
                self.stat_update("empty")

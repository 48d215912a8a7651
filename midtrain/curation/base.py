"""The base of every batched curation step: buffer documents, compute for the batch, yield them in order.

datatrove's filters see one document at a time; the taggers and the filter here are vectorised
(Arrow compute, numpy, numba, fastText's C++ batch loop), so a step buffers up to ``batch_size``
documents (or ``batch_chars`` characters, so that a few huge documents do not pile up), calls
:meth:`BatchStep.process_batch`, and yields the same documents in the same order. No step drops a
document: a rejection is a mark (:func:`reject`) that the writer routes to ``rejected/``.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

DEFAULT_BATCH_SIZE = 512


class BatchStep(PipelineStep):
    """Base of the batched steps: the taggers and the filter, which see documents a batch at a time."""

    type = "🏷 - TAGGER"
    signal_schema: ClassVar[dict[str, pa.DataType]] = {}
    """Metadata columns this step adds, with their Arrow types (the writer builds typed columns)."""
    reject_steps: ClassVar[tuple[str, ...]] = ()
    """Values this step may put in ``metadata["reject_step"]``, in the order it checks them."""
    batch_chars: ClassVar[int] = 64 << 20
    """A batch ends at this many characters of text even when it has fewer than ``batch_size`` documents."""

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__()
        self.batch_size = batch_size

    def process_batch(self, docs: list[Document]) -> None:
        """Set metadata on every document of the batch (in place)."""
        raise NotImplementedError

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Yield every document of ``data`` in order, each batch processed before it is yielded."""
        batch: list[Document] = []
        chars = 0
        for doc in data or ():
            batch.append(doc)
            chars += len(doc.text)
            if len(batch) >= self.batch_size or chars >= self.batch_chars:
                yield from self._flush(batch)
                batch, chars = [], 0
        if batch:
            yield from self._flush(batch)

    def _flush(self, batch: list[Document]) -> list[Document]:
        with self.track_time("batch"):
            self.process_batch(batch)
        self.stat_update("documents", value=len(batch))
        return batch


_LAST_BATCH: tuple[list[str], pa.LargeStringArray | None] = ([], None)  # no pyarrow array at import: it loads pandas


def batch_texts(docs: list[Document]) -> pa.LargeStringArray:
    """The documents' texts as one Arrow array. The taggers run one after another on the same batch (the
    same documents, the same batch size), so the array of the last batch is kept and handed back when
    every text is the very same string object (Python strings are immutable): each batch's text is copied
    into Arrow once instead of once per tagger."""
    global _LAST_BATCH
    texts = [d.text for d in docs]
    last_texts, last_array = _LAST_BATCH
    if last_array is not None and len(texts) == len(last_texts) and all(a is b for a, b in zip(texts, last_texts)):
        return last_array
    array = pa.array(texts, pa.large_string())
    _LAST_BATCH = (texts, array)
    return array


def set_columns(docs: list[Document], table: pa.Table) -> None:
    """Copy each column of ``table`` (one row per document, in order) into the documents' metadata."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for i, doc in enumerate(docs):
        for name, values in columns.items():
            doc.metadata[name] = values[i]


def reject(doc: Document, step: str, reason: str) -> bool:
    """Mark ``doc`` rejected by ``step`` unless an earlier step already did; True if marked."""
    if doc.metadata.get("reject_step") is not None:
        return False
    doc.metadata["reject_step"] = step
    doc.metadata["reject_reason"] = reason
    return True

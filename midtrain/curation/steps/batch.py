"""The batched step: buffer documents, compute for the whole batch at once, yield them in order.

datatrove's filters see one document at a time; signal code here is vectorised (Arrow compute,
numpy, numba), so a step buffers up to ``batch_size`` documents (or ``batch_chars`` characters, so
that a few huge documents do not pile up), calls :meth:`process_batch`, and yields the same
documents in the same order. Steps tag, they never drop (tag first, filter later).
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


class BatchStep(PipelineStep):
    """Base of the curation steps that add metadata to documents a batch at a time."""

    type = "🏷 - TAGGER"
    signal_schema: ClassVar[dict[str, pa.DataType]] = {}
    """Metadata columns this step adds, with their Arrow types (the writer builds typed columns)."""
    reject_steps: ClassVar[tuple[str, ...]] = ()
    """Values this step may put in ``metadata["reject_step"]``, in the order it checks them."""
    batch_size: int = 512
    batch_chars: int = 64 << 20

    def process_batch(self, docs: list[Document]) -> None:
        """Set metadata on every document of the batch (in place)."""
        raise NotImplementedError

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
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


def reject(doc: Document, step: str, reason: str) -> bool:
    """Mark ``doc`` rejected by ``step`` unless an earlier step already did; True if marked."""
    if doc.metadata.get("reject_step") is not None:
        return False
    doc.metadata["reject_step"] = step
    doc.metadata["reject_reason"] = reason
    return True

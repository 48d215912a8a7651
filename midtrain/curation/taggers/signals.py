"""The heuristic rules' signals as one tagger: every rule signal of every document, as typed columns.

Tag first, filter later (Dolma, RedPajama v2): :class:`ComputeSignals` stores each rule's signal
as a typed metadata column and drops nothing; the ``thresholds`` filter
(:mod:`midtrain.curation.filters.thresholds`) decides from the stored columns alone, so
``midtrain refilter`` can re-decide a stored corpus without recomputing a signal.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document

from midtrain.curation import rules
from midtrain.curation.base import DEFAULT_BATCH_SIZE, BatchStep, batch_texts, set_columns
from midtrain.curation.rules.chunks import LONG_CHUNK_CHARS, check_chunk_chars


class ComputeSignals(BatchStep):
    """Every rule signal of every document, computed a batch at a time over shared word splits.

    ``long_chunk_chars``: a document of at least twice this many characters takes its chunks' median for the
    signals of local text (``rules/chunks.py``); ``None`` judges every document whole, as before stop 70.
    """

    name = "rule signals"
    signal_schema: ClassVar[dict[str, pa.DataType]] = dict(rules.SIGNAL_SCHEMA)

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, long_chunk_chars: int | None = LONG_CHUNK_CHARS) -> None:
        super().__init__(batch_size)
        check_chunk_chars(long_chunk_chars)  # a ValueError, which build_steps names with the step's config path
        self.long_chunk_chars = long_chunk_chars

    def process_batch(self, docs: list[Document]) -> None:
        set_columns(docs, rules.compute_signals(batch_texts(docs), [d.metadata["domain"] for d in docs],
                                                long_chunk_chars=self.long_chunk_chars))

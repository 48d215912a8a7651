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
from midtrain.curation.base import BatchStep, batch_texts, set_columns


class ComputeSignals(BatchStep):
    """Every rule signal of every document, computed a batch at a time over shared word splits."""

    name = "rule signals"
    signal_schema: ClassVar[dict[str, pa.DataType]] = dict(rules.SIGNAL_SCHEMA)

    def process_batch(self, docs: list[Document]) -> None:
        set_columns(docs, rules.compute_signals(batch_texts(docs), [d.metadata["domain"] for d in docs]))

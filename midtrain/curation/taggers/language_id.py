"""The language tagger: ``language`` and ``language_score`` from fastText lid.176 (shipped with midtrain)."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document

from midtrain.curation.base import DEFAULT_BATCH_SIZE, BatchStep, batch_texts, set_columns
from midtrain.curation.labels.language import LANGUAGE_SIGNAL_SCHEMA, identify_language


class LanguageID(BatchStep):
    """Sets ``language`` and ``language_score``; the ``thresholds`` filter decides which languages stay."""

    name = "🌐 LanguageID"
    signal_schema: ClassVar[dict[str, pa.DataType]] = LANGUAGE_SIGNAL_SCHEMA

    def __init__(self, model: str = "lid.176", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(batch_size)
        self.model = model

    def process_batch(self, docs: list[Document]) -> None:
        set_columns(docs, identify_language(batch_texts(docs), self.model))

"""The quality tagger: ``quality_score`` (0-5), ``quality_tier`` and ``quality_type``.

Each document is scored by the model of its domain's type (prose, code, math), so this step runs
after the domain labeller; the ``thresholds`` filter applies the per-domain minimum.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document

from midtrain.curation.base import DEFAULT_BATCH_SIZE, BatchStep, batch_texts, set_columns
from midtrain.curation.labels.quality import QUALITY_SIGNAL_SCHEMA, score_quality
from midtrain.errors import ConfigError


class QualityScorer(BatchStep):
    """Sets the quality columns from the document's text and its ``domain``."""

    name = "⭐ QualityScorer"
    signal_schema: ClassVar[dict[str, pa.DataType]] = QUALITY_SIGNAL_SCHEMA

    def __init__(self, model: str = "quality", batch_size: int = DEFAULT_BATCH_SIZE, spam: bool | None = None) -> None:
        """``model``: the quality model family (``quality``, shipped, or a path prefix); ``spam``: damp prose
        scores by the family's spam model (``score_quality``): ``None`` (the default since stop 58) where the
        family has one, ``True`` always, ``False`` never. It comes after ``batch_size`` so positional calls keep
        their meaning."""
        super().__init__(batch_size)
        if spam is not None and not isinstance(spam, bool):
            raise ConfigError(f"spam: expected true, false or null, got {spam!r}")
        self.model = model
        self.spam = spam

    def process_batch(self, docs: list[Document]) -> None:
        set_columns(docs, score_quality(batch_texts(docs), [d.metadata.get("domain") for d in docs], self.model,
                                        spam=self.spam))

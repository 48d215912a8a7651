"""The labelling steps of the curation pipeline: ``LanguageID``, ``DomainLabeller``, ``QualityScorer``.

Each is a datatrove ``PipelineStep`` that buffers ``batch_size`` documents, labels the batch with
one vectorised call (fastText's C++ batch loop, Arrow and numba underneath), writes the columns of
its ``signal_schema`` into ``doc.metadata`` and yields the documents in their input order. None
drops anything (tag first): the final threshold step calls ``language_reject_reasons`` and
``quality_reject_reasons``. Place them after normalisation and before the heuristic signals::

    readers -> normalise -> LanguageID() -> DomainLabeller() -> QualityScorer() -> ComputeSignals ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from midtrain.curation.labels.domain import DOMAIN_SIGNAL_SCHEMA, DomainConfig, label_domains
from midtrain.curation.labels.language import LANGUAGE_SIGNAL_SCHEMA, identify_language
from midtrain.curation.labels.quality import QUALITY_SIGNAL_SCHEMA, score_quality

DEFAULT_BATCH_SIZE = 512


class _BatchLabeller(PipelineStep):
    type = "🏷 - LABEL"
    signal_schema: dict[str, pa.DataType] = {}

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__()
        self.batch_size = batch_size

    def label_batch(self, docs: list[Document]) -> None:
        raise NotImplementedError

    def run(self, data: Iterable[Document], rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        batch: list[Document] = []
        for doc in data:
            batch.append(doc)
            if len(batch) >= self.batch_size:
                yield from self._flush(batch)
                batch = []
        if batch:
            yield from self._flush(batch)

    def _flush(self, batch: list[Document]) -> list[Document]:
        with self.track_time(unit="batch"):
            self.label_batch(batch)
        self.stat_update("labelled", value=len(batch))
        return batch


def _set_columns(docs: list[Document], table: pa.Table) -> None:
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for i, doc in enumerate(docs):
        for name, values in columns.items():
            doc.metadata[name] = values[i]


class LanguageID(_BatchLabeller):
    """Sets ``language`` and ``language_score`` (fastText lid.176, shipped with midtrain)."""

    name = "🌐 LanguageID"
    signal_schema = LANGUAGE_SIGNAL_SCHEMA

    def __init__(self, model: str = "lid.176", batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(batch_size)
        self.model = model

    def label_batch(self, docs: list[Document]) -> None:
        _set_columns(docs, identify_language([d.text for d in docs], self.model))


class DomainLabeller(_BatchLabeller):
    """Sets ``domain`` (web, math, code, reasoning, long, or your classifier's labels) and its signals.

    Reads ``metadata["domain_hint"]`` (wins when ``config.hint_wins``) and ``metadata["path"]``
    (file-extension rule); see ``midtrain.curation.labels.domain`` for the order of the rules.
    """

    name = "🗂 DomainLabeller"
    signal_schema = DOMAIN_SIGNAL_SCHEMA

    def __init__(self, config: DomainConfig | dict | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(batch_size)
        self.config = config if isinstance(config, DomainConfig) else DomainConfig.from_dict(config)

    def label_batch(self, docs: list[Document]) -> None:
        table = label_domains([d.text for d in docs], hints=[d.metadata.get("domain_hint") for d in docs],
                              paths=[d.metadata.get("path") for d in docs], config=self.config)
        _set_columns(docs, table)
        for rule, n in zip(*_counts(table.column("domain_rule").to_pylist())):
            self.stat_update(f"rule_{rule}", value=n)


class QualityScorer(_BatchLabeller):
    """Sets ``quality_score`` (0-5), ``quality_tier`` and ``quality_type``: each document is scored by
    the model of its domain's type (prose, code, math), so it runs after ``DomainLabeller``."""

    name = "⭐ QualityScorer"
    signal_schema = QUALITY_SIGNAL_SCHEMA

    def __init__(self, model: str = "quality", batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(batch_size)
        self.model = model

    def label_batch(self, docs: list[Document]) -> None:
        _set_columns(docs, score_quality([d.text for d in docs], [d.metadata.get("domain") for d in docs],
                                         self.model))


def _counts(values: list[str]) -> tuple[list[str], list[int]]:
    uniq = sorted(set(values))
    return uniq, [values.count(u) for u in uniq]

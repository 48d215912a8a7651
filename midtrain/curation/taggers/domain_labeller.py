"""The domain tagger: ``domain`` (web, math, code, reasoning, ``unknown``, or a custom classifier's labels).

Later steps read the domain: the quality scorer picks its model by it, the rules and the
thresholds apply per-domain parameters, and the writer files each document under ``<domain>/``.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document

from midtrain.curation.base import DEFAULT_BATCH_SIZE, BatchStep, batch_texts, set_columns
from midtrain.curation.labels.domain import DOMAIN_SIGNAL_SCHEMA, DomainConfig, label_domains


class DomainLabeller(BatchStep):
    """Sets ``domain`` and its signals (score, rule, code language).

    Reads ``metadata["domain_hint"]`` (wins when ``config.hint_wins``), ``metadata["path"]``
    (file-extension rule) and ``metadata["language"]`` / ``["language_score"]`` where ``LanguageID`` ran
    before it (``config.other_language_min_score``); see :mod:`midtrain.curation.labels.domain` for the order
    of the rules.
    """

    name = "🗂 DomainLabeller"
    signal_schema: ClassVar[dict[str, pa.DataType]] = DOMAIN_SIGNAL_SCHEMA

    def __init__(self, config: DomainConfig | dict | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(batch_size)
        self.config = config if isinstance(config, DomainConfig) else DomainConfig.from_dict(config)

    def process_batch(self, docs: list[Document]) -> None:
        reads_language = self.config.other_language_min_score is not None
        table = label_domains(batch_texts(docs), hints=[d.metadata.get("domain_hint") for d in docs],
                              paths=[d.metadata.get("path") for d in docs], config=self.config,
                              languages=[d.metadata.get("language") for d in docs] if reads_language else None,
                              language_scores=[d.metadata.get("language_score") for d in docs]
                              if reads_language else None)
        set_columns(docs, table)
        rules = table.column("domain_rule").to_pylist()
        for rule in sorted(set(rules)):
            self.stat_update(f"rule_{rule}", value=rules.count(rule))

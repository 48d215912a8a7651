"""The keep decision as a datatrove step: the last step before the writer.

:class:`ApplyThresholds` sets ``reject_step`` / ``reject_reason`` from the columns the taggers
stored -- language, the rules' signals, quality -- with :func:`midtrain.curation.decide.decide`,
the same function ``midtrain refilter`` runs over a stored corpus, so both give the same answer
for the same thresholds. A rejected document stays in the stream; the writer routes it to
``rejected/`` with its step and reason.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
from datatrove.data import Document

from midtrain.curation.base import BatchStep, reject
from midtrain.curation.decide import DECISION_SIGNALS, decide, decision_steps, load_decisions


class ApplyThresholds(BatchStep):
    """Reject documents whose stored signals fail a threshold: language, rules, then quality.

    The first failing family names ``reject_step`` (see :mod:`midtrain.curation.decide`);
    documents an earlier step already rejected (empty after normalisation) keep that reason.
    """

    name = "thresholds"
    type = "🔻 - FILTER"
    reject_steps: ClassVar[tuple[str, ...]] = decision_steps()

    def __init__(self, thresholds: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.thresholds = thresholds or {}
        self.decisions = load_decisions(thresholds)

    def process_batch(self, docs: list[Document]) -> None:
        signals = pa.table({name: pa.array([d.metadata.get(name) for d in docs], dtype)
                            for name, dtype in DECISION_SIGNALS.items()})
        steps, reasons = decide(signals, [d.metadata["domain"] for d in docs], self.decisions)
        for doc, step, reason in zip(docs, steps.to_pylist(), reasons.to_pylist()):
            if step is not None and reject(doc, step, reason):
                self.stat_update(f"rejected_{step}")

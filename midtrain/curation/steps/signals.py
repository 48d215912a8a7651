"""The heuristic rules as two datatrove steps: compute every signal, then apply the thresholds.

Tag first, filter later (Dolma, RedPajama v2): :class:`ComputeSignals` stores each rule's
signal as a typed metadata column and drops nothing; :class:`ApplyThresholds` (the last step
before the writer) sets ``reject_step`` / ``reject_reason`` from the stored columns alone --
the rules' and the labels' (language, quality) -- so ``midtrain refilter`` can re-run it over a
stored corpus without recomputing a signal.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
from datatrove.data import Document

from midtrain.curation import rules
from midtrain.curation.decide import DECISION_SIGNALS, decide, decision_steps, load_decisions
from midtrain.curation.steps.batch import BatchStep, reject


class ComputeSignals(BatchStep):
    """Every rule signal of every document, computed a batch at a time over shared word splits."""

    name = "rule signals"
    signal_schema: ClassVar[dict[str, pa.DataType]] = dict(rules.SIGNAL_SCHEMA)

    def process_batch(self, docs: list[Document]) -> None:
        table = rules.compute_signals([d.text for d in docs], [d.metadata["domain"] for d in docs])
        for name in table.column_names:
            for doc, value in zip(docs, table.column(name).to_pylist()):
                doc.metadata[name] = value


class ApplyThresholds(BatchStep):
    """Reject documents whose stored signals fail a threshold: language, rules, then quality.

    The first failing family names ``reject_step`` (see :mod:`midtrain.curation.decide`);
    documents an earlier step already rejected (empty after normalisation) keep that reason.
    """

    name = "thresholds"
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

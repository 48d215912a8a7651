"""Fast heuristic quality rules, tag first: signals as typed columns, thresholds applied afterwards.

``compute_signals(texts, domains)`` computes the Gopher quality and repetition, C4, FineWeb and code
signals of a batch in compiled kernels over shared word splits; ``apply_thresholds(signals, domains,
thresholds)`` decides keep / reject from those columns alone, with a policy per domain
(``DEFAULT_THRESHOLDS``, overridable with ``load_thresholds``). See README "Curation rules".
"""

from midtrain.curation.rules.signals import SIGNAL_SCHEMA, compute_signals
from midtrain.curation.rules.thresholds import (
    DEFAULT_THRESHOLDS,
    PROSE_RULES,
    RULE_PARAMS,
    DomainPolicy,
    Thresholds,
    apply_thresholds,
    load_thresholds,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "PROSE_RULES",
    "RULE_PARAMS",
    "SIGNAL_SCHEMA",
    "DomainPolicy",
    "Thresholds",
    "apply_thresholds",
    "compute_signals",
    "load_thresholds",
]

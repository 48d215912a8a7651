"""Fast heuristic quality rules, tag first: signals as typed columns, thresholds applied afterwards.

``compute_signals(texts, domains)`` computes the signals of every rule family (Gopher repetition and
quality, C4, FineWeb, code) for a batch in compiled kernels over shared word splits (a long document's
signals of local text are its chunks' median, ``chunks.py``);
``apply_thresholds(signals, domains, thresholds)`` decides keep / reject from those columns alone, with
a policy per domain (``DEFAULT_THRESHOLDS``, overridable with ``load_thresholds``). Each family lives in
one file with its parameters, signal schema, kernel and table of checks; ``FAMILIES`` lists them. See
README.md in this folder.
"""

from midtrain.curation.rules.family import Check, RuleFamily
from midtrain.curation.rules.signals import FAMILIES, SIGNAL_SCHEMA, compute_signals
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
    "FAMILIES",
    "PROSE_RULES",
    "RULE_PARAMS",
    "SIGNAL_SCHEMA",
    "Check",
    "DomainPolicy",
    "RuleFamily",
    "Thresholds",
    "apply_thresholds",
    "compute_signals",
    "load_thresholds",
]

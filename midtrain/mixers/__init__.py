"""Curriculum mixing: how much of each domain the trainer sees at every point of training.

- :mod:`~midtrain.mixers.schedule`: :class:`Schedule`, weights as a pure function of tokens seen;
- :mod:`~midtrain.mixers.language`: :func:`load_schedule`, the YAML/TOML/dict schedule language;
- :mod:`~midtrain.mixers.mixtures`: temperature sampling and UniMax from domain sizes;
- :mod:`~midtrain.mixers.domain_sizes`: a token corpus' domain sizes as a schedule draws them
  (with ``long`` selected by length when the corpus has no ``long`` domain);
- :mod:`~midtrain.mixers.planner`: :func:`plan_budget`, tokens/epochs per domain and phase;
- :mod:`~midtrain.mixers.plot`: the planner's PNG (matplotlib, imported only there);
- :mod:`~midtrain.mixers.policies`: DoReMi- and EXP3-style adaptive policies.

Importing this package needs only numpy and (when a YAML file is read) pyyaml.
"""

from pathlib import Path

from midtrain.lazy import lazy_getattr

EXAMPLE_SCHEDULE = Path(__file__).with_name("midtrain_schedule.yaml")
"""The realistic mid-training schedule shipped with the package (same file as
``examples/midtrain_schedule.yaml``): pre-training mix, ramp, math+code anneal, long context."""

_EXPORTS = {
    "load_schedule": "midtrain.mixers.language",
    "corpus_domain_tokens": "midtrain.mixers.domain_sizes",
    "load_schedule_for_corpus": "midtrain.mixers.domain_sizes",
    "temperature_weights": "midtrain.mixers.mixtures",
    "unimax_budgets": "midtrain.mixers.mixtures",
    "unimax_weights": "midtrain.mixers.mixtures",
    "BudgetPlan": "midtrain.mixers.planner",
    "DomainSummary": "midtrain.mixers.planner",
    "PhaseRow": "midtrain.mixers.planner",
    "plan_budget": "midtrain.mixers.planner",
    "AdaptivePolicy": "midtrain.mixers.policies",
    "DoReMiPolicy": "midtrain.mixers.policies",
    "Exp3Policy": "midtrain.mixers.policies",
    "Phase": "midtrain.mixers.schedule",
    "Schedule": "midtrain.mixers.schedule",
}
__all__ = sorted([*_EXPORTS, "EXAMPLE_SCHEDULE"])


__getattr__ = lazy_getattr(__name__, _EXPORTS)

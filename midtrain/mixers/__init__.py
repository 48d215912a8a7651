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

from midtrain.mixers.language import load_schedule
from midtrain.mixers.domain_sizes import corpus_domain_tokens, load_schedule_for_corpus
from midtrain.mixers.mixtures import temperature_weights, unimax_budgets, unimax_weights
from midtrain.mixers.planner import BudgetPlan, DomainSummary, PhaseRow, plan_budget
from midtrain.mixers.policies import AdaptivePolicy, DoReMiPolicy, Exp3Policy
from midtrain.mixers.schedule import Phase, Schedule

EXAMPLE_SCHEDULE = Path(__file__).with_name("midtrain_schedule.yaml")
"""The realistic mid-training schedule shipped with the package (same file as
``examples/midtrain_schedule.yaml``): pre-training mix, ramp, math+code anneal, long context."""

__all__ = [
    "EXAMPLE_SCHEDULE", "AdaptivePolicy", "BudgetPlan", "DoReMiPolicy", "DomainSummary", "Exp3Policy", "Phase",
    "PhaseRow", "Schedule", "corpus_domain_tokens", "load_schedule", "load_schedule_for_corpus", "plan_budget",
    "temperature_weights", "unimax_budgets", "unimax_weights",
]

"""The steps a curation pipeline can name, and building the datatrove step list of a job.

A job's pipeline is always ``ReadInputs -> <configured steps> -> WriteCorpus``. The configured
steps come from :data:`STEPS` by name (or any ``module:Class`` datatrove step), each built with
its parameters checked against its constructor. The writer's typed columns are the union of the
steps' ``signal_schema``; the report's funnel order is the concatenation of their
``reject_steps``.
"""

from __future__ import annotations

import importlib
from typing import Any

import pyarrow as pa

from midtrain.curation.config import StepConfig
from midtrain.curation.typed_config import check_call_params
from midtrain.errors import ConfigError

# Registered steps: name -> "module:Class"; the taggers, then the filter.
STEPS: dict[str, str] = {
    "normalise": "midtrain.curation.taggers.normalise:Normalise",
    "language_id": "midtrain.curation.taggers.language_id:LanguageID",
    "domain_labeller": "midtrain.curation.taggers.domain_labeller:DomainLabeller",
    "quality_scorer": "midtrain.curation.taggers.quality_scorer:QualityScorer",
    "signals": "midtrain.curation.taggers.signals:ComputeSignals",
    "thresholds": "midtrain.curation.filters.thresholds:ApplyThresholds",
}
# Steps whose whole parameter mapping is one argument (the thresholds tree of the rules).
_MAPPING_PARAM = {"thresholds": "thresholds"}
DEFAULT_PIPELINE = ("normalise", "language_id", "domain_labeller", "quality_scorer", "signals", "thresholds")


def default_pipeline() -> list[StepConfig]:
    """The default steps, in the order documents meet them."""
    return [StepConfig(name=name, params={}) for name in DEFAULT_PIPELINE]


def _resolve(name: str, *, where: str = "pipeline") -> type:
    """The step class a pipeline entry names: a registered name or ``module:Class``."""
    target = STEPS.get(name, name if ":" in name else None)
    if target is None:
        raise ConfigError(f"{where}: unknown step {name!r} (known: {', '.join(STEPS)}, or module:Class)")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: step {name!r} is not available ({target}: {exc})") from None


def build_steps(configs: list[StepConfig], where: str = "config.pipeline") -> list[Any]:
    """Instantiate the configured steps; parameter and order mistakes raise ConfigError."""
    names = [c.name for c in configs]
    if "thresholds" in names and ("signals" not in names or names.index("signals") > names.index("thresholds")):
        raise ConfigError(f"{where}[{names.index('thresholds')}]: 'thresholds' needs the 'signals' step before it")
    steps = []
    for i, cfg in enumerate(configs):
        path = f"{where}[{i}].{cfg.name}"
        cls = _resolve(cfg.name, where=path)
        if cfg.name in _MAPPING_PARAM:
            try:
                steps.append(cls(**{_MAPPING_PARAM[cfg.name]: cfg.params}))
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            continue
        kwargs = check_call_params(cls.__init__, cfg.params, path)
        try:
            steps.append(cls(**kwargs))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return steps


def signal_columns(steps: list[Any]) -> dict[str, pa.DataType]:
    """Every metadata column the steps declare, in step order; a name declared twice must agree."""
    columns: dict[str, pa.DataType] = {}
    for step in steps:
        for name, dtype in (getattr(step, "signal_schema", None) or {}).items():
            if name in columns and columns[name] != dtype:
                raise ConfigError(f"pipeline: column {name!r} is declared as {columns[name]} and as {dtype} "
                                  f"(by {type(step).__name__}); steps must agree on column types")
            columns[name] = dtype
    return columns


def reject_order(steps: list[Any]) -> list[str]:
    """The ``reject_step`` values the steps may set, in the order documents meet them."""
    order: list[str] = []
    for step in steps:
        for name in getattr(step, "reject_steps", ()) or ():
            if name not in order:
                order.append(name)
    return order

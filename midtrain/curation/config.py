"""The curation job's configuration: a YAML file, a dict, or CLI flags, checked before anything runs.

```yaml
inputs:                       # also given on the command line as PATH[=DOMAIN]
  - {path: raw/python_docs.jsonl, domain: web}
  - {path: src/, domain: code, glob: "*.py"}
pipeline:                     # optional; the default is DEFAULT_PIPELINE
  - normalise
  - signals
  - thresholds: {gopher_quality: {min_doc_words: 30}}
executor: {kind: local, workers: 2}
output: {shard_size_mb: 64}
dedup: {}                     # optional corpus-to-corpus stages, run after the pipeline
decontaminate: {against: [gsm8k=eval/gsm8k_test.jsonl:question]}
```

Every mistake is a :class:`midtrain.errors.ConfigError` naming the key path
(``config.pipeline[2].thresholds.gopher_quality.min_doc_words: ...``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from midtrain.curation.inputs import InputSpec
from midtrain.curation.stages.decontaminate.config import DecontConfig
from midtrain.curation.stages.dedup.config import DedupConfig
from midtrain.curation.stages.stage import StageConfig
from midtrain.curation.typed_config import from_mapping
from midtrain.errors import ConfigError

ExecutorKind = Literal["local", "ray", "slurm"]


@dataclass(frozen=True, kw_only=True)
class ExecutorConfig:
    """Where the tasks run. The results do not depend on it: a job may resume on another executor."""

    kind: ExecutorKind = "local"
    workers: int = 1
    """Tasks run at the same time (local processes, or Ray/Slurm concurrent tasks)."""
    ray_address: str | None = None
    """``ray.init(address=...)`` when the caller has not initialised Ray (default: ``RAY_ADDRESS`` or a
    local cluster)."""
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0
    slurm: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of datatrove's ``SlurmPipelineExecutor`` (``partition`` and ``time`` at least)."""


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """How the corpus is written."""

    shard_size_mb: float = 64.0
    """A shard is closed once its text reaches this many million characters (= MB for ASCII)."""
    keep_stages: bool = False
    """Keep the intermediate corpora of the dedup/decontamination stages under ``stages/``."""


@dataclass(frozen=True, kw_only=True)
class StepConfig:
    """One pipeline entry: a registered step name (or ``module:Class``) and its parameters."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CurateConfig:
    """A whole curation job except its output folder."""

    inputs: list[InputSpec] = field(default_factory=list)
    pipeline: list[StepConfig] | None = None
    """None means the default pipeline (see :func:`midtrain.curation.pipeline.default_pipeline`)."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    dedup: DedupConfig | None = None
    """Deduplication after the pipeline (``dedup: {}`` for the defaults); None = none."""
    decontaminate: DecontConfig | None = None
    """Decontamination after deduplication; None = none."""
    base_dir: str | None = None
    """Folder that relative input paths are resolved against (the config file's folder)."""

    def stages(self) -> list[StageConfig]:
        """The configured corpus-to-corpus stages, in the order they run."""
        return [s for s in (self.dedup, self.decontaminate) if s is not None]


def load_config(source: str | os.PathLike | dict | CurateConfig | None) -> CurateConfig:
    """A checked :class:`CurateConfig` from a YAML path, a dict, or None (all defaults)."""
    if source is None:
        return CurateConfig()
    if isinstance(source, CurateConfig):
        return source
    base = None
    where = "config"
    if not isinstance(source, dict):
        path = Path(source)
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        data = data if data is not None else {}
        base = str(path.resolve().parent)
    else:
        data = dict(source)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    data = dict(data)
    pipeline = data.pop("pipeline", None)
    inputs = data.pop("inputs", [])
    if not isinstance(inputs, list):
        raise ConfigError(f"{where}.inputs: expected a list of inputs, got {type(inputs).__name__}")
    specs = [_input_spec(item, f"{where}.inputs[{i}]") for i, item in enumerate(inputs)]
    cfg = from_mapping(CurateConfig, data, where)
    steps = None if pipeline is None else parse_pipeline(pipeline, f"{where}.pipeline")
    return replace(cfg, inputs=specs, pipeline=steps, base_dir=cfg.base_dir or base)


def _input_spec(item: Any, path: str) -> InputSpec:
    if isinstance(item, str):
        from midtrain.curation.inputs import parse_input_arg

        return parse_input_arg(item)
    return from_mapping(InputSpec, item, path)


def parse_pipeline(entries: Any, path: str) -> list[StepConfig]:
    """``[name | {name: params}]`` into step configs (parameters are checked when steps are built)."""
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of steps, got {type(entries).__name__}")
    steps = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            steps.append(StepConfig(name=entry, params={}))
        elif isinstance(entry, dict) and len(entry) == 1:
            (name, params), = entry.items()
            if params is not None and not isinstance(params, dict):
                raise ConfigError(f"{path}[{i}].{name}: expected a mapping of parameters, got "
                                  f"{type(params).__name__}")
            steps.append(StepConfig(name=str(name), params=params or {}))
        else:
            raise ConfigError(f"{path}[{i}]: a step is a name or a one-key mapping {{name: {{params}}}}, "
                              f"got {entry!r}")
    return steps

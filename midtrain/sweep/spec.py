"""The sweep folder: what a swarm of proxy runs is (``sweep.json``) and what they measured (``results.jsonl``).

This module owns the contract between the commands that write a sweep folder and those that read
it (``docs/sweep.md`` draws the layout)::

    DIR/sweep.json              SweepSpec, written once by `sweep plan` (atomic: temp name, then rename)
    DIR/schedules/<run_id>.yaml every run's mixture in the schedule language (one phase)
    DIR/results.jsonl           one RunResult per finished run, appended by `sweep run` (flush + fsync)
    DIR/fit.json, optimized.json, report/   written by `sweep fit`, `sweep optimize`, `sweep report`

A run's id hashes what it trains on (its weights to 6 decimals, its seed and its proxy), so the same
mixture at the same seed has the same id in every sweep and a resumed sweep recognises its runs.
Reading is strict: anything wrong in ``sweep.json`` is a :class:`ConfigError` naming the file and key;
a bad line of ``results.jsonl`` is a *problem* (named ``results.jsonl:<line>: <key>: ...``) and is
skipped, never averaged in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from midtrain.corpus.manifest import atomic_write_bytes
from midtrain.errors import ConfigError

SWEEP_FILE = "sweep.json"
RESULTS_FILE = "results.jsonl"
SCHEDULES_DIR = "schedules"
VERSION = 1
MODES = ("anneal", "pretrain")
ROLES = ("fit", "heldout", "anchor", "confirm", "transfer")
"""``fit``: the swarm the regression learns from; ``heldout``: mixtures drawn the same way, never fitted,
only scored; ``anchor``: the prior, uniform and each domain at its cap (fitted too: they span the
simplex); ``confirm``: the optimised mix re-run to check it as measured; ``transfer``: mixtures re-run on
a larger proxy to check that the proxy's ranking carries over."""

PROXIES: dict[str, dict[str, int]] = {
    "s14m": {"hidden": 256, "layers": 8, "heads": 4, "intermediate": 640},
    "s42m": {"hidden": 512, "layers": 8, "heads": 8, "intermediate": 1344},
}
"""Llama proxies by name. The vocabulary comes from the corpus manifest and embeddings are tied; the
names count parameters at a 32k vocabulary with SwiGLU's three matrices (14.4M and 41.7M), the two
sizes whose stacked throughput on an H200 is in ``benchmarks/gpu/README.md``."""


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One proxy run of the swarm: a mixture, a seed and a proxy size."""

    run_id: str
    """``"r"`` + the first 10 hex digits of sha256 of (weights to 6 dp, seed, proxy): :func:`run_id`."""
    role: str
    """One of :data:`ROLES`."""
    name: str
    """Readable: ``fit-017``, ``heldout-003``, ``prior``, ``uniform``, ``cap:math``, ``confirm:optimized``."""
    weights: dict[str, float]
    """Token shares over :attr:`SweepSpec.domains`, summing to 1."""
    seed: int
    proxy: str
    """A key of :data:`PROXIES`."""


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """Everything ``sweep run`` needs to train the swarm, and the fit needs to interpret it."""

    version: int
    corpus: str
    """Token corpus folder the proxies train on (absolute path)."""
    heldout: str
    """Token corpus folder with the same domains, for the per-domain held-out loss (absolute path)."""
    mode: str
    """``anneal``: one base proxy on the prior for ``base_tokens``, every run anneals from it;
    ``pretrain``: every run from scratch."""
    domains: tuple[str, ...]
    prior: dict[str, float]
    """The natural mix: token shares to a power (``--prior-power``), renormalised."""
    domain_tokens: dict[str, int]
    """Unique tokens per domain in ``corpus``."""
    tokens: int
    """Training tokens per swarm run (the anneal, in anneal mode)."""
    base_tokens: int
    """Anneal mode: tokens of the base proxy on the prior (0 in pretrain mode)."""
    max_epochs: float
    seq_len: int = 1024
    batch_size: int = 8
    """Sequences per step per model."""
    seed: int
    runs: tuple[RunSpec, ...]

    def run(self, run_id: str) -> RunSpec:
        """The run with this id (ConfigError when the sweep has none)."""
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise ConfigError(f"{SWEEP_FILE}: no run {run_id!r}")

    def runs_by_role(self, *roles: str) -> list[RunSpec]:
        return [r for r in self.runs if r.role in roles]

    @property
    def fit_proxy(self) -> str:
        """The proxy of the swarm (of the fit runs; the first run's when there are none)."""
        fit = self.runs_by_role("fit") or list(self.runs)
        return fit[0].proxy if fit else "s14m"

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["domains"] = list(self.domains)
        body["runs"] = [asdict(r) for r in self.runs]
        return body


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """What one finished run measured: one line of ``results.jsonl``."""

    run_id: str
    seed: int
    proxy: str
    weights: dict[str, float]
    heldout_loss: dict[str, float]
    """Mean nats/token per domain on the held-out corpus."""
    train_loss: float
    """Mean training loss over the last 10% of steps."""
    tokens: int
    """Training tokens this run saw."""
    seconds: float
    """Wall seconds of its stacked group, divided by the group size."""
    step_time_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- ids and schedules ---------------------------------------------------------------------------
def run_id(weights: Mapping[str, float], seed: int, proxy: str) -> str:
    """``"r"`` + 10 hex of sha256 over the weights (sorted by domain, rounded to 6 dp), seed and proxy."""
    key = json.dumps([[[d, round(float(weights[d]), 6)] for d in sorted(weights)], int(seed), proxy],
                     separators=(",", ":"))
    return "r" + hashlib.sha256(key.encode()).hexdigest()[:10]


def make_run(*, role: str, name: str, weights: Mapping[str, float], seed: int, proxy: str) -> RunSpec:
    """A :class:`RunSpec` with its id computed from ``weights``, ``seed`` and ``proxy``."""
    w = {d: float(weights[d]) for d in weights}
    return RunSpec(run_id=run_id(w, seed, proxy), role=role, name=name, weights=w, seed=int(seed), proxy=proxy)


def run_schedule(spec: SweepSpec, run: RunSpec) -> dict[str, Any]:
    """The run's mixture as a schedule-language dict: ``spec.tokens`` tokens, one constant phase.

    In anneal mode this is the anneal only; the base proxy trains on ``spec.prior`` for
    ``spec.base_tokens`` first (``sweep optimize`` emits both phases for the real run).
    """
    phase = "anneal" if spec.mode == "anneal" else "pretrain"
    return {"name": f"{run.name} ({run.run_id})", "total_tokens": int(spec.tokens), "domains": list(spec.domains),
            "phases": [{"name": phase, "weights": {d: float(run.weights[d]) for d in spec.domains}}]}


# --- sweep.json ---------------------------------------------------------------------------------
def write_sweep(directory: str | os.PathLike, spec: SweepSpec) -> Path:
    """Write ``DIR/sweep.json`` atomically and ``DIR/schedules/<run_id>.yaml`` for every run."""
    import yaml

    _check_spec(spec, Path(directory) / SWEEP_FILE)
    out = Path(directory)
    (out / SCHEDULES_DIR).mkdir(parents=True, exist_ok=True)
    for r in spec.runs:
        text = yaml.safe_dump(run_schedule(spec, r), sort_keys=False, default_flow_style=None)
        atomic_write_text(out / SCHEDULES_DIR / f"{r.run_id}.yaml", f"# {r.role} run {r.name}\n{text}")
    path = out / SWEEP_FILE
    atomic_write_text(path, json.dumps(spec.to_dict(), indent=1) + "\n")
    return path


def add_runs(directory: str | os.PathLike, runs: list[RunSpec]) -> SweepSpec:
    """Append ``runs`` to the sweep (e.g. confirm or transfer runs) and rewrite it atomically.

    Existing runs are kept as they are (so finished results still match); a run whose id is already
    in the sweep is not added twice.
    """
    spec = read_sweep(directory)
    have = {r.run_id for r in spec.runs}
    new = []
    for r in runs:
        if r.run_id not in have:
            have.add(r.run_id)
            new.append(r)
    spec = SweepSpec(**{**{f.name: getattr(spec, f.name) for f in fields(SweepSpec)},
                        "runs": (*spec.runs, *new)})
    write_sweep(directory, spec)
    return spec


def read_sweep(directory: str | os.PathLike) -> SweepSpec:
    """Read ``DIR/sweep.json``; anything missing or wrong is a ConfigError naming the file and key."""
    path = Path(directory) / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; create the sweep with `midtrain sweep plan ... --output {directory}`")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    spec = _spec_from_dict(body, path)
    _check_spec(spec, path)
    return spec


def _spec_from_dict(body: dict[str, Any], path: Path) -> SweepSpec:
    def need(key: str, kind: type | tuple[type, ...], where: Mapping[str, Any] = body, at: str = "") -> Any:
        if key not in where:
            raise ConfigError(f"{path}: {at}{key}: missing")
        value = where[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(f"{path}: {at}{key}: expected {_kind_name(kind)}, got {value!r}")
        return value

    version = need("version", int)
    if version != VERSION:
        raise ConfigError(f"{path}: version: {version} is not supported (this midtrain reads version {VERSION})")
    runs = []
    for i, r in enumerate(need("runs", list)):
        at = f"runs[{i}]."
        if not isinstance(r, dict):
            raise ConfigError(f"{path}: runs[{i}]: expected an object, got {r!r}")
        runs.append(RunSpec(run_id=need("run_id", str, r, at), role=need("role", str, r, at),
                            name=need("name", str, r, at), weights=_floats(need("weights", dict, r, at), path,
                                                                           f"{at}weights"),
                            seed=need("seed", int, r, at), proxy=need("proxy", str, r, at)))
    return SweepSpec(version=version, corpus=need("corpus", str), heldout=need("heldout", str),
                     mode=need("mode", str), domains=tuple(need("domains", list)),
                     prior=_floats(need("prior", dict), path, "prior"),
                     domain_tokens={k: int(v) for k, v in _floats(need("domain_tokens", dict), path,
                                                                   "domain_tokens").items()},
                     tokens=need("tokens", int), base_tokens=need("base_tokens", int),
                     max_epochs=float(need("max_epochs", (int, float))), seq_len=need("seq_len", int),
                     batch_size=need("batch_size", int), seed=need("seed", int), runs=tuple(runs))


def _check_spec(spec: SweepSpec, path: Path) -> None:
    """The invariants every reader relies on; each failure names ``path`` and the key."""
    domains = spec.domains
    if not domains or len(set(domains)) != len(domains) or not all(isinstance(d, str) and d for d in domains):
        raise ConfigError(f"{path}: domains: expected distinct non-empty names, got {list(domains)!r}")
    if spec.mode not in MODES:
        raise ConfigError(f"{path}: mode: must be one of {', '.join(MODES)}, got {spec.mode!r}")
    for key, value in (("tokens", spec.tokens), ("seq_len", spec.seq_len), ("batch_size", spec.batch_size)):
        if value <= 0:
            raise ConfigError(f"{path}: {key}: must be positive, got {value}")
    if spec.base_tokens < 0 or (spec.mode == "anneal" and spec.base_tokens == 0):
        raise ConfigError(f"{path}: base_tokens: anneal mode needs a positive base (got {spec.base_tokens}); "
                          "pass --base-tokens or use --mode pretrain")
    if not (math.isfinite(spec.max_epochs) and spec.max_epochs > 0):
        raise ConfigError(f"{path}: max_epochs: must be positive, got {spec.max_epochs}")
    _check_mixture(spec.prior, domains, path, "prior")
    if set(spec.domain_tokens) != set(domains) or any(v <= 0 for v in spec.domain_tokens.values()):
        raise ConfigError(f"{path}: domain_tokens: expected a positive count for each of {', '.join(domains)}")
    seen: dict[str, int] = {}
    for i, r in enumerate(spec.runs):
        at = f"runs[{i}]"
        if r.role not in ROLES:
            raise ConfigError(f"{path}: {at}.role: must be one of {', '.join(ROLES)}, got {r.role!r}")
        if r.proxy not in PROXIES:
            raise ConfigError(f"{path}: {at}.proxy: unknown proxy {r.proxy!r} (known: {', '.join(PROXIES)})")
        _check_mixture(r.weights, domains, path, f"{at}.weights")
        if r.run_id != run_id(r.weights, r.seed, r.proxy):
            raise ConfigError(f"{path}: {at}.run_id: {r.run_id!r} does not match its weights, seed and proxy "
                              f"(expected {run_id(r.weights, r.seed, r.proxy)!r}); the file was edited by hand")
        if r.run_id in seen:
            raise ConfigError(f"{path}: {at}.run_id: {r.run_id!r} repeats runs[{seen[r.run_id]}]")
        seen[r.run_id] = i


def _check_mixture(weights: Mapping[str, float], domains: tuple[str, ...], path: Path, key: str) -> None:
    if set(weights) != set(domains):
        extra, missing = sorted(set(weights) - set(domains)), sorted(set(domains) - set(weights))
        raise ConfigError(f"{path}: {key}: must name exactly the sweep's domains (missing {missing}, extra {extra})")
    for d, w in weights.items():
        if not (math.isfinite(w) and w >= 0):
            raise ConfigError(f"{path}: {key}.{d}: weight must be finite and >= 0, got {w}")
    total = math.fsum(weights.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"{path}: {key}: weights sum to {total:.9g}, not 1")


def _floats(value: Mapping[str, Any], path: Path, key: str) -> dict[str, float]:
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{path}: {key}.{k}: expected a number, got {v!r}")
        out[str(k)] = float(v)
    return out


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# --- results.jsonl ------------------------------------------------------------------------------
def append_result(directory: str | os.PathLike, result: RunResult) -> None:
    """Append one result as a line of ``DIR/results.jsonl``, then flush and fsync (a kill loses no line)."""
    line = json.dumps(result.to_dict(), separators=(",", ":"), allow_nan=True)
    with open(Path(directory) / RESULTS_FILE, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_results(directory: str | os.PathLike, spec: SweepSpec | None = None) -> tuple[list[RunResult], list[str]]:
    """The valid results of ``DIR/results.jsonl`` and one problem line per line skipped.

    A line that is not a JSON object, lacks a key, has a missing, NaN or infinite loss, names a run id
    the sweep does not have (when ``spec`` is given) or repeats an earlier run id is skipped; its
    problem reads ``results.jsonl:<line>: <key>: what is wrong``. Extra keys are ignored. No file:
    no results and no problems.
    """
    path = Path(directory) / RESULTS_FILE
    if not path.is_file():
        return [], []
    results: list[RunResult] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                result = _result_from_line(line, spec)
            except ValueError as exc:
                problems.append(f"{RESULTS_FILE}:{number}: {exc}")
                continue
            if result.run_id in seen:
                problems.append(f"{RESULTS_FILE}:{number}: run_id: {result.run_id} already has a result on line "
                                f"{seen[result.run_id]}; kept the first")
                continue
            seen[result.run_id] = number
            results.append(result)
    return results, problems


def _result_from_line(line: str, spec: SweepSpec | None) -> RunResult:
    """Parse one line; a ValueError's message is ``<key>: what is wrong``."""
    try:
        body = json.loads(line.strip())
    except json.JSONDecodeError as exc:
        raise ValueError(f"line: not valid JSON ({exc.msg}, column {exc.colno}); a run killed mid-write?") from None
    if not isinstance(body, dict):
        raise ValueError("line: expected a JSON object")
    for f in fields(RunResult):
        if f.name not in body:
            raise ValueError(f"{f.name}: missing")
    losses = body["heldout_loss"]
    if not isinstance(losses, dict) or not losses:
        raise ValueError(f"heldout_loss: expected an object of per-domain losses, got {losses!r}")
    for d, v in losses.items():
        _finite(v, f"heldout_loss.{d}")
    _finite(body["train_loss"], "train_loss")
    weights = body["weights"]
    if not isinstance(weights, dict):
        raise ValueError(f"weights: expected an object, got {weights!r}")
    for d, v in weights.items():
        _finite(v, f"weights.{d}")
    for key in ("tokens", "seconds", "step_time_ms"):
        if isinstance(body[key], bool) or not isinstance(body[key], (int, float)):
            raise ValueError(f"{key}: expected a number, got {body[key]!r}")
    if spec is not None:
        known = {r.run_id for r in spec.runs}
        if body["run_id"] not in known:
            raise ValueError(f"run_id: {body['run_id']!r} is not a run of this sweep")
        absent = [d for d in spec.domains if d not in losses]
        if absent:
            raise ValueError(f"heldout_loss.{absent[0]}: missing")
    return RunResult(run_id=str(body["run_id"]), seed=int(body["seed"]), proxy=str(body["proxy"]),
                     weights={d: float(v) for d, v in weights.items()},
                     heldout_loss={d: float(v) for d, v in losses.items()}, train_loss=float(body["train_loss"]),
                     tokens=int(body["tokens"]), seconds=float(body["seconds"]),
                     step_time_ms=float(body["step_time_ms"]))


def _finite(value: Any, key: str) -> None:
    if value is None:
        raise ValueError(f"{key}: missing (null)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{key}: {value} is not a finite loss")


# --- small file helpers ---------------------------------------------------------------------------
def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically: :func:`midtrain.corpus.manifest.atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))

"""Reading a schedule definition (YAML, TOML, JSON or a dict) into a :class:`Schedule`.

This module owns the schedule *language* and its validation; every error names the key path
(``phases[2].weights.math``) and says what to do. A definition::

    total_tokens: 100B            # optional; needed when any position is a fraction
    domains: [code, math, web]    # optional; default: every domain the mixtures name
    missing_domains: error        # or renormalise: drop domains the corpus lacks, renormalise
    phases:
      - {name: pretrain, end: 60%, weights: {web: 0.7, code: 0.2, math: 0.1}}
      - {name: ramp, length: 20%, ramp: cosine, from: previous, to: {web: 0.5, code: 0.25, math: 0.25}}
      - {name: anneal, weights: {base: previous, upweight: {math: 2, code: 1.5}}, seq_len: 8192}
    anneal: {last: 10%, weights: {...}}   # optional WSD shorthand: a final phase of the last 10%
    long: {min_tokens: 65536}     # optional: what `long` selects when the corpus has no long domain

A phase spans ``[start, end)``: ``start`` defaults to the previous phase's end, ``end`` or
``length`` may be tokens (``50_000_000``, ``"60B"``) or fractions (``0.6``, ``"60%"``); the last
phase may omit both (or write ``end: null``) and runs to ``total_tokens`` (or forever). A
mixture is ``{domain: weight}`` (summing to 1 ± 1e-6), ``previous`` (where the previous phase
ended), ``{temperature: T}``, ``{unimax: {max_epochs: N}}`` (both need the corpus' domain sizes)
or ``{base: MIX, upweight: {domain: factor}}`` (an anneal: the base mix with some domains
multiplied, renormalised).

``long`` is a domain like the others on a corpus that has one. On a corpus without it (curated
documents keep their topical domain), ``long`` is every document with at least ``long.min_tokens``
tokens (default 32,768) from every domain, left out of its own domain: see
:mod:`midtrain.corpus.lengths` and :func:`midtrain.mixers.load_schedule_for_corpus`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np

from midtrain.errors import ConfigError
from midtrain.mixers.mixtures import temperature_weights, unimax_weights
from midtrain.mixers.positions import parse_position
from midtrain.mixers.schedule import CANONICAL_FORMAT, SIMPLEX_TOLERANCE, LengthRule, Phase, Schedule, normalised

MissingDomains = Literal["error", "renormalise"]
_TOP_KEYS = {"format", "name", "description", "total_tokens", "domains", "missing_domains", "weights", "phases",
             "anneal", "long"}
_LONG_CONTEXT_KEYS = {"tokens_per_step", "length_upsample", "min_doc_tokens", "rope"}
_PHASE_KEYS = {"name", "start", "end", "length", "seq_len", "weights", "ramp", "from", "to"} | _LONG_CONTEXT_KEYS
_ANNEAL_KEYS = {"name", "last", "weights", "seq_len"} | _LONG_CONTEXT_KEYS


def load_schedule(source: str | os.PathLike | Mapping[str, Any] | Schedule, *, total_tokens: int | None = None,
                  domain_tokens: Mapping[str, int] | None = None,
                  missing_domains: MissingDomains | None = None) -> Schedule:
    """Load and resolve a schedule from a YAML/TOML/JSON file, a dict, or return a Schedule as is.

    ``total_tokens`` (overrides the file's) resolves fractions of the run; ``domain_tokens``
    (unique tokens per domain, e.g. ``Manifest.read(p).domains[d]["tokens"]``) is needed by
    temperature and UniMax mixtures and checks that the corpus has every domain the schedule names.
    A domain the corpus lacks is a :class:`ConfigError` unless ``missing_domains="renormalise"``
    (argument or file key), which drops it and renormalises every mixture over the rest.
    """
    if isinstance(source, Schedule):
        return source
    if isinstance(source, Mapping):
        return _resolve(dict(source), total_tokens, domain_tokens, missing_domains)
    path = Path(source)
    body = read_definition(path)
    try:
        return _resolve(body, total_tokens, domain_tokens, missing_domains)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def read_definition(path: Path) -> dict[str, Any]:
    """Parse a schedule file by its extension (.yaml/.yml, .toml, .json) into a dict."""
    if not path.is_file():
        raise ConfigError(f"{path}: schedule file not found")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            body = yaml.safe_load(text)
        elif suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                try:
                    import tomli as tomllib
                except ModuleNotFoundError:
                    raise ConfigError(f"{path}: reading TOML on Python 3.10 needs `pip install tomli`") from None
            body = tomllib.loads(text)
        elif suffix == ".json":
            body = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown schedule format {suffix!r}; use .yaml, .yml, .toml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # the parsers' own errors: say where, as one line
        raise ConfigError(f"{path}: cannot parse ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: a schedule must be a mapping at the top level, got {type(body).__name__}")
    return body


# --- resolution ---------------------------------------------------------------------------------
def _resolve(body: dict[str, Any], total_tokens: int | None, domain_tokens: Mapping[str, int] | None,
             missing_domains: MissingDomains | None) -> Schedule:
    unknown = sorted(set(body) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    if body.get("format", CANONICAL_FORMAT) != CANONICAL_FORMAT:
        raise ConfigError(f"format: {body['format']!r} is not supported (expected {CANONICAL_FORMAT!r})")
    total = _total_tokens(body, total_tokens)
    mode = missing_domains if missing_domains is not None else body.get("missing_domains", "error")
    if mode not in ("error", "renormalise"):
        raise ConfigError(f"missing_domains: must be 'error' or 'renormalise', got {mode!r}")
    phases_raw = _phase_list(body, total)
    long_min_tokens = long_threshold(body)
    sizes = _domain_sizes(domain_tokens)
    universe = _universe(body, phases_raw, sizes, mode)
    return _Resolver(universe, total, sizes).schedule(phases_raw, long_min_tokens)


def _at(key: str, name: str) -> str:
    """The key path of ``name`` inside ``key``; the top-level ``weights`` shorthand's phase has the
    empty path, so its keys are top-level names (``weights.code``)."""
    return f"{key}.{name}" if key else name


def _total_tokens(body: dict[str, Any], override: int | None) -> int | None:
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, (int, np.integer)) or override <= 0:
            raise ConfigError(f"total_tokens: must be a positive integer, got {override!r}")
        return int(override)
    if body.get("total_tokens") is None:
        return None
    total = parse_position(body["total_tokens"], "total_tokens", None)
    if total <= 0:
        raise ConfigError(f"total_tokens: must be positive, got {body['total_tokens']!r}")
    return total


def _phase_list(body: dict[str, Any], total: int | None) -> list[tuple[str, dict[str, Any]]]:
    """The phases as ``(key path, mapping)``, with the ``weights`` and ``anneal`` shorthands expanded."""
    if "weights" in body and "phases" in body:
        raise ConfigError("weights: give either top-level weights (a constant schedule) or phases, not both")
    if "weights" in body:
        raw: Any = [{"name": "constant", "weights": body["weights"]}]
    else:
        raw = body.get("phases")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("phases: expected a non-empty list of phases (or top-level weights for a constant mix)")
    phases = []
    for i, p in enumerate(raw):
        key = "" if "weights" in body else f"phases[{i}]"  # the shorthand's keys are top-level
        if not isinstance(p, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(p).__name__}")
        extra = sorted(set(p) - _PHASE_KEYS)
        if extra:
            raise ConfigError(f"{_at(key, extra[0])}: unknown phase key (allowed: {', '.join(sorted(_PHASE_KEYS))})")
        # ``end: null`` is an open end, as ``Schedule.to_dict`` writes it for an open-ended last phase
        phases.append((key, {k: v for k, v in p.items() if not (k == "end" and v is None)}))
    anneal = body.get("anneal")
    if anneal is not None:
        if not isinstance(anneal, dict):
            raise ConfigError(f"anneal: expected a mapping like {{last: 10%, weights: ...}}, got {type(anneal).__name__}")
        extra = sorted(set(anneal) - _ANNEAL_KEYS)
        if extra:
            raise ConfigError(f"anneal.{extra[0]}: unknown key (allowed: {', '.join(sorted(_ANNEAL_KEYS))})")
        for required in ("last", "weights"):
            if required not in anneal:
                raise ConfigError(f"anneal.{required}: required (the WSD anneal is the last X of the run)")
        if total is None:
            raise ConfigError("anneal.last: the anneal covers the end of the run, so total_tokens must be known")
        last = parse_position(anneal["last"], "anneal.last", total)
        if not 0 < last < total:
            raise ConfigError(f"anneal.last: must be within the run (0 < last < {total:,}), got {last:,}")
        key, prev = phases[-1]
        if "end" not in prev and "length" not in prev:
            prev["end"] = total - last
        phase = {"name": anneal.get("name", "anneal"), "start": total - last, "weights": anneal["weights"]}
        for option in ("seq_len", *sorted(_LONG_CONTEXT_KEYS)):
            if option in anneal:
                phase[option] = anneal[option]
        phases.append(("anneal", phase))
    return phases


def long_threshold(body: dict[str, Any]) -> int | None:
    """The file's ``long: {min_tokens: N}`` (``N`` an integer or ``"64K"``), or ``None``."""
    spec = body.get("long")
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) != {"min_tokens"}:
        raise ConfigError(f"long: expected {{min_tokens: N}} (tokens a document needs to count as long when the "
                          f"corpus has no long domain), got {spec!r}")
    value = spec["min_tokens"]
    if isinstance(value, str):
        value = parse_position(value, "long.min_tokens", None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"long.min_tokens: must be a positive integer number of tokens, got {value!r}")
    return int(value)


def named_domains(body: dict[str, Any]) -> set[str]:
    """The domains a definition names: its ``domains`` list, else every domain its mixtures name."""
    declared = body.get("domains")
    if isinstance(declared, list):
        return {str(d) for d in declared}
    named: dict[str, str] = {}  # a malformed definition names what it can; load_schedule reports the rest
    phases = body.get("phases") if isinstance(body.get("phases"), list) else []
    for p in [{"weights": body["weights"]} if "weights" in body else {}, *phases, body.get("anneal")]:
        for field in ("weights", "from", "to"):
            if isinstance(p, dict) and field in p:
                _collect_names(p[field], field, named)
    return set(named)


def _domain_sizes(domain_tokens: Mapping[str, int] | None) -> dict[str, int] | None:
    if domain_tokens is None:
        return None
    sizes = {}
    for d, n in domain_tokens.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ConfigError(f"domain_tokens.{d}: must be a non-negative integer token count, got {n!r}")
        sizes[str(d)] = int(n)
    return sizes


def _universe(body: dict[str, Any], phases: list[tuple[str, dict[str, Any]]], sizes: dict[str, int] | None,
              mode: str) -> tuple[str, ...]:
    """The schedule's domains: declared, or every domain any mixture names; minus missing ones."""
    named: dict[str, str] = {}  # domain -> first key path naming it
    for key, p in phases:
        for field in ("weights", "from", "to"):
            if field in p:
                _collect_names(p[field], _at(key, field), named)
    declared = body.get("domains")
    if declared is not None:
        if not isinstance(declared, list) or not declared or not all(isinstance(d, str) and d for d in declared):
            raise ConfigError(f"domains: expected a non-empty list of domain names, got {declared!r}")
        if len(set(declared)) != len(declared):
            raise ConfigError(f"domains: lists a domain twice ({declared})")
        for d, where in named.items():
            if d not in declared:
                raise ConfigError(f"{where}: unknown domain {d!r} (domains: {', '.join(sorted(declared))})")
        universe = set(declared)
    else:
        universe = set(named)
    if sizes is not None:
        if not universe:
            universe = set(sizes)
        missing = sorted(universe - set(sizes))
        if missing and mode == "error":
            where = named.get(missing[0], "domains")
            raise ConfigError(f"{where}: the corpus has no domain {', '.join(map(repr, missing))} (corpus domains: "
                              f"{', '.join(sorted(sizes)) or 'none'}); remove it from the schedule, or set "
                              "missing_domains: renormalise (CLI --missing-domains renormalise) to drop missing "
                              "domains and renormalise every mixture over the domains present")
        universe -= set(missing)
    # An empty universe is left to the mixtures to explain (temperature/UniMax need domain sizes).
    return tuple(sorted(universe))


def _collect_names(spec: Any, key: str, named: dict[str, str]) -> None:
    if not isinstance(spec, dict):
        return
    if "temperature" in spec or "unimax" in spec:
        for i, d in enumerate(spec.get("domains") or []):
            named.setdefault(str(d), f"{key}.domains[{i}]")
    elif "upweight" in spec or "base" in spec:
        if isinstance(spec.get("upweight"), dict):
            for d in spec["upweight"]:
                named.setdefault(str(d), f"{key}.upweight.{d}")
        _collect_names(spec.get("base"), f"{key}.base", named)
    else:
        for d in spec:
            named.setdefault(str(d), f"{key}.{d}")


class _Resolver:
    """Turns phase mappings into :class:`Phase` objects over a fixed domain universe."""

    def __init__(self, domains: tuple[str, ...], total: int | None, sizes: dict[str, int] | None) -> None:
        self.domains = domains
        self.index = {d: i for i, d in enumerate(domains)}
        self.total = total
        self.sizes = sizes

    def schedule(self, phases_raw: list[tuple[str, dict[str, Any]]], long_min_tokens: int | None = None) -> Schedule:
        phases: list[Phase] = []
        names: set[str] = set()
        cursor = 0
        previous: np.ndarray | None = None
        for i, (key, p) in enumerate(phases_raw):
            name = p.get("name", f"phase{i}")
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{_at(key, 'name')}: expected a non-empty string, got {name!r}")
            if name in names:
                raise ConfigError(f"{_at(key, 'name')}: phase name {name!r} is used twice")
            names.add(name)
            start, end = self._span(key, p, cursor, is_last=i == len(phases_raw) - 1)
            length = None if end is None else end - start
            seq_len = p.get("seq_len")
            if seq_len is not None and (isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len <= 0):
                raise ConfigError(f"{_at(key, 'seq_len')}: must be a positive integer, got {seq_len!r}")
            extras = {"tokens_per_step": self._tokens_per_step(p, key), "length_rules": self._length_rules(p, key),
                      "rope": _rope(p.get("rope"), _at(key, "rope"))}
            has_ramp = "ramp" in p
            if has_ramp == ("weights" in p):
                raise ConfigError(f"{key}: a phase needs exactly one of 'weights' (constant) or 'ramp' (with from/to)")
            if has_ramp:
                shape = p["ramp"]
                if shape not in ("linear", "cosine"):
                    raise ConfigError(f"{_at(key, 'ramp')}: must be 'linear' or 'cosine', got {shape!r}")
                if end is None:
                    raise ConfigError(f"{_at(key, 'end')}: a ramp needs an end (or length) to ramp over")
                if "to" not in p:
                    raise ConfigError(f"{_at(key, 'to')}: a ramp needs the mixture it ramps to")
                w0 = self.mixture(p.get("from", "previous"), _at(key, "from"), previous, length)
                w1 = self.mixture(p["to"], _at(key, "to"), previous, length)
                phases.append(Phase(name, start, end, w0, w1, shape, seq_len, **extras))
            else:
                for stray in ("from", "to"):
                    if stray in p:
                        raise ConfigError(f"{_at(key, stray)}: only a ramp phase takes from/to "
                                          "(add ramp: linear|cosine)")
                w = self.mixture(p["weights"], _at(key, "weights"), previous, length)
                phases.append(Phase(name, start, end, w, w, "constant", seq_len, **extras))
            previous = phases[-1].end_weights
            cursor = end if end is not None else cursor
        return Schedule(self.domains, phases, self.total, long_min_tokens=long_min_tokens)

    def _tokens_per_step(self, p: dict[str, Any], key: str) -> int | None:
        value = p.get("tokens_per_step")
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_position(value, _at(key, "tokens_per_step"), None)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ConfigError(f"{_at(key, 'tokens_per_step')}: must be a positive integer number of tokens, "
                              f"got {value!r}")
        return int(value)

    def _length_rules(self, p: dict[str, Any], key: str) -> tuple[tuple[str, LengthRule], ...]:
        """``length_upsample`` and ``min_doc_tokens`` resolved per schedule domain (global forms apply
        to every domain); domains without either keep every document and are left out."""
        upsample = _per_domain(p.get("length_upsample"), _at(key, "length_upsample"), {"below", "keep"})
        minimum = _per_domain(p.get("min_doc_tokens"), _at(key, "min_doc_tokens"), None)
        rules: dict[str, dict[str, Any]] = {}
        for which, spec in (("upsample", upsample), ("minimum", minimum)):
            if spec is None:
                continue
            where, per = spec
            targets = per.items() if where != "*" else ((d, per["*"]) for d in self.domains)
            for domain, value in targets:
                path = where if where != "*" else ""
                sub = f"{path}.{domain}" if path else _at(key, "length_upsample" if which == "upsample" else
                                                              "min_doc_tokens")
                if where != "*" and domain not in self.index:
                    self._kept(domain, sub)  # raises for an unknown domain; one dropped by renormalise is skipped
                    continue
                rule = rules.setdefault(domain, {})
                if which == "upsample":
                    rule["below"], rule["keep"] = _upsample(value, sub)
                else:
                    rule["min_tokens"] = _token_count(value, sub)
        return tuple((d, LengthRule(**rules[d])) for d in sorted(rules)
                     if LengthRule(**rules[d]) != LengthRule())

    def _span(self, key: str, p: dict[str, Any], cursor: int, *, is_last: bool) -> tuple[int, int | None]:
        if "start" in p:
            start = parse_position(p["start"], _at(key, "start"), self.total)
            if start != cursor:
                what = "overlaps the previous phase" if start < cursor else "leaves a gap after the previous phase"
                raise ConfigError(f"{_at(key, 'start')}: phase starts at {start:,} but the previous phase ends at "
                                  f"{cursor:,}; it {what} (phases must be contiguous from 0)")
        if "end" in p and "length" in p:
            raise ConfigError(f"{key}: give either end or length, not both")
        if "end" in p:
            end = parse_position(p["end"], _at(key, "end"), self.total)
        elif "length" in p:
            end = cursor + parse_position(p["length"], _at(key, "length"), self.total)
        elif is_last:
            end = self.total
        else:
            raise ConfigError(f"{_at(key, 'end')}: only the last phase may omit end/length")
        if end is not None:
            if end <= cursor:
                raise ConfigError(f"{_at(key, 'end')}: phase must end after it starts ({cursor:,}), got {end:,}")
            if self.total is not None and end > self.total:
                raise ConfigError(f"{_at(key, 'end')}: {end:,} is beyond total_tokens ({self.total:,})")
            if is_last and self.total is not None and end != self.total:
                raise ConfigError(f"{_at(key, 'end')}: the last phase ends at {end:,} but total_tokens is "
                                  f"{self.total:,}; phases must cover the whole run (leave a gap of "
                                  f"{self.total - end:,} tokens otherwise)")
        return cursor, end

    # --- mixtures ---------------------------------------------------------------------------
    def mixture(self, spec: Any, key: str, previous: np.ndarray | None, length: int | None) -> np.ndarray:
        if spec == "previous":
            if previous is None:
                raise ConfigError(f"{key}: 'previous' refers to the previous phase's mixture, but this is the first phase")
            return previous.copy()
        if not isinstance(spec, dict) or not spec:
            raise ConfigError(f"{key}: expected a mixture ({{domain: weight}}, 'previous', {{temperature: T}}, "
                              f"{{unimax: {{max_epochs: N}}}} or {{base: ..., upweight: ...}}), got {spec!r}")
        if "temperature" in spec:
            return self._temperature(spec, key)
        if "unimax" in spec:
            return self._unimax(spec, key, length)
        if "upweight" in spec or "base" in spec:
            return self._upweight(spec, key, previous, length)
        return self._explicit(spec, key)

    def _explicit(self, spec: dict[str, Any], key: str) -> np.ndarray:
        w = np.zeros(len(self.domains))
        values = []
        for d, x in spec.items():
            x = _number(x, f"{key}.{d}")
            if x < 0:
                raise ConfigError(f"{key}.{d}: weight must be >= 0, got {x}")
            values.append(x)
            if self._kept(d, f"{key}.{d}"):
                w[self.index[d]] = x
        total = math.fsum(values)
        if abs(total - 1.0) > SIMPLEX_TOLERANCE:
            raise ConfigError(f"{key}: weights sum to {total:.9g}, not 1 (tolerance {SIMPLEX_TOLERANCE:g}); they are "
                              "token shares, so make them add up to one")
        if w.sum() <= 0:
            raise ConfigError(f"{key}: every domain with weight here is missing from the corpus; nothing is left to "
                              "renormalise over")
        return normalised(w)

    def _kept(self, domain: str, key: str) -> bool:
        """Whether ``domain`` is in the schedule (``False``: a missing domain that was dropped);
        any other domain is a :class:`ConfigError` naming ``key``."""
        if domain in self.index:
            return True
        if self.sizes is not None and domain not in self.sizes:  # dropped by missing_domains: renormalise
            return False
        raise ConfigError(f"{key}: unknown domain {domain!r} (domains: {', '.join(self.domains)})")

    def _subset(self, spec: dict[str, Any], key: str) -> list[str]:
        doms = spec.get("domains")
        if doms is None:
            return list(self.domains)
        if not isinstance(doms, list) or not doms:
            raise ConfigError(f"{key}.domains: expected a non-empty list of domain names, got {doms!r}")
        return sorted(d for d in doms if d in self.index)  # dropped missing domains fall out here

    def _need_sizes(self, key: str, what: str) -> dict[str, int]:
        if self.sizes is None:
            raise ConfigError(f"{key}: {what} needs the corpus' domain sizes; pass domain_tokens (or --corpus)")
        return self.sizes

    def _place(self, subset: list[str], values: np.ndarray) -> np.ndarray:
        w = np.zeros(len(self.domains))
        for d, x in zip(subset, values.tolist()):
            w[self.index[d]] = x
        return normalised(w)

    def _temperature(self, spec: dict[str, Any], key: str) -> np.ndarray:
        _only(spec, {"temperature", "domains"}, key)
        sizes = self._need_sizes(key, "temperature sampling")
        t = _number(spec["temperature"], f"{key}.temperature")
        if t <= 0:
            raise ConfigError(f"{key}.temperature: must be > 0, got {t}")
        subset = self._subset(spec, key)
        try:
            p = temperature_weights(np.array([sizes[d] for d in subset], dtype=np.float64), t)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        return self._place(subset, p)

    def _unimax(self, spec: dict[str, Any], key: str, length: int | None) -> np.ndarray:
        _only(spec, {"unimax", "domains"}, key)
        sizes = self._need_sizes(key, "UniMax")
        cfg = spec["unimax"]
        if not isinstance(cfg, dict):
            cfg = {"max_epochs": cfg}
        _only(cfg, {"max_epochs", "budget"}, f"{key}.unimax")
        if "max_epochs" not in cfg:
            raise ConfigError(f"{key}.unimax.max_epochs: required (the epoch cap N of UniMax)")
        n_cap = _number(cfg["max_epochs"], f"{key}.unimax.max_epochs")
        if n_cap <= 0:
            raise ConfigError(f"{key}.unimax.max_epochs: must be > 0, got {n_cap}")
        if "budget" in cfg:
            budget = parse_position(cfg["budget"], f"{key}.unimax.budget", self.total)
        elif length is not None:
            budget = length
        else:
            raise ConfigError(f"{key}.unimax.budget: the phase is open-ended, so give the token budget to spread")
        subset = self._subset(spec, key)
        try:
            p = unimax_weights(np.array([sizes[d] for d in subset], dtype=np.float64), budget, n_cap)
        except ConfigError as exc:
            raise ConfigError(f"{key}.unimax: {exc}") from None
        return self._place(subset, p)

    def _upweight(self, spec: dict[str, Any], key: str, previous: np.ndarray | None, length: int | None) -> np.ndarray:
        _only(spec, {"base", "upweight"}, key)
        base = self.mixture(spec.get("base", "previous"), f"{key}.base", previous, length)
        factors = spec.get("upweight")
        if not isinstance(factors, dict) or not factors:
            raise ConfigError(f"{key}.upweight: expected {{domain: factor}}, got {factors!r}")
        w = base.copy()
        for d, f in factors.items():
            f = _number(f, f"{key}.upweight.{d}")
            if f < 0:
                raise ConfigError(f"{key}.upweight.{d}: factor must be >= 0, got {f}")
            if self._kept(d, f"{key}.upweight.{d}"):
                w[self.index[d]] *= f
        if w.sum() <= 0:
            raise ConfigError(f"{key}.upweight: the factors leave no weight on any domain")
        return normalised(w / math.fsum(w.tolist()))


def _per_domain(spec: Any, key: str, fields: set[str] | None) -> tuple[str, dict[str, Any]] | None:
    """A global value (``{below, keep}`` or a number) as ``("*", {"*": value})``, or a mapping of
    domain to value as ``(key, mapping)``; ``None`` when absent."""
    if spec is None:
        return None
    is_global = (not isinstance(spec, dict)) if fields is None else (isinstance(spec, dict) and set(spec) <= fields)
    if is_global:
        return "*", {"*": spec}
    if not isinstance(spec, dict) or not spec:
        form = "{below: N, keep: p} or {domain: {below: N, keep: p}}" if fields else "N or {domain: N}"
        raise ConfigError(f"{key}: expected {form}, got {spec!r}")
    return key, dict(spec)


def _token_count(value: Any, key: str) -> int:
    if isinstance(value, str):
        value = parse_position(value, key, None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{key}: must be a non-negative integer number of tokens, got {value!r}")
    return int(value)


def _upsample(value: Any, key: str) -> tuple[int, float]:
    if not isinstance(value, dict) or set(value) != {"below", "keep"}:
        raise ConfigError(f"{key}: expected {{below: N, keep: p}} (documents shorter than N tokens are kept with "
                          f"probability p), got {value!r}")
    below = _token_count(value["below"], f"{key}.below")
    if below == 0:
        raise ConfigError(f"{key}.below: must be a positive number of tokens")
    keep = value["keep"]
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 <= keep <= 1:
        raise ConfigError(f"{key}.keep: must be a probability in [0, 1], got {keep!r}")
    return below, float(keep)


ROPE_YARN_KEYS = {"factor", "original_max_position"}


def _rope(spec: Any, key: str) -> dict[str, Any] | None:
    """A phase's ``rope`` block checked: ``{theta: x}`` and/or ``{yarn: {factor, original_max_position}}``."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not spec or not set(spec) <= {"theta", "yarn"}:
        raise ConfigError(f"{key}: expected {{theta: x}} and/or {{yarn: {{factor: f, original_max_position: n}}}}, "
                          f"got {spec!r}")
    out: dict[str, Any] = {}
    if "theta" in spec:
        theta = spec["theta"]
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not math.isfinite(theta) or theta <= 0:
            raise ConfigError(f"{key}.theta: must be a positive number, got {theta!r}")
        out["theta"] = float(theta)
    if "yarn" in spec:
        yarn = spec["yarn"]
        if not isinstance(yarn, dict) or set(yarn) != ROPE_YARN_KEYS:
            raise ConfigError(f"{key}.yarn: expected {{factor: f, original_max_position: n}}, got {yarn!r}")
        factor, original = yarn["factor"], yarn["original_max_position"]
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
            raise ConfigError(f"{key}.yarn.factor: must be a number > 1, got {factor!r}")
        if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
            raise ConfigError(f"{key}.yarn.original_max_position: must be a positive integer, got {original!r}")
        out["yarn"] = {"factor": float(factor), "original_max_position": original}
    return out


def _number(x: Any, key: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{key}: expected a number, got {type(x).__name__} {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ConfigError(f"{key}: must be finite, got {x}")
    return x


def _only(spec: dict[str, Any], allowed: set[str], key: str) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ConfigError(f"{key}.{extra[0]}: unexpected key here (allowed: {', '.join(sorted(allowed))})")

"""Objective and constraint strings: ``"math+code"``, ``"0.5*math+code"``, ``"web<=base*1.02"``.

An objective is a positive weighted sum of held-out domain losses (nats/token): ``math+code`` is the
sum of the two. A constraint bounds such a sum from above; its right-hand side is a number, or
``base`` (the measured objective of the ``prior`` anchor run, mean over its seeds) times, plus or
minus a number: ``web<=base*1.02``, ``web<=base+0.01``, ``web<=3.1``. Losses are minimised, so only
upper bounds (``<=``) are meaningful.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from midtrain.errors import ConfigError

_NUMBER = r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
_TERM = re.compile(rf"^\s*(?:({_NUMBER})\s*\*\s*)?([A-Za-z0-9_.:/-]+?)\s*$")
_RHS = re.compile(rf"^\s*(?:(?P<num>{_NUMBER})|base\s*(?:(?P<op>[*+-])\s*(?P<arg>{_NUMBER}))?"
                  rf"|(?P<lnum>{_NUMBER})\s*\*\s*base)\s*$")


@dataclass(frozen=True)
class Objective:
    """``sum_d coefficient_d · loss_d``, named by the string it was parsed from (spaces removed)."""

    name: str
    terms: tuple[tuple[str, float], ...]

    def coefficients(self, domains: Sequence[str]) -> np.ndarray:
        """The coefficient of each of ``domains`` (0 for a domain not in the sum)."""
        weights = dict(self.terms)
        return np.array([weights.get(d, 0.0) for d in domains], dtype=np.float64)

    def value(self, losses: Mapping[str, float]) -> float:
        """The objective of one run's per-domain losses."""
        return float(sum(c * losses[d] for d, c in self.terms))


@dataclass(frozen=True)
class Constraint:
    """``objective <= bound``: ``bound`` is absolute, or ``base`` scaled (``*``) or shifted (``+``/``-``)."""

    text: str
    objective: Objective
    kind: str
    """``absolute``, ``scale`` (base·value) or ``offset`` (base + value)."""
    value: float

    @property
    def uses_base(self) -> bool:
        return self.kind != "absolute"

    def bound(self, base: float | None) -> float:
        """The numeric bound, given the measured ``base`` value of the objective (needed unless absolute)."""
        if self.kind == "absolute":
            return self.value
        if base is None:
            raise ConfigError(f"--subject-to {self.text!r}: 'base' is the prior anchor's measured "
                              f"{self.objective.name}, but no result of a 'prior' anchor run is available")
        return base * self.value if self.kind == "scale" else base + self.value


def parse_objective(text: str, domains: Sequence[str], *, key: str = "--minimize") -> Objective:
    """Parse ``math+code`` / ``2*math+code``; unknown domains and bad syntax are ConfigErrors naming ``key``."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{key}: expected a sum of domain losses like 'math+code', got {text!r}")
    terms: dict[str, float] = {}
    for part in text.split("+"):
        m = _TERM.match(part)
        if not m:
            raise ConfigError(f"{key}: cannot read {part.strip()!r} in {text!r}; write a sum of domain losses with "
                              "optional positive factors, like 'math+code' or '0.5*math+code'")
        coefficient = float(m.group(1)) if m.group(1) else 1.0
        domain = m.group(2)
        if domain not in domains:
            raise ConfigError(f"{key}: unknown domain {domain!r} in {text!r} (the sweep's domains: "
                              f"{', '.join(domains)})")
        if coefficient <= 0:
            raise ConfigError(f"{key}: the factor of {domain!r} must be positive, got {coefficient:g}")
        terms[domain] = terms.get(domain, 0.0) + coefficient
    return Objective("".join(text.split()), tuple(terms.items()))


def parse_constraint(text: str, domains: Sequence[str]) -> Constraint:
    """Parse ``web<=base*1.02``, ``web<=base+0.01``, ``math+code<=5.2`` (see the module docstring)."""
    if not isinstance(text, str) or text.count("<=") != 1:
        hint = " (losses are minimised: only upper bounds, '<=', make sense)" if ">=" in str(text) else ""
        raise ConfigError(f"--subject-to: expected 'LOSS<=BOUND' like 'web<=base*1.02', got {text!r}{hint}")
    left, right = text.split("<=")
    objective = parse_objective(left, domains, key=f"--subject-to {text!r}")
    m = _RHS.match(right)
    if not m:
        raise ConfigError(f"--subject-to {text!r}: cannot read the bound {right.strip()!r}; use a number, 'base', "
                          "'base*1.02', '1.02*base', 'base+0.01' or 'base-0.01'")
    if m.group("num") is not None:
        kind, value = "absolute", float(m.group("num"))
    elif m.group("lnum") is not None:
        kind, value = "scale", float(m.group("lnum"))
    elif m.group("op") is None:
        kind, value = "scale", 1.0
    else:
        arg = float(m.group("arg"))
        kind, value = ("scale", arg) if m.group("op") == "*" else ("offset", arg if m.group("op") == "+" else -arg)
    return Constraint("".join(text.split()), objective, kind, value)

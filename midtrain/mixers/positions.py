"""Token positions in schedule files: ``50_000_000``, ``"60B"``, ``"1.5T"``, ``"10%"`` or ``0.1``.

A schedule names where phases start and end either in tokens or as a fraction of the run's total;
this module turns both into exact integer token counts. Fractions are resolved with exact
rational arithmetic, so ``"10%"`` of 10**11 is exactly 10**10 on every machine.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from midtrain.errors import ConfigError

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_TOKENS = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([KMBGT]?)\s*$", re.I)
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def parse_position(value: object, key: str, total_tokens: int | None) -> int:
    """Return ``value`` as a token count; ``key`` names it in errors (e.g. ``phases[2].end``).

    Integers and ``"60B"``-style strings are token counts; floats in [0, 1] and ``"60%"`` strings
    are fractions of ``total_tokens``, which must then be known.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a token count or a fraction, got a boolean ({value})")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{key}: token position must be >= 0, got {value}")
        return value
    if isinstance(value, float):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key}: a float is a fraction of total_tokens and must lie in [0, 1], got {value}; "
                              "write token counts as integers or strings like '60B'")
        return _fraction_of_total(Fraction(str(value)), key, total_tokens, value)
    if isinstance(value, str):
        if m := _PERCENT.match(value):
            frac = Fraction(m.group(1)) / 100
            if frac > 1:
                raise ConfigError(f"{key}: {value!r} is more than 100% of total_tokens")
            return _fraction_of_total(frac, key, total_tokens, value)
        if m := _TOKENS.match(value):
            try:
                tokens = Decimal(m.group(1).replace("_", "")) * _SUFFIX[m.group(2).upper()]
            except InvalidOperation:  # pragma: no cover - the regex admits only decimals
                raise ConfigError(f"{key}: cannot read {value!r} as a token count") from None
            if tokens != tokens.to_integral_value():
                raise ConfigError(f"{key}: {value!r} is not a whole number of tokens")
            return int(tokens)
        raise ConfigError(f"{key}: cannot read {value!r} as a token position; use an integer, '60B', '1.5T', "
                          "'500M', '10K', or a fraction like '10%' / 0.1")
    raise ConfigError(f"{key}: expected a token count or a fraction, got {type(value).__name__}")


def _fraction_of_total(frac: Fraction, key: str, total_tokens: int | None, shown: object) -> int:
    if total_tokens is None:
        raise ConfigError(f"{key}: {shown!r} is a fraction of the total, but total_tokens is unknown; set "
                          "total_tokens in the schedule or pass it (load_schedule(..., total_tokens=N), "
                          "--total-tokens N)")
    return round(frac * total_tokens)


def format_tokens(n: float) -> str:
    """``123_400_000_000 -> '123.4B'``: short token counts for tables, messages and plot axes."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.4g}{suffix}"
    return f"{n:.4g}" if isinstance(n, float) and not float(n).is_integer() else str(int(n))

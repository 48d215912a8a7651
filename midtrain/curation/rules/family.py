"""What a rule family is: its parameters, its signal columns, the function that computes them, and a
declarative table of checks over those columns.

A family module (gopher_repetition.py, gopher_quality.py, c4.py, fineweb.py, source_code.py) defines
``PARAMS`` (the published defaults), ``SCHEMA`` (signal column -> Arrow type), ``CHECKS`` (in the order
the reference implementation applies them) and ``FAMILY``, and nothing else needs to know about it but
the registry in signals.py. Adding a check is one row in ``CHECKS`` plus, if it reads a new signal, that
column in ``SCHEMA`` and the kernel of the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

import numpy as np
import pyarrow as pa

from midtrain.errors import ConfigError

_COMPARE = {"<": np.less, ">": np.greater, "==": np.equal}


@dataclass(frozen=True)
class Check:
    """One test of a family: a row fails when ``signal`` ``op`` the threshold holds (``op="flag"``: when
    the boolean signal is true), and is rejected with ``reason``.

    The threshold is ``params[param]``; ``param=None`` makes the check always on, against ``value``. A
    parameter set to ``None`` or ``False`` (and so also ``0``) turns the check off. ``exempt_zero`` names a
    switch parameter: when it is on, a signal of exactly 0 passes. ``only_column`` / ``only_values``: the check
    applies only to rows whose ``only_column`` (a decision column such as ``code_language``) is one of
    ``only_values``; where that column is missing or null it does not apply.
    """

    reason: str
    signal: str
    op: Literal["<", ">", "==", "flag"]
    param: str | None = None
    value: float | None = None
    exempt_zero: str | None = None
    only_column: str | None = None
    only_values: tuple[str, ...] = ()

    def enabled(self, params: Mapping[str, Any]) -> bool:
        """Whether the check runs under ``params`` (the family's effective parameters)."""
        return self.param is None or params.get(self.param) not in (None, False)

    def failing(self, params: Mapping[str, Any], column: Callable[[str], np.ndarray]) -> np.ndarray:
        """Boolean mask of the rows that fail; ``column(name)`` gives a signal column as numpy."""
        values = column(self.signal)
        if self.op == "flag":
            fail = np.asarray(values, dtype=bool)
        else:
            threshold = self.value if self.param is None else params[self.param]
            fail = _COMPARE[self.op](values, threshold)
        if self.exempt_zero is not None and params.get(self.exempt_zero):
            fail = fail & ~(values == 0)
        if self.only_column is not None:
            try:
                scope = column(self.only_column)
            except ConfigError:  # signals without the column (compute_signals alone): the check does not apply
                return np.zeros(len(fail), bool)
            fail = fail & np.isin(np.asarray(scope, dtype=object), list(self.only_values))
        return fail


@dataclass(frozen=True)
class RuleFamily:
    """A rule family as the signals step and the thresholds see it."""

    name: str  # the reject step and the key in threshold configs
    params: Mapping[str, Any]  # parameter -> published default
    schema: Mapping[str, pa.DataType]  # signal column -> Arrow type, in column order
    checks: tuple[Check, ...]  # in order: the first failing check names the rejection
    signals: Callable[..., dict[str, np.ndarray]]  # (TextBatch, WordSplits, WordStats) -> column -> values

    def __post_init__(self) -> None:
        for check in self.checks:
            for key in (check.param, check.exempt_zero):
                if key is not None and key not in self.params:
                    raise ValueError(f"rule family {self.name!r}: check {check.reason!r} reads unknown "
                                     f"parameter {key!r}")

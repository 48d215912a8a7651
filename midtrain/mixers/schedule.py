"""A curriculum schedule: domain weights as a pure function of tokens seen.

A :class:`Schedule` is a list of contiguous phases over token positions. Each phase is either
constant or a linear/cosine ramp between two mixtures, and may set the sequence length used while
it lasts. Everything about sizes (temperature, UniMax), fractions of the total and missing domains
has been resolved by :func:`midtrain.mixers.load_schedule` before a Schedule exists, so a Schedule
holds only integers and float vectors: it is cheap to pickle, to hash and to evaluate anywhere.

Weights are shares of *tokens* (not documents or sequences) and always form a simplex.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from midtrain.errors import ConfigError

Shape = Literal["constant", "linear", "cosine"]
SHAPES: tuple[str, ...] = ("constant", "linear", "cosine")
CANONICAL_FORMAT = "midtrain.schedule/1"
SIMPLEX_TOLERANCE = 1e-6
"""How far from 1 a user's weights may sum (rounded YAML decimals such as 0.333 do not pass)."""


@dataclass(frozen=True)
class LengthRule:
    """Which documents of a domain a phase draws from: a document of ``n`` tokens is kept when
    ``n >= min_tokens`` and (``n >= below`` or a draw seeded by (seed, domain, epoch, document)
    falls under ``keep``). ``below=0`` disables upsampling; ``min_tokens=0`` the minimum."""

    min_tokens: int = 0
    below: int = 0
    keep: float = 1.0

    def key(self) -> tuple[int, int, int]:
        """The rule as integers (``keep`` in parts per billion): what loader cursors record."""
        return (int(self.min_tokens), int(self.below), int(round(self.keep * KEEP_SCALE)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.below:
            out["length_upsample"] = {"below": self.below, "keep": self.keep}
        if self.min_tokens:
            out["min_doc_tokens"] = self.min_tokens
        return out


KEEP_SCALE = 10**9
"""``length_upsample.keep`` is applied as an integer threshold in parts per billion, so the same
documents are kept on every machine."""


@dataclass(frozen=True, eq=False)
class Phase:
    """One span ``[start, end)`` of tokens with a constant mixture or a ramp between two.

    For a ramp, the weights at position t are ``(1 − s)·start_weights + s·end_weights`` with
    ``u = (t − start)/(end − start)`` and ``s = u`` (linear) or ``s = (1 − cos πu)/2`` (cosine).
    A convex combination of two simplices is a simplex, so every ramp stays on the simplex.
    """

    name: str
    start: int
    end: int | None
    """Exclusive; ``None`` only for an open-ended last constant phase."""
    start_weights: np.ndarray
    end_weights: np.ndarray
    shape: Shape = "constant"
    seq_len: int | None = None
    tokens_per_step: int | None = None
    """Tokens per optimizer step while the phase lasts: the global batch is ``tokens_per_step //
    seq_len`` sequences (``None``: the loader's ``batch_size x world_size`` sequences)."""
    length_rules: tuple[tuple[str, LengthRule], ...] = ()
    """Per-domain document filters (``length_upsample``, ``min_doc_tokens``), sorted by domain;
    domains without a rule keep every document."""
    rope: dict[str, Any] | None = None
    """The phase's RoPE settings (``{"theta": x}`` and/or ``{"yarn": {...}}``), carried with every
    batch of the phase so that a trainer can apply them; midtrain itself never reads them."""

    def length_rule(self, domain: str) -> LengthRule | None:
        """The document filter of ``domain`` in this phase, or ``None`` (every document kept)."""
        for d, rule in self.length_rules:
            if d == domain:
                return rule
        return None

    def weights_at(self, tokens: int) -> np.ndarray:
        if self.shape == "constant":
            return self.start_weights
        u = min(max((tokens - self.start) / (self.end - self.start), 0.0), 1.0)
        s = u if self.shape == "linear" else 0.5 * (1.0 - math.cos(math.pi * u))
        return (1.0 - s) * self.start_weights + s * self.end_weights

    def drawn_fraction(self, u: float) -> np.ndarray:
        """``∫_0^u w(start + x·L) dx`` per domain, in units of the phase length L (closed form).

        linear: ``f·u + (g − f)·u²/2``; cosine: ``f·u + (g − f)·(u/2 − sin(πu)/(2π))``. Over a
        whole ramp (u = 1) both give ``(f + g)/2``.
        """
        f, g = self.start_weights, self.end_weights
        if self.shape == "constant":
            return f * u
        if self.shape == "linear":
            return f * u + (g - f) * (u * u / 2.0)
        return f * u + (g - f) * (u / 2.0 - math.sin(math.pi * u) / (2.0 * math.pi))


class Schedule:
    """Domain weights over training, evaluated by token position (see the module docstring).

    Build one with :func:`midtrain.mixers.load_schedule` (YAML/TOML/dict) or directly from
    :class:`Phase` objects. The constructor checks the invariants every user relies on: phases
    contiguous from 0, weights non-negative and summing to one, ramps bounded, domains sorted.
    """

    def __init__(self, domains: tuple[str, ...] | list[str], phases: list[Phase] | tuple[Phase, ...],
                 total_tokens: int | None = None, *, long_min_tokens: int | None = None) -> None:
        self.domains: tuple[str, ...] = tuple(domains)
        self.phases: tuple[Phase, ...] = tuple(phases)
        self.total_tokens: int | None = total_tokens
        self.long_min_tokens: int | None = long_min_tokens
        """Tokens a document needs to be in ``long`` when the corpus has no ``long`` domain and
        ``long`` is selected by length across domains (file key ``long: {min_tokens: N}``);
        ``None``: the loader's or planner's setting, else 32,768 (``midtrain.corpus.lengths``)."""
        self._check()
        self._starts = [p.start for p in self.phases]

    def _check(self) -> None:
        if list(self.domains) != sorted(set(self.domains)) or not self.domains:
            raise ConfigError(f"domains: must be a non-empty sorted list of distinct names, got {list(self.domains)}")
        if not self.phases:
            raise ConfigError("phases: a schedule needs at least one phase")
        k = len(self.domains)
        expected_start = 0
        for i, p in enumerate(self.phases):
            key = f"phases[{i}]"
            if p.start != expected_start:
                what = "overlaps the previous phase" if p.start < expected_start else "leaves a gap"
                raise ConfigError(f"{key}.start: phase starts at {p.start:,} but the previous phase ends at "
                                  f"{expected_start:,}; it {what} (phases must be contiguous from 0)")
            if p.shape not in SHAPES:
                raise ConfigError(f"{key}.ramp: unknown ramp shape {p.shape!r} (use linear or cosine)")
            if p.end is None:
                if i != len(self.phases) - 1 or p.shape != "constant":
                    raise ConfigError(f"{key}.end: only a constant last phase may be open-ended")
            elif p.end <= p.start:
                raise ConfigError(f"{key}.end: phase must end after it starts ({p.start:,}), got {p.end:,}")
            if p.seq_len is not None and (not isinstance(p.seq_len, int) or p.seq_len <= 0):
                raise ConfigError(f"{key}.seq_len: must be a positive integer, got {p.seq_len!r}")
            if p.tokens_per_step is not None:
                if isinstance(p.tokens_per_step, bool) or not isinstance(p.tokens_per_step, int) or p.tokens_per_step <= 0:
                    raise ConfigError(f"{key}.tokens_per_step: must be a positive integer, got {p.tokens_per_step!r}")
                if p.seq_len is not None and p.tokens_per_step % p.seq_len:
                    raise ConfigError(f"{key}.tokens_per_step: {p.tokens_per_step:,} is not a multiple of the phase's "
                                      f"seq_len {p.seq_len:,}; a step must hold whole sequences")
            for d, _ in p.length_rules:
                if d not in self.domains:
                    raise ConfigError(f"{key}.length_upsample.{d}: not a schedule domain (has {list(self.domains)})")
            for which, w in (("start_weights", p.start_weights), ("end_weights", p.end_weights)):
                if w.shape != (k,) or w.dtype != np.float64:
                    raise ConfigError(f"{key}.{which}: expected float64 vector of {k} weights, got {w.dtype} {w.shape}")
                check_simplex(w, f"{key}.{which}", self.domains)
            expected_start = p.end if p.end is not None else expected_start
        last = self.phases[-1].end
        if self.total_tokens is not None and last is not None and last != self.total_tokens:
            raise ConfigError(f"phases[{len(self.phases) - 1}].end: the last phase ends at {last:,} but "
                              f"total_tokens is {self.total_tokens:,}; phases must cover the whole run")
        m = self.long_min_tokens
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m <= 0):
            raise ConfigError(f"long.min_tokens: must be a positive integer number of tokens, got {m!r}")

    # --- evaluation -------------------------------------------------------------------------
    def phase_index_at(self, tokens: int) -> int:
        """Index of the phase that contains ``tokens`` (the last phase beyond the end)."""
        if tokens < 0:
            raise ValueError(f"token position must be >= 0, got {tokens}")
        return bisect.bisect_right(self._starts, tokens) - 1

    def weights_vector_at(self, tokens: int) -> np.ndarray:
        """Weights at ``tokens`` as float64 in :attr:`domains` order (a fresh array).

        Past the end of the last phase the final weights hold (a run that overshoots its budget
        keeps its last mixture).
        """
        return np.array(self.phases[self.phase_index_at(tokens)].weights_at(tokens), dtype=np.float64)

    def weights_at(self, tokens: int) -> dict[str, float]:
        """``{domain: weight}`` at ``tokens``: a simplex, a pure function of the position."""
        return dict(zip(self.domains, self.weights_vector_at(tokens).tolist()))

    def seq_len_at(self, tokens: int) -> int | None:
        """The ``seq_len`` override of the phase containing ``tokens``, or ``None``."""
        return self.phases[self.phase_index_at(tokens)].seq_len

    def phase_at(self, tokens: int) -> Phase:
        """The phase containing ``tokens`` (the last phase beyond the end)."""
        return self.phases[self.phase_index_at(tokens)]

    def change_points(self) -> list[int]:
        """Token positions where a phase starts (sorted, first is 0)."""
        return list(self._starts)

    # --- identity -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical, JSON-able definition; ``load_schedule(s.to_dict())`` is the same schedule.

        Everything is resolved: positions are integers, every mixture lists every domain. ``long``
        appears only when the schedule sets its threshold, so older schedules keep their fingerprint.
        """
        phases = []
        for p in self.phases:
            d: dict[str, Any] = {"name": p.name, "start": p.start, "end": p.end}
            if p.shape == "constant":
                d["weights"] = _as_mapping(self.domains, p.start_weights)
            else:
                d["ramp"] = p.shape
                d["from"] = _as_mapping(self.domains, p.start_weights)
                d["to"] = _as_mapping(self.domains, p.end_weights)
            if p.seq_len is not None:
                d["seq_len"] = p.seq_len
            if p.tokens_per_step is not None:
                d["tokens_per_step"] = p.tokens_per_step
            upsample = {dom: r.to_dict()["length_upsample"] for dom, r in p.length_rules if r.below}
            if upsample:
                d["length_upsample"] = upsample
            minimum = {dom: r.min_tokens for dom, r in p.length_rules if r.min_tokens}
            if minimum:
                d["min_doc_tokens"] = minimum
            if p.rope is not None:
                d["rope"] = p.rope
            phases.append(d)
        body = {"format": CANONICAL_FORMAT, "domains": list(self.domains), "total_tokens": self.total_tokens,
                "phases": phases}
        if self.long_min_tokens is not None:
            body["long"] = {"min_tokens": self.long_min_tokens}
        return body

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the canonical JSON: equal on every rank, machine and Python run."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.phases)
        return f"Schedule(domains={self.domains}, phases=[{names}], total_tokens={self.total_tokens})"

    def __getstate__(self) -> dict[str, Any]:
        return {"domains": self.domains, "phases": self.phases, "total_tokens": self.total_tokens,
                "long_min_tokens": self.long_min_tokens}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["domains"], state["phases"], state["total_tokens"],
                      long_min_tokens=state.get("long_min_tokens"))


def check_simplex(w: np.ndarray, key: str, domains: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``w`` is finite, >= 0 and sums to 1 ± 1e-6."""
    for d, x in zip(domains, w.tolist()):
        if not math.isfinite(x):
            raise ConfigError(f"{key}.{d}: weight must be finite, got {x}")
        if x < 0:
            raise ConfigError(f"{key}.{d}: weight must be >= 0, got {x}")
    total = math.fsum(w.tolist())
    if abs(total - 1.0) > SIMPLEX_TOLERANCE:
        raise ConfigError(f"{key}: weights sum to {total:.9g}, not 1 (tolerance {SIMPLEX_TOLERANCE:g}); "
                          "they are token shares, so make them add up to one")


def normalised(w: np.ndarray) -> np.ndarray:
    """Divide by the exact sum unless already a simplex to 1e-12, so normalising is idempotent
    (``to_dict`` → ``load_schedule`` round trips bit for bit)."""
    total = math.fsum(w.tolist())
    return w if abs(total - 1.0) <= 1e-12 else w / total


def _as_mapping(domains: tuple[str, ...], w: np.ndarray) -> dict[str, float]:
    return {d: float(x) for d, x in zip(domains, w.tolist())}

"""The budget planner: what a schedule will draw from each domain, before any GPU time is spent.

For every phase and domain it integrates the weights over tokens exactly (closed forms in
:meth:`Phase.drawn_fraction`), divides by the domain's unique tokens to get epochs, and finds the
token position where a domain's cumulative draw first passes one epoch (it "runs out" and starts
repeating), the warning threshold (4 epochs by default: repeated data is about as good as fresh up
to ~4 epochs, Muennighoff et al. 2023, arXiv 2305.16264) and an optional hard cap.

The plan is continuous: the loader realises it in blocks of sequences whose integer counts track
the weights to within one sequence per domain (see :mod:`midtrain.loaders.plan`), so a real run
differs from these numbers by at most one block's worth of tokens per phase boundary.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from midtrain.errors import ConfigError
from midtrain.mixers.longctx import LongContextRow, long_context_rows, long_context_table, rope_warnings
from midtrain.mixers.positions import format_tokens
from midtrain.mixers.schedule import Phase, Schedule

DEFAULT_WARN_EPOCHS = 4.0
"""Muennighoff et al. 2023 (arXiv 2305.16264): up to ~4 epochs of repetition is nearly as good as
unique data; returns fade by ~16."""
CROSSING_TOLERANCE = 1e-3
"""Crossing positions inside cosine ramps are found by bisection on the closed-form integral down
to this many tokens, then rounded up to the first whole token."""


@dataclass(frozen=True)
class PhaseRow:
    """One (phase, domain) cell of the plan."""

    phase: str
    domain: str
    start: int
    end: int
    tokens: float
    """Tokens drawn from the domain during the phase (exact integral of its weight)."""
    unique_tokens: int
    epochs: float
    """Epochs of the domain spent in this phase: tokens / unique_tokens."""
    cumulative_epochs: float
    """Epochs of the domain from the start of the run to the end of this phase."""


@dataclass(frozen=True)
class DomainSummary:
    """One domain over the whole run."""

    domain: str
    unique_tokens: int
    tokens: float
    epochs: float
    exhausted_at: int | None
    """First token position where the domain's cumulative draw exceeds one epoch (None: never)."""
    warn_at: int | None
    """First position where it exceeds ``warn_epochs``."""
    cap_at: int | None
    """First position where it exceeds ``max_epochs`` (None when no cap or never)."""


@dataclass
class BudgetPlan:
    """Tokens and epochs per domain and phase, exhaustion points, warnings and cap violations."""

    total_tokens: int
    domains: tuple[str, ...]
    phases: list[dict[str, Any]]
    rows: list[PhaseRow]
    summary: list[DomainSummary]
    warn_epochs: float
    max_epochs: float | None
    unused_domains: list[str] = field(default_factory=list)
    schedule_fingerprint: str = ""
    long_min_tokens: int | None = None
    """When ``long`` is virtual (the corpus has no ``long`` domain): the tokens a document needs to
    be in it; its documents are then not counted in their own domains. ``None`` otherwise."""
    long_context: list[LongContextRow] = field(default_factory=list)
    """Per (phase, domain) of the phases with a ``seq_len``, ``tokens_per_step`` or length rule:
    batch and length-rule arithmetic (needs the documents' lengths; see :mod:`.longctx`)."""
    rope_warnings: list[str] = field(default_factory=list)
    """Phases whose ``rope.theta`` is under the published lower bound for their length."""

    @property
    def warnings(self) -> list[str]:
        """One line per domain repeated more than ``warn_epochs`` times, then the RoPE warnings."""
        return [f"{s.domain}: {s.epochs:.2f} epochs > {self.warn_epochs:g} (from token {s.warn_at:,}, "
                f"{format_tokens(s.warn_at)}); repeated data loses value beyond ~4 epochs"
                for s in self.summary if s.warn_at is not None] + self.rope_warnings

    @property
    def violations(self) -> list[str]:
        """One line per domain that breaks the hard ``max_epochs`` cap."""
        return [f"{s.domain}: {s.epochs:.2f} epochs exceeds the cap of {self.max_epochs:g} at token {s.cap_at:,} "
                f"({format_tokens(s.cap_at)}); lower its weight, add data, or raise --max-epochs"
                for s in self.summary if s.cap_at is not None]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        body = {"total_tokens": self.total_tokens, "domains": list(self.domains), "phases": self.phases,
                "warn_epochs": self.warn_epochs, "max_epochs": self.max_epochs,
                "schedule_fingerprint": self.schedule_fingerprint, "unused_domains": self.unused_domains,
                "rows": [asdict(r) for r in self.rows], "domains_summary": [asdict(s) for s in self.summary],
                "warnings": self.warnings, "violations": self.violations}
        if self.long_min_tokens is not None:
            body["long_min_tokens"] = self.long_min_tokens
        if self.long_context:
            body["long_context"] = [asdict(r) for r in self.long_context]
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def table(self) -> str:
        """A fixed-width text table: one block per phase, then the per-domain totals."""
        head = f"{'phase':<14} {'domain':<12} {'span':>17} {'tokens':>10} {'unique':>10} {'epochs':>8} {'cum.ep':>8}"
        lines = [f"plan for {format_tokens(self.total_tokens)} tokens ({self.total_tokens:,}), "
                 f"{len(self.phases)} phases, {len(self.domains)} domains", head, "-" * len(head)]
        for r in self.rows:
            span = f"{format_tokens(r.start)}-{format_tokens(r.end)}"
            lines.append(f"{r.phase:<14} {r.domain:<12} {span:>17} {format_tokens(r.tokens):>10} "
                         f"{format_tokens(r.unique_tokens):>10} {r.epochs:>8.3f} {r.cumulative_epochs:>8.3f}")
        lines += ["", f"{'domain':<12} {'tokens':>10} {'unique':>10} {'epochs':>8} {'runs out at':>12} "
                      f"{'>' + format(self.warn_epochs, 'g') + ' ep at':>12} {'cap at':>12}"]
        for s in self.summary:
            lines.append(f"{s.domain:<12} {format_tokens(s.tokens):>10} {format_tokens(s.unique_tokens):>10} "
                         f"{s.epochs:>8.3f} {_at(s.exhausted_at):>12} {_at(s.warn_at):>12} {_at(s.cap_at):>12}")
        if self.unused_domains:
            lines.append(f"corpus domains the schedule does not use: {', '.join(self.unused_domains)}")
        if self.long_min_tokens is not None:
            lines.append(f"long: every document of >= {self.long_min_tokens:,} tokens, from every domain (not "
                         "counted in its own domain)")
        if self.long_context:
            lines += ["", long_context_table(self.long_context)]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"VIOLATION: {v}" for v in self.violations]
        return "\n".join(lines)


def _at(pos: int | None) -> str:
    return "never" if pos is None else format_tokens(pos)


def plan_budget(schedule: Schedule, domain_tokens: Mapping[str, int], total_tokens: int | None = None, *,
                warn_epochs: float = DEFAULT_WARN_EPOCHS, max_epochs: float | None = None,
                long_min_tokens: int | None = None, doc_lengths: Mapping[str, np.ndarray] | None = None,
                seq_len: int | None = None) -> BudgetPlan:
    """Plan ``schedule`` over ``total_tokens`` (default: the schedule's) against the corpus sizes.

    ``domain_tokens`` maps each domain to its unique tokens (a token corpus manifest's
    ``domains[d]["tokens"]``, or :func:`~midtrain.mixers.corpus_domain_tokens` with the schedule,
    which splits off a virtual ``long``). A schedule domain absent from it is a
    :class:`ConfigError`. ``long_min_tokens`` (the threshold of a virtual ``long``) is only reported.
    ``doc_lengths`` (tokens of every document per plan domain) adds the long-context report of the
    phases that set a ``seq_len``, ``tokens_per_step`` or length rule; ``seq_len`` is the loader's
    default sequence length, for phases that set none. Epochs count every unique token: under a
    ``length_upsample`` each pass draws a different sample of the short documents.
    """
    total = total_tokens if total_tokens is not None else schedule.total_tokens
    if total is None or total <= 0:
        raise ConfigError("total_tokens: the plan needs the run's length; set total_tokens in the schedule or pass "
                          "--total-tokens N")
    if schedule.total_tokens is not None and total != schedule.total_tokens:
        raise ConfigError(f"total_tokens: the schedule was resolved for {schedule.total_tokens:,} tokens, not "
                          f"{total:,}; load it with total_tokens={total}")
    missing = [d for d in schedule.domains if d not in domain_tokens]
    if missing:
        raise ConfigError(f"domains: the corpus has no domain {', '.join(map(repr, missing))}; load the schedule "
                          "with domain_tokens=... (and missing_domains='renormalise' to drop it)")
    if not warn_epochs > 0 or (max_epochs is not None and not max_epochs > 0):
        raise ConfigError("warn_epochs/max_epochs: must be positive")
    unique = np.array([domain_tokens[d] for d in schedule.domains], dtype=np.float64)
    spans = _spans(schedule, total)
    rows: list[PhaseRow] = []
    cumulative = np.zeros(len(schedule.domains))
    for phase, a, b in spans:
        drawn = phase_draw(phase, a, b)
        for k, d in enumerate(schedule.domains):
            n = unique[k]
            rows.append(PhaseRow(phase.name, d, a, b, float(drawn[k]), int(n), _ratio(drawn[k], n),
                                 _ratio(cumulative[k] + drawn[k], n)))
        cumulative += drawn
    summary = []
    for k, d in enumerate(schedule.domains):
        n = unique[k]
        summary.append(DomainSummary(
            d, int(n), float(cumulative[k]), _ratio(cumulative[k], n),
            crossing(spans, k, n * 1.0), crossing(spans, k, n * warn_epochs),
            crossing(spans, k, n * max_epochs) if max_epochs is not None else None))
    phases = []
    for p, a, b in spans:
        entry = {"name": p.name, "start": a, "end": b, "shape": p.shape, "seq_len": p.seq_len}
        for key in ("tokens_per_step", "rope"):
            if getattr(p, key, None) is not None:
                entry[key] = getattr(p, key)
        phases.append(entry)
    long_rows = long_context_rows(schedule, doc_lengths, seq_len) if doc_lengths is not None else []
    return BudgetPlan(total, schedule.domains, phases, rows, summary, float(warn_epochs),
                      None if max_epochs is None else float(max_epochs),
                      sorted(set(domain_tokens) - set(schedule.domains)), schedule.fingerprint(), long_min_tokens,
                      long_rows, rope_warnings(schedule, seq_len))


def _ratio(tokens: float, unique: float) -> float:
    if unique > 0:
        return float(tokens / unique)
    return 0.0 if tokens <= 0 else math.inf


def _spans(schedule: Schedule, total: int) -> list[tuple[Phase, int, int]]:
    """The phases clipped to ``[0, total)`` (an open-ended last phase ends at ``total``)."""
    spans = []
    for p in schedule.phases:
        if p.start >= total:
            break
        spans.append((p, p.start, min(p.end if p.end is not None else total, total)))
    return spans


def phase_draw(phase: Phase, a: int, b: int) -> np.ndarray:
    """Tokens drawn per domain over ``[a, b)`` of ``phase`` (exact: closed-form integral)."""
    if phase.shape == "constant":
        return phase.start_weights * float(b - a)
    length = float(phase.end - phase.start)
    return length * (phase.drawn_fraction((b - phase.start) / length) - phase.drawn_fraction((a - phase.start) / length))


def crossing(spans: list[tuple[Phase, int, int]], k: int, threshold: float) -> int | None:
    """First whole token position t where domain k's cumulative draw over [0, t) exceeds ``threshold``.

    Within a constant phase the draw is linear (solved directly), within a ramp it is the
    closed-form integral, monotone in t, solved by bisection to :data:`CROSSING_TOLERANCE` tokens.
    """
    if threshold < 0 or not math.isfinite(threshold):
        return None
    done = 0.0
    for phase, a, b in spans:
        here = float(phase_draw(phase, a, b)[k])
        if done + here <= threshold:
            done += here
            continue
        need = threshold - done
        if phase.shape == "constant":
            x = a + need / phase.start_weights[k]
        else:
            lo, hi = float(a), float(b)
            while hi - lo > CROSSING_TOLERANCE:
                mid = 0.5 * (lo + hi)
                if _draw_real(phase, a, mid, k) > need:
                    hi = mid
                else:
                    lo = mid
            x = hi
        # The draw over [0, t) exceeds the threshold from the first whole token after x.
        return int(min(math.floor(x) + 1, b))
    return None


def _draw_real(phase: Phase, a: int, x: float, k: int) -> float:
    length = float(phase.end - phase.start)
    return length * float(phase.drawn_fraction((x - phase.start) / length)[k]
                          - phase.drawn_fraction((a - phase.start) / length)[k])

"""What a long-context schedule does to the data, before training: RoPE bases and length rules.

- :func:`rope_base_lower_bound`: the smallest RoPE base that keeps a model able to tell
  positions apart over ``L`` tokens, as fitted by Men et al. 2024 ("Base of RoPE Bounds Context
  Length", arXiv 2405.14591): about ``0.0424 x L^1.628`` (1.0e4 at 2K, 3.1e5 at 16K, 9.5e5 at
  32K, 9.1e6 at 128K). Published choices sit at or above it (Qwen 1e6 at 32K, ProLong 8e6 at 64K).
- :func:`long_context_rows`: per phase and domain, the sequence length, the global batch a
  ``tokens_per_step`` gives, and what the phase's length rule keeps: the expected tokens per pass
  over the domain and the share of tokens in documents of at least ``below``, ``seq_len / 4`` and
  ``seq_len / 2`` tokens, before and after the rule. Dropping short documents with probability
  ``1 - keep`` moves a share ``s`` to ``s / (s + keep x (1 - s))`` (Fu et al. 2024 keep 0.1).
- :func:`rope_warnings`: one line per phase whose ``rope.theta`` is under the bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

ROPE_BOUND_SCALE = 0.0424
ROPE_BOUND_EXPONENT = 1.628
TABLE_LENGTHS = (2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288)


def rope_base_lower_bound(seq_len: int) -> float:
    """The published lower bound of the RoPE base for a context of ``seq_len`` tokens."""
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    return ROPE_BOUND_SCALE * float(seq_len) ** ROPE_BOUND_EXPONENT


def rope_base_table(lengths: tuple[int, ...] = TABLE_LENGTHS) -> str:
    """The bound at the usual context lengths, as a two-column text table."""
    lines = [f"{'seq_len':>9}  {'min RoPE base':>13}"]
    lines += [f"{n:>9,}  {rope_base_lower_bound(n):>13.3g}" for n in lengths]
    return "\n".join(lines)


@dataclass(frozen=True)
class LongContextRow:
    """One (phase, domain) cell of the long-context report."""

    phase: str
    domain: str
    seq_len: int
    tokens_per_step: int | None
    global_batch: int | None
    """Sequences per step from ``tokens_per_step`` (``None``: the loader's batch size decides)."""
    rule: dict[str, Any]
    """The phase's ``length_upsample`` / ``min_doc_tokens`` for the domain (empty: none)."""
    tokens_per_pass: float
    """Expected tokens the domain yields per pass over its documents under the rule."""
    unique_tokens: int
    long_share: float
    """Share of the domain's tokens in documents of at least ``below`` tokens (``seq_len / 4``
    when the rule sets no ``below``), before the rule."""
    long_share_after: float
    """The same share in what the rule keeps (expected)."""
    share_quarter: float
    """Share of kept tokens in documents of at least ``seq_len / 4`` tokens (expected)."""
    share_half: float
    """Share of kept tokens in documents of at least ``seq_len / 2`` tokens (expected)."""


def _expected_kept(lengths: np.ndarray, rule: Any) -> np.ndarray:
    """Expected kept tokens of each document under ``rule`` (a ``LengthRule`` or ``None``)."""
    weight = lengths.astype(np.float64)
    if rule is None:
        return weight
    weight = np.where(lengths >= max(rule.min_tokens, 1), weight, 0.0)
    if rule.below:
        weight = np.where(lengths >= rule.below, weight, weight * rule.keep)
    return weight


def long_context_rows(schedule: Any, doc_lengths: Mapping[str, np.ndarray],
                      default_seq_len: int | None = None) -> list[LongContextRow]:
    """The report rows of every phase that sets a ``seq_len``, ``tokens_per_step`` or length rule
    (phases without any are left out; a schedule without any gives no rows)."""
    rows = []
    for phase in schedule.phases:
        rules = dict(getattr(phase, "length_rules", ()))
        step = getattr(phase, "tokens_per_step", None)
        if phase.seq_len is None and step is None and not rules:
            continue
        seq_len = phase.seq_len or default_seq_len
        for domain in schedule.domains:
            lengths = np.asarray(doc_lengths.get(domain, np.zeros(0, np.int64)))
            rule = rules.get(domain)
            kept = _expected_kept(lengths, rule)
            total, after = float(lengths.sum()), float(kept.sum())
            below = rule.below if rule is not None and rule.below else (seq_len // 4 if seq_len else 0)

            def share(weights: np.ndarray, at_least: int, whole: float) -> float:
                return float(weights[lengths >= at_least].sum() / whole) if whole > 0 else 0.0

            rows.append(LongContextRow(
                phase=phase.name, domain=domain, seq_len=seq_len or 0, tokens_per_step=step,
                global_batch=step // seq_len if step and seq_len else None, rule=rule.to_dict() if rule else {},
                tokens_per_pass=after, unique_tokens=int(total),
                long_share=share(lengths.astype(np.float64), below, total), long_share_after=share(kept, below, after),
                share_quarter=share(kept, (seq_len or 0) // 4, after), share_half=share(kept, (seq_len or 0) // 2, after)))
    return rows


def rope_warnings(schedule: Any, default_seq_len: int | None = None) -> list[str]:
    """One line per phase whose ``rope.theta`` is below :func:`rope_base_lower_bound` of its length."""
    out = []
    for i, phase in enumerate(schedule.phases):
        rope = getattr(phase, "rope", None) or {}
        seq_len = phase.seq_len or default_seq_len
        if "theta" in rope and seq_len and "yarn" not in rope:
            bound = rope_base_lower_bound(seq_len)
            if rope["theta"] < bound:
                out.append(f"phases[{i}].rope.theta: {rope['theta']:.3g} is below the lower bound {bound:.3g} for "
                           f"{seq_len:,} tokens (0.0424 x L^1.628, Men et al. 2024); positions far apart may blur")
    return out


def long_context_table(rows: list[LongContextRow]) -> str:
    """The rows as a fixed-width text table (empty string without rows)."""
    if not rows:
        return ""
    head = (f"{'phase':<12} {'domain':<10} {'seq_len':>8} {'step tok':>9} {'batch':>6} {'rule':<26} "
            f"{'per pass':>9} {'long':>6} {'→ long':>7} {'≥L/4':>6} {'≥L/2':>6}")
    lines = ["long context (expected, from document lengths)", head, "-" * len(head)]
    for r in rows:
        rule = ",".join(f"{k}={v}" for k, v in _flat(r.rule).items()) or "-"
        lines.append(f"{r.phase:<12} {r.domain:<10} {r.seq_len:>8,} {r.tokens_per_step or 0:>9,} "
                     f"{r.global_batch or 0:>6} {rule:<26.26} {r.tokens_per_pass:>9.3g} {r.long_share:>6.1%} "
                     f"{r.long_share_after:>7.1%} {r.share_quarter:>6.1%} {r.share_half:>6.1%}")
    return "\n".join(lines)


def _flat(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "length_upsample" in rule:
        out["below"] = rule["length_upsample"]["below"]
        out["keep"] = rule["length_upsample"]["keep"]
    if "min_doc_tokens" in rule:
        out["min"] = rule["min_doc_tokens"]
    return out

"""The keep decision of the final threshold step, from stored signals only.

Three families, in the order a document meets them (FineWeb: language first, then the
heuristics; DCLM: heuristics, then the fastText quality score):

1. ``language``: lid.176 language and score (:func:`midtrain.curation.labels.language_reject_reasons`);
2. the heuristic rules (:func:`midtrain.curation.rules.apply_thresholds`), one step per rule family;
3. ``quality``: the quality score (0-5) of the document's type model, or its tier
   (:func:`midtrain.curation.labels.quality_reject_reasons`).

A family whose signal is absent (its step is not in the pipeline, so the column is null) decides
nothing. The first failing family names ``reject_step``. ``midtrain refilter`` calls the same
:func:`decide`, so both give the same answer for the same thresholds.

The thresholds mapping is the rules' own (``params``, ``domains``, ``default``; see
:func:`midtrain.curation.rules.load_thresholds`), where ``<rule>: {...}`` at the top is short for
``params: {<rule>: {...}}`` (so ``--set gopher_quality.min_doc_words=30`` works), plus
``language: {keep: [en], min_score: 0.65, exempt_domains: [code, math]}`` (``false`` turns it off)
``quality: {web: 2.5}`` (a minimum ``quality_score`` per domain; ``false`` turns it off) and
``quality_tier: {web: 3}`` (a minimum ``quality_tier`` per domain; none by default), so
``midtrain refilter --set quality_tier.web=3`` keeps the web documents of tier 3 and above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation import rules
from midtrain.curation.labels import (DEFAULT_KEEP_LANGUAGES, DEFAULT_MIN_LANGUAGE_SCORE, DEFAULT_QUALITY_THRESHOLDS,
                                      LANGUAGE_SIGNAL_SCHEMA, QUALITY_SIGNAL_SCHEMA, language_reject_reasons,
                                      quality_reject_reasons, quality_tier_reject_reasons)
from midtrain.curation.labels.language import DEFAULT_EXEMPT_DOMAINS
from midtrain.curation.typed_config import coerce, from_mapping
from midtrain.errors import ConfigError

DECISION_SIGNALS: dict[str, pa.DataType] = {**LANGUAGE_SIGNAL_SCHEMA, **rules.SIGNAL_SCHEMA, **QUALITY_SIGNAL_SCHEMA}


@dataclass(frozen=True, kw_only=True)
class LanguagePolicy:
    """Which lid.176 languages are kept, at which score, and which domains are exempt."""

    keep: list[str] | None = field(default_factory=lambda: list(DEFAULT_KEEP_LANGUAGES))
    """None keeps every language (only ``min_score`` applies)."""
    min_score: float = DEFAULT_MIN_LANGUAGE_SCORE
    exempt_domains: list[str] = field(default_factory=lambda: list(DEFAULT_EXEMPT_DOMAINS))


@dataclass(frozen=True)
class Decisions:
    """Everything the threshold step decides with."""

    language: LanguagePolicy | None
    rules: Any
    quality: dict[str, float] | None
    quality_tier: dict[str, int] | None = None


def decision_steps() -> tuple[str, ...]:
    """Every ``reject_step`` :func:`decide` may return, in order."""
    return ("language", *rules.RULE_PARAMS, "quality")  # rule families are the reject steps of the rules


def load_decisions(cfg: dict[str, Any] | None) -> Decisions:
    """Checked decisions from a thresholds mapping (None: every published default)."""
    cfg = dict(cfg or {})
    lang_cfg = cfg.pop("language", {})
    quality_cfg = cfg.pop("quality", dict(DEFAULT_QUALITY_THRESHOLDS))
    tier_cfg = cfg.pop("quality_tier", None)
    shorthand = {k: cfg.pop(k) for k in list(cfg) if k in rules.RULE_PARAMS}  # gopher_quality: {...}
    if shorthand:
        params = dict(cfg.get("params") or {})
        for rule, values in shorthand.items():
            params[rule] = {**(params.get(rule) or {}), **(values or {})}
        cfg["params"] = params
    language = None if lang_cfg is False else from_mapping(LanguagePolicy, lang_cfg or {}, "language")
    quality = None if quality_cfg is False else coerce(quality_cfg, dict[str, float], "quality")
    tiers = None if not tier_cfg else coerce(tier_cfg, dict[str, int], "quality_tier")
    for domain, tier in (tiers or {}).items():
        if not 0 <= tier <= 5:
            raise ConfigError(f"quality_tier.{domain}: a tier is 0..5, got {tier}")
    return Decisions(language=language, rules=rules.load_thresholds(cfg or None), quality=quality, quality_tier=tiers)


def signals_of(table: pa.Table) -> pa.Table:
    """The decision columns of ``table`` (typed nulls for the ones it lacks)."""
    n = table.num_rows
    return pa.table({name: table.column(name).cast(dtype) if name in table.column_names else pa.nulls(n, dtype)
                     for name, dtype in DECISION_SIGNALS.items()})


def decide(signals: pa.Table, domains: pa.Array | list[str], decisions: Decisions) -> tuple[pa.Array, pa.Array]:
    """``(reject_step, reject_reason)`` per document; null where it is kept."""
    domains = pa.array(domains, pa.string()) if isinstance(domains, list) else domains
    n = signals.num_rows
    steps = pa.nulls(n, pa.string())
    reasons = pa.nulls(n, pa.string())

    def take(step_values: pa.Array, reason_values: pa.Array) -> None:
        nonlocal steps, reasons
        fresh = pc.and_(pc.is_null(steps), pc.is_valid(reason_values))
        steps = pc.if_else(fresh, step_values, steps)
        reasons = pc.if_else(fresh, reason_values, reasons)

    if decisions.language is not None:
        lang = signals.column("language")
        r = language_reject_reasons(lang, signals.column("language_score"), domains, keep=decisions.language.keep,
                                    min_score=decisions.language.min_score,
                                    exempt_domains=decisions.language.exempt_domains)
        r = pc.if_else(pc.is_valid(lang), r, pa.nulls(n, pa.string()))
        take(pa.array(["language"] * n, pa.string()), r)
    rule_steps, rule_reasons = rules.apply_thresholds(signals, domains, decisions.rules)
    take(pa.array(rule_steps, pa.string()), pa.array(rule_reasons, pa.string()))
    if decisions.quality is not None:
        score = signals.column("quality_score")
        r = quality_reject_reasons(score, domains, decisions.quality)
        r = pc.if_else(pc.is_valid(score), r, pa.nulls(n, pa.string()))
        take(pa.array(["quality"] * n, pa.string()), r)
    if decisions.quality_tier:
        tier = signals.column("quality_tier")
        r = quality_tier_reject_reasons(tier, domains, decisions.quality_tier)
        r = pc.if_else(pc.is_valid(tier), r, pa.nulls(n, pa.string()))
        take(pa.array(["quality"] * n, pa.string()), r)
    return steps.combine_chunks() if isinstance(steps, pa.ChunkedArray) else steps, \
        reasons.combine_chunks() if isinstance(reasons, pa.ChunkedArray) else reasons

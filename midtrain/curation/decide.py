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
``midtrain refilter --set quality_tier.web=3`` keeps the web documents of tier 3 and above, and
``runner_up: {min_score: 0.3, from_domains: [web], to_domains: [math, reasoning]}`` (the default since stop 58;
``false`` turns it off, ``true`` gives these values).

A second chance for the targeted domains: a document labelled ``web`` that fails a check, but whose domain
classifier gave ``math`` or ``reasoning`` at least ``runner_up.min_score`` (``domain_runner_up``), is kept when it
passes that domain's language and rule checks instead. A formal proof or a puzzle solution that the classifier
half-mistook for prose then meets the rules written for it, not the prose rules; its ``domain`` stays the
classifier's label and web's quality minimum still applies. Corpora curated before the runner-up columns existed
decide as before (the columns are null). Until stop 58 it was off by default: real SMS spam often has
``reasoning`` as its runner-up, and with the second chance at 0.05, 74.5% of the held-out spam was dropped instead
of 96.1%. Stop 58 capped the prose score of what the spam model is sure is spam (``quality.damp_spam``) and re-ran
the choice of ``min_score`` on the training sources, which now hold two real spam sources (E59; see
``DEFAULT_RUNNER_UP_MIN_SCORE``).
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
from midtrain.curation.labels.language import DEFAULT_EXEMPT_DOMAINS, DEFAULT_EXEMPT_MAX_SCORE
from midtrain.curation.typed_config import coerce, from_mapping
from midtrain.errors import ConfigError

RUNNER_UP_SIGNALS: dict[str, pa.DataType] = {"domain_runner_up": pa.string(), "domain_runner_up_score": pa.float32()}
DECISION_SIGNALS: dict[str, pa.DataType] = {**LANGUAGE_SIGNAL_SCHEMA, **rules.SIGNAL_SCHEMA, **QUALITY_SIGNAL_SCHEMA,
                                            **RUNNER_UP_SIGNALS, "code_language": pa.string()}
"""The columns the keep decision reads. ``code_language`` (the labeller's) scopes the code policy's format checks
(``rules/source_code.py``)."""

DEFAULT_RUNNER_UP_MIN_SCORE = 0.3
"""The lowest of ``bench_quality.py``'s grid at which no junk kind of the training sources is dropped more
than a point less often (good documents labelled by leave-one-source-out models; ``--parts runner-up``). Stop 58
(E59), with the contact-form and Enron spam among the junk and the spam cap on: 0.3. There, training math kept
85.9% -> 87.2%, reasoning 78.7% -> 82.4%, web 39.8% -> 42.2%; spam dropped 88.2% -> 87.8%, every other junk kind
unchanged (at 0.2 spam fell 1.5 points). Stop 29 chose 0.05 when the training junk had no spam."""


@dataclass(frozen=True, kw_only=True)
class LanguagePolicy:
    """Which lid.176 languages are kept, at which score, and which domains are exempt."""

    keep: list[str] | None = field(default_factory=lambda: list(DEFAULT_KEEP_LANGUAGES))
    """None keeps every language (only ``min_score`` applies)."""
    min_score: float = DEFAULT_MIN_LANGUAGE_SCORE
    exempt_domains: list[str] = field(default_factory=lambda: list(DEFAULT_EXEMPT_DOMAINS))
    exempt_max_score: float | None = DEFAULT_EXEMPT_MAX_SCORE
    """Where lid.176 names a language outside ``keep`` at least this sure, an exempt domain's document is checked
    too (null: never)."""


@dataclass(frozen=True, kw_only=True)
class RunnerUpPolicy:
    """When a document failing its own domain's checks is judged by its runner-up domain's instead."""

    min_score: float = DEFAULT_RUNNER_UP_MIN_SCORE
    """The domain classifier's probability of the runner-up domain must be at least this."""
    from_domains: list[str] = field(default_factory=lambda: ["web"])
    """Only documents labelled one of these get a second chance."""
    to_domains: list[str] = field(default_factory=lambda: ["math", "reasoning"])
    """And only by the policy of one of these (more lenient than the prose rules). ``code`` is not a
    default: at every tried ``min_score`` it let through page chrome whose runner-up is code (the
    training boilerplate dropped 83.0% instead of 85.7% at 0.3)."""


@dataclass(frozen=True)
class Decisions:
    """Everything the threshold step decides with."""

    language: LanguagePolicy | None
    rules: Any
    quality: dict[str, float] | None
    quality_tier: dict[str, int] | None = None
    runner_up: RunnerUpPolicy | None = None


def decision_steps() -> tuple[str, ...]:
    """Every ``reject_step`` :func:`decide` may return, in order."""
    return ("language", *rules.RULE_PARAMS, "quality")  # rule families are the reject steps of the rules


def load_decisions(cfg: dict[str, Any] | None) -> Decisions:
    """Checked decisions from a thresholds mapping (None: every published default)."""
    cfg = dict(cfg or {})
    lang_cfg = cfg.pop("language", {})
    quality_cfg = cfg.pop("quality", dict(DEFAULT_QUALITY_THRESHOLDS))
    tier_cfg = cfg.pop("quality_tier", None)
    runner_cfg = cfg.pop("runner_up", True)
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
    runner_up = None if runner_cfg in (None, False) else \
        from_mapping(RunnerUpPolicy, {} if runner_cfg is True else runner_cfg, "runner_up")
    if runner_up is not None and not 0.0 <= runner_up.min_score <= 1.0:
        raise ConfigError(f"runner_up.min_score: a probability is 0..1, got {runner_up.min_score}")
    return Decisions(language=language, rules=rules.load_thresholds(cfg or None), quality=quality, quality_tier=tiers,
                     runner_up=runner_up)


def signals_of(table: pa.Table) -> pa.Table:
    """The decision columns of ``table`` (typed nulls for the ones it lacks)."""
    n = table.num_rows
    return pa.table({name: table.column(name).cast(dtype) if name in table.column_names else pa.nulls(n, dtype)
                     for name, dtype in DECISION_SIGNALS.items()})


def decide(signals: pa.Table, domains: pa.Array | list[str], decisions: Decisions) -> tuple[pa.Array, pa.Array]:
    """``(reject_step, reject_reason)`` per document; null where it is kept.

    With ``decisions.runner_up``, a rejected document's language and rule checks are run a second
    time as its runner-up domain (where ``signals`` has one that qualifies), and it is kept if those
    pass; its own domain's quality minimum still applies (it stays in its domain, and its score
    comes from that domain's model). Otherwise its own domain's step and reason stand.
    """
    domains = pa.array(domains, pa.string()) if isinstance(domains, list) else domains
    if isinstance(domains, pa.ChunkedArray):
        domains = domains.combine_chunks()
    steps, reasons = _decide_as(signals, domains, decisions)
    policy = decisions.runner_up
    if policy is None or "domain_runner_up" not in signals.column_names:
        return steps, reasons
    runner_up = signals.column("domain_runner_up").combine_chunks()
    second = pc.is_valid(steps)
    for condition in (pc.is_in(domains, pa.array(policy.from_domains, pa.string())),
                      pc.is_in(runner_up, pa.array(policy.to_domains, pa.string())),
                      pc.greater_equal(signals.column("domain_runner_up_score").combine_chunks(), policy.min_score)):
        second = pc.and_(second, pc.fill_null(condition, False))
    if not pc.any(second).as_py():
        return steps, reasons
    alt_steps, _ = _decide_as(signals, domains, decisions, rule_domains=pc.if_else(second, runner_up, domains))
    rescued = pc.and_(second, pc.is_null(alt_steps))
    empty = pa.nulls(len(steps), pa.string())
    return pc.if_else(rescued, empty, steps), pc.if_else(rescued, empty, reasons)


def _decide_as(signals: pa.Table, domains: pa.Array, decisions: Decisions,
               rule_domains: pa.Array | None = None) -> tuple[pa.Array, pa.Array]:
    """``decide`` without the second chance; ``rule_domains`` (default ``domains``) choose the language
    and rule policies, ``domains`` the quality minimums."""
    rule_domains = domains if rule_domains is None else rule_domains
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
        r = language_reject_reasons(lang, signals.column("language_score"), rule_domains,
                                    keep=decisions.language.keep,
                                    min_score=decisions.language.min_score,
                                    exempt_domains=decisions.language.exempt_domains,
                                    exempt_max_score=decisions.language.exempt_max_score)
        r = pc.if_else(pc.is_valid(lang), r, pa.nulls(n, pa.string()))
        take(pa.array(["language"] * n, pa.string()), r)
    rule_steps, rule_reasons = rules.apply_thresholds(signals, rule_domains, decisions.rules)
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

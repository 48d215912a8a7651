"""Thresholds over stored signals: the published defaults, per-domain policies, and the decision.

Tag first, filter later: ``compute_signals`` stores every signal, and ``apply_thresholds`` decides from
the stored columns alone, so new thresholds over a written corpus cost one scan. A *policy* per
domain says which rule families run, in order, and overrides parameters; a parameter set to ``None``
(or ``False`` for a switch) turns that check off. The first failing check names the rejection:
``reject_step`` is the rule family, ``reject_reason`` datatrove's reason name where it has one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.rules.signals import FAMILIES
from midtrain.errors import ConfigError

# Every family's published defaults (each family's file cites its source).
RULE_PARAMS: dict[str, dict[str, Any]] = {name: dict(family.params) for name, family in FAMILIES.items()}
PROSE_RULES = ("gopher_repetition", "gopher_quality", "c4", "fineweb")  # FineWeb's pipeline order
NO_LENGTH_CUT = {"gopher_quality": {"max_doc_words": None}}
CODE_NOTICE_ONLY = {name: (False if isinstance(value, bool) else None)
                    for name, value in RULE_PARAMS["code"].items() if name != "filter_generator_notice"}
"""The code family's overrides that leave only its ``generator_notice`` check on (every other switch off, every
other cut-off None, so a check added to the family later stays off for math too)."""


@dataclass(frozen=True)
class DomainPolicy:
    """Which rule families run for one domain, in order, and the parameters that differ from RULE_PARAMS."""

    rules: tuple[str, ...]
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Parameters of every rule family plus a policy per domain; ``default`` covers unlisted domains."""

    params: Mapping[str, Mapping[str, Any]]
    domains: Mapping[str, DomainPolicy]
    default: DomainPolicy

    def policy(self, domain: str | None) -> DomainPolicy:
        return self.domains.get(domain or "", self.default)

    def params_for(self, domain: str | None) -> dict[str, dict[str, Any]]:
        """The effective parameters of every rule family for ``domain``."""
        policy = self.policy(domain)
        out = {rule: dict(values) for rule, values in self.params.items()}
        for rule, values in policy.overrides.items():
            out[rule].update(values)
        return out

    def cutoffs(self, domain: str | None) -> list[tuple[str, str, str, str, float]]:
        """The numeric checks that run for ``domain``: ``(family, reason, signal, op, value)`` in order, where a
        document fails when ``signal op value`` (``"<"``: a floor, ``">"``: a ceiling). Switches, flags and
        checks turned off are left out. A policy's cut-offs can then be set against percentiles of good
        documents (``benchmarks/bench_quality.py --parts percentiles`` does)."""
        params = self.params_for(domain)
        out = []
        for family in self.policy(domain).rules:
            values = params[family]
            for check in FAMILIES[family].checks:
                if check.op not in ("<", ">") or not check.enabled(values):
                    continue
                value = check.value if check.param is None else values[check.param]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                out.append((family, check.reason, check.signal, check.op, float(value)))
        return out

    def to_dict(self) -> dict:
        """The plain-dict form ``load_thresholds`` reads (for reports and configs)."""
        return {
            "params": {r: dict(v) for r, v in self.params.items()},
            "domains": {d: {"rules": list(p.rules), "overrides": {r: dict(v) for r, v in p.overrides.items()}}
                        for d, p in self.domains.items()},
            "default": {"rules": list(self.default.rules),
                        "overrides": {r: dict(v) for r, v in self.default.overrides.items()}},
        }


DEFAULT_THRESHOLDS = Thresholds(
    params=RULE_PARAMS,
    domains={
        # Gopher's 100,000-word cap dropped whole books and manuals from crawls; for mid-training they are
        # the long-context data a schedule's `long` selects, so no domain has a length cut by default.
        "web": DomainPolicy(PROSE_RULES, NO_LENGTH_CUT),
        "code": DomainPolicy(("code",)),
        # long documents: no length cut (the prose rules otherwise apply as published)
        # long: a domain only in corpora curated before length became a property (or by users who set
        # DomainConfig.long_min_bytes): the prose rules without the length cut
        "long": DomainPolicy(PROSE_RULES, {"gopher_quality": {"max_doc_words": None}}),
        # math and reasoning: what mid-training wants most, so the prose rules keep only the checks that
        # catch junk, with cut-offs above the 99th percentile of good training documents of that domain
        # (benchmarks/bench_quality.py --parts percentiles over labeldata's training sources: LaTeX
        # manuals, the GAP manual, Coq, ACL2 and Metamath proofs, SymPy docstrings, worded exercises for
        # math, and until stop 46 CHAMP's worked solutions, an evaluation set of decontamination since
        # removed; logic and constraint puzzles with solution traces, step chains, puzzle rules for
        # reasoning). Formal proofs repeat lines and n-grams ("Proof.", "Qed.", hints): math's
        # dup_line_frac 0.6, top 2/3/4-gram 0.4/0.6/0.8 and short-line share 0.85 sit above the 99th
        # percentiles 0.570, 0.368/0.574/0.761 and 0.843 of the math training sources. They were re-derived at
        # stop 46, when four had fallen below (training math kept 92.3% -> 93.6%), and at stop 47, when the
        # Giac manual had lifted dup_line_frac's to 0.570 (0.55 -> 0.6, E30: 92.8% -> 93.0%; spam dropped
        # 89.3% -> 88.5%, within the point the rule allows). Lower cut-offs sit below the 1st percentile:
        # Gopher's mean word length of 3 did not (math's p1 is 2.94: ACL2 and Minlog proofs, short names), so
        # math's is 2.5 (stop 47, E26; training math kept 92.0% -> 92.8%, no junk drop changed); its
        # alpha-word share 0.2 and 20 words sit below. Since stop 47 `--parts percentiles` sets every numeric
        # cut-off of both policies (`Thresholds.cutoffs`) against its percentiles and flags those inside: the
        # list ratio's 0.3 was (p99 0.362, the Giac manual's command lists), so math's is 0.4 (E32: training
        # math kept 93.0% -> 94.3%, no junk drop changed). HOL88's proofs (stop 53) repeat tactic phrases and
        # lifted the top 2/3/4-gram percentiles from 0.243/0.380/0.485 above the cut-offs of then, 0.3/0.4/0.55;
        # re-derived (E50: training math kept 93.6% -> 94.3%, spam dropped 87.2% -> 86.3%, within the point).
        # Under the web policy 39% of that math and 99% of that reasoning was dropped: formal proofs have no
        # English stop words, puzzles repeat their templates (top and duplicated n-grams), grids and
        # formulas are not alphabetic words, and lid.176 is unsure of both (they are exempt from the
        # language filter). Junk that the domain labeller sends to reasoning still meets its quality minimum
        # (quality.DEFAULT_QUALITY_THRESHOLDS); math has none, so spam that it calls math is kept unless a rule
        # here catches it (stop 70, training spam, before E93: 61 of 600 pieces labelled math, 46 of them kept).
        # Generated code that the domain labeller calls math (protoc's serialized descriptors are symbol-dense)
        # meets one code check: a generator's "do not edit" / "@generated" notice in the first 30 lines. Not
        # StarCoder's wider list: manuals made by a documentation tool say "generated by" in their heads
        # (stop 53, E49: training generated code dropped 73.9% -> 75.4%, one good math document fewer).
        # It meets the code family's repeated-shape check too (a share of lines in runs of one shape over 0.7,
        # its published cut-off): constant tables (`NAME = 0x4` lines) that the domain model of stop 65 reads
        # as math more often than stop 64's did. Good training math's share has p99 0.168 (stop 65, E80 with
        # stop 64's E79: training generated code dropped 72.9% -> 74.3% with the new domain model, math kept
        # 94.8% either way).
        # Stop 70 (E93) raised the repetition and layout cut-offs (Gopher's repetition, FineWeb's lines) from the
        # pooled 99th percentile to above every math training source's own 98th: a pooled percentile let one
        # source with a heavy tail lose up to a tenth of its documents to one check (HOL88's proofs to the top
        # 2-gram, the Maxima manual to duplicated paragraphs, Minlog to duplicated lines). `--parts percentiles`
        # prints each source's p98 and flags a cut-off under it. Training math kept 94.8% -> 97.2% (with
        # leave-one-source-out labels 88.0% -> 89.9%), spam dropped 88.3% -> 87.3%, at the one point the rule
        # allows. The word checks (alpha-word share, word length) keep theirs: with them too (E92), spam fell
        # 1.16 points.
        "math": DomainPolicy((*PROSE_RULES, "code"), {
            "code": {**CODE_NOTICE_ONLY,
                     "max_repeated_shape_fraction": RULE_PARAMS["code"]["max_repeated_shape_fraction"]},
            "gopher_quality": {"min_doc_words": 20, "max_doc_words": None, "min_avg_word_length": 2.5,
                               "max_avg_word_length": 16, "min_alpha_words_ratio": 0.2, "min_stop_words": None},
            "gopher_repetition": {"dup_para_frac": 0.45, "dup_line_frac": 0.7, "dup_line_char_frac": 0.7,
                                  "top_2_gram_frac": 0.55, "top_3_gram_frac": 0.85, "top_4_gram_frac": 1.15,
                                  "dup_5_gram_frac": 0.75, "dup_6_gram_frac": 0.75, "dup_7_gram_frac": 0.7,
                                  "dup_8_gram_frac": 0.7, "dup_9_gram_frac": 0.6, "dup_10_gram_frac": 0.65},
            "c4": {"filter_curly_bracket": False, "min_num_sentences": None},
            "fineweb": {"line_punct_thr": None, "short_line_thr": 0.9, "char_duplicates_ratio": 0.7,
                        "new_line_ratio": 0.5},
        }),
        "reasoning": DomainPolicy(PROSE_RULES, {
            "gopher_quality": {"min_doc_words": 20, "max_doc_words": None, "min_avg_word_length": 1,
                               "max_avg_word_length": 12,
                               "min_alpha_words_ratio": 0.1, "min_stop_words": None,
                               "max_bullet_lines_ratio": None},
            "gopher_repetition": {"dup_line_frac": 0.4, "dup_line_char_frac": 0.25, "top_2_gram_frac": None,
                                  "top_3_gram_frac": None, "top_4_gram_frac": None,
                                  **{f"dup_{n}_gram_frac": 0.6 for n in range(5, 11)}},
            "c4": {"filter_curly_bracket": False, "min_num_sentences": None},
            "fineweb": {"line_punct_thr": None, "short_line_thr": None, "char_duplicates_ratio": 0.2,
                        "new_line_ratio": None},
        }),
    },
    default=DomainPolicy(PROSE_RULES, NO_LENGTH_CUT),
)


def load_thresholds(cfg: Mapping[str, Any] | None, base: Thresholds = DEFAULT_THRESHOLDS) -> Thresholds:
    """``base`` with the user's overrides merged in; unknown keys and wrong types raise ConfigError.

    Accepted shape (every key optional)::

        params:  {<rule>: {<param>: value}}             # changes the value for every domain
        domains: {<domain>: {rules: [<rule>, ...],      # which families run, in order
                             overrides: {<rule>: {<param>: value}}}}
        default: {rules: [...], overrides: {...}}       # for domains not listed
    """
    if cfg is None:
        return base
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"thresholds: expected a mapping, got {type(cfg).__name__}")
    _check_keys(cfg, {"params", "domains", "default"}, "thresholds")
    params = copy.deepcopy({r: dict(v) for r, v in base.params.items()})
    for rule, values in _mapping(cfg.get("params", {}), "thresholds.params").items():
        _check_rule(rule, "thresholds.params")
        for name, value in _mapping(values, f"thresholds.params.{rule}").items():
            params[rule][name] = _check_param(rule, name, value, f"thresholds.params.{rule}.{name}")
    domains = dict(base.domains)
    for domain, pol in _mapping(cfg.get("domains", {}), "thresholds.domains").items():
        domains[str(domain)] = _policy(pol, domains.get(str(domain), base.default), f"thresholds.domains.{domain}")
    default = base.default
    if "default" in cfg:
        default = _policy(cfg["default"], base.default, "thresholds.default")
    return Thresholds(params=params, domains=domains, default=default)


def _policy(cfg: Any, base: DomainPolicy, where: str) -> DomainPolicy:
    cfg = _mapping(cfg, where)
    _check_keys(cfg, {"rules", "overrides"}, where)
    rules = base.rules
    if "rules" in cfg:
        if not isinstance(cfg["rules"], (list, tuple)):
            raise ConfigError(f"{where}.rules: expected a list of rule names, got {cfg['rules']!r}")
        for rule in cfg["rules"]:
            _check_rule(rule, f"{where}.rules")
        rules = tuple(cfg["rules"])
    overrides = {r: dict(v) for r, v in base.overrides.items()}
    for rule, values in _mapping(cfg.get("overrides", {}), f"{where}.overrides").items():
        _check_rule(rule, f"{where}.overrides")
        for name, value in _mapping(values, f"{where}.overrides.{rule}").items():
            overrides.setdefault(rule, {})[name] = _check_param(rule, name, value, f"{where}.overrides.{rule}.{name}")
    return DomainPolicy(rules, overrides)


def _mapping(value: Any, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return value


def _check_keys(cfg: Mapping, allowed: set[str], where: str) -> None:
    for key in cfg:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key (expected one of {', '.join(sorted(allowed))})")


def _check_rule(rule: Any, where: str) -> None:
    if rule not in RULE_PARAMS:
        raise ConfigError(f"{where}.{rule}: unknown rule (expected one of {', '.join(RULE_PARAMS)})")


def _check_param(rule: str, name: str, value: Any, where: str) -> Any:
    if name not in RULE_PARAMS[rule]:
        raise ConfigError(f"{where}: unknown parameter of rule {rule!r} "
                          f"(expected one of {', '.join(RULE_PARAMS[rule])})")
    default = RULE_PARAMS[rule][name]
    if value is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number (or null to turn the check off), got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------
# the decision


def apply_thresholds(signals: pa.Table, domains: pa.Array | pa.ChunkedArray | list[str | None],
                     thresholds: Thresholds | None = None) -> tuple[pa.Array, pa.Array]:
    """(reject_step, reject_reason) per row: null where kept, else the first failing check's rule and reason.

    Rules run in the order of each domain's policy, checks in datatrove's order within a rule. Only the
    signal columns are read, so this is what ``refilter`` runs over a stored corpus.
    """
    thresholds = thresholds or DEFAULT_THRESHOLDS
    n = signals.num_rows
    domain_arr = pa.array(domains, pa.string()) if isinstance(domains, list) else domains
    if isinstance(domain_arr, pa.ChunkedArray):
        domain_arr = domain_arr.combine_chunks()
    if len(domain_arr) != n:
        raise ConfigError(f"apply_thresholds: {n} signal rows but {len(domain_arr)} domains")
    domain_np = np.asarray(pc.fill_null(domain_arr.cast(pa.string()), "").to_numpy(zero_copy_only=False), dtype=object)
    step = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    for domain in sorted(set(domain_np.tolist())):
        rows = np.flatnonzero(domain_np == domain)
        policy = thresholds.policy(domain)
        params = thresholds.params_for(domain)
        cache: dict[str, np.ndarray] = {}

        def col(name: str, rows=rows, cache=cache) -> np.ndarray:
            if name not in cache:
                if name not in signals.column_names:
                    raise ConfigError(f"apply_thresholds: signal column {name!r} is missing; "
                                      f"recompute signals with compute_signals")
                values = signals.column(name).to_numpy()
                cache[name] = values[rows]
            return cache[name]

        pending = np.ones(len(rows), dtype=bool)
        for rule in policy.rules:
            for check in FAMILIES[rule].checks:
                if not check.enabled(params[rule]):
                    continue
                with np.errstate(invalid="ignore"):
                    hit = pending & np.asarray(check.failing(params[rule], col), dtype=bool)
                if hit.any():
                    step[rows[hit]] = rule
                    reason[rows[hit]] = check.reason
                    pending &= ~hit
    return pa.array(step, pa.string()), pa.array(reason, pa.string())

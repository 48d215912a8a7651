"""Keep policies and per-type quality (issue 14), measured on sources the models never trained on.

    python benchmarks/bench_quality.py --parts policy quality threshold [--png quality_calibration.png]

- ``policy``: the whole default decision (language ID, domain label, quality score, the rule
  policies of the *predicted* domain, thresholds) on known-good documents of the held-out sources
  (keep rate per source and domain; which check drops the rest), on long documents (the held-out
  sources' books/files rebuilt whole, >= 128 KiB) and on known-bad held-out junk (drop rate per kind).
- ``quality``: per type (prose, code, math), held-out documents intact and with graded damage
  (``labeldata.quality_grades``): Spearman of ``quality_score`` against the grade, the mean score
  per grade (the calibration plot), score mean/std per source; edited prose kept and spam dropped
  at the default threshold.
- ``threshold``: the same on *training* sources, which is where the default threshold was chosen.
- ``percentiles``: every numeric cut-off of the math and reasoning policies (``Thresholds.cutoffs``)
  with the 1st / 50th / 99th percentile of its signal over the good documents of their *training*
  sources. The cut-offs of ``rules/thresholds.py`` sit above the 99th percentile (below the 1st for
  minimums); one inside that range is flagged ``inside``.
- ``runner-up`` (with ``--loso-probs F`` from ``bench_labels.py --parts loso --save-probs F``): keep
  and drop rates on *training* sources for each ``runner_up.min_score`` of the keep decision's
  second chance, and the value its rule chooses (``part_runner_up``).
- ``out-of-source`` (with ``--loso-probs F``): the same keep and drop rates under the defaults and, given, under
  ``--decisions`` (stop 70's E92-E95 read their policy changes this way).
- ``web-alpha`` (with ``--loso-probs F``): the same for the web policy's share of alphabetic words
  (``part_web_alpha``, experiment E9 of stop 39; not shipped).

``--decisions JSON`` runs ``policy`` and ``threshold`` under a decision config of your own (the ``thresholds``
mapping of a curation config, as JSON) instead of the defaults: what a policy change does, on the same data.
``--domain-models DIR`` labels with DIR's ``domain.bin`` and ``domain-words.npz`` instead of the shipped ones, and
``--with NAME`` counts an experiment source (``registry.experiment_sources``) among the training sources: what a
new training source does to the keep and drop rates (docs/label-experiments.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.quality_grades import graded_versions  # noqa: E402
from scripts.labeldata.source import every_kth  # noqa: E402
from scripts.labeldata.training_sets import QUALITY_EXCLUDE, translated_rows  # noqa: E402
from midtrain.curation import rules  # noqa: E402
from midtrain.curation.decide import decide, load_decisions, signals_of  # noqa: E402
from midtrain.curation.labels import identify_language, label_domains, score_quality  # noqa: E402
from midtrain.curation.labels.domain import DOMAINS, DomainConfig  # noqa: E402
from midtrain.curation.labels.encoder import SHIPPED_ENCODER  # noqa: E402
from midtrain.curation.labels.evaluation import spearman  # noqa: E402
from midtrain.curation.labels.quality import DEFAULT_QUALITY_THRESHOLDS, QUALITY_TYPES  # noqa: E402
from midtrain.curation.rules.thresholds import DEFAULT_THRESHOLDS  # noqa: E402
from midtrain.errors import ConfigError  # noqa: E402

LONG_BYTES = 131_072
PER_SOURCE = 300
DECISIONS: dict | None = None
"""``--decisions``: the decision config of the ``policy`` and ``threshold`` parts (None: the defaults)."""
DOMAIN_CONFIG = DomainConfig()
"""``--domain-models``: the domain labeller's config (the shipped models by default)."""
SPAM: bool | None = None
"""``--spam on|off``: the quality scorer's spam damping (``score_quality(spam=...)``; None: its default)."""


def _quality(texts, domains) -> pa.Table:
    return score_quality(texts, domains, spam=SPAM)


def decide_all(texts: list[str], thresholds: dict | None = None) -> dict[str, list]:
    """The default pipeline's decision for each text: domain, quality, reject step and reason."""
    dom, lang = labels_of(texts)
    signals = decision_signals(texts, dom, lang)
    config = thresholds if thresholds is not None else DECISIONS
    steps, reasons = decide(signals_of(signals), dom.column("domain"), load_decisions(config))
    return {"domain": dom.column("domain").to_pylist(), "quality": signals.column("quality_score").to_pylist(),
            "step": steps.to_pylist(), "reason": reasons.to_pylist()}


def labels_of(texts: list[str]) -> tuple[pa.Table, pa.Table]:
    """``(domain labels, language ID)`` as the default pipeline makes them: ``LanguageID`` first, its columns read
    by the domain labeller (``DomainConfig.other_language_min_score``)."""
    arr = pa.array(texts, pa.large_string())
    lang = identify_language(arr)
    dom = label_domains(arr, config=DOMAIN_CONFIG, languages=lang.column("language").to_pylist(),
                        language_scores=lang.column("language_score").to_pylist())
    return dom, lang


def decision_signals(texts: list[str], dom: pa.Table, lang: pa.Table | None = None) -> pa.Table:
    """Language, rule signals, quality (by the labelled domain's model) and the labeller's columns."""
    arr = pa.array(texts, pa.large_string())
    domains = dom.column("domain")
    parts = (identify_language(arr) if lang is None else lang, rules.compute_signals(texts, domains.to_pylist()),
             _quality(arr, domains), dom)
    return pa.table({n: t.column(n) for t in parts for n in t.column_names})


def source_texts(table: pa.Table, name: str, limit: int = PER_SOURCE) -> list[str]:
    src = np.asarray(table.column("source").to_pylist(), dtype=object)
    texts = table.column("text").to_pylist()
    return every_kth([texts[i] for i in np.flatnonzero(src == name)], limit)


def whole_groups(table: pa.Table, name: str, min_bytes: int = LONG_BYTES, limit: int = 30) -> list[str]:
    """A source's groups (books, files) rebuilt from their pieces in order, kept if >= ``min_bytes``."""
    parts: dict[str, list[str]] = defaultdict(list)
    for s, g, t in zip(*(table.column(c).to_pylist() for c in ("source", "group", "text"))):
        if s == name:
            parts[g].append(t)
    whole = ["\n\n".join(v) for _, v in sorted(parts.items())]
    return every_kth([w for w in whole if len(w.encode()) >= min_bytes], limit)


def keep_row(name: str, truth: str, res: dict[str, list]) -> tuple[str, float]:
    n = len(res["step"])
    kept = sum(1 for s in res["step"] if s is None)
    why = Counter(f"{s}:{r}" for s, r in zip(res["step"], res["reason"]) if s is not None).most_common(3)
    doms = Counter(res["domain"]).most_common(3)
    return (f"{name:<28} {truth:<10} {n:>5} {kept / max(n, 1):>7.1%}  labelled {dict(doms)}  dropped by "
            f"{dict(why)}"), kept / max(n, 1)


def part_policy(sources: list, junk: list, table: pa.Table, junk_table: pa.Table, title: str) -> dict:
    print(f"\n({title}) keep rate of known-good documents, end to end with predicted labels")
    print(f"{'source':<28} {'domain':<10} {'docs':>5} {'kept':>7}")
    out: dict = {"good": {}, "long": {}, "bad": {}, "kept_by_domain": {}, "dropped_by_kind": {}}
    per_domain = defaultdict(list)
    for s in sources:
        texts = source_texts(table, s.name)
        line, rate = keep_row(s.name, s.domain, decide_all(texts))
        print(line)
        out["good"][s.name] = rate
        per_domain[s.domain].append((rate, len(texts)))
    for d, rows in sorted(per_domain.items()):
        total = sum(n for _, n in rows)
        out["kept_by_domain"][d] = {"rate": sum(r * n for r, n in rows) / max(total, 1), "documents": total}
        print(f"  {d}: {out['kept_by_domain'][d]['rate']:.1%} of {total} documents kept")
    long_texts = [t for s in sources for t in whole_groups(table, s.name)]
    if long_texts:
        line, rate = keep_row("long (whole books/files)", "any", decide_all(long_texts))
        print(line)
        out["long"] = {"documents": len(long_texts), "kept": rate}
    print(f"\n({title}) drop rate of known-bad documents")
    by_kind = defaultdict(list)
    for s in junk:
        texts = source_texts(junk_table, s.name)
        res = decide_all(texts)
        dropped = sum(1 for st in res["step"] if st is not None) / max(len(texts), 1)
        why = Counter(st for st in res["step"] if st is not None).most_common(3)
        print(f"{s.name:<28} {s.kind:<16} {len(texts):>5} dropped {dropped:>6.1%}  labelled "
              f"{dict(Counter(res['domain']).most_common(3))} by {dict(why)}")
        out["bad"][s.name] = dropped
        by_kind[s.kind].append((dropped, len(texts)))
    for k, rows in sorted(by_kind.items()):
        total = sum(n for _, n in rows)
        out["dropped_by_kind"][k] = {"rate": sum(r * n for r, n in rows) / max(total, 1), "documents": total}
        print(f"  {k}: {out['dropped_by_kind'][k]['rate']:.1%} of {total} dropped")
    return out


def part_quality(sources: list, table: pa.Table, title: str, png: Path | None) -> dict:
    print(f"\n({title}) quality: intact vs graded damage, scored by each type's model")
    by_type: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for s in sources:
        qtype = QUALITY_TYPES.get(s.domain, "prose")
        texts = source_texts(table, s.name, limit=80)
        graded = [(g, v) for i, t in enumerate(texts)
                  for g, v in graded_versions(t[:8000], xxhash.xxh64_intdigest(f"eval/{s.name}/{i}".encode()))]
        scores = _quality([v for _, v in graded], [s.domain] * len(graded)).column("quality_score").to_pylist()
        intact = np.array([sc for (g, _), sc in zip(graded, scores) if g == 5])
        rho = spearman([g for g, _ in graded], scores)
        print(f"{s.name:<28} {qtype:<6} intact mean {intact.mean():.2f} std {intact.std():.2f}  "
              f"Spearman vs grade {rho:.3f}")
        by_type[qtype] += [(g, sc, s.name) for (g, _), sc in zip(graded, scores)]
    out = {}
    for qtype, rows in sorted(by_type.items()):
        grades = np.array([g for g, _, _ in rows])
        scores = np.array([sc for _, sc, _ in rows])
        means = {g: round(float(scores[grades == g].mean()), 3) for g in range(6)}
        out[qtype] = {"spearman": spearman(grades, scores), "mean_score_by_grade": means}
        print(f"  {qtype}: Spearman {out[qtype]['spearman']:.3f}; mean score by grade {means}")
    if png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        for qtype, v in out.items():
            ax.plot(list(v["mean_score_by_grade"]), list(v["mean_score_by_grade"].values()), marker="o", label=qtype)
        ax.plot([0, 5], [0, 5], color="grey", linestyle=":", label="calibrated")
        ax.set_xlabel("graded label (5 = intact edited text)")
        ax.set_ylabel("mean quality_score")
        ax.set_title(f"quality calibration ({title})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        print(f"  calibration plot: {png}")
    return out


def part_prose_threshold(sources: list, junk: list, table: pa.Table, junk_table: pa.Table, title: str) -> dict:
    """Edited prose kept and spam dropped at each candidate threshold (prose model). The graded prose model's
    sources only: the GNU manuals (``QUALITY_EXCLUDE``) teach the domain model alone."""
    prose = [t for s in sources if s.domain == "web" and s.name not in QUALITY_EXCLUDE
             for t in source_texts(table, s.name, 150)]
    spam = [t for s in junk if s.kind in ("spam", "seo", "word-salad") for t in source_texts(junk_table, s.name, 150)]
    qp = np.array(_quality(prose, ["web"] * len(prose)).column("quality_score").to_pylist())
    qs = np.array(_quality(spam, ["web"] * len(spam)).column("quality_score").to_pylist()) if spam else np.zeros(0)
    print(f"\n({title}) prose threshold: share of edited prose kept / spam+SEO+salad dropped (score only)")
    rows = {}
    for t in np.arange(1.0, 3.51, 0.25).round(2).tolist():  # the candidates of train_default_classifiers
        rows[t] = (float((qp >= t).mean()), float((qs < t).mean()) if len(qs) else float("nan"))
        mark = " <- default" if t == DEFAULT_QUALITY_THRESHOLDS.get("web") else ""
        print(f"  >= {t:.2f}: prose kept {rows[t][0]:.1%}, junk dropped {rows[t][1]:.1%}{mark}")
    return {str(k): v for k, v in rows.items()}


def part_percentiles(sources: list, table: pa.Table) -> dict:
    """Every numeric cut-off of the math, reasoning and code policies (``Thresholds.cutoffs``) against the 1st,
    99th and 99.5th percentiles of its signal over good training documents of the domain. The math and reasoning
    policies' rule puts floors below p1 and ceilings above p99; a cut-off inside that range is flagged ``inside``.
    The code policy keeps the published cut-offs of Codex and The Stack; its own ``repeated_shape`` cut is p99.5
    rounded up to a multiple of 0.05 (stop 53, E47). Since stop 70 (E93) math's repetition and layout cut-offs
    (``PER_SOURCE_FAMILIES``) also sit above every source's own 98th percentile (column ``src p98``, the highest
    source's); one under it is flagged ``under a source``."""
    out: dict = {}
    for domain in ("math", "reasoning", "code"):
        per_source = {s.name: source_texts(table, s.name) for s in sources if s.domain == domain}
        texts = [t for v in per_source.values() for t in v]
        if not texts:
            continue
        sig = rules.compute_signals(texts, [domain] * len(texts))
        names = list(per_source)
        print(f"\n(training sources) {domain}: its policy's cut-offs against the rule signals of {len(texts)} good "
              f"documents of {len(names)} sources")
        print(f"  {'check':<46} {'cut-off':>10} {'p1':>8} {'p50':>8} {'p99':>8} {'p99.5':>8} {'max':>8} "
              f"{'src p98':>8}")
        out[domain] = {}
        inside, under = [], []
        owner = np.repeat(list(per_source), [len(v) for v in per_source.values()])
        for family, reason, signal, op, value in DEFAULT_THRESHOLDS.cutoffs(domain):
            v = np.asarray(sig.column(signal).to_pylist(), dtype=float)
            p1, p50, p99, p995 = (float(np.nanpercentile(v, q)) for q in (1, 50, 99, 99.5))
            bad = value < p99 if op == ">" else value > p1
            # the highest source's p98 of a ceiling (the lowest's p2 of a floor)
            per_source = [float(np.nanpercentile(v[owner == n], 98 if op == ">" else 2)) for n in names
                          if (owner == n).any()]
            worst = max(per_source) if op == ">" else min(per_source)
            below = (domain == "math" and family in PER_SOURCE_FAMILIES
                     and (value < worst if op == ">" else value > worst))
            out[domain][f"{family}:{reason}"] = {"signal": signal, "op": op, "cutoff": value, "p1": p1, "p50": p50,
                                                 "p99": p99, "p99.5": p995, "max": float(np.nanmax(v)),
                                                 "source_p98": worst, "inside": bool(bad), "under_a_source": below}
            inside += [f"{family}:{reason}"] if bad else []
            under += [f"{family}:{reason}"] if below else []
            print(f"  {family + ':' + reason:<46} {op}{value:>9.3f} {p1:>8.3f} {p50:>8.3f} {p99:>8.3f} {p995:>8.3f} "
                  f"{np.nanmax(v):>8.3f} {worst:>8.3f}{'  inside' if bad else ''}{'  under a source' if below else ''}")
        print(f"  cut-offs inside the 1st-99th percentile range: {len(inside)} {inside}")
        if domain == "math":
            print(f"  repetition and layout cut-offs under a source's p98: {len(under)} {under}")
    return out


PER_SOURCE_FAMILIES = ("gopher_repetition", "fineweb")
"""The math policy's families whose cut-offs sit above every training source's own p98 (stop 70, E93)."""
RUNNER_UP_GRID = (0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)
"""Candidate ``runner_up.min_score`` values, from the most cautious down (``part_runner_up``)."""
WEB_ALPHA_GRID = (0.8, 0.75, 0.7, 0.65, 0.6, 0.5)
"""E9's values of the web policy's ``min_alpha_words_ratio``, the shipped 0.8 first."""


def out_of_source_decisions(train: list, junk: list, table: pa.Table, junk_table: pa.Table,
                            probs_path: Path) -> tuple[pa.Table, np.ndarray, list[tuple[str, pa.Table]], list[str]]:
    """What a keep-policy choice is made on, training sources only.

    Good documents (``PER_SOURCE`` per source) carry the label and runner-up of the leave-one-source-out
    model that never saw their source (``bench_labels.py --parts loso --save-probs F``); junk is labelled
    by the shipped domain model (which never trains on junk). Returns the good documents' decision
    signals, their true domains, ``[(junk kind, its signals)]`` and the domain columns.
    """
    saved = np.load(probs_path, allow_pickle=False)
    columns = [str(c) for c in saved["columns"]]
    src = np.asarray(table.column("source").to_pylist(), dtype=object)
    index, names, truth = saved["index"], saved["sources"], saved["truth"]
    if len(index) and (index.max() >= len(src) or not (src[index] == names).all()):
        raise SystemExit(f"{probs_path}: its rows do not match this registry's table "
                         "(re-run bench_labels --save-probs)")
    texts_all = table.column("text").to_pylist()
    order = np.argsort(-saved["probs"], axis=1)
    top, second = order[:, 0], order[:, 1]
    rows_p = np.arange(len(index))
    picked = [i for s in train for i in every_kth(np.flatnonzero(names == s.name).tolist(), PER_SOURCE)]
    texts = [texts_all[index[i]] for i in picked]
    dom = pa.table({"domain": pa.array([columns[top[i]] for i in picked], pa.string()),
                    "domain_runner_up": pa.array([columns[second[i]] for i in picked], pa.string()),
                    "domain_runner_up_score": pa.array(saved["probs"][rows_p, second][picked], pa.float32())})
    junk_parts = []
    for s in junk:
        jt = source_texts(junk_table, s.name)
        domains, lang = labels_of(jt)
        junk_parts.append((s.kind, decision_signals(jt, domains, lang)))
    return decision_signals(texts, dom), np.array([truth[i] for i in picked]), junk_parts, columns


def policy_rates(good: pa.Table, good_truth: np.ndarray, junk_parts: list[tuple[str, pa.Table]],
                 columns: list[str], cfg: dict) -> dict[str, float]:
    """Keep rate of the good documents per true domain, drop rate of the junk per kind, under ``cfg``."""
    decisions = load_decisions(cfg)
    steps, _ = decide(signals_of(good), good.column("domain"), decisions)
    kept = np.asarray(steps.is_null().to_numpy(zero_copy_only=False))
    row = {f"keep_{d}": round(float(kept[good_truth == d].mean()), 4) for d in columns}
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, sig in junk_parts:
        steps, _ = decide(signals_of(sig), sig.column("domain"), decisions)
        by_kind[kind] += np.asarray(steps.is_valid().to_numpy(zero_copy_only=False), dtype=float).tolist()
    row.update({f"drop_{k}": round(float(np.mean(v)), 4) for k, v in sorted(by_kind.items())})
    return row


def choose_on_grid(title: str, settings: list[tuple[str, dict]], prepared: tuple) -> dict:
    """Rates for each named setting (the first is the default) and the last of the others, in grid order,
    at which no training junk kind is dropped more than one point less often than by the default."""
    table_out = {name: policy_rates(*prepared, cfg) for name, cfg in settings}
    base = table_out[settings[0][0]]
    drops = [k for k in base if k.startswith("drop_")]
    allowed = [name for name, _ in settings[1:] if all(table_out[name][k] >= base[k] - 0.01 - 1e-9 for k in drops)]
    chosen = allowed[-1] if allowed else None
    print(f"\n({title}) training sources: good documents labelled by leave-one-source-out models, junk by "
          "the shipped model; keep / drop rate per setting")
    keys = list(base)
    print(f"{'setting':>9} " + " ".join(f"{k:>18}" for k in keys))
    for name, row in table_out.items():
        print(f"{name:>9} " + " ".join(f"{row[k]:>18.1%}" for k in keys))
    print(f"chosen (the last setting with every junk drop within 1 point of {settings[0][0]!r}): {chosen}")
    return {"table": table_out, "chosen": chosen}


def part_runner_up(prepared: tuple, to_domains: list[str]) -> dict:
    """Choose ``runner_up.min_score`` on training sources only (``out_of_source_decisions``): the lowest
    value of ``RUNNER_UP_GRID`` at which no training junk kind is dropped more than one point less often
    than without the second chance."""
    grid = sorted(RUNNER_UP_GRID, reverse=True)  # strictest first, so the last allowed is the lowest
    settings = [("off", {"runner_up": False})] + [(f"{t:g}", {"runner_up": {"min_score": t, "to_domains": to_domains}})
                                                   for t in grid]
    out = choose_on_grid(f"runner-up, to_domains {to_domains}", settings, prepared)
    return {**out, "documents": len(prepared[1]), "to_domains": to_domains}


def part_web_alpha(prepared: tuple) -> dict:
    """E9 (stop 39): the web policy's ``gopher_quality.min_alpha_words_ratio`` (0.8, Gopher's and datatrove's),
    on the same training-side protocol as ``part_runner_up``. The rule, written before the run: the
    lowest of ``WEB_ALPHA_GRID`` within one point of every junk drop at 0.8, shipped only if it raises the
    out-of-source keep of training math and of reasoning by at least 2 points each."""
    settings = [(f"{a:g}", {"domains": {"web": {"overrides": {"gopher_quality": {"min_alpha_words_ratio": a}}}}})
                for a in WEB_ALPHA_GRID]
    return choose_on_grid("web min_alpha_words_ratio", settings, prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["policy", "quality"],
                        choices=["policy", "quality", "threshold", "percentiles", "runner-up", "web-alpha",
                                 "out-of-source"])
    parser.add_argument("--loso-probs", type=Path, help="runner-up: the out-of-source probabilities of "
                        "`bench_labels.py --parts loso --save-probs F`")
    parser.add_argument("--runner-up-to", nargs="+", default=["math", "reasoning"],
                        help="runner-up: the domains whose policies give the second chance")
    parser.add_argument("--png", type=Path, help="calibration plot of the held-out quality part")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--decisions", help="policy, threshold: a decision config as JSON (the `thresholds` mapping "
                        "of a curation config), e.g. '{\"gopher_quality\": {\"min_doc_words\": 30}}'")
    parser.add_argument("--with", nargs="+", action="extend", default=[], metavar="SOURCE", dest="with_sources",
                        help="threshold, policy, percentiles: also count these experiment sources "
                        "(registry.experiment_sources) as training sources")
    parser.add_argument("--domain-models", type=Path, metavar="DIR",
                        help="label with DIR's domain.bin and domain-words.npz (e.g. `train_default_classifiers.py "
                        "--only domain --only domain-words --with SOURCE --out DIR`) instead of the shipped ones")
    parser.add_argument("--encoder", action="store_true",
                        help="label with the opt-in sentence encoder's vote too (DomainConfig.encoder; stop 55's E54; "
                        "needs pip install '.[encoder]', about 40 ms per document on 2 cores)")
    parser.add_argument("--label-config", help="the domain labeller's DomainConfig fields as JSON, e.g. "
                        "'{\"other_language_min_score\": 0.9}' (stop 61's E69)")
    parser.add_argument("--without-translations", action="store_true",
                        help="leave out the training sources' translations (training_sets.TRANSLATIONS): the good "
                             "documents of the English keep-list (stop 62)")
    parser.add_argument("--spam", choices=["on", "off"],
                        help="the quality scorer's spam damping on or off (default: score_quality's default)")
    args = parser.parse_args()
    global DOMAIN_CONFIG, SPAM
    if args.spam:
        SPAM = args.spam == "on"
    if args.domain_models:
        paths = [args.domain_models / "domain.bin", args.domain_models / "domain-words.npz"]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            parser.error(f"--domain-models: no {', '.join(missing)}")
        DOMAIN_CONFIG = DomainConfig(model=str(paths[0]), word_model=str(paths[1]))
    if args.encoder:
        DOMAIN_CONFIG = replace(DOMAIN_CONFIG, encoder=SHIPPED_ENCODER)
    if args.label_config:
        try:
            DOMAIN_CONFIG = replace(DOMAIN_CONFIG, **json.loads(args.label_config))
        except (ConfigError, TypeError, ValueError) as exc:
            parser.error(f"--label-config: {exc}")
    if args.decisions:
        global DECISIONS
        try:
            DECISIONS = json.loads(args.decisions)
            load_decisions(DECISIONS)
        except (json.JSONDecodeError, ConfigError) as exc:
            parser.error(f"--decisions: {exc}")
    try:
        sources = registry.all_sources() + registry.experiment_sources_named(args.with_sources)
    except ValueError as exc:
        parser.error(f"--with: {exc}")
    held = [s for s in sources if s.name in registry.HELDOUT]
    train = [s for s in sources if s.name not in registry.HELDOUT]
    table = registry.corpus_table([s for s in sources if s.domain != "bad"])
    junk_table = registry.corpus_table([s for s in sources if s.domain == "bad"])
    if args.without_translations:
        table = table.filter(pa.array(~translated_rows(table)))
    out = {}
    if "percentiles" in args.parts:
        out["percentiles_train"] = part_percentiles([s for s in train if s.domain != "bad"], table)
    if {"runner-up", "web-alpha", "out-of-source"} & set(args.parts):
        if not args.loso_probs:
            parser.error("--parts runner-up, web-alpha and out-of-source need --loso-probs (from bench_labels.py "
                         "--parts loso --save-probs F)")
        topical = [s for s in sources if s.domain in DOMAINS]  # bench_labels' table: training, then held-out
        loso_table = registry.corpus_table([s for s in topical if s.name not in registry.HELDOUT]
                                           + [s for s in topical if s.name in registry.HELDOUT])
        prepared = out_of_source_decisions([s for s in train if s.domain in DOMAINS],
                                           [s for s in train if s.domain == "bad"], loso_table, junk_table,
                                           args.loso_probs)
        if "runner-up" in args.parts:
            out["runner_up_train"] = part_runner_up(prepared, args.runner_up_to)
        if "web-alpha" in args.parts:
            out["web_alpha_train"] = part_web_alpha(prepared)
        if "out-of-source" in args.parts:
            settings = [("default", {})] + ([("decisions", DECISIONS)] if DECISIONS is not None else [])
            out["out_of_source_train"] = choose_on_grid("the defaults and --decisions", settings, prepared)
    if "threshold" in args.parts:
        out["threshold_train"] = part_prose_threshold([s for s in train if s.domain != "bad"],
                                                      [s for s in train if s.domain == "bad"], table, junk_table,
                                                      "training sources")
        out["policy_train"] = part_policy([s for s in train if s.domain != "bad"],
                                          [s for s in train if s.domain == "bad"], table, junk_table,
                                          "training sources")
    if "quality" in args.parts:
        out["quality_heldout"] = part_quality([s for s in held if s.domain != "bad"], table, "held-out sources",
                                              args.png)
        out["threshold_heldout"] = part_prose_threshold([s for s in held if s.domain != "bad"],
                                                        [s for s in held if s.domain == "bad"], table, junk_table,
                                                        "held-out sources")
    if "policy" in args.parts:
        out["policy_heldout"] = part_policy([s for s in held if s.domain != "bad"],
                                            [s for s in held if s.domain == "bad"], table, junk_table,
                                            "held-out sources")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()

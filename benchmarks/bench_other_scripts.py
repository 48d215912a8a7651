"""Text in scripts and languages the shipped models never saw (issue 14, "Bad input"): labels and keep decisions.

    python benchmarks/bench_other_scripts.py [--base REV] [--decisions JSON] [--label-config JSON] [--json F]

The documents are ``scripts/labeldata/script_sources.py``'s and ``format_sources.py``'s, in three groups (no model
trains on any):
- other scripts (``SOURCES``, 1,213 documents): Russian, Bulgarian and Chinese fortune files, Greek, Ukrainian,
  Chinese and Japanese manual pages, the Japanese Debian Reference;
- other languages in Latin script (``LATIN_SOURCES``, 1,200): German, Spanish, Italian and Polish fortune files,
  German and French manual pages;
- data and markup (``format_sources.SOURCES``): JSON data (CLDR, country data), XML data (MIME types, keyboard
  rules), the Apache manual's HTML pages, which the code policy's format checks judge (stop 61's E70).
The shipped classifiers learnt English text, so a topical label on these says little, and the code and math policies,
which are exempt from the English-only language check, take in what is labelled code or math. Per source, this
prints the share of documents whose window is under ``DomainConfig.min_latin_fraction`` Latin letters, the share
labelled ``unknown``, ``web``, ``code``, ``math`` or ``reasoning``, and the share the keep decision keeps (the
defaults, or ``--decisions``: a thresholds mapping as JSON, e.g. ``'{"language": {"exempt_max_score": 0.9}}'``).

``--label-config`` sets the labeller's ``DomainConfig`` fields (JSON), e.g. ``'{"other_language_min_score": 0.9}'``
(stop 61's E69). ``--base REV`` runs the same in a temporary worktree of REV and prints both, so a change is read
against its base on the same documents in one run (stop 61's E67 against 313eaa5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.worktree import ROOT, base_worktree, tree_env  # noqa: E402

TREE_VARIABLE = "MIDTRAIN_BENCH_TREE"
"""The tree whose midtrain ``--only-here`` imports (the base's worktree for ``--base``); this one by default."""
BATCH = 512
GROUPS = ("other scripts", "other languages", "data and markup")
DOMAINS = ("unknown", "web", "code", "math", "reasoning")


def write_texts(path: Path) -> None:
    """Every group's documents (source, group, text) as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from scripts.labeldata import registry
    from scripts.labeldata.format_sources import SOURCES as FORMAT_SOURCES
    from scripts.labeldata.script_sources import LATIN_SOURCES, SOURCES

    tables = []
    for group, sources in zip(GROUPS, (SOURCES, LATIN_SOURCES, FORMAT_SOURCES)):
        for src in sources:
            t = registry.source_table(src).select(["source", "text"])
            tables.append(t.append_column("group", pa.array([group] * t.num_rows, pa.string())))
    pq.write_table(pa.concat_tables(tables), path)


def decisions(texts_path: Path, thresholds: dict | None = None, label_config: dict | None = None) -> dict[str, list]:
    """Per document: the domain, its rule, the Latin share of the window, whether the keep decision keeps it and
    why not, by the midtrain of ``$MIDTRAIN_BENCH_TREE``, labelled as the default pipeline does (language ID first,
    its columns passed to the labeller where the labeller reads them)."""
    sys.path.insert(0, os.environ.get(TREE_VARIABLE, str(ROOT)))
    import inspect

    import pyarrow as pa
    import pyarrow.parquet as pq

    from midtrain.curation import rules
    from midtrain.curation.decide import decide, load_decisions, signals_of
    from midtrain.curation.labels import identify_language, label_domains, score_quality
    from midtrain.curation.labels.domain import DomainConfig, script_signals
    from midtrain.curation.labels.text_windows import text_windows

    table = pq.read_table(texts_path)
    out: dict[str, list] = defaultdict(list)
    out["source"] = table.column("source").to_pylist()
    out["group"] = table.column("group").to_pylist()
    texts = table.column("text").combine_chunks().cast(pa.large_string())
    policy = load_decisions(thresholds)
    config = DomainConfig(**(label_config or {}))
    reads_language = "languages" in inspect.signature(label_domains).parameters  # since stop 61
    for start in range(0, len(texts), BATCH):
        batch = texts.slice(start, BATCH)
        lang = identify_language(batch)
        extra = {"languages": lang.column("language").to_pylist(),
                 "language_scores": lang.column("language_score").to_pylist()} if reads_language else {}
        dom = label_domains(batch, config=config, **extra)
        domains = dom.column("domain")
        parts = (lang, rules.compute_signals(batch.to_pylist(), domains.to_pylist()), score_quality(batch, domains),
                 dom)
        signals = pa.table({n: t.column(n) for t in parts for n in t.column_names})
        steps, reasons = decide(signals_of(signals), domains, policy)
        out["domain"] += domains.to_pylist()
        out["rule"] += dom.column("domain_rule").to_pylist()
        out["kept"] += steps.is_null().to_pylist()
        out["reason"] += [f"{s}:{r}" if s else "" for s, r in zip(steps.to_pylist(), reasons.to_pylist())]
        out["latin"] += script_signals(text_windows(batch, 512, 512))[1].tolist()
    return dict(out)


def summary(res: dict[str, list], min_latin: float = 0.3) -> dict[str, dict[str, float]]:
    """Per source and per group: documents, under ``min_latin`` Latin, labelled each domain, kept."""
    by_row: dict[str, list[int]] = defaultdict(list)
    for i, (source, group) in enumerate(zip(res["source"], res["group"])):
        by_row[source].append(i)
        by_row[f"all {group}"].append(i)
    rows: dict[str, dict[str, float]] = {}
    for name in sorted(by_row, key=lambda k: (k.startswith("all"), k)):
        idx = by_row[name]
        n = len(idx)
        rows[name] = {"documents": n, "non_latin": sum(res["latin"][i] < min_latin for i in idx) / n,
                      **{d: sum(res["domain"][i] == d for i in idx) / n for d in DOMAINS},
                      "kept": sum(res["kept"][i] for i in idx) / n}
    return rows


def print_table(title: str, rows: dict[str, dict[str, float]], res: dict[str, list]) -> None:
    """The per-source rows, then, per group, the code and math labels by rule and the kept documents by domain."""
    keys = ["non_latin", *DOMAINS, "kept"]
    print(f"\n({title})")
    print(f"{'source':<22} {'docs':>5} " + " ".join(f"{k:>9}" for k in keys))
    for name, row in rows.items():
        print(f"{name:<22} {row['documents']:>5} " + " ".join(f"{row[k]:>9.1%}" for k in keys))
    for group in GROUPS:
        mine = [i for i, g in enumerate(res["group"]) if g == group]
        topical = Counter((res["domain"][i], res["rule"][i]) for i in mine if res["domain"][i] in ("code", "math"))
        kept = Counter(res["domain"][i] for i in mine if res["kept"][i])
        print(f"{group}: code and math labels by rule: "
              + (", ".join(f"{d}/{r} {n}" for (d, r), n in topical.most_common()) or "none")
              + "; kept by domain: " + (", ".join(f"{d} {n}" for d, n in kept.most_common()) or "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="also run this commit's midtrain, in a temporary worktree")
    parser.add_argument("--decisions", help="the keep decision's thresholds mapping as JSON (default: the defaults)")
    parser.add_argument("--label-config", help="the domain labeller's DomainConfig fields as JSON (default: the "
                        "defaults), e.g. '{\"other_language_min_score\": 0.9}'")
    parser.add_argument("--json", type=Path, help="write the per-source rows here")
    parser.add_argument("--only-here", type=Path, help=argparse.SUPPRESS)  # the texts' file: one tree, for --base
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)  # --only-here: where its decisions go
    args = parser.parse_args()
    try:
        thresholds = json.loads(args.decisions) if args.decisions else None
        label_config = json.loads(args.label_config) if args.label_config else None
    except json.JSONDecodeError as exc:
        parser.error(f"--decisions / --label-config: not JSON ({exc})")
    if not args.only_here:  # a bad setting fails here, before any document is labelled, with its key
        from midtrain.curation.decide import load_decisions
        from midtrain.curation.labels.domain import DomainConfig
        from midtrain.errors import ConfigError
        try:
            load_decisions(thresholds)
            DomainConfig(**(label_config or {}))
        except (ConfigError, TypeError) as exc:
            parser.error(f"--decisions / --label-config: {exc}")
    if args.only_here:
        args.save.write_text(json.dumps(decisions(args.only_here, thresholds, label_config)))
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="midtrain-scripts-") as tmp:
        texts = Path(tmp) / "texts.parquet"
        write_texts(texts)
        if args.base:
            with base_worktree(args.base, parser) as (base_tree, scratch):
                cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_other_scripts.py"), "--only-here", str(texts),
                       "--save", str(scratch / "base.json")]
                cmd += ["--decisions", args.decisions] if args.decisions else []
                cmd += ["--label-config", args.label_config] if args.label_config else []
                done = subprocess.run(cmd, cwd=base_tree, capture_output=True, text=True,
                                      env={**tree_env(base_tree, scratch, "base"), TREE_VARIABLE: str(base_tree)})
                if done.returncode != 0:
                    raise SystemExit(f"{base_tree}: the run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
                results[f"base ({args.base})"] = json.loads((scratch / "base.json").read_text())
        results["this tree"] = decisions(texts, thresholds, label_config)
    out = {}
    for title, res in results.items():
        out[title] = summary(res)
        print_table(title, out[title], res)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

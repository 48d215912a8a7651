"""Two leave-one-source-out runs side by side, with the gain's paired bootstrap interval.

    python benchmarks/compare_loso.py BEFORE.npz AFTER.npz [--json out.json]
    python benchmarks/compare_loso.py B0.npz A0.npz --before-seeds B1.npz B2.npz --after-seeds A1.npz A2.npz

Each file is what ``bench_labels.py --parts loso --save-probs F`` wrote. When AFTER adds sources (``--with``),
it is compared over BEFORE's sources; when a source sits elsewhere in AFTER's registry, its rows are matched by
their rank within the source. An experiment's rule compares its
run with a base run; this prints what every rule so far has asked for (macro-F1, sources under 0.70, pooled
code recall, the cut-to-300 figure when both runs have it), each source whose recall moved by at least 0.03,
and the difference in macro-F1 with its 95% paired interval twice: sources redrawn within their domain (would
the gain hold on another set of sources like these?) and documents redrawn within their source (sampling noise
alone). Both runs must cover the same documents of BEFORE's sources.

Neither interval holds fastText's training noise: the same run at another seed (``bench_labels.py --set seed=S``)
moved macro-F1 by up to 0.005 at stop 54. ``--before-seeds`` / ``--after-seeds`` take each side's runs at other
seeds and print every seed's macro-F1 and count of sources under 0.70, each side's mean and range, and the
difference of the means, which is what a claimed gain is judged on (docs/label-experiments.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from midtrain.curation.labels.evaluation import classification_report, paired_difference  # noqa: E402

THRESHOLD = 0.70
"""The issue's floor on every source's recall."""


def recalls(truth: np.ndarray, pred: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """Each source's recall (the share of its documents labelled with its true domain)."""
    return {str(s): float((pred[sources == s] == truth[sources == s]).mean()) for s in dict.fromkeys(sources)}


def common_documents(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``after``'s rows lined up with ``before``'s: restricted to ``before``'s sources when it has more (an experiment
    that adds a source, such as ``bench_labels.py --with NAME``) and put in ``before``'s source order when a source
    sits elsewhere in the registry (a ``--with`` source later registered). A document is known by its source and
    its rank within the source, so every one of ``before``'s sources must have as many documents in both runs and
    the same true labels; then ``index`` (a row number, shifted by added or moved rows) is taken from ``before``.
    Otherwise ``after`` is returned as it is, and ``compare`` refuses the pair."""
    if np.array_equal(before["sources"], after["sources"]) and np.array_equal(before["index"], after["index"]):
        return after
    names_b, counts_b = np.unique(before["sources"], return_counts=True)
    names_a, counts_a = np.unique(after["sources"], return_counts=True)
    have = dict(zip(names_a.tolist(), counts_a.tolist()))
    if any(have.get(name) != count for name, count in zip(names_b.tolist(), counts_b.tolist())):
        return after
    where = {key: i for i, key in enumerate(_ranked(after["sources"]))}
    rows = np.asarray([where[key] for key in _ranked(before["sources"])], dtype=np.int64)
    n = len(after["sources"])
    out = {k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in after.items()}
    if not np.array_equal(out["truth"], before["truth"]):
        return after
    out["index"] = before["index"]
    return out


def _ranked(sources: np.ndarray) -> list[tuple[str, int]]:
    """``(source, rank of the row among its source's rows)`` per row."""
    seen: dict[str, int] = {}
    out = []
    for s in sources.tolist():
        out.append((s, seen.get(s, 0)))
        seen[s] = seen.get(s, 0) + 1
    return out


def compare(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict:
    """The figures of both runs and their paired differences (JSON-able)."""
    if not (np.array_equal(before["sources"], after["sources"]) and np.array_equal(before["index"], after["index"])):
        raise ValueError("the two runs cover different documents: compare runs over the same sources")
    truth, sources = before["truth"], before["sources"]
    out: dict = {}
    for key in ("pred", "crop_pred"):
        if key not in before or key not in after:
            continue
        a, b = before[key], after[key]
        ra, rb = recalls(truth, a, sources), recalls(truth, b, sources)
        reports = [classification_report(truth, p) for p in (a, b)]
        out[key] = {
            "macro_f1": [r["macro_f1"] for r in reports],
            "code_recall": [r["per_label"]["code"]["recall"] if "code" in r["per_label"] else None for r in reports],
            "below": [sorted(s for s, r in rec.items() if r < THRESHOLD) for rec in (ra, rb)],
            "moved": {s: [round(ra[s], 3), round(rb[s], 3)] for s in ra if abs(ra[s] - rb[s]) >= 0.03},
            "difference_sources": paired_difference(truth, a, b, sources, resample="groups"),
            "difference_docs": paired_difference(truth, a, b, sources, resample="docs"),
        }
    return out


def seed_figures(before: list[dict[str, np.ndarray]], after: list[dict[str, np.ndarray]]) -> dict:
    """Each side's runs at several seeds (the first of each is the pair ``compare`` reads; every run lined up with
    ``before[0]`` by ``common_documents``): per prediction key, each run's macro-F1 and sources under 0.70, each
    side's mean and range, and the difference of the means (JSON-able)."""
    base = before[0]
    lined = {"before": [common_documents(base, run) for run in before],
             "after": [common_documents(base, run) for run in after]}
    if any(not (np.array_equal(run["index"], base["index"]) and np.array_equal(run["sources"], base["sources"]))
           for runs in lined.values() for run in runs):
        raise ValueError("a seed run covers different documents: compare runs over the same sources")
    out: dict = {}
    for key in ("pred", "crop_pred"):
        if any(key not in run for runs in lined.values() for run in runs):
            continue
        sides: dict = {}
        for side, runs in lined.items():
            f1 = [classification_report(base["truth"], run[key])["macro_f1"] for run in runs]
            below = [sum(r < THRESHOLD for r in recalls(base["truth"], run[key], base["sources"]).values())
                     for run in runs]
            sides[side] = {"macro_f1": f1, "below": below, "mean": round(float(np.mean(f1)), 4),
                           "range": round(max(f1) - min(f1), 4)}
        sides["mean_difference"] = round(sides["after"]["mean"] - sides["before"]["mean"], 4)
        out[key] = sides
    return out


def provenance(runs: list[dict[str, np.ndarray]], paths: tuple[Path, Path]) -> dict[str, str]:
    """Each run's tree (``bench_labels.py`` saves its commit since stop 63, ``+changes`` where files differed from it;
    older files say ``unknown``), printed, with a note where the commits differ or are unknown: then the difference
    is the code's as well as the experiment's (stop 63's E75 run was first compared with a base run of stop 57's
    code, with E67 between them). An experiment's own uncommitted change is expected, so ``+changes`` alone is not
    noted."""
    trees = [str(run["tree"]) if "tree" in run else "unknown" for run in runs]
    for path, tree in zip(paths, trees):
        print(f"{path}: tree {tree}")
    commits = {t.removesuffix("+changes") for t in trees}
    if len(commits) > 1 or "unknown" in commits:
        print("note: the runs may come from different commits; what else changed between them moves the figures "
              "too (compare with a base run of the same commit)")
    return {str(path): tree for path, tree in zip(paths, trees)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--before-seeds", nargs="+", type=Path, default=[], metavar="FILE",
                    help="BEFORE's runs at other training seeds (bench_labels.py --set seed=S --save-probs)")
    ap.add_argument("--after-seeds", nargs="+", type=Path, default=[], metavar="FILE",
                    help="AFTER's runs at other training seeds")
    args = ap.parse_args()
    try:
        runs = [dict(np.load(p, allow_pickle=False)) for p in (args.before, args.after)]
        added = sorted(set(runs[1]["sources"].tolist()) - set(runs[0]["sources"].tolist()))
        if added:
            print(f"compared over {args.before}'s sources; {args.after} adds {added} (left out here)")
        out = compare(runs[0], common_documents(*runs))
        out["provenance"] = provenance(runs, (args.before, args.after))
        if args.before_seeds or args.after_seeds:
            out["seeds"] = seed_figures([runs[0], *(dict(np.load(p, allow_pickle=False)) for p in args.before_seeds)],
                                        [runs[1], *(dict(np.load(p, allow_pickle=False)) for p in args.after_seeds)])
    except (OSError, ValueError) as exc:  # a missing or unreadable file, or runs over different documents
        print(f"compare_loso: {args.before} and {args.after}: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"compare_loso: {args.before} and {args.after}: no array {exc} (not a file of `bench_labels.py "
              "--parts loso --save-probs`)", file=sys.stderr)
        return 2
    for key, title in (("pred", "whole documents"), ("crop_pred", "documents cut (--crop)")):
        if key not in out:
            continue
        r = out[key]
        gs, gd = r["difference_sources"], r["difference_docs"]
        print(f"\n{title}: macro-F1 {r['macro_f1'][0]:.4f} -> {r['macro_f1'][1]:.4f} ({gs['difference']:+.4f}; "
              f"95% paired interval, sources redrawn [{gs['low']:+.4f}, {gs['high']:+.4f}], documents redrawn "
              f"[{gd['low']:+.4f}, {gd['high']:+.4f}])")
        print(f"  code recall {r['code_recall'][0]:.4f} -> {r['code_recall'][1]:.4f}")
        print(f"  sources under {THRESHOLD}: {len(r['below'][0])} -> {len(r['below'][1])}; "
              f"left: {sorted(set(r['below'][0]) - set(r['below'][1]))}, "
              f"joined: {sorted(set(r['below'][1]) - set(r['below'][0]))}")
        for s, (x, y) in sorted(r["moved"].items(), key=lambda kv: kv[1][1] - kv[1][0]):
            print(f"  {s:<30} {x:.3f} -> {y:.3f}")
    for key, title in (("pred", "whole documents"), ("crop_pred", "documents cut (--crop)")):
        if key not in out.get("seeds", {}):
            continue
        r = out["seeds"][key]
        print(f"\n{title}, by training seed (the first run of each side is the pair above):")
        for side in ("before", "after"):
            f1 = " ".join(f"{x:.4f}" for x in r[side]["macro_f1"])
            print(f"  {side:<6} macro-F1 {f1}: mean {r[side]['mean']:.4f}, range {r[side]['range']:.4f}; "
                  f"sources under {THRESHOLD}: {' '.join(map(str, r[side]['below']))}")
        print(f"  difference of the means {r['mean_difference']:+.4f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

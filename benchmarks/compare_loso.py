"""Two leave-one-source-out runs side by side, with the gain's paired bootstrap interval.

    python benchmarks/compare_loso.py BEFORE.npz AFTER.npz [--json out.json]

Each file is what ``bench_labels.py --parts loso --save-probs F`` wrote. When AFTER adds sources (``--with``),
it is compared over BEFORE's sources; when a source sits elsewhere in AFTER's registry, its rows are matched by
their rank within the source. An experiment's rule compares its
run with a base run; this prints what every rule so far has asked for (macro-F1, sources under 0.70, pooled
code recall, the cut-to-300 figure when both runs have it), each source whose recall moved by at least 0.03,
and the difference in macro-F1 with its 95% paired interval twice: sources redrawn within their domain (would
the gain hold on another set of sources like these?) and documents redrawn within their source (sampling noise
alone). Both runs must cover the same documents of BEFORE's sources.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    try:
        runs = [dict(np.load(p, allow_pickle=False)) for p in (args.before, args.after)]
        added = sorted(set(runs[1]["sources"].tolist()) - set(runs[0]["sources"].tolist()))
        if added:
            print(f"compared over {args.before}'s sources; {args.after} adds {added} (left out here)")
        out = compare(runs[0], common_documents(*runs))
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
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

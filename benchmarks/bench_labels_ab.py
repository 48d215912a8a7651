"""Labelling speed of this tree against another commit, the two taking turns (issue 14's speed target).

    python benchmarks/bench_labels_ab.py --base 9c1671f [--pairs 3] [--repeats 3] [--code-language hybrid]

Why: the share of curation time that labelling takes (``bench_labels.py --parts speed``) moves by a point
or more with the machine's load, more than most changes move it. Runs compare only when they are taken
in turn on the same machine in the same hour. This script does that: it checks ``--base`` out into a
temporary git worktree, then runs ``bench_labels.py --parts speed`` in the base tree and in this one,
one after the other, ``--pairs`` times. Each tree gets its own numba cache, so neither reads the other's
compiled kernels. It prints every run and the medians: µs per document of labelling + quality scoring,
of the rest of the pipeline, and the share, and how many documents each tree hands to Magika (about 1.8 ms
each: stop 66 found six more of them, of 3,000, to be half of E80's cost). The worktree is removed at the end.

The base commit's ``bench_labels.py`` must accept ``--json`` and ``--code-language`` (stop 33 onwards).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.worktree import ROOT, base_worktree, tree_env  # noqa: E402


def speed_run(tree: Path, env: dict[str, str], repeats: int, model: str) -> dict:
    """One ``bench_labels.py --parts speed`` run in ``tree`` (``env``: ``worktree.tree_env``'s): µs per document
    of labelling and of the rest, and the share."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.json"
        cmd = [sys.executable, "benchmarks/bench_labels.py", "--parts", "speed", "--repeats", str(repeats),
               "--code-language", model, "--json", str(out)]
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"{tree}: bench_labels.py failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        speed = json.loads(out.read_text())["speed"]
    labels = speed[model]
    return {"labels_us": 1e6 / labels["labels_docs_per_s"], "rest_us": 1e6 / speed["rest_docs_per_s"],
            "share": labels["share"], "magika_docs": speed.get("magika_docs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare this tree with")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each tree, taking turns")
    parser.add_argument("--repeats", type=int, default=3, help="bench_labels.py --repeats")
    parser.add_argument("--code-language", default="hybrid", help="the domain labeller's code_language_model")
    args = parser.parse_args()
    if args.pairs < 1 or args.repeats < 1:
        parser.error("--pairs and --repeats: at least 1")
    with base_worktree(args.base, parser) as (base_tree, scratch):
        trees = {"base": base_tree, "this": ROOT}
        runs: dict[str, list[dict]] = {"base": [], "this": []}
        print(f"{'run':<10} {'labels µs/doc':>14} {'rest µs/doc':>12} {'share':>7}")
        for i in range(args.pairs):
            for name, tree in trees.items():
                run = speed_run(tree, tree_env(tree, scratch, name), args.repeats, args.code_language)
                runs[name].append(run)
                print(f"{name} {i + 1:<5} {run['labels_us']:>14,.0f} {run['rest_us']:>12,.0f} "
                      f"{run['share']:>7.1%}", flush=True)
    print(f"\nmedians over {args.pairs} pair(s), --code-language {args.code_language}; base = {args.base}")
    for name, rows in runs.items():
        med = {key: statistics.median(r[key] for r in rows) for key in ("labels_us", "rest_us", "share")}
        shares = sorted(r["share"] for r in rows)
        magika = rows[0]["magika_docs"]  # the same in every run (labels are deterministic); None before stop 66
        print(f"{name:<6} labels {med['labels_us']:,.0f} µs/doc, rest {med['rest_us']:,.0f} µs/doc, share "
              f"{med['share']:.2%} (runs {shares[0]:.1%}-{shares[-1]:.1%})"
              + (f", {magika} documents to Magika" if magika is not None else ""))
    ratio = statistics.median(r["labels_us"] for r in runs["this"]) / statistics.median(
        r["labels_us"] for r in runs["base"])
    print(f"this / base, labelling µs per document: {ratio:.3f}")


if __name__ == "__main__":
    main()

"""Two ``bench_quality.py --json`` runs side by side: keep and drop rates end to end, with the policy rule's flags.

    python benchmarks/bench_quality.py --parts threshold --json BEFORE.json    # on the base tree
    python benchmarks/bench_quality.py --parts threshold --json AFTER.json     # with the change
    python benchmarks/compare_policy.py BEFORE.json AFTER.json

``--parts threshold`` measures the training sources only (``policy_train``): what a decision may read. Add
``policy`` for the held-out sources (``policy_heldout``), which are read once, after a change has shipped.

For the training sources (``policy_train``) and the held-out ones (``policy_heldout``), whichever both files
have, it prints the keep rate of good documents per true domain and the drop rate of junk per kind, before and
after, and flags what the keep-policy rule forbids: a good domain kept less often (``keep fell``), or a junk kind
dropped more than one point less often (``drop fell > 1 pt``). Then every source whose rate moved by
``MOVE`` or more. A change to the domain labels moves these rates too (stop 48's E33 moved page chrome 80.7% ->
78.3%), so a label change's rule should read them as well. Exit status 0 either way: this prints, the rule
decides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

JUNK_SLACK = 0.01
"""A junk kind may be dropped this much less often (the keep-policy rule's one point)."""
MOVE = 0.03
"""Sources whose keep or drop rate moved at least this much are listed."""
PARTS = ("policy_train", "policy_heldout")


def load(path: Path) -> dict:
    """A ``bench_quality.py --json`` file with per-domain and per-kind rates; ``SystemExit`` naming it if not."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: not a bench_quality.py --json file ({exc})") from exc
    parts = [p for p in PARTS if p in data]
    if not parts or any("kept_by_domain" not in data[p] for p in parts):
        raise SystemExit(f"{path}: no policy part with per-domain rates; run bench_quality.py --parts policy "
                         "--json FILE (this version)")
    return data


def compare(before: dict, after: dict) -> dict:
    """Per shared part: rows ``(what, name, before, after, flag)`` and the sources that moved."""
    out = {}
    for part in PARTS:
        if part not in before or part not in after:
            continue
        b, a = before[part], after[part]
        rows = []
        for domain in sorted(set(b["kept_by_domain"]) & set(a["kept_by_domain"])):
            x, y = b["kept_by_domain"][domain]["rate"], a["kept_by_domain"][domain]["rate"]
            rows.append(("keep", domain, x, y, "keep fell" if y < x - 1e-9 else ""))
        for kind in sorted(set(b["dropped_by_kind"]) & set(a["dropped_by_kind"])):
            x, y = b["dropped_by_kind"][kind]["rate"], a["dropped_by_kind"][kind]["rate"]
            rows.append(("drop", kind, x, y, "drop fell > 1 pt" if y < x - JUNK_SLACK - 1e-9 else ""))
        moved = {}
        for side in ("good", "bad"):
            for name in sorted(set(b[side]) & set(a[side])):
                if abs(a[side][name] - b[side][name]) >= MOVE - 1e-9:
                    moved[name] = (b[side][name], a[side][name])
        out[part] = {"rows": rows, "moved": moved, "flags": [f"{w} {n}: {f}" for w, n, _, _, f in rows if f]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--json", type=Path, help="write the comparison here")
    args = parser.parse_args()
    result = compare(load(args.before), load(args.after))
    if not result:
        raise SystemExit(f"{args.before} and {args.after} share no policy part")
    for part, res in result.items():
        print(f"\n{part}: rate before -> after")
        for what, name, x, y, flag in res["rows"]:
            print(f"  {what} {name:<18} {x:>7.1%} -> {y:>7.1%}  ({(y - x) * 100:+.1f} pt){'  ' + flag if flag else ''}")
        print(f"  flags: {res['flags'] or 'none'}")
        for name, (x, y) in res["moved"].items():
            print(f"  {name:<28} {x:>7.1%} -> {y:>7.1%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A digest of every label and quality column the labellers give the training and junk sources, here and at
another commit: whether a change to the label kernels left every output the same.

    python benchmarks/label_digest.py [--base REV] [--heldout]

Why: a change meant to make labelling faster and nothing else (stop 51's kernels) should leave every
label, score and signal bit-equal. The kernels' own tests compare them with references on generated text;
this compares the whole labeller's output on the real corpus. It runs ``label_domains`` and then
``score_quality`` (the taggers' batch functions, with their defaults) over the registry's documents in
batches of 512, writes their columns to one Arrow IPC stream and prints its SHA-256. With ``--base``, the
same runs in a temporary worktree of REV (its own numba cache), and the script exits 1 if the digests
differ, after printing, for every column that differs, how many documents differ and by how much at most (a
change meant to move only the last bits of a score, such as stop 59's batch-independent word model, is checked
by that list: no label column in it). Held-out documents are left out unless ``--heldout``: no figure is
computed from them, but leaving them out keeps this a tool of the training side.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.worktree import ROOT, base_worktree, tree_env  # noqa: E402

BATCH = 512
TREE_VARIABLE = "MIDTRAIN_DIGEST_TREE"
"""The tree whose labellers ``--only-here`` imports (the base's worktree for ``--base``); this one by default."""


def digest(heldout: bool, save: Path | None = None) -> tuple[int, str]:
    """(documents, SHA-256 of their label and quality columns) for the labellers of ``$MIDTRAIN_DIGEST_TREE``
    (this tree by default); ``save``: also write the columns there (an Arrow IPC stream)."""
    sys.path.insert(0, os.environ.get(TREE_VARIABLE, str(ROOT)))
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from midtrain.curation.labels.domain import label_domains
    from midtrain.curation.labels.quality import score_quality
    from scripts.labeldata import registry

    sources = [s for s in registry.all_sources() if heldout or s.name not in registry.HELDOUT]
    texts = registry.corpus_table(sources).column("text").combine_chunks().cast(pa.large_string())
    sink = pa.BufferOutputStream()
    writer = None
    for start in range(0, len(texts), BATCH):
        batch = texts.slice(start, BATCH)
        labels = label_domains(batch)
        quality = score_quality(batch, labels.column("domain"))
        table = pa.table({**{c: labels.column(c) for c in labels.column_names},
                          **{c: quality.column(c) for c in quality.column_names}})
        writer = writer or ipc.new_stream(sink, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    data = sink.getvalue().to_pybytes()
    if save is not None:
        save.write_bytes(data)
    return len(texts), hashlib.sha256(data).hexdigest()


def column_differences(base: Path, this: Path) -> list[str]:
    """One line per column of two ``digest`` files that differs: documents that differ, and the largest absolute
    difference of a numeric column."""
    import pyarrow.ipc as ipc

    left, right = (ipc.open_stream(p.read_bytes()).read_all() for p in (base, this))
    if left.num_rows != right.num_rows or left.column_names != right.column_names:
        return [f"the tables differ in shape: {left.shape} against {right.shape}"]
    out = []
    for name in left.column_names:
        a, b = left.column(name).to_pylist(), right.column(name).to_pylist()
        rows = [i for i in range(len(a)) if a[i] != b[i] and not (a[i] != a[i] and b[i] != b[i])]  # NaN = NaN
        if rows:
            numeric = [abs(a[i] - b[i]) for i in rows if isinstance(a[i], float) and isinstance(b[i], float)]
            most = f", at most {max(numeric):.3g} apart" if len(numeric) == len(rows) else ""
            out.append(f"  {name}: {len(rows)} of {len(a)} documents differ{most}")
    return out or ["  every column equal, the bytes not (a type or a null)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="also digest this commit's labellers, in a temporary worktree")
    parser.add_argument("--heldout", action="store_true", help="include the held-out sources' documents")
    parser.add_argument("--only-here", action="store_true", help=argparse.SUPPRESS)  # one tree, for --base
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)  # --only-here: where its columns go
    args = parser.parse_args()
    if args.only_here or not args.base:
        count, sha = digest(args.heldout, args.save)
        print(f"{count} documents; sha256 {sha}")
        return
    lines = {}
    with base_worktree(args.base, parser) as (base_tree, scratch):
        for name, tree in (("base", base_tree), ("this", ROOT)):
            cmd = [sys.executable, str(ROOT / "benchmarks" / "label_digest.py"), "--only-here",
                   "--save", str(scratch / f"{name}.arrow")]
            cmd += ["--heldout"] if args.heldout else []
            done = subprocess.run(cmd, cwd=tree, env={**tree_env(tree, scratch, name), TREE_VARIABLE: str(tree)},
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{tree}: the digest failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            lines[name] = done.stdout.strip()
            print(f"{name} ({args.base if name == 'base' else 'this tree'}): {lines[name]}", flush=True)
        same = lines["base"] == lines["this"]
        print("equal" if same else "DIFFERENT")
        if not same:
            print("\n".join(column_differences(scratch / "base.arrow", scratch / "this.arrow")))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()

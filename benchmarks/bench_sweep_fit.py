"""Mixing laws on RegMix's released swarm: held-out Spearman ρ of ``linlog`` and ``dml`` (midtrain's fits)
against RegMix's LightGBM as published.

RegMix (sail-sg/regmix, ``data/``) released 512 fit mixtures at 1M parameters and 256 test mixtures at 1M
and 60M (64 at 1B), 17 Pile domains, 13 validation losses each. Each law is fitted on the 512 fit runs
only (the 1M proxies) and scored on the test runs of each size: per-target ρ, the Pile-CC target the paper
headlines, the 13-target mean, and the median relative error. The ``auto`` row is what
``midtrain sweep fit --model auto`` would keep per target (5-fold CV on the fit runs, never the test
runs); the learning curve refits ``linlog`` on random subsets of the fit runs. ``lgbm`` (midtrain's
LightGBM law: 400 rounds, no early stopping) joins when ``lightgbm`` is installed.

    git clone https://github.com/sail-sg/regmix   # the CSVs are ~0.5 MB
    python benchmarks/bench_sweep_fit.py --data regmix/data [--subsets 32 64 128 256 512]

Anchor (published): RegMix's LightGBM ρ 0.989 on Pile-CC
at 1M (its notebook early-stops on the test set); a ridge on [w, log(w+1e-3)] checked there: 0.983 / 0.976
/ 0.899 (1M / 60M / 1B), 13-target mean 0.970 at 1M.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

PILE_CC = "metric/the_pile_pile_cc_val_loss"
PUBLISHED = {"regmix lightgbm (paper)": {"1m": 0.989}, "ridge [w, log w] (research note)":
             {"1m": 0.983, "60m": 0.976, "1B": 0.899, "mean13_1m": 0.970}}


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """(column names after ``index``, values ``[rows, columns]``)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0][1:], np.array([[float(x) for x in r[1:]] for r in rows[1:]])


def load(data: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (mixtures, losses)}`` for train (1m) and test at 1m, 60m, 1B; targets in one order."""
    out = {}
    targets = None
    for split, mix, loss in (("train", "train_mixture_1m", "train_pile_loss_1m"),
                             ("1m", "test_mixture_1m", "test_pile_loss_1m"),
                             ("60m", "test_mixture_60m", "test_pile_loss_60m"),
                             ("1B", "test_mixture_1B", "test_pile_loss_1B")):
        _, X = read_csv(data / f"{mix}.csv")
        names, Y = read_csv(data / f"{loss}.csv")
        targets = targets or names
        assert names == targets and len(X) == len(Y), split
        assert np.allclose(X.sum(axis=1), 1.0, atol=0.01), f"{mix}: rows do not sum to 1"
        out[split] = (X / X.sum(axis=1, keepdims=True), Y)
    out["targets"] = targets  # type: ignore[assignment]
    return out


def main(argv: list[str] | None = None) -> int:
    from midtrain.sweep.fit import cv_scores, fit_target, group_folds
    from midtrain.sweep.laws import fit_law, lightgbm_available
    from midtrain.sweep.metrics import relative_errors, spearman

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("regmix/data"), help="RegMix's data/ folder")
    ap.add_argument("--subsets", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    ap.add_argument("--repeats", type=int, default=5, help="random subsets per size in the learning curve")
    args = ap.parse_args(argv)
    if not (args.data / "train_mixture_1m.csv").is_file():
        print(f"skipped: {args.data}/train_mixture_1m.csv not found; `git clone https://github.com/sail-sg/regmix` "
              "and pass --data regmix/data", file=sys.stderr)
        return 0
    data = load(args.data)
    targets: list[str] = data.pop("targets")  # type: ignore[assignment]
    X, Y = data.pop("train")
    cc = targets.index(PILE_CC)
    print(f"RegMix swarm: {len(X)} fit mixtures over {X.shape[1]} domains, {len(targets)} targets; test "
          + ", ".join(f"{k} {len(v[0])}" for k, v in data.items()))
    head = ("| law | fit s | " + " | ".join(f"Pile-CC ρ {k}" for k in data)
            + " | mean ρ (13) 1m | median rel. err 1m |")
    print(head + "\n|" + "---|" * (head.count("|") - 1))
    kinds = ["linlog", "dml"] + (["lgbm"] if lightgbm_available() else [])
    for kind in kinds:
        t = time.perf_counter()
        laws = [fit_law(kind, X, Y[:, j]) for j in range(len(targets))]
        seconds = time.perf_counter() - t
        rho = {k: [spearman(law.predict(Xt), Yt[:, j]) for j, law in enumerate(laws)] for k, (Xt, Yt) in data.items()}
        Xt, Yt = data["1m"]
        rel = np.median([np.median(relative_errors(law.predict(Xt), Yt[:, j])) for j, law in enumerate(laws)])
        print(f"| midtrain {kind} | {seconds:.2f} | " + " | ".join(f"{rho[k][cc]:.3f}" for k in data)
              + f" | {np.mean(rho['1m']):.3f} | {rel:.2%} |")
    for name, values in PUBLISHED.items():
        cells = " | ".join(f"{values[k]:.3f}" if k in values else "–" for k in data)
        mean = f"{values['mean13_1m']:.3f}" if "mean13_1m" in values else "–"
        print(f"| {name} | – | {cells} | {mean} | – |")

    # what `--model auto` keeps: 5-fold CV on the 512 fit runs only
    fold = group_folds(X, 5, seed=0)
    chosen, rho_auto = [], []
    t = time.perf_counter()
    for j in range(len(targets)):
        fit = fit_target(targets[j], {}, X, Y[:, j], kinds=kinds, fold=fold, bootstrap=0, seed=0)
        chosen.append(fit.model)
        rho_auto.append(spearman(fit.law.predict(data["1m"][0]), data["1m"][1][:, j]))
    print(f"\nauto (5-fold CV on fit runs, {time.perf_counter() - t:.1f} s): kept "
          + ", ".join(f"{k} {chosen.count(k)}" for k in kinds)
          + f" of {len(targets)} targets; Pile-CC {chosen[cc]} ρ {rho_auto[cc]:.3f}; mean ρ (13) 1m "
          f"{np.mean(rho_auto):.3f}; CV ρ Pile-CC linlog "
          f"{cv_scores(Y[:, cc], _oof('linlog', X, Y[:, cc], fold))['spearman']:.3f}")

    rng = np.random.default_rng(0)
    Xt, Yt = data["1m"]
    print("\nlearning curve, linlog, Pile-CC ρ at 1m (mean of random subsets of the fit runs)")
    print("| fit runs | " + " | ".join(str(n) for n in args.subsets) + " |\n|" + "---|" * (len(args.subsets) + 1))
    row = []
    for n in args.subsets:
        reps = 1 if n >= len(X) else args.repeats
        row.append(np.mean([spearman(fit_law("linlog", X[i], Y[i, cc]).predict(Xt), Yt[:, cc])
                            for i in (rng.choice(len(X), size=min(n, len(X)), replace=False) for _ in range(reps))]))
    print("| ρ | " + " | ".join(f"{r:.3f}" for r in row) + " |")
    return 0


def _oof(kind: str, X: np.ndarray, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    from midtrain.sweep.fit import cross_validate

    return cross_validate(kind, X, y, fold)


if __name__ == "__main__":
    sys.exit(main())

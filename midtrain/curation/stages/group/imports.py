"""What a source file imports, read from its text alone: Python, Go and C/C++ references.

A *reference* is a string that :mod:`.resolve` later maps to files of the same package:

- Python ``py:<level>:<module>:<name>``: ``import a.b`` -> ``py:0:a.b:``; ``from a import b`` ->
  ``py:0:a:b``; ``from ..a import b`` -> ``py:2:a:b``; ``from . import b`` -> ``py:1::b``. Parsed with
  :mod:`ast` (imports anywhere in the file, including inside functions and ``try`` blocks); a file
  that does not parse (Python 2, a deliberate syntax error in a test) falls back to a line regex;
- Go ``go:<import path>``: every path of the ``import`` declarations after the package clause (a
  file with the ``//go:build ignore`` constraint is parsed as ``go-ignored``: it is no part of its
  folder's package);
- C/C++ ``c:<file>``: every ``#include "file"`` (angle-bracket includes name system headers and
  are not followed).

Other files have no references. The language is chosen by the file extension.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import PurePosixPath

PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
GO_SUFFIXES = frozenset({".go"})
C_SUFFIXES = frozenset({".c", ".h", ".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".inl", ".ipp",
                        ".tcc", ".m", ".mm"})

_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w.][\w., \t]*)", re.M)
_PY_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)[ \t]*([\w.]*)[ \t]+import[ \t]+\(?[ \t]*(\*|[\w][\w., \t]*)", re.M)
# Go: comments and string literals in one pass, so that a "//" inside a string is not a comment
_GO_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`]*`|//[^\n]*|/\*.*?\*/', re.S)
_GO_PACKAGE = re.compile(r"\bpackage\s+\w+")
_GO_IMPORT = re.compile(r"\s*import\s*(\((?:[^()\"`]|\"(?:\\.|[^\"\\\n])*\"|`[^`]*`)*\)|[^\n;]*)")
_GO_PATH = re.compile(r'"((?:\\.|[^"\\\n])*)"|`([^`]*)`')
_GO_IGNORE = re.compile(r"^//(?:go:build|\s*\+build)\s+ignore\s*$", re.M)
_GO_PACKAGE_LINE = re.compile(r"^package\s", re.M)
_C_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)
# the fields of a statement that hold statements (if/for/while/try/with/def/class bodies, except
# handlers and match cases, which are nodes with a body of their own)
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def language_of(path: str) -> str:
    """``python``, ``go``, ``c`` or ``other``, from the extension of ``path``."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in PYTHON_SUFFIXES:
        return "python"
    if suffix in GO_SUFFIXES:
        return "go"
    if suffix in C_SUFFIXES:
        return "c"
    return "other"


def file_references(path: str, text: str) -> tuple[list[str], str]:
    """``(references, parser)``: parser is ``python``, ``python-regex``, ``go``, ``go-ignored``, ``c`` or ``none``."""
    language = language_of(path)
    if language == "python":
        refs = python_references_ast(text)
        return (refs, "python") if refs is not None else (python_references_regex(text), "python-regex")
    if language == "go":
        return go_references(text), "go-ignored" if go_build_ignored(text) else "go"
    if language == "c":
        return [f"c:{m}" for m in _unique(_C_INCLUDE.findall(text))], "c"
    return [], "none"


def python_references_ast(text: str) -> list[str] | None:
    """The Python references of ``text``, or None when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    refs = []
    # imports are statements: walk statement bodies only, never expressions (ast.walk visits every
    # node and costs as much as the parse itself)
    stack = [tree.body]
    while stack:
        for node in stack.pop():
            if isinstance(node, ast.Import):
                refs += [f"py:0:{alias.name}:" for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                refs += [f"py:{node.level}:{module}:{'' if alias.name == '*' else alias.name}" for alias in node.names]
            else:
                for name in _BODIES:
                    body = getattr(node, name, None)
                    if body:
                        stack.append(body)
    return _unique(refs)


def python_references_regex(text: str) -> list[str]:
    """The Python references of ``text`` by line patterns (for files :mod:`ast` cannot parse).

    ``import a.b as c, d`` and ``from .a import (b, c`` on one line; a parenthesised name list
    continued on the next lines contributes its first line's names only.
    """
    refs = []
    for match in _PY_IMPORT.finditer(text):
        for part in match.group(1).split(","):
            name = part.strip().split()[0] if part.strip() else ""
            if _dotted(name):
                refs.append(f"py:0:{name}:")
    for match in _PY_FROM.finditer(text):
        level, module, names = len(match.group(1)), match.group(2), match.group(3)
        if module and not _dotted(module):
            continue
        for part in names.split(","):
            name = part.strip().split()[0] if part.strip() else ""
            if name == "*":
                refs.append(f"py:{level}:{module}:")
            elif name.isidentifier():
                refs.append(f"py:{level}:{module}:{name}")
    return _unique(refs)


def go_references(text: str) -> list[str]:
    """The import paths of a Go file (``import "p"``, ``import x "p"``, ``import ( ... )``)."""
    code = _GO_TOKENS.sub(lambda m: m.group(0) if m.group(0)[0] in "\"`" else " ", text)
    package = _GO_PACKAGE.search(code)
    if package is None:
        return []
    at, paths = package.end(), []
    while True:
        while at < len(code) and code[at] in " \t\r\n;":
            at += 1
        match = _GO_IMPORT.match(code, at)
        if match is None or not code.startswith("import", at):
            break
        for quoted, raw in _GO_PATH.findall(match.group(1)):
            paths.append(quoted or raw)
        at = match.end()
    return [f"go:{p}" for p in _unique(paths) if p]


def go_build_ignored(text: str) -> bool:
    """Whether a Go file carries the ``//go:build ignore`` constraint (a generator or a standalone
    program): the Go tool leaves it out of its folder's package, so importing the folder does not
    depend on it."""
    package = _GO_PACKAGE_LINE.search(text)
    ignore = _GO_IGNORE.search(text, 0, package.start() if package else len(text))
    return ignore is not None


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))

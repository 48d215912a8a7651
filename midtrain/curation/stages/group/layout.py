"""How a group reads: where a package and a path come from, the path header, and the group's labels.

- **Id convention** (``group_by: repo``): a document id is ``<package>/<relative path>``, e.g.
  ``email/mime/text.py``; the package is the first ``package_depth`` ``/``-separated parts
  (``owner/repo/src/x.go`` with depth 2: package ``owner/repo``, path ``src/x.go``).
- **Header**: every file of a ``repo`` group is written as ``<comment> path: <id>\\n<text>\\n``:
  ``// path: net/http/server.go`` for C-like languages (Go, C, C++, Java, JavaScript, Rust, ...),
  ``-- path: x.sql`` for SQL/Lua/Haskell, ``% path: x.tex`` for TeX, and ``# path: email/utils.py``
  for everything else (Python, shell, YAML, text). The text always gets one ``\\n`` after it, so a
  file that ends with a newline is followed by a blank line.
- **Labels**: a group's domain (and source) is its members' most common one, ties to the
  smallest name.
"""

from __future__ import annotations

import posixpath
from collections import Counter

_SLASH_COMMENT = frozenset({".go", ".c", ".h", ".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".inl",
                            ".ipp", ".tcc", ".m", ".mm", ".java", ".js", ".jsx", ".mjs", ".ts", ".tsx", ".rs",
                            ".swift", ".kt", ".kts", ".scala", ".cs", ".dart", ".php", ".proto", ".s", ".zig",
                            ".groovy", ".gradle", ".v", ".sv", ".cu", ".cuh"})
_DASH_COMMENT = frozenset({".sql", ".lua", ".hs", ".elm", ".ada", ".adb", ".ads"})
_PERCENT_COMMENT = frozenset({".tex", ".sty", ".cls", ".bib", ".erl", ".m4"})


def split_id(doc_id: str, depth: int) -> tuple[str, str] | None:
    """``(package, relative path)`` of ``doc_id``, or None when it has no package part or no path."""
    parts = doc_id.split("/", depth)
    if len(parts) <= depth or not all(parts):
        return None
    return "/".join(parts[:depth]), parts[depth]


def comment_mark(path: str) -> str:
    """The line-comment mark of ``path``'s language (``//``, ``--``, ``%`` or ``#``)."""
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in _SLASH_COMMENT:
        return "//"
    if suffix in _DASH_COMMENT:
        return "--"
    if suffix in _PERCENT_COMMENT:
        return "%"
    return "#"


def path_header(doc_id: str) -> str:
    """The line written before a file in a ``repo`` group, newline included."""
    return f"{comment_mark(doc_id)} path: {doc_id}\n"


def repo_block_chars(doc_id: str, chars: int) -> int:
    """Characters a file of ``chars`` characters takes in a ``repo`` group: header, text, newline."""
    return len(path_header(doc_id)) + chars + 1


def majority(values: list[str]) -> str:
    """The most common value, ties to the smallest."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))

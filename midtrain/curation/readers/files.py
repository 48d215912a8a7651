"""Folders of plain files (source code, LaTeX, Markdown, ...): one document per file.

Each document keeps its ``path`` (relative to the input's parent folder, which is also its id)
and ``programming_language`` from the file extension -- not ``language``, which the language-ID
step uses for the natural language. A file is invalid when it looks binary (a NUL byte in its
first 8,000 bytes, git's own heuristic) or is not UTF-8. A folder at a URL is read object by
object (:func:`midtrain.storage.objects.read_object`, with retries); an object that cannot be read
fails the task with its URL rather than counting as invalid, as a transient outage is not bad data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datatrove.data import Document

from midtrain.curation.inputs import InputSpec, InputUnit
from midtrain.curation.readers.documents import new_document
from midtrain.curation.readers.log import ReadLog
from midtrain.curation.urls import is_url, join
from midtrain.storage.objects import read_object

_BINARY_PROBE = 8000
# Extension -> language, following the names GitHub's linguist uses.
LANGUAGES = {
    ".py": "python", ".pyi": "python", ".ipynb": "jupyter", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "c++", ".cpp": "c++", ".cxx": "c++", ".hpp": "c++", ".hh": "c++", ".java": "java", ".kt": "kotlin",
    ".scala": "scala", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".jsx": "javascript", ".rb": "ruby", ".php": "php", ".cs": "c#", ".swift": "swift", ".m": "objective-c",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".pl": "perl", ".lua": "lua", ".r": "r", ".jl": "julia",
    ".hs": "haskell", ".ml": "ocaml", ".ex": "elixir", ".erl": "erlang", ".clj": "clojure", ".sql": "sql",
    ".f90": "fortran", ".f": "fortran", ".asm": "assembly", ".s": "assembly", ".tex": "tex", ".sty": "tex",
    ".bib": "bibtex", ".lyx": "lyx", ".md": "markdown", ".rst": "restructuredtext", ".txt": "text",
    ".html": "html", ".htm": "html", ".css": "css", ".xml": "xml", ".json": "json", ".yaml": "yaml",
    ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".cfg": "ini", ".mk": "makefile", ".cmake": "cmake",
    ".proto": "protobuf", ".v": "verilog", ".vhd": "vhdl", ".zig": "zig", ".nim": "nim", ".dart": "dart",
}
_NAMED = {"Makefile": "makefile", "Dockerfile": "dockerfile", "CMakeLists.txt": "cmake"}


def language_of(path: str) -> str | None:
    """The language a file's name says it holds, or None."""
    p = Path(path)
    return _NAMED.get(p.name) or LANGUAGES.get(p.suffix.lower())


def read_files(spec: InputSpec, unit: InputUnit, log: ReadLog) -> Iterator[Document]:
    """One document per file of the unit's chunk."""
    remote = is_url(unit.path)
    folder = Path(unit.path)
    source = spec.source
    for rel in unit.files:
        doc_path = f"{unit.rel}/{rel}"
        log.record(source)
        if remote:
            data = read_object(join(unit.path, rel))
        else:
            try:
                data = (folder / rel).read_bytes()
            except OSError as exc:
                log.add_invalid(source, "unreadable", doc_path, "file", f"cannot read the file ({exc})")
                continue
        if b"\0" in data[:_BINARY_PROBE]:
            log.add_invalid(source, "binary_file", doc_path, "file", "a NUL byte in the first 8000 bytes: binary")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            log.add_invalid(source, "invalid_utf8", doc_path, "file",
                            f"invalid UTF-8 at byte {exc.start} ({exc.reason})")
            continue
        yield new_document(text, doc_path, source, spec.domain, path=doc_path, programming_language=language_of(rel))

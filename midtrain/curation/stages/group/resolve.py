"""References (:mod:`.imports`) resolved to files of the same package: the package's import edges.

A package is a set of relative paths (``mime/text.py``) under a name (``email``). Resolution only
ever finds files of the package itself; a reference it cannot place (the standard library, another
package) is *external* and adds no edge.

- **Python**, absolute ``a.b.c``: the longest prefix that names a module file (``a/b/c.py`` or
  ``a/b/c/__init__.py``), tried from these roots in turn: the package's parent (``email.utils`` in
  package ``email`` -> ``utils.py``), the package root (``utils`` -> ``utils.py``), the importing
  file's folder (a script's sibling), and any folder of the package when exactly one module ends
  with that dotted name (``src/`` layouts). ``from a import b`` depends on the module ``a.b`` if
  there is one, else on ``a``. Relative ``from ..a import b`` climbs from the importing file's folder
  inside the package (above its root: external).
- **Go**: an import path names a folder; it depends on every ``.go`` file of the folder's package
  (not a ``_test.go`` file, nor one with the ``//go:build ignore`` constraint: the Go tool builds
  neither into the package it imports). The folder is the one whose path (package name + relative
  folder) equals the import path, else one under a ``vendor/`` folder ending in it (the closest to
  the importer), else the longest whose path ends the import path (a module prefix such as
  ``github.com/owner/`` before the package name).
- **C/C++** ``#include "x.h"``: relative to the including file's folder, else the package root,
  else the only file whose path ends with ``/x.h``.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from midtrain.curation.stages.group.imports import PYTHON_SUFFIXES, language_of


class PackageFiles:
    """The files of one package, indexed for resolving references."""

    def __init__(self, name: str, paths: list[str], *, outside: frozenset[int] = frozenset()) -> None:
        """``outside``: files no import of a folder depends on (Go files with ``//go:build ignore``)."""
        self.name = name
        self.paths = paths
        self.index = {p: i for i, p in enumerate(paths)}
        self.root_module = name.rsplit("/", 1)[-1]
        # Python: dotted module name (relative to the package root) -> file
        self.modules: dict[str, int] = {}
        for i, p in enumerate(paths):
            module = _module_name(p)
            if module is not None and (module not in self.modules or p.endswith("__init__.py")):
                self.modules[module] = i
        self.module_suffixes: dict[str, list[int]] = defaultdict(list)
        for module, i in self.modules.items():
            parts = module.split(".") if module else []
            for k in range(1, len(parts)):
                self.module_suffixes[".".join(parts[k:])].append(i)
        # Go: folder (package name + relative folder) -> non-test .go files
        self.go_dirs: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(paths):
            if p.endswith(".go") and not p.endswith("_test.go") and i not in outside:
                self.go_dirs[self._full_dir(p)].append(i)
        self.vendored: dict[str, list[str]] = defaultdict(list)
        for folder in self.go_dirs:
            parts = folder.split("/")
            for k, part in enumerate(parts[:-1]):
                if part == "vendor":
                    self.vendored["/".join(parts[k + 1:])].append(folder)
        # C: path suffix after a "/" -> files
        self.c_suffixes: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(paths):
            if language_of(p) == "c":
                parts = p.split("/")
                for k in range(1, len(parts)):
                    self.c_suffixes["/".join(parts[k:])].append(i)

    def _full_dir(self, path: str) -> str:
        folder = posixpath.dirname(path)
        return f"{self.name}/{folder}" if folder else self.name

    def dependencies(self, file: int, references: list[str]) -> tuple[set[int], int]:
        """``(files that ``file`` depends on, references left unresolved)``; never ``file`` itself."""
        deps: set[int] = set()
        external = 0
        for ref in references:
            found = self.resolve(file, ref)
            if found:
                deps.update(found)
            else:
                external += 1
        deps.discard(file)
        return deps, external

    def resolve(self, file: int, ref: str) -> list[int]:
        """The files of this package that reference ``ref`` of ``file`` names (empty: external)."""
        kind, _, body = ref.partition(":")
        if kind == "py":
            level, module, name = body.split(":", 2)
            return self._python(file, int(level), module, name)
        if kind == "go":
            return self._go(file, body)
        if kind == "c":
            return self._include(file, body)
        return []

    # --- Python --------------------------------------------------------------------------------
    def _python(self, file: int, level: int, module: str, name: str) -> list[int]:
        if level:
            base = posixpath.dirname(self.paths[file]).split("/") if "/" in self.paths[file] else []
            if level - 1 > len(base):
                return []
            base = base[:len(base) - (level - 1)]
            parts = base + (module.split(".") if module else [])
            if name and (hit := self.modules.get(".".join(parts + [name]))) is not None:
                return [hit]
            hit = self.modules.get(".".join(parts))
            return [] if hit is None else [hit]
        if name and (hit := self._absolute(file, f"{module}.{name}", whole=True)) is not None:
            return [hit]
        hit = self._absolute(file, module, whole=False)
        return [] if hit is None else [hit]

    def _absolute(self, file: int, dotted: str, *, whole: bool) -> int | None:
        """The module file named by ``dotted`` (``whole``) or by its longest prefix that names one."""
        parts = dotted.split(".")
        folder = posixpath.dirname(self.paths[file])
        here = folder.replace("/", ".") if folder else ""
        shortest = len(parts) if whole else 1
        for k in range(len(parts), shortest - 1, -1):
            name = ".".join(parts[:k])
            if parts[0] == self.root_module:
                hit = self.modules.get(".".join(parts[1:k]))
                if hit is not None:
                    return hit
            for candidate in (name, f"{here}.{name}" if here else None):
                if candidate is not None and (hit := self.modules.get(candidate)) is not None:
                    return hit
            found = self.module_suffixes.get(name, ())
            if len(found) == 1:
                return found[0]
        return None

    # --- Go ------------------------------------------------------------------------------------
    def _go(self, file: int, path: str) -> list[int]:
        if path in self.go_dirs:
            return self.go_dirs[path]
        vendored = self.vendored.get(path)
        if vendored:
            importer = self._full_dir(self.paths[file])
            best = min(vendored, key=lambda d: (-len(posixpath.commonpath([d, importer])), d))
            return self.go_dirs[best]
        parts = path.split("/")
        for k in range(1, len(parts)):
            hit = self.go_dirs.get("/".join(parts[k:]))
            if hit is not None:
                return hit
        return []

    # --- C/C++ ---------------------------------------------------------------------------------
    def _include(self, file: int, name: str) -> list[int]:
        folder = posixpath.dirname(self.paths[file])
        for candidate in (posixpath.normpath(posixpath.join(folder, name)), posixpath.normpath(name)):
            if not candidate.startswith("../") and (hit := self.index.get(candidate)) is not None:
                return [hit]
        found = self.c_suffixes.get(posixpath.normpath(name).lstrip("./"), ())
        return [found[0]] if len(found) == 1 else []


def _module_name(path: str) -> str | None:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b``; ``__init__.py`` -> ``""``; non-Python -> None."""
    stem, suffix = posixpath.splitext(path)
    if suffix not in PYTHON_SUFFIXES:
        return None
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)

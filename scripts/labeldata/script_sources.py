"""Real text in scripts the shipped domain model never saw (Cyrillic, Greek, Chinese, Japanese): bad input.

Issue 14's "Bad input" asks that text in an unknown script get the label ``unknown`` with a reason, never a
topical domain. The shipped classifiers learnt English-script text only, so for these documents a topical label
says nothing about them, and the code and math policies, which are exempt from the English-only language check,
would otherwise take them in. ``benchmarks/bench_other_scripts.py`` labels these sources and runs the default keep
decision on them.

These are **not** in ``registry.MODULES``: no model trains on them, no setting was chosen on them, and they are
not among ``registry.all_sources()``. They were chosen by availability on the Debian mirror (every package of
fortunes or manual pages in a non-Latin script that it has, plus the one non-Latin translation of the Debian
Reference), before any of them was labelled (stop 61's E67 rule). No Arabic, Hebrew or Indic script is among
them: the mirror has no such package of prose.

Man pages are troff sources; ``man_to_text`` keeps their running text (request lines dropped, the text of font
macros kept, escapes resolved), which is roughly what a rendered page shows. Options and command names stay in
Latin letters, so a page can hold more Latin letters than its prose suggests.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from . import fetch
from .source import LabelledDoc, Source, chunks, every_kth, html_to_text, joined_cookies, read_text

PER_SOURCE = 200
"""At most this many documents per source (``every_kth`` over the sorted pieces)."""

_FONT_MACRO = re.compile(r"^\.(?:B|I|BI|BR|IB|IR|RB|RI|SM|SB)\s+(.*)$")
_SECTION = re.compile(r'^\.(?:SH|SS)\s+"?(.*?)"?\s*$')
_ESCAPES = ((re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\\((..)"), " "),
            (re.compile(r"\\[-]"), "-"), (re.compile(r"\\e"), "\\"), (re.compile(r"\\&|\\c|\\:|\\/|\\,"), ""),
            (re.compile(r"\\ "), " "), (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), ""))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def man_to_text(source: str) -> str:
    """A troff man page's running text: comments, requests and macro definitions dropped, the text of font and
    section macros kept, font changes and escapes resolved."""
    out: list[str] = []
    in_definition = False
    for line in source.split("\n"):
        if in_definition:  # a macro definition (.de, .am) or ignored block (.ig) runs to a line ".."
            in_definition = not line.startswith("..")
            continue
        if re.match(r"^[.'](?:de|de1|am|ig)\b", line):
            in_definition = True
            continue
        if line.startswith((".\\\"", "'\\\"")):
            continue
        macro = _FONT_MACRO.match(line) or _SECTION.match(line)
        if macro:
            line = macro.group(1).replace('"', "")
        elif line.startswith((".", "'")):
            if line[1:3] in ("PP", "LP", "P", "TP", "IP", "SH", "SS") or line[1:2] == "P":
                out.append("")
            continue
        for pattern, repl in _ESCAPES:
            line = pattern.sub(lambda _, r=repl: r, line)
        out.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _cookies(path: Path) -> list[str]:
    return [_ANSI.sub("", c).strip("\n") for c in read_text(path).split("\n%\n") if c.strip()]


def _fortune_docs(package: str, folder: str, name: str) -> Iterator[LabelledDoc]:
    """Cookies of every fortune file of ``package`` under ``folder`` (cookies end with a line ``%``), joined into
    pieces of ~1,500 characters."""
    base = fetch.debian(package) / folder
    pieces: list[tuple[str, str, str]] = []
    files = [p for p in base.rglob("*") if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".gz")
             and b"\n%\n" in p.read_bytes()]
    for path in sorted(files):
        pieces += joined_cookies(path.name, _cookies(path))
    for pid, text, group in every_kth(pieces, PER_SOURCE):
        yield LabelledDoc(f"{name}/{pid}", text, group)


def _man_docs(package: str, folder: str, name: str) -> Iterator[LabelledDoc]:
    """Each man page of ``package`` under ``folder`` as running text, pages under 300 characters skipped."""
    base = fetch.debian(package) / folder
    pages = []
    for path in sorted(p for p in base.rglob("*.gz") if p.is_file() and not p.is_symlink()):
        text = man_to_text(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        if len(text) >= 300:
            pages.append((str(path.relative_to(base)), text[:6000]))
    for rel, text in every_kth(pages, PER_SOURCE):
        yield LabelledDoc(f"{name}/{rel}", text, rel)


def _fortune_source(package: str, kind: str, licence: str, folder: str) -> Source:
    """A fortune package's source: its cookies under ``folder`` joined into pieces (``_fortune_docs``)."""
    return Source(package, "bad", kind, f"debian:{package}", licence, lambda: _fortune_docs(package, folder, package),
                  "cookies joined to ~1,500 chars")


def _man_source(package: str, kind: str, licence: str, folder: str) -> Source:
    """A man-page package's source: its pages under ``folder`` as running text (``_man_docs``)."""
    return Source(package, "bad", kind, f"debian:{package}", licence, lambda: _man_docs(package, folder, package),
                  "troff reduced to running text (man_to_text)")


def debian_reference_ja_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("debian-reference-ja") / "usr/share/debian-reference"
    pieces = []
    for path in sorted(base.glob("*.ja.html")):
        text = re.sub(r"\n\s*\n\s*", "\n\n", html_to_text(read_text(path)))
        pieces += [(f"{path.name}#{k}", piece, path.name) for k, piece in enumerate(chunks(text, 3000))
                   if len(piece) >= 300]
    for pid, text, group in every_kth(pieces, PER_SOURCE):
        yield LabelledDoc(f"debian-reference-ja/{pid}", text, group)


SOURCES: list[Source] = [
    _fortune_source("fortunes-ru", "other script: Russian quotations and jokes", "GPL-2.0-or-later",
                    "usr/share/games/fortunes/ru"),
    _fortune_source("fortunes-bg", "other script: Bulgarian proverbs and quotations", "GPL-2.0-or-later",
                    "usr/share/games/fortunes/bg"),
    _fortune_source("fortunes-zh", "other script: Chinese poems (Tang, Song) and sayings", "GPL-3.0-or-later",
                    "usr/share/games/fortunes"),
    _man_source("manpages-el", "other script: Greek manual pages", "GPL-3.0-or-later", "usr/share/man/el"),
    _man_source("manpages-uk", "other script: Ukrainian manual pages", "GPL-3.0-or-later", "usr/share/man/uk"),
    _man_source("manpages-zh", "other script: Chinese manual pages (zh_CN)", "GFDL-1.2+", "usr/share/man/zh_CN"),
    _man_source("manpages-ja", "other script: Japanese manual pages", "the originals' licences (package copyright)",
                "usr/share/man/ja"),
    Source("debian-reference-ja", "bad", "other script: Japanese system administration guide",
           "debian:debian-reference-ja", "GPL-2.0-or-later", debian_reference_ja_docs,
           "HTML to text, pieces of ~3,000 chars"),
]
"""Sources of text in scripts the shipped models never saw, for ``bench_other_scripts.py`` only."""

LATIN_SOURCES: list[Source] = [
    _fortune_source("fortunes-de", "other language: German quotations, jokes and recipes", "GPL-2.0-or-later",
                    "usr/share/games/fortunes/de"),
    _fortune_source("fortunes-es", "other language: Spanish quotations", "GPL-2.0-or-later",
                    "usr/share/games/fortunes/es"),
    _fortune_source("fortunes-it", "other language: Italian quotations", "not copyrighted (Debian copyright file)",
                    "usr/share/games/fortunes"),
    _fortune_source("fortunes-pl", "other language: Polish quotations and verse", "GPL-2.0-or-later",
                    "usr/share/games/fortunes/pl"),
    _man_source("manpages-de", "other language: German manual pages", "GPL-3.0-or-later", "usr/share/man/de"),
    _man_source("manpages-fr", "other language: French manual pages", "GPL-3.0-or-later", "usr/share/man/fr"),
]
"""Sources of text in Latin-script languages other than English (the language check's side of the same question)."""


def sources_markdown() -> str:
    """Both groups as a Markdown table (docs/label-sources.md): group, kind, origin, licence, documents, MB."""
    from .registry import source_table

    lines = ["| source | group | kind | origin | licence | documents | MB |", "|---|---|---|---|---|---:|---:|"]
    for group, sources in (("other script", SOURCES), ("other language", LATIN_SOURCES)):
        for s in sources:
            t = source_table(s)
            mb = sum(len(x.encode()) for x in t.column("text").to_pylist()) / 1e6
            lines.append(f"| {s.name} | {group} | {s.kind.split(': ', 1)[1]} | `{s.origin}` | {s.licence} | "
                         f"{t.num_rows} | {mb:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(sources_markdown(), end="")

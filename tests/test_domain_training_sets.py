"""The domain model's training examples: short pieces of long documents, and the cut the benchmark uses."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts.labeldata.training_sets import SHORT_CHARS, crop_text, domain_examples, short_crops, translated_rows

WORDS = st.lists(st.text("abcdefgh", min_size=1, max_size=12), min_size=1, max_size=400)
SEPARATORS = st.sampled_from([" ", "\n", "  ", " \n"])


@settings(max_examples=200, deadline=None)
@given(WORDS, SEPARATORS, st.integers(1, 600))
def test_crop_text_is_a_prefix_within_the_limit_and_cuts_no_word_when_it_can(words, sep, chars):
    text = sep.join(words)
    out = crop_text(text, chars)
    assert text.startswith(out) and len(out) <= chars
    if len(text) <= chars:
        assert out == text
    elif len(out) < chars and len(out) > chars // 2:  # cut at whitespace: the next character is a separator
        assert text[len(out)] in " \n"


@settings(max_examples=100, deadline=None)
@given(WORDS, st.integers(0, 3), st.text("xyz/0123456789", min_size=1, max_size=8))
def test_short_crops_are_short_pieces_of_the_text_seeded_by_their_key(words, count, key):
    text = "\n".join(" ".join(words[i:i + 7]) for i in range(0, len(words), 7))
    out = short_crops(text, count, key)
    assert out == short_crops(text, count, key)  # deterministic
    if len(text) <= 2 * SHORT_CHARS[1]:
        assert out == []
        return
    assert len(out) == count
    for piece in out:
        assert len(piece) <= SHORT_CHARS[1] and piece in text
        assert text.startswith(piece) or text[text.index(piece) - 1] in "\n "  # begins at a line start


def test_domain_examples_add_short_pieces_only_when_asked():
    long_web = " ".join(f"word{i}" for i in range(400))  # about 2,900 characters
    short_math = "Let x be 2. Then x + x = 4."
    table = pa.table({"source": ["web-a", "web-a", "math-a"], "domain": ["web", "web", "math"],
                      "text": [long_web, long_web + " end", short_math]})
    labels, texts, _ = domain_examples(table, windows_per_doc=3)
    with_short, short_texts, sources = domain_examples(table, windows_per_doc=3, short_per_doc=2)
    assert labels.count("math") == with_short.count("math")  # short documents give no more pieces
    assert with_short.count("web") == labels.count("web") + 2 * 2  # two pieces per long web document
    assert min(len(t) for lab, t in zip(with_short, short_texts) if lab == "web") <= SHORT_CHARS[1]
    assert domain_examples(table, short_per_doc=2) == (with_short, short_texts, sources)
    assert [s.split("-")[0] for s in sources] == with_short


def test_info_manual_nodes_drop_headers_menus_licences_indexes_and_the_tag_table(tmp_path):
    import gzip

    from scripts.labeldata import registry
    from scripts.labeldata.prose_sources import _info_text
    from scripts.labeldata.training_sets import QUALITY_EXCLUDE

    info = ("This is demo.info, produced by makeinfo.\n\nINFO-DIR-SECTION Basics\n"
            "\x1f\nFile: demo.info,  Node: Top,  Next: Sorting,  Up: (dir)\n\nDemo\n****\n\nA demo manual.\n\n"
            "* Menu:\n\n* Sorting::  How to sort.\n* Joining::  How to join.\n\n"
            "\x1f\nFile: demo.info,  Node: Sorting,  Prev: Top,  Up: Top\n\n1 Sorting\n*********\n\n"
            "'sort' writes its lines in order:\n\n     sort -n numbers.txt\n\n"
            "\x1f\nFile: demo.info,  Node: GNU Free Documentation License,  Prev: Sorting\n\nVersion 1.3\n\n"
            "\x1f\nFile: demo.info,  Node: Concept Index,  Prev: Sorting\n\n* sort:   Sorting.   (line 6)\n\n"
            "\x1f\nTag Table:\nNode: Top\x7f90\nNode: Sorting\x7f300\n\x1f\nEnd Tag Table\n")
    path = tmp_path / "demo.info.gz"
    path.write_bytes(gzip.compress(info.encode()))
    nodes = _info_text(path)
    assert nodes == ["Demo\n****\n\nA demo manual.",
                     "1 Sorting\n*********\n\n'sort' writes its lines in order:\n\n     sort -n numbers.txt"]
    source = registry.source("gnu-info-manuals")
    assert source.domain == "web" and source.name not in registry.HELDOUT
    assert source.name in QUALITY_EXCLUDE  # the domain model learns from it; the graded quality models do not


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.integers(0, 400))
def test_balanced_reaches_the_target_with_every_item_as_often_as_any_other_give_or_take_one(n, target):
    from collections import Counter

    from scripts.labeldata.training_sets import MAX_REPEATS, balanced

    items = list(range(n))
    out = balanced(items, target)
    assert len(out) == min(max(target, n), MAX_REPEATS * n)
    counts = Counter(out)
    assert set(counts) == set(items) and max(counts.values()) - min(counts.values()) <= 1
    assert out[:n] == items and balanced(items, target) == out  # whole copies first; deterministic
    assert balanced([], target) == []


def test_the_corpus_cache_key_follows_the_code_that_makes_a_source(tmp_path, monkeypatch):
    import importlib
    import sys as _sys

    from scripts.labeldata import registry
    from scripts.labeldata.source import Source

    module = tmp_path / "fake_source_module.py"
    module.write_text("def docs():\n    yield from ()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = importlib.import_module("fake_source_module")
    src = Source("fake", "web", "test", "debian:none", "MIT", fake.docs)
    before = registry.code_digest(src)
    assert registry.code_digest(src) == before  # deterministic
    module.write_text("def docs():\n    yield from ()  # a parser change\n")
    assert registry.code_digest(src) != before
    _sys.modules.pop("fake_source_module", None)


def test_giac_manual_pages_lose_their_links_and_title_and_keep_heading_and_examples():
    from scripts.labeldata import registry
    from scripts.labeldata.math_sources import _GIAC_HEADING, giac_page_text
    from scripts.labeldata.training_sets import QUALITY_EXCLUDE

    page = ('<html><head><title>Simplifying trigonometric expressions</title></head><body >\n'
            '<a href="cascmd_en300.html"><img src="previous_motif.svg" alt="Previous"></a>\n'
            '<a href="index.html"><img src="contents_motif.svg" alt="Up"></a>\n<hr>\n'
            '<h3 id="sec682" class="subsection">10.2.6 Simplifying trigonometric expressions</h3>\n'
            '<p>The <span style="font-family:monospace">trigsimplify</span> command simplifies.</p>\n'
            '<table><tr><td>\n     \n\n\n</td><td>tan y</td></tr></table>\n</body></html>')
    text = giac_page_text(page)
    assert text.startswith("10.2.6 Simplifying trigonometric expressions\nThe trigsimplify command simplifies.")
    assert "Previous" not in text and "motif" not in text and "\n\n\n" not in text and "tan y" in text
    assert _GIAC_HEADING.search(page).group(1) == "10"
    assert _GIAC_HEADING.search("<p>15000 Hz</p>") is None  # numbers in the text are not chapters
    source = registry.source("giac-manual")
    assert source.domain == "math" and source.name not in registry.HELDOUT and source.name in QUALITY_EXCLUDE


def test_hol88_proofs_keep_files_that_prove_a_theorem_and_no_contribution_naming_harrison(tmp_path, monkeypatch):
    from scripts.labeldata import math_sources, registry
    from scripts.labeldata.training_sets import QUALITY_EXCLUDE

    root = tmp_path / math_sources.HOL88_CONTRIB
    files = {"sets/thms.ml": "let UNION_COMM = prove_thm(`UNION_COMM`, \"!s t. s UNION t = t UNION s\",\n"
                             "  REPEAT GEN_TAC THEN REWRITE_TAC [UNION_DEF]);;\n",
             "sets/tools.ml": "let MY_TAC = REPEAT STRIP_TAC THEN ASM_REWRITE_TAC [];;\n",  # no theorem proved
             "reals/lemmas.ml": "let th = TAC_PROOF(([], \"x = x\"), REFL_TAC);;\n",
             "reals/README.ml": "% by John Harrison %\n"}  # this contribution names HOL Light's author
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text * 4)  # pieces under 200 characters are dropped
    monkeypatch.setattr(math_sources.fetch, "debian", lambda name: tmp_path)
    docs = list(math_sources._hol88_docs())
    assert [d.group for d in docs] == ["sets/thms.ml"] and "UNION_COMM" in docs[0].text
    # a training source of the domain model since stop 53 (E44 with E49), never of the graded quality models
    source = registry.source("hol88-proofs")
    assert source in registry.all_sources() and source.domain == "math" and source.name not in registry.HELDOUT
    assert source.name in QUALITY_EXCLUDE and source not in registry.experiment_sources()


@pytest.mark.parametrize("extra, message", [
    ([], "experiment sources train the domain models only"),
    (["--only", "domain", "--only", "quality"], "experiment sources train the domain models only"),
    (["--only", "domain"], "write an experiment's models elsewhere"),
    (["--only", "domain", "--out", "unused"], None),
])
def test_training_with_an_experiment_source_never_writes_the_shipped_models(extra, message, tmp_path):
    """``train_default_classifiers.py --with`` is refused unless it rebuilds the domain models only, elsewhere."""
    import subprocess
    import sys as _sys

    root = Path(__file__).resolve().parents[1]
    name = "python-statsmodels" if message else "no-such-source"
    run = subprocess.run([_sys.executable, "scripts/train_default_classifiers.py", "--with", name, *extra],
                         cwd=root, capture_output=True, text=True)
    assert run.returncode == 2
    assert (message or "not experiment sources: ['no-such-source']") in run.stderr


def test_translated_rows_are_found_by_their_paths_in_the_named_sources_only():
    """Stop 62: LyX's examples/<language>/ and the kernel docs' translations/ are translations; the same paths in
    another source, or LyX's own English examples, are not."""
    ids = ["examples/de/splash.lyx#0", "examples/pt_BR/splash.lyx#0", "examples/splash.lyx#0", "doc/Math.lyx#1",
           "translations/zh_CN/howto.rst.gz#0", "process/howto.rst.gz#0", "examples/de/splash.lyx#0"]
    sources = ["lyx-math"] * 4 + ["linux-kernel-docs"] * 2 + ["pari-doc"]
    table = pa.table({"source": sources, "id": ids})
    assert translated_rows(table).tolist() == [True, True, False, False, True, False, False]
    assert translated_rows(table.slice(0, 0)).tolist() == []

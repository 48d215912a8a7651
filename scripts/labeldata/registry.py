"""Every labelled source by name, the fixed held-out sources, and the corpus as one cached table.

``HELDOUT`` was written down before any model was trained or tuned on these sources: they are
never trained on, never used to choose a setting, and reported last by
``benchmarks/bench_labels.py``. Every other source is a *training* source; the
leave-one-source-out figures train on all training sources but one and test on that one.
Run ``python -m scripts.labeldata.registry [--markdown]`` from the repository root for the list.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .fetch import cache_root
from .source import Source

MODULES = ("prose_sources", "code_sources", "math_sources", "reasoning_sources", "junk_sources")

CODE_HELDOUT: tuple[str, ...] = (
    "c-psycopg2", "cpp-jpype1", "java-react-native", "javascript-lodash", "typescript-zod", "python-sqlfluff",
    "go-cobra", "rust-regex", "ruby-rake", "php-php-parser", "shell-debootstrap", "sql-roundcube", "ocaml-lwt",
    "perl-dbix-class", "lua-neovim", "r-base-demos",
)

# Chosen before training (see module docstring); one or more per domain, each unlike the others.
HELDOUT: tuple[str, ...] = (
    # web: mail and political speeches (no other source of either kind is trained on)
    "git-mail-howtos", "sotu-addresses",
    # math: LaTeX journal papers and Agda proofs (other LaTeX manuals and other proof languages train)
    "texlive-papers", "agda-stdlib",
    # reasoning: annotated chess puzzles and lectures
    "pychess-lessons",
    # known-bad: real SMS spam, cookie banners, shuffled words, minified JavaScript
    "sms-spam", "cookie-consent-panels", "shuffled-words", "minified-js",
    # code: one package per language, the last one listed for it in code_sources (a fixed rule,
    # not a choice by score); the code-language benchmark holds out its own package per language
    # (code_sources.HELDOUT_GROUPS; two of them, psycopg2 and zod, are the same)
    *CODE_HELDOUT,
)

CORPUS_VERSION = 1
"""Bump when a source's text changes in a way ``code_digest`` cannot see (a fetched package's contents)."""


def _modules() -> list:
    """The source modules that exist, in ``MODULES`` order."""
    out = []
    for name in MODULES:
        try:
            out.append(importlib.import_module(f".{name}", __package__))
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    return out


def all_sources() -> list[Source]:
    """Every source of every module that exists, in module order (not the experiments' sources)."""
    out: list[Source] = [s for module in _modules() for s in module.SOURCES]
    names = [s.name for s in out + experiment_sources()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"source names must be unique: {dupes}")
    return out


def experiment_sources() -> list[Source]:
    """Sources built for an experiment that did not ship (each module's ``EXPERIMENT_SOURCES``): no shipped model
    trains on them; ``bench_labels.py --with NAME`` adds one to every leave-one-source-out model's training."""
    return [s for module in _modules() for s in getattr(module, "EXPERIMENT_SOURCES", ())]


def experiment_sources_named(names: list[str] | tuple[str, ...]) -> list[Source]:
    """The experiment sources called ``names``, each once, in the order given (the scripts' ``--with``); a name
    that is not one raises ValueError naming it and the experiment sources there are."""
    experiments = {s.name: s for s in experiment_sources()}
    unknown = sorted(set(names) - set(experiments))
    if unknown:
        raise ValueError(f"not experiment sources: {unknown} (registry.experiment_sources: {sorted(experiments)})")
    return [experiments[name] for name in dict.fromkeys(names)]


def extra_code_sources() -> list[Source]:
    """The code-language model's other code packages (``code_sources.LANGUAGE_SOURCES``), for experiments.

    ``bench_labels.py --extra-code`` adds them to every leave-one-source-out model's training set
    (6 to 9 more packages per language, none of them a held-out source's package). Measured
    2026-12-03: macro-F1 0.812 against 0.820 without them (code's 2,400 training documents spread
    over 185 packages instead of 48; gnumed's SQL still read as web), so the shipped domain model
    does not train on them.
    """
    from .code_sources import LANGUAGE_SOURCES
    return list(LANGUAGE_SOURCES)


def source(name: str) -> Source:
    """The registered or experiment source called ``name``."""
    for s in all_sources() + experiment_sources():
        if s.name == name:
            return s
    raise KeyError(f"no labelled source {name!r}")


def code_digest(src: Source) -> str:
    """A digest of the code that makes ``src``'s text: the file of the module defining its ``docs`` function and
    ``source.py`` (the shared helpers). Part of the cache key, so editing a parser rebuilds the tables it made
    (stop 45 found a changed parser reading its old cached table)."""
    digest = hashlib.sha256()
    for path in (sys.modules[src.docs.__module__].__file__, Path(__file__).with_name("source.py")):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


def source_table(src: Source, max_chars: int = 200_000) -> pa.Table:
    """One source's documents (text cut at ``max_chars``), cached as Parquet by source, version and the
    ``code_digest`` of the code that makes them."""
    key = hashlib.sha256(f"{CORPUS_VERSION}:{src.name}:{src.origin}:{max_chars}:{code_digest(src)}"
                         .encode()).hexdigest()[:12]
    path = cache_root() / "tables" / f"{src.name}-{key}.parquet"
    if path.exists():
        return pq.read_table(path)
    start = time.perf_counter()
    rows = {"source": [], "domain": [], "kind": [], "id": [], "group": [], "code_language": [], "text": []}
    for doc in src.docs():
        rows["source"].append(src.name)
        rows["domain"].append(src.domain)
        rows["kind"].append(src.kind)
        rows["id"].append(doc.id)
        rows["group"].append(doc.group or doc.id)
        rows["code_language"].append(doc.code_language)
        rows["text"].append(doc.text[:max_chars])
    table = pa.table({k: pa.array(v, pa.large_string() if k == "text" else pa.string()) for k, v in rows.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.rename(path)
    print(f"  {src.name}: {table.num_rows} documents in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return table


def corpus_table(sources: list[Source] | None = None) -> pa.Table:
    """Every document of ``sources`` (default: all) as one table: source, domain, kind, id, group, text."""
    tables = [source_table(s) for s in (sources if sources is not None else all_sources())]
    return pa.concat_tables(tables) if tables else pa.table({})


def sources_markdown() -> str:
    """Every source as a Markdown table (domain, kind, origin, licence, documents, MB, role)."""
    lines = ["| source | domain | kind | origin | licence | documents | MB | role |",
             "|---|---|---|---|---|---:|---:|---|"]
    for s in all_sources():
        t = source_table(s)
        mb = sum(len(x.encode()) for x in t.column("text").to_pylist()) / 1e6
        role = "held-out" if s.name in HELDOUT else "training"
        lines.append(f"| {s.name} | {s.domain} | {s.kind} | `{s.origin}` | {s.licence} | {t.num_rows:,} | {mb:.2f} "
                     f"| {role} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--markdown" in sys.argv:
        print(sources_markdown(), end="")
    else:
        for s in all_sources():
            t = source_table(s)
            mb = sum(len(x.encode()) for x in t.column("text").to_pylist()) / 1e6
            print(f"{s.name:<28} {s.domain:<10} {s.kind:<28} {t.num_rows:>6} {mb:>7.2f} MB  "
                  f"{'HELD-OUT' if s.name in HELDOUT else ''}")

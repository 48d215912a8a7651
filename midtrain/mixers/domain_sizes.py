"""Domain sizes of a token corpus as a schedule sees them, and loading a schedule against them.

Usually a domain's size is its unique tokens in the manifest (no shard opened). The corpus is a
folder or a URL (``s3://...``); at a URL the manifest and, when documents are needed, each shard's
offsets are read (:func:`midtrain.corpus.document_lengths`), never a token. One case needs
the documents: a schedule that names ``long`` on a corpus without a ``long`` domain (curated
documents keep their topical domain; length is a property, not a topic). Then ``long`` is
virtual: every document of at least ``long_min_tokens`` tokens, from every domain, each left out
of its own domain (:func:`midtrain.corpus.select_documents`, the same selection the loader makes),
so the sizes here are the tokens the loader serves per epoch of each domain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from midtrain.errors import ConfigError
from midtrain.mixers.language import MissingDomains, load_schedule, long_threshold, named_domains, read_definition
from midtrain.mixers.schedule import Schedule


def corpus_domain_tokens(corpus_dir: str | os.PathLike, *, schedule: Any = None,
                         long_min_tokens: int | None = None) -> dict[str, int]:
    """Unique tokens per domain of a token corpus, as ``schedule`` would draw them.

    Without ``schedule`` (or when it does not name ``long``, or the corpus has a ``long`` domain):
    the manifest's totals, no shard opened. When ``long`` is virtual: every domain's tokens
    without its long documents, and ``long`` with all of them (``long_min_tokens``, else the
    schedule's ``long.min_tokens``, else 32,768). An empty virtual ``long`` is a ConfigError.
    """
    sizes, empty = _sizes(corpus_dir, schedule, long_min_tokens)
    if empty is not None:
        raise ConfigError(empty)
    return sizes


def load_schedule_for_corpus(source: str | os.PathLike | Mapping[str, Any] | Schedule, corpus_dir: str | os.PathLike,
                             *, total_tokens: int | None = None, missing_domains: MissingDomains | None = None,
                             long_min_tokens: int | None = None) -> tuple[Schedule, dict[str, int]]:
    """Load ``source`` against a token corpus; return it with the domain sizes it was resolved with.

    As :func:`load_schedule` with ``domain_tokens=corpus_domain_tokens(corpus_dir, schedule=source)``.
    A virtual ``long`` with no document counts as a domain the corpus lacks: ``missing_domains:
    renormalise`` drops it, otherwise the error says which threshold left it empty and how long the
    longest document is.
    """
    sizes, empty = _sizes(corpus_dir, source, long_min_tokens)
    try:
        schedule = load_schedule(source, total_tokens=total_tokens, domain_tokens=sizes,
                                 missing_domains=missing_domains)
    except ConfigError as exc:
        if empty is not None:
            raise ConfigError(f"{exc}; {empty}") from None
        raise
    return schedule, sizes


def virtual_long_threshold(schedule: Schedule, corpus_dir: str | os.PathLike,
                           long_min_tokens: int | None = None) -> int | None:
    """The threshold that selects ``schedule``'s ``long`` on this corpus, or ``None`` when ``long``
    is not virtual (the schedule does not name it, or the corpus has a ``long`` domain)."""
    from midtrain.corpus.lengths import resolve_long_min_tokens, virtual_long

    if not virtual_long(schedule.domains, manifest_domain_tokens(corpus_dir)):
        return None
    return resolve_long_min_tokens(long_min_tokens, schedule.long_min_tokens)


def manifest_domain_tokens(corpus_dir: str | os.PathLike) -> dict[str, int]:
    """Unique tokens per domain from the manifest alone (a folder's, or a corpus URL's)."""
    from midtrain.corpus import Manifest
    from midtrain.storage.objects import is_url

    if is_url(corpus_dir):
        from midtrain.corpus.remote import read_manifest

        manifest = read_manifest(str(corpus_dir))
    else:
        manifest = Manifest.read(corpus_dir)
    if manifest.kind != "token":
        raise ConfigError(f"{corpus_dir}: is a {manifest.kind} corpus; planning needs a token corpus "
                          "(run the tokenize stage first)")
    return {d: t["tokens"] for d, t in manifest.domains.items()}


def _sizes(corpus_dir: str | os.PathLike, source: Any,
           long_min_tokens: int | None) -> tuple[dict[str, int], str | None]:
    """The sizes, and why a virtual ``long`` is empty (then it is left out of the sizes) or ``None``."""
    from midtrain.corpus.lengths import (document_lengths, empty_long_message, resolve_long_min_tokens,
                                         select_documents, virtual_long)

    sizes = manifest_domain_tokens(corpus_dir)
    if source is None:
        return sizes, None
    if isinstance(source, Schedule):
        names, threshold = set(source.domains), source.long_min_tokens
    else:
        body = dict(source) if isinstance(source, Mapping) else read_definition(Path(source))
        try:
            names, threshold = named_domains(body), long_threshold(body)
        except ConfigError as exc:
            if isinstance(source, Mapping):
                raise
            raise ConfigError(f"{source}: {exc}") from None
    if not virtual_long(names, sizes):
        return sizes, None
    threshold = resolve_long_min_tokens(long_min_tokens, threshold)
    lengths = document_lengths(corpus_dir)
    try:
        return select_documents(lengths, [*sizes, "long"], threshold).tokens(lengths), None
    except ConfigError:
        return sizes, empty_long_message(lengths, threshold)


def plan_domain_lengths(corpus_dir: str | os.PathLike, schedule: Schedule,
                        long_min_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Token length of every document of each schedule domain, as the loader will see them (a
    virtual ``long`` takes its documents out of their topical domains)."""
    from midtrain.corpus.lengths import DEFAULT_LONG_MIN_TOKENS, document_lengths, select_documents

    lengths = document_lengths(corpus_dir)
    selection = select_documents(lengths, schedule.domains, long_min_tokens or DEFAULT_LONG_MIN_TOKENS)
    out = {}
    for domain, parts in selection.parts.items():
        out[domain] = np.concatenate([lengths[src] if idx is None else lengths[src][idx] for src, idx in parts])
    return out

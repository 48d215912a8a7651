"""Document lengths of a token corpus, and the length-selected ``long`` domain.

Length is a property of every document, not a topic. A token shard's offsets *are* its document
boundaries, so :func:`document_lengths` gives every document's length in tokens without reading a
token (a few bytes per document, never per token).

Long-context recipes upsample long documents *within each source* rather than upweighting sources
that happen to be long (Fu et al. 2024, "Data Engineering for Scaling Language Models to 128K
Context", arXiv 2402.10171: per-source length upsampling keeps the domain mix). So curated
documents keep their topical domain, and a schedule that names ``long`` on a corpus without a
``long`` domain gets a *virtual* one (:func:`select_documents`): every document with at least
``long_min_tokens`` tokens, taken from every domain of the corpus, and left out of its own domain
in that plan, so each document is drawn once per epoch. A corpus that does have a ``long`` domain
(tokenized when curation still labelled documents of >= 128 KiB as ``long``) is used as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

from midtrain.corpus.reader import TokenCorpus, open_token_corpus
from midtrain.errors import ConfigError
from midtrain.storage.objects import is_url

if TYPE_CHECKING:
    from midtrain.corpus.remote import RemoteTokenCorpus

LONG_DOMAIN = "long"
"""The schedule domain that means "long documents, whatever their topic"."""

DEFAULT_LONG_MIN_TOKENS = 32_768
"""Tokens a document needs to count as long. Curation used to put documents of >= 128 KiB of text
into a ``long`` domain; at about 4 bytes per token (Llama 3's 128K-vocabulary tokenizer on English
web text) that is ~32K tokens, so the default keeps what ``long`` meant. It is also the
long-context ``seq_len`` of the example schedule (``midtrain.mixers.EXAMPLE_SCHEDULE``): every long
document fills at least one whole long-context row."""


def document_lengths(corpus: TokenCorpus | RemoteTokenCorpus | str | os.PathLike) -> dict[str, np.ndarray]:
    """Token length of every document, per domain (shards concatenated in manifest order).

    Read from the offsets of the memory-mapped shards: 8 bytes per document, no token touched. A
    corpus at a URL is opened with :func:`~midtrain.corpus.remote.open_remote_corpus`, which reads
    each shard's head, tail and offsets buffer, and no token block.
    """
    if is_url(corpus):
        # the remote reader brings numba and fsspec: loaded only for a URL
        from midtrain.corpus.remote import open_remote_corpus

        corpus = open_remote_corpus(str(corpus))
    elif isinstance(corpus, (str, os.PathLike)):
        corpus = open_token_corpus(corpus)
    return {d: corpus.doc_lengths(d) for d in corpus.domains}


def check_long_min_tokens(value: object, key: str = "long_min_tokens") -> int:
    """``value`` as a positive token count, else a :class:`ConfigError` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{key}: must be a positive integer number of tokens, got {value!r}")
    return int(value)


def resolve_long_min_tokens(*candidates: int | None) -> int:
    """The first threshold given (an explicit argument, then the schedule's), else the default."""
    for value in candidates:
        if value is not None:
            return check_long_min_tokens(value)
    return DEFAULT_LONG_MIN_TOKENS


def virtual_long(domains: Iterable[str], corpus_domains: Iterable[str]) -> bool:
    """True when ``long`` is length-selected: the schedule names it and the corpus has no such domain."""
    return LONG_DOMAIN in set(domains) and LONG_DOMAIN not in set(corpus_domains)


@dataclass(frozen=True)
class DocumentSelection:
    """Which documents of which corpus domain make each plan domain.

    ``parts[domain]`` lists ``(corpus domain, document indices)``; indices ``None`` means every
    document of that corpus domain (the plain case, so nothing is copied).
    """

    parts: dict[str, tuple[tuple[str, np.ndarray | None], ...]]
    long_min_tokens: int | None
    """The threshold when ``long`` is virtual (length-selected); ``None`` when it is not."""

    def lengths(self, lengths: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Token length of every document of every plan domain, in plan order."""
        out = {}
        for domain, parts in self.parts.items():
            pieces = [lengths[src] if idx is None else lengths[src][idx] for src, idx in parts]
            out[domain] = np.concatenate(pieces).astype(np.int64, copy=False) if pieces else np.zeros(0, np.int64)
        return out

    def tokens(self, lengths: Mapping[str, np.ndarray]) -> dict[str, int]:
        """Unique tokens per plan domain (what one epoch of the domain serves)."""
        return {d: int(x.sum()) for d, x in self.lengths(lengths).items()}


def select_documents(lengths: Mapping[str, np.ndarray], domains: Iterable[str],
                     long_min_tokens: int = DEFAULT_LONG_MIN_TOKENS) -> DocumentSelection:
    """The documents of each of ``domains`` (plan domains) in a corpus with these ``lengths``.

    Plan domains the corpus has are taken whole, unless ``long`` is virtual (:func:`virtual_long`):
    then ``long`` is every document with at least ``long_min_tokens`` tokens, from every corpus
    domain in sorted order (shard order within each), and each topical domain keeps only its
    shorter documents. Plan domains the corpus lacks are left out (the caller reports them). A
    virtual ``long`` with no document is a :class:`ConfigError` naming the threshold and the
    longest document.
    """
    domains = list(domains)
    if not virtual_long(domains, lengths):
        return DocumentSelection({d: ((d, None),) for d in domains if d in lengths}, None)
    threshold = check_long_min_tokens(long_min_tokens)
    parts: dict[str, tuple[tuple[str, np.ndarray | None], ...]] = {}
    for d in domains:
        if d in lengths:
            parts[d] = ((d, np.flatnonzero(lengths[d] < threshold)),)
    long_parts = []
    for src in sorted(lengths):
        idx = np.flatnonzero(lengths[src] >= threshold)
        if len(idx):
            long_parts.append((src, idx))
    if not long_parts:
        raise ConfigError(empty_long_message(lengths, threshold))
    parts[LONG_DOMAIN] = tuple(long_parts)
    return DocumentSelection(parts, threshold)


def empty_long_message(lengths: Mapping[str, np.ndarray], threshold: int) -> str:
    """Why a virtual ``long`` is empty, naming the threshold, the longest document and the fixes."""
    longest, where = 0, None
    for d in sorted(lengths):
        if len(lengths[d]) and int(lengths[d].max()) > longest:
            longest, where = int(lengths[d].max()), d
    found = (f"the longest document has {longest:,} tokens (domain {where!r})" if where
             else "the corpus has no documents")
    return (f"long: no document has at least {threshold:,} tokens (long_min_tokens), so the length-selected 'long' "
            f"domain is empty; {found}. Lower the threshold (schedule key long: {{min_tokens: N}}, "
            "build_loader(long_min_tokens=N), midtrain plan --long-min-tokens N) or take 'long' out of the schedule")

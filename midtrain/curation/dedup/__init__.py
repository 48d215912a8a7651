"""Exact and fuzzy (MinHash-LSH, verified) deduplication of a text corpus, corpus -> corpus.

``dedup_corpus(in_corpus, out_dir, DedupConfig(...))`` drops documents identical up to whitespace
and near-duplicates (estimated Jaccard ≥ threshold over word n-gram shingles), keeping one
document per cluster (highest quality score, then smallest id). Removed documents go to
``rejected/`` with ``duplicate_of=<id>``. Imports here stay light: the stages (numba, datatrove)
load on first use.
"""

from __future__ import annotations

from typing import Any

from midtrain.curation.dedup.config import DedupConfig, candidate_probability, explain

__all__ = ["DedupConfig", "candidate_probability", "dedup_corpus", "explain"]


def dedup_corpus(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`midtrain.curation.dedup.job.dedup_corpus`."""
    from midtrain.curation.dedup.job import dedup_corpus as run

    return run(*args, **kwargs)

"""Near neighbours of documents at a low similarity threshold, from midtrain's MinHash signatures.

The distractors of the interleave task (NExtLong, 2501.12766: a document's chunks interleaved with
chunks of *similar* documents, hard negatives) need "documents about the same thing", not
duplicates. This reuses the dedup stage's kernels (:mod:`midtrain.curation.stages.dedup`):
FineWeb normalisation, word n-gram MinHash signatures, LSH band keys, bucket pairs and the
verification against the Jaccard estimated from the full signature. Only the settings differ:
word 2-grams and 64 bands × 2 rows put the LSH threshold at (1/64)^(1/2) = 0.125, so
P(candidate | J = 0.2) = 1 − (1 − 0.2²)^64 = 0.93, and pairs are kept from an estimated Jaccard of
0.1 (dedup: 5-grams, 16 × 8, 0.8). Everything is in memory: this runs on the pool of documents
the synthetic domain is built from, not on a whole corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from midtrain.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class NeighbourConfig:
    """How near a distractor document must be (MinHash over word n-grams, LSH, verified)."""

    threshold: float = 0.1
    """Estimated Jaccard of word n-gram sets at or above which two documents are neighbours."""
    ngram: int = 2
    """Words per shingle; 2-grams let documents on one topic overlap (5-grams find only copies)."""
    bands: int = 64
    """LSH bands; with ``rows`` they set the candidate threshold (1/bands)^(1/rows)."""
    rows: int = 2
    """Signature slots per band."""
    seed: int = 1
    """Seed of the MinHash permutations."""
    max_neighbours: int = 8
    """Neighbours kept per document, most similar first."""
    max_bucket_pairs: int = 32
    """Buckets larger than this pair linearly (dedup's rule), which bounds the candidate count."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"neighbours.threshold: must be in (0, 1], got {self.threshold!r}")
        for key in ("ngram", "bands", "rows", "max_neighbours", "max_bucket_pairs"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"neighbours.{key}: must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class Neighbours:
    """Per document, its neighbours (indices into the input list), most similar first; CSR layout."""

    indptr: np.ndarray
    """``indptr[i]:indptr[i + 1]`` slices ``index`` and ``similarity`` for document ``i``."""
    index: np.ndarray
    similarity: np.ndarray
    """Estimated Jaccard (equal signature slots / slots)."""
    candidate_pairs: int
    verified_pairs: int

    def of(self, i: int) -> np.ndarray:
        return self.index[self.indptr[i]:self.indptr[i + 1]]


def near_neighbours(texts: list[str] | pa.Array, config: NeighbourConfig | None = None) -> Neighbours:
    """The near neighbours of every text, deterministic for the same texts in the same order.

    Ties in similarity are broken by the smaller index. An empty text has no neighbours.
    """
    from midtrain.curation.stages.dedup.lsh import band_keys, bucket_pairs, unique_pairs, verify_pairs
    from midtrain.curation.stages.dedup.minhash import minhash_signatures, permutations
    from midtrain.curation.stages.dedup.normalize import normalize_unicode

    config = config or NeighbourConfig()
    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.large_string())
    n = len(array)
    a, b = permutations(config.bands * config.rows, config.seed)
    signatures = minhash_signatures(normalize_unicode(array), ngram=config.ngram, a=a, b=b)
    keys = band_keys(signatures, config.bands, config.rows)
    parts = [np.zeros((0, 2), np.int64)]
    for band in range(config.bands):
        column = np.ascontiguousarray(keys[:, band])
        order = np.argsort(column, kind="stable")
        parts.append(bucket_pairs(column[order], order.astype(np.int64), config.max_bucket_pairs))
    pairs = unique_pairs(np.concatenate(parts))
    candidates = len(pairs)
    if candidates:
        pairs = pairs[verify_pairs(pairs, np.arange(n, dtype=np.int64), signatures, config.threshold)]
    similarity = (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1) if len(pairs) else np.zeros(0)
    # both directions, then per document: most similar first, smaller index on ties, at most max_neighbours
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    sim = np.concatenate([similarity, similarity])
    order = np.lexsort((dst, -sim, src))
    src, dst, sim = src[order], dst[order], sim[order]
    counts = np.bincount(src, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else np.zeros(0, np.int64)
    rank = np.arange(len(src)) - np.repeat(starts, counts)
    keep = rank < config.max_neighbours
    src, dst, sim = src[keep], dst[keep], sim[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))]).astype(np.int64)
    return Neighbours(indptr=indptr, index=dst.astype(np.int64), similarity=sim.astype(np.float64),
                      candidate_pairs=int(candidates), verified_pairs=int(len(pairs)))

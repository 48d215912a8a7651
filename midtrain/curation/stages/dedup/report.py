"""``DedupReport``: what a deduplication run removed, by step, and how LSH candidates fared."""

from __future__ import annotations

from dataclasses import dataclass

from midtrain.curation.stages.stage import StageReport


@dataclass(frozen=True, kw_only=True)
class DedupReport(StageReport):
    """Counts of one run; ``rejected`` is ``{"exact_dedup" | "minhash_dedup": {"duplicate_of": n}}``."""

    lsh: dict[str, int]
    """``candidate_pairs`` (summed over bands), ``verified_pairs`` and ``rejected_by_verification``
    (candidates whose full-signature Jaccard estimate fell below the threshold)."""

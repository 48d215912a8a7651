"""``DedupConfig``: what counts as a duplicate, and the LSH banding that finds candidates.

Defaults follow the settings in practice: word 5-grams of FineWeb-normalised text (FineWeb and
datatrove's MinHash dedup use 5-grams with 14 bands × 8 rows, threshold ≈ 0.72). midtrain uses 16 × 8 =
128 permutations: the LSH threshold (1/16)^(1/8) ≈ 0.71 sits well below the target Jaccard 0.8, so
P(candidate | J = 0.85) = 0.99, and every candidate pair is then *verified* against the Jaccard
estimated from all ``num_perm`` slots before it may join a cluster, which removes the LSH false
positives that a low banding threshold lets in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from midtrain.curation.stages.stage import StageConfig
from midtrain.errors import ConfigError

SIGNATURE_SCHEME = "multiply-add-2^32/v1"
"""How signatures are computed (:mod:`.minhash`: ``a·x + b`` wrapping at 2^32 over the high 32 bits
of each shingle's hash); stored with every signature that outlives a run, since signatures of two
schemes do not compare."""
OLD_SIGNATURE_SCHEME = "mod-mersenne-61"
"""midtrain's scheme before issue 19, ``(a·x + b) mod (2^61 − 1)``; files of it carry no scheme name."""

if TYPE_CHECKING:
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.stages.dedup.report import DedupReport


@dataclass(frozen=True, kw_only=True)
class DedupConfig(StageConfig):
    """Exact and fuzzy (MinHash-LSH) deduplication settings (the ``dedup:`` section of a curate config)."""

    stage_name = "dedup"

    threshold: float = 0.8
    """Estimated Jaccard similarity at or above which two documents are duplicates."""
    ngram: int = 5
    """Words per shingle (FineWeb: 5; word 5-grams tolerate small edits)."""
    bands: int = 16
    """LSH bands: a pair becomes a candidate when all ``rows`` slots of any band agree."""
    rows: int = 8
    """Signature slots per band."""
    num_perm: int | None = 256
    """Permutations per signature; ``None`` = ``bands × rows``. The slots beyond ``bands × rows``
    only sharpen the verification estimate (standard error sqrt(J(1−J)/num_perm): 0.035 at
    J = 0.8 with 128, 0.025 with 256). 256 by default: with 128 the removed documents' precision at
    threshold 0.8 was 0.934, with 256 it is 0.954 (benchmarks/bench_dedup_quality.py)."""
    seed: int = 1
    """Seed of the permutation parameters; signatures are comparable only with the same seed."""
    exact: bool = True
    """Drop documents identical up to whitespace (hash of whitespace-folded text)."""
    fuzzy: bool = True
    """Drop near-duplicates (MinHash-LSH with verification)."""
    quality_column: str = "quality_score"
    """Column whose highest value wins a cluster (if present); ties and absence fall back to id."""
    max_bucket_pairs: int = 32
    """A bucket with at most this many documents is verified pair by pair; a larger one (a big
    cluster) only pairs each member with the first and with its neighbour, which keeps the pair
    count linear while still connecting every true duplicate to the cluster."""
    batch_rows: int = 8192
    """Documents per record batch when streaming a shard (bounds memory)."""

    def __post_init__(self) -> None:
        _check(0.0 < self.threshold <= 1.0, "threshold", f"must be in (0, 1], got {self.threshold!r}")
        for key in ("ngram", "bands", "rows", "max_bucket_pairs", "batch_rows"):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1, key,
                   f"must be a positive integer, got {value!r}")
        if self.num_perm is not None:
            _check(isinstance(self.num_perm, int) and self.num_perm >= self.bands * self.rows, "num_perm",
                   f"must be an integer ≥ bands × rows = {self.bands * self.rows}, got {self.num_perm!r}")
        _check(isinstance(self.seed, int) and 0 <= self.seed < 2**63, "seed", f"must be a non-negative integer, got {self.seed!r}")
        _check(self.exact or self.fuzzy, "exact", "exact and fuzzy are both off: nothing to deduplicate")
        _check(isinstance(self.quality_column, str) and bool(self.quality_column), "quality_column",
               "must be a column name")

    @property
    def permutations(self) -> int:
        """The signature length actually used."""
        return self.num_perm if self.num_perm is not None else self.bands * self.rows

    def signature_settings(self) -> dict[str, Any]:
        """The settings that make two signatures comparable (stored in an index)."""
        return {"ngram": self.ngram, "bands": self.bands, "rows": self.rows, "num_perm": self.permutations,
                "seed": self.seed, "normalisation": "fineweb-v1", "scheme": SIGNATURE_SCHEME}

    def fingerprint(self) -> str:
        """A short hash of :meth:`signature_settings`: equal for configs whose signatures are comparable."""
        text = json.dumps(self.signature_settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def run(self, corpus: str | os.PathLike, output: str | os.PathLike, executor: ExecutorConfig, *,
            logging_dir: str | None = None, progress: bool = False) -> DedupReport:
        """Deduplicate ``corpus`` into ``output`` with these settings (see :func:`dedup_corpus`)."""
        from midtrain.curation.stages.dedup.job import run_dedup

        return run_dedup(corpus, output, self, executor, logging_dir=logging_dir, progress=progress)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(two documents share at least one band) = 1 − (1 − J^r)^b."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def verification_probability(jaccard: float, num_perm: int, threshold: float) -> float:
    """P(the signature estimate ≥ threshold): binomial tail of ``num_perm`` slots agreeing with prob. J."""
    need = math.ceil(threshold * num_perm - 1e-9)
    if jaccard >= 1.0:
        return 1.0
    return sum(math.comb(num_perm, k) * jaccard**k * (1 - jaccard) ** (num_perm - k) for k in range(need, num_perm + 1))


def explain(config: DedupConfig) -> str:
    """The detection curve of ``config`` as a table: candidate, verified and overall probability by J."""
    b, r, k, t = config.bands, config.rows, config.permutations, config.threshold
    lines = [f"MinHash-LSH: {b} bands × {r} rows ({k} permutations), word {config.ngram}-grams, "
             f"verification threshold J ≥ {t}",
             f"LSH threshold (1/b)^(1/r) ≈ {(1 / b) ** (1 / r):.3f}; a pair is a duplicate when it is a candidate "
             f"AND its estimated Jaccard ≥ {t}",
             "(verification removes LSH false positives: candidates below the threshold never join a cluster)",
             "",
             f"{'Jaccard':>8}  {'P(candidate)':>12}  {'P(verified)':>11}  {'P(detected)':>11}"]
    for j in (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        pc_ = candidate_probability(j, b, r)
        pv = verification_probability(j, k, t)
        lines.append(f"{j:>8.2f}  {pc_:>12.3f}  {pv:>11.3f}  {pc_ * pv:>11.3f}")
    if candidate_probability(t, b, r) < 0.9:
        lines.append(f"warning: P(candidate | J = {t}) < 0.9; lower rows or raise bands to catch more pairs")
    return "\n".join(lines)

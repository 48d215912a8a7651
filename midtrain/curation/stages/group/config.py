"""``GroupConfig``: which documents form one output document, and how they are joined.

Two ways to group (``group_by``):

- ``repo``: the files of one package (the first ``package_depth`` parts of the document id), in
  dependency order, each preceded by a path header (DeepSeek-Coder, 2401.14196, §2: repository-level
  data, "smallest in-degree first");
- ``similar``: chains of near neighbours under MinHash at a low Jaccard threshold, a greedy path as
  In-Context Pretraining (2310.10638) builds from embeddings. The defaults (word 5-grams, 50 bands ×
  2 rows, 128 permutations, J ≥ 0.3) make P(candidate | J = 0.3) = 1 − (1 − 0.3²)^50 = 0.99 while two
  unrelated documents (J ≈ 0.001 on 5-grams) collide with P ≈ 5·10⁻⁵; every candidate is then
  verified against the Jaccard estimated from all 128 slots, as in dedup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from midtrain.curation.stages.stage import StageConfig
from midtrain.errors import ConfigError

if TYPE_CHECKING:
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.stages.dedup.config import DedupConfig
    from midtrain.curation.stages.group.report import GroupReport


@dataclass(frozen=True, kw_only=True)
class GroupConfig(StageConfig):
    """Grouping settings (the ``group:`` section of a curate config, or ``midtrain group`` flags)."""

    stage_name = "group"

    group_by: Literal["repo", "similar"] = "repo"
    """``repo``: one document per package, files in dependency order; ``similar``: chains of near neighbours."""
    max_chars: int | None = None
    """Most characters of one output document (headers and separators included); None = no limit.
    ``repo``: a longer package is cut into consecutive parts ``<package>#1``, ``#2``, ...;
    ``similar``: a chain stops before the neighbour that would pass it."""
    oversize: Literal["error", "alone"] = "error"
    """A single document longer than ``max_chars``: ``error`` (ConfigError naming it) or ``alone``
    (it becomes a part / group of its own, longer than the limit, counted in the report)."""
    package_depth: int = 1
    """``repo``: how many leading ``/``-separated parts of the id name the package (``owner/repo/...``: 2)."""
    max_docs: int = 32
    """``similar``: most documents in one group."""
    separator: str = "\n\n"
    """``similar``: what is put between two documents of a group."""
    threshold: float = 0.3
    """``similar``: estimated Jaccard of word n-grams at or above which two documents are neighbours."""
    ngram: int = 5
    """``similar``: words per shingle."""
    bands: int = 50
    """``similar``: LSH bands."""
    rows: int = 2
    """``similar``: signature slots per band."""
    num_perm: int = 128
    """``similar``: permutations per signature (at least ``bands × rows``)."""
    seed: int = 1
    """``similar``: seed of the MinHash permutations."""
    shard_size_mb: float = 64.0
    """An output shard is closed once its text reaches this many million characters."""
    batch_rows: int = 8192
    """Documents per record batch when streaming an input shard."""

    def __post_init__(self) -> None:
        _check(self.group_by in ("repo", "similar"), "group_by", f"expected 'repo' or 'similar', got {self.group_by!r}")
        _check(self.oversize in ("error", "alone"), "oversize", f"expected 'error' or 'alone', got {self.oversize!r}")
        if self.max_chars is not None:
            _check(_positive_int(self.max_chars), "max_chars", f"must be a positive integer, got {self.max_chars!r}")
        for key in ("package_depth", "max_docs", "ngram", "bands", "rows", "num_perm", "batch_rows"):
            value = getattr(self, key)
            _check(_positive_int(value), key, f"must be a positive integer, got {value!r}")
        _check(self.num_perm >= self.bands * self.rows, "num_perm",
               f"must be ≥ bands × rows = {self.bands * self.rows}, got {self.num_perm}")
        _check(isinstance(self.threshold, (int, float)) and 0.0 < self.threshold <= 1.0, "threshold",
               f"must be in (0, 1], got {self.threshold!r}")
        _check(isinstance(self.separator, str), "separator", f"must be a string, got {self.separator!r}")
        _check(isinstance(self.seed, int) and 0 <= self.seed < 2**63, "seed",
               f"must be a non-negative integer, got {self.seed!r}")
        _check(isinstance(self.shard_size_mb, (int, float)) and self.shard_size_mb > 0, "shard_size_mb",
               f"must be positive, got {self.shard_size_mb!r}")

    @property
    def shard_chars(self) -> int:
        return max(1, int(self.shard_size_mb * 1_000_000))

    def minhash_config(self) -> DedupConfig:
        """The dedup settings whose signature and LSH steps find this stage's neighbours."""
        from midtrain.curation.stages.dedup.config import DedupConfig

        return DedupConfig(threshold=self.threshold, ngram=self.ngram, bands=self.bands, rows=self.rows,
                           num_perm=self.num_perm, seed=self.seed, exact=False, fuzzy=True,
                           batch_rows=self.batch_rows)

    def run(self, corpus: str | os.PathLike, output: str | os.PathLike, executor: ExecutorConfig, *,
            logging_dir: str | None = None, progress: bool = False) -> GroupReport:
        """Group ``corpus`` into ``output`` with these settings (see :func:`group_corpus`)."""
        from midtrain.curation.stages.group.job import run_group

        return run_group(corpus, output, self, executor, logging_dir=logging_dir, progress=progress)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")

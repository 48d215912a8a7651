"""``DecontReport``: which evaluation items were found in which documents, and what was done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from midtrain.curation.stages.stage import StageReport


@dataclass(frozen=True, kw_only=True)
class DecontReport(StageReport):
    """Counts and matches of one run; ``rejected`` is ``{"decontaminate": {"contaminated=<set>": n}}``."""

    cut: int
    """Documents kept with the overlapping spans cut out (``cut`` mode)."""
    matches: list[dict[str, Any]]
    """One entry per contaminated document: ``{"doc", "shard", "items": [{"set", "item", "score",
    "rule", "span", "ngrams"}], "action"}`` (plus ``cut_bytes`` in ``cut`` mode). ``span`` is the
    character range ``[start, end)`` of the original text from the first to the last matched word;
    ``rule`` is one of :data:`.scoring.RULES`; ``ngrams`` counts the distinct matched n-grams."""
    unmatchable: dict[str, int]
    """Per set, items that cannot be found: empty, fewer than ``short_min_words`` words, or no
    n-gram of enough content words."""

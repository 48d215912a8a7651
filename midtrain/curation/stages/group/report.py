"""``GroupReport``: what a grouping run made of its input, and how well the order kept the imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from midtrain.curation.stages.stage import StageReport


@dataclass(frozen=True, kw_only=True)
class GroupReport(StageReport):
    """Counts of one run. ``input`` documents became ``kept`` groups; grouping removes nothing
    (``rejected`` is empty) and every input document is a member of exactly one group."""

    group_by: str
    members: int
    """Documents placed in a group (always ``input``)."""
    singletons: int
    """Groups of one document."""
    lengths: dict[str, float]
    """Characters per group: ``min``, ``p50``, ``p90``, ``max``, ``mean``."""
    order: dict[str, Any] = field(default_factory=dict)
    """``repo``: ``packages``, ``split_packages`` (cut into ``#k`` parts), ``edges`` (resolved
    intra-package import edges), ``satisfied`` (dependency placed first), the same on acyclic
    packages and outside cycles, ``cycles`` (strongly connected components of more than one file),
    ``cyclic_packages``, ``files_in_cycles``, ``breaks`` (files placed before one of their
    dependencies), ``external_references`` (imports of other packages), ``parsers`` (files per
    parser: python, python-regex, go, go-ignored, c, none), ``oversized``."""
    neighbours: dict[str, Any] = field(default_factory=dict)
    """``similar``: ``candidate_pairs`` (LSH, summed over bands), ``verified_pairs``,
    ``neighbour_pairs`` (verified, same domain), ``grouped_documents``, ``oversized``."""

    @property
    def groups(self) -> int:
        return self.kept

    def one_line(self) -> str:
        """The summary ``midtrain group`` prints."""
        head = (f"group ({self.group_by}): {self.input:,} documents -> {self.kept:,} groups "
                f"({self.singletons:,} single), {self.lengths['p50']:,} chars median, {self.lengths['max']:,} max")
        if self.group_by == "repo":
            o = self.order
            share = o["satisfied"] / o["edges"] if o["edges"] else 1.0
            return (f"{head}; {o['packages']:,} packages ({o['split_packages']:,} split); import edges "
                    f"{o['satisfied']:,}/{o['edges']:,} satisfied ({share:.1%}), {o['cycles']:,} cycle(s), "
                    f"{o['breaks']:,} break(s)")
        n = self.neighbours
        return f"{head}; {n['neighbour_pairs']:,} neighbour pairs, {n['grouped_documents']:,} documents grouped"

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["groups"] = self.kept
        return body

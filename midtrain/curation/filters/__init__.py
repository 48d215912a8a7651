"""Filters: the steps that decide which documents are kept, and record why the others are not.

:class:`ApplyThresholds` (the ``thresholds`` step) is the keep decision; its rules live in
:mod:`midtrain.curation.decide`, shared with ``midtrain refilter``.
"""

from midtrain.curation.filters.thresholds import ApplyThresholds

__all__ = ["ApplyThresholds"]

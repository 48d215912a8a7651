"""Taggers: the steps that add typed metadata columns to documents (or rewrite their text), never drop.

In the default pipeline's order: :class:`Normalise`, :class:`LanguageID`, :class:`DomainLabeller`,
:class:`QualityScorer`, :class:`ComputeSignals`; each one a file, all on
:class:`midtrain.curation.base.BatchStep`.
"""

from midtrain.curation.taggers.domain_labeller import DomainLabeller
from midtrain.curation.taggers.language_id import LanguageID
from midtrain.curation.taggers.normalise import Normalise
from midtrain.curation.taggers.quality_scorer import QualityScorer
from midtrain.curation.taggers.signals import ComputeSignals

__all__ = ["ComputeSignals", "DomainLabeller", "LanguageID", "Normalise", "QualityScorer"]

"""Labels: language ID, domain labels and quality scores, the library under the curation taggers.

- ``identify_language``, ``label_domains``, ``score_quality``: the batch functions the taggers
  (:mod:`midtrain.curation.taggers`) call;
- ``language_reject_reasons``, ``quality_reject_reasons``: the keep decisions, for the
  ``thresholds`` filter (tag first, filter later);
- ``train_classifier`` (``midtrain train-classifier``) and the shipped models in ``models/``.

Importing this package loads neither fastText nor a model; the first prediction does.
"""

from midtrain.curation.labels.domain import DOMAIN_SIGNAL_SCHEMA, DOMAINS, DomainConfig, label_domains
from midtrain.curation.labels.language import (DEFAULT_KEEP_LANGUAGES, DEFAULT_MIN_LANGUAGE_SCORE,
                                               LANGUAGE_SIGNAL_SCHEMA, identify_language, language_reject_reasons)
from midtrain.curation.labels.quality import (DEFAULT_QUALITY_THRESHOLDS, QUALITY_SIGNAL_SCHEMA, QUALITY_TYPES,
                                              quality_reject_reasons, quality_tier_reject_reasons, score_quality)
from midtrain.curation.labels.training import TrainConfig, read_examples, train_classifier

LABEL_SIGNAL_SCHEMA = {**LANGUAGE_SIGNAL_SCHEMA, **DOMAIN_SIGNAL_SCHEMA, **QUALITY_SIGNAL_SCHEMA}

__all__ = [
    "DEFAULT_KEEP_LANGUAGES", "DEFAULT_MIN_LANGUAGE_SCORE", "DEFAULT_QUALITY_THRESHOLDS", "DOMAINS",
    "DOMAIN_SIGNAL_SCHEMA", "DomainConfig", "LABEL_SIGNAL_SCHEMA", "LANGUAGE_SIGNAL_SCHEMA",
    "QUALITY_SIGNAL_SCHEMA", "QUALITY_TYPES", "TrainConfig", "identify_language", "label_domains",
    "language_reject_reasons", "quality_reject_reasons", "quality_tier_reject_reasons", "read_examples", "score_quality", "train_classifier",
]

"""The typed columns all three label taggers add, in one mapping (for writers and the decision)."""

from midtrain.curation.labels.domain import DOMAIN_SIGNAL_SCHEMA
from midtrain.curation.labels.language import LANGUAGE_SIGNAL_SCHEMA
from midtrain.curation.labels.quality import QUALITY_SIGNAL_SCHEMA

LABEL_SIGNAL_SCHEMA = {**LANGUAGE_SIGNAL_SCHEMA, **DOMAIN_SIGNAL_SCHEMA, **QUALITY_SIGNAL_SCHEMA}

"""Quality score (DCLM style): a fastText classifier of edited prose against random web-like text.

``score_quality`` stores ``quality_score`` = P(high quality) for every document; the keep
decision is ``quality_reject_reasons``, applied by the final threshold step, per domain. Only
``web`` has a threshold by default: the classifier was trained on prose (see
``corpora.quality_training_examples``) and says nothing useful about code or LaTeX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from midtrain.curation.labels.models import load_classifier
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows

QUALITY_SIGNAL_SCHEMA: dict[str, pa.DataType] = {"quality_score": pa.float32()}
POSITIVE_LABEL = "hq"

# DCLM keeps the top ~10% by its fastText score (threshold 0.018112 on its own model, ANCHORS.md
# 3.1); our positives/negatives are far apart, so 0.5 is the classifier's own decision boundary.
DEFAULT_QUALITY_THRESHOLDS: dict[str, float] = {"web": 0.5}


def score_quality(texts: pa.Array | list[str], model: str = "quality", head_bytes: int = 512,
                  middle_bytes: int = 512) -> pa.Array:
    """P(``hq``) of each text under the quality model, float32 in [0, 1]."""
    pred = load_classifier(model).predict(fasttext_lines(text_windows(texts, head_bytes, middle_bytes)))
    positive = pred.labels == POSITIVE_LABEL
    return pa.array(np.where(positive, pred.scores, 1.0 - pred.scores).astype(np.float32), pa.float32())


def quality_reject_reasons(scores: Sequence[float] | pa.Array, domains: Sequence[str] | pa.Array,
                           thresholds: Mapping[str, float] = DEFAULT_QUALITY_THRESHOLDS) -> pa.Array:
    """Reject reason per document (null = kept): ``quality_score<t`` for domains with a threshold."""
    score = np.asarray(pa.array(scores, pa.float32()).fill_null(0.0).to_numpy(zero_copy_only=False))
    dom = np.asarray(pa.array(domains, pa.string()).fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    reasons = np.full(len(score), None, dtype=object)
    for domain, t in sorted(thresholds.items()):
        reasons[(dom == domain) & (score < t)] = f"quality_score<{t:g}"
    return pa.array(reasons.tolist(), pa.string())

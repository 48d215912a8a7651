"""Language identification with fastText's lid.176 model, shipped inside midtrain (no download).

``identify_language`` stores the signal (``language``, ``language_score``); the keep decision is
``language_reject_reasons``, which the final threshold step calls, so a corpus can be re-filtered
with another keep-list without re-running the model (tag first, filter later). Code and math are
exempt by default: lid.176 was trained on prose, and a Go file or a page of LaTeX has no language
it could name reliably.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from midtrain.curation.labels.models import load_classifier
from midtrain.curation.labels.text_windows import lid_line_array

LANGUAGE_SIGNAL_SCHEMA: dict[str, pa.DataType] = {"language": pa.string(), "language_score": pa.float32()}

# datatrove's LanguageFilter keeps English at a lid.176 score >= 0.65 by default; same here.
DEFAULT_KEEP_LANGUAGES: tuple[str, ...] = ("en",)
DEFAULT_MIN_LANGUAGE_SCORE = 0.65
DEFAULT_EXEMPT_DOMAINS: tuple[str, ...] = ("code", "math", "reasoning")
"""lid.176 is unsure of code, formulas and puzzle grids (1% of good training reasoning scores under 0.16)."""
DEFAULT_EXEMPT_MAX_SCORE: float | None = None
"""An exempt domain's document is still rejected where lid.176 names a language outside the keep-list at least this
sure (stop 61's E68)."""


def identify_language(texts: pa.Array | list[str], model: str = "lid.176", head_bytes: int = 512) -> pa.Table:
    """``language`` (ISO 639 code, e.g. ``en``) and ``language_score`` for each text."""
    pred = load_classifier(model).predict(lid_line_array(texts, head_bytes))
    return pa.table({"language": pa.array(pred.labels.tolist(), pa.string()),
                     "language_score": pa.array(pred.scores, pa.float32())})


def language_reject_reasons(languages: Sequence[str | None] | pa.Array, scores: Sequence[float] | pa.Array,
                            domains: Sequence[str] | pa.Array, *,
                            keep: Sequence[str] | None = DEFAULT_KEEP_LANGUAGES,
                            min_score: float = DEFAULT_MIN_LANGUAGE_SCORE,
                            exempt_domains: Sequence[str] = DEFAULT_EXEMPT_DOMAINS,
                            exempt_max_score: float | None = DEFAULT_EXEMPT_MAX_SCORE) -> pa.Array:
    """Reject reason per document (null = kept): ``language=<code>`` or ``language_score<min``.

    ``keep=None`` keeps every language (only the score threshold applies). Documents of ``exempt_domains`` are
    checked only where lid.176 is sure of a language outside ``keep``: its score at least ``exempt_max_score``
    (None: never checked).
    """
    lang = np.asarray(pa.array(languages, pa.string()).fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    score = np.asarray(pa.array(scores, pa.float32()).fill_null(0.0).to_numpy(zero_copy_only=False))
    dom = np.asarray(pa.array(domains, pa.string()).fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    exempt = np.isin(dom, list(exempt_domains))
    wrong = ~np.isin(lang, list(keep)) if keep is not None else np.zeros(len(lang), bool)
    low = score < min_score
    reasons = np.full(len(lang), None, dtype=object)
    reasons[low & ~exempt] = f"language_score<{min_score:g}"
    if exempt_max_score is not None:
        exempt &= ~(wrong & (score >= exempt_max_score))  # prose in another language, whatever its label
    reasons[wrong & ~exempt] = np.char.add("language=", lang[wrong & ~exempt].astype(str)).astype(object)
    return pa.array(reasons.tolist(), pa.string())

"""Decontamination of a text corpus against evaluation sets (n-gram overlap), corpus -> corpus.

``decontaminate_corpus(in_corpus, out_dir, DecontConfig(against=(EvalSet("gsm8k.jsonl"),)))``
drops every document sharing a word 13-gram (case and whitespace folded) with an eval item, or in
``cut`` mode removes just the overlapping span; the report lists which items were found in which
documents. Imports stay light; the scan (numba, datatrove) loads on first use.
"""

from __future__ import annotations

from typing import Any

from midtrain.curation.decontaminate.config import DecontConfig, EvalSet

__all__ = ["DecontConfig", "EvalSet", "decontaminate_corpus"]


def decontaminate_corpus(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`midtrain.curation.decontaminate.job.decontaminate_corpus`."""
    from midtrain.curation.decontaminate.job import decontaminate_corpus as run

    return run(*args, **kwargs)

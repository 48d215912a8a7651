"""Long-context data and evaluation: a synthetic long-context domain and a long-context evaluation.

- :mod:`~midtrain.longctx.synthetic`: :func:`build_synthetic`, a text corpus of passkey, key-value,
  copy-back and distractor-interleave examples built from a corpus's own documents, never from
  held-out ones; :mod:`~midtrain.longctx.neighbours`: the MinHash near neighbours it draws
  distractors from;
- :mod:`~midtrain.longctx.evalset`: :func:`build_eval_set`, fixed sequences of exactly ``seq_len``
  tokens from long documents per domain, copy probes and passkey probes;
- :mod:`~midtrain.longctx.evaluate`: :func:`evaluate_model` / :func:`score_eval_set`, loss by
  position bucket, copy loss by distance and passkey accuracy for any model (a ``logits_fn``);
  :mod:`~midtrain.longctx.plot`: the PNG.

Importing this package loads nothing heavy (the ``midtrain`` command registers from it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.longctx.evalset import EvalSet, EvalSetConfig, build_eval_set, load_eval_set
    from midtrain.longctx.evaluate import (DEFAULT_BUCKETS, TokenScorer, bucket_edges, evaluate_model,
                                           format_results, load_model, logits_scorer, losses_from_logits,
                                           model_scorer, position_bucket_losses, results_json, run_eval,
                                           score_eval_set)
    from midtrain.longctx.neighbours import NeighbourConfig, Neighbours, near_neighbours
    from midtrain.longctx.plot import plot_loss_by_position
    from midtrain.longctx.synthetic import TASKS, SyntheticConfig, SyntheticReport, build_synthetic

_EXPORTS = {
    **dict.fromkeys(["EvalSet", "EvalSetConfig", "build_eval_set", "load_eval_set"], "midtrain.longctx.evalset"),
    **dict.fromkeys(["DEFAULT_BUCKETS", "TokenScorer", "bucket_edges", "evaluate_model", "format_results", "load_model",
                     "logits_scorer", "losses_from_logits", "model_scorer", "position_bucket_losses", "results_json",
                     "run_eval", "score_eval_set"], "midtrain.longctx.evaluate"),
    **dict.fromkeys(["NeighbourConfig", "Neighbours", "near_neighbours"], "midtrain.longctx.neighbours"),
    "plot_loss_by_position": "midtrain.longctx.plot",
    **dict.fromkeys(["TASKS", "SyntheticConfig", "SyntheticReport", "build_synthetic"], "midtrain.longctx.synthetic"),
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

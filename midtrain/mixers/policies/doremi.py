"""DoReMi-style online reweighting: exponentiated gradient on excess loss (Xie et al. 2023).

Reference: arXiv 2305.10429, Algorithm 1, and DoReMi's ``doremi/trainer.py``. Per update t,
with K domains, step size η, smoothing c and per-token reference losses ``ref_k``::

    L_k  = loss_sum_k / token_count_k              (domain mean loss this interval)
    λ_k  = max(L_k − ref_k, 0)                      (clipped excess loss; kept from t−1 if count_k = 0)
    α    ← softmax(log α + η·λ)                     (exponentiated gradient step)
    α    ← (1 − c)·α + c/K                          (smoothing with uniform)
    ᾱ    ← ᾱ + (α − ᾱ)/t                            (running average: DoReMi's final static mix)

and the next sampling weights are α. DoReMi clips the excess per token before averaging; the
trainer here all-reduces only per-domain sums (2K floats: a loss sum and a token count per
domain), so the clip is applied to the domain mean, which is never larger. The paper's defaults
are η = 1 and c = 1e-3 (run scripts; 1e-4 in the dataclass).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from midtrain.errors import ConfigError
from midtrain.mixers.policies.base import AdaptivePolicy

DEFAULT_STEP_SIZE = 1.0      # DoReMi reweight_eta
DEFAULT_SMOOTHING = 1e-3     # DoReMi reweight_eps in its run scripts


class DoReMiPolicy(AdaptivePolicy):
    """Exponentiated-gradient reweighting toward domains where the model trails a reference."""

    kind = "doremi"

    def __init__(self, domains: Sequence[str], initial_weights: Sequence[float] | np.ndarray, *,
                 reference_loss: Sequence[float] | np.ndarray, step_size: float = DEFAULT_STEP_SIZE,
                 smoothing: float = DEFAULT_SMOOTHING) -> None:
        super().__init__(domains, initial_weights)
        ref = np.asarray(reference_loss, dtype=np.float64)
        if ref.shape != (self.num_domains,) or not np.all(np.isfinite(ref)):
            raise ConfigError(f"reference_loss: expected {self.num_domains} finite per-token losses in domain order "
                              f"{self.domains}, got {np.asarray(reference_loss).tolist()}")
        if not step_size > 0:
            raise ConfigError(f"step_size: must be > 0, got {step_size}")
        if not 0 <= smoothing <= 1:
            raise ConfigError(f"smoothing: must lie in [0, 1], got {smoothing}")
        self.reference_loss = ref
        self.step_size = float(step_size)
        self.smoothing = float(smoothing)
        self.excess_loss = np.zeros(self.num_domains)
        self.average_weights = self.weights.copy()

    def _next_weights(self, loss: np.ndarray, count: np.ndarray) -> np.ndarray:
        seen = count > 0
        mean = np.divide(loss, count, out=np.zeros_like(loss), where=seen)
        self.excess_loss = np.where(seen, np.maximum(mean - self.reference_loss, 0.0), self.excess_loss)
        with np.errstate(divide="ignore"):
            logits = np.log(self.weights) + self.step_size * self.excess_loss
        alpha = np.exp(logits - logits.max())
        alpha /= alpha.sum()
        alpha = (1.0 - self.smoothing) * alpha + self.smoothing / self.num_domains
        self.average_weights = self.average_weights + (alpha - self.average_weights) / self.step
        return alpha

    def _config(self) -> dict[str, Any]:
        return {"reference_loss": self.reference_loss.tolist(), "step_size": self.step_size,
                "smoothing": self.smoothing}

    def _extra_state(self) -> dict[str, Any]:
        return {"excess_loss": self.excess_loss.tolist(), "average_weights": self.average_weights.tolist()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.excess_loss = np.asarray(state["excess_loss"], dtype=np.float64)
        self.average_weights = np.asarray(state["average_weights"], dtype=np.float64)

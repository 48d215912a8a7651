"""EXP3 bandit mixing, as in Online Data Mixing (Albalak et al. 2023, arXiv 2312.02406).

Reference: ``data_sampling_utils.py`` of ODM's code. Each domain is an arm and its
reward is its training loss (hard domains are upweighted). With K domains, update t, reward scale
s (ODM: 1/10) and π the weights that sampled the interval::

    L_k     = loss_sum_k / token_count_k                  (only domains drawn this interval)
    ε_prev  = ε;   ε = min(1/K, sqrt(ln K / (K·t)))       (ε starts at 1/K)
    R̂_k    += s·L_k / π_k                                 (importance-weighted reward, drawn k only)
    π       = (1 − K·ε)·softmax(ε_prev·R̂) + ε

During ``warmup_updates`` the weights stay at their initial values and rewards are not collected
(ODM samples uniformly while warming up). ODM draws one domain per micro-batch with
``random.choices(domains, π)`` on every rank with the same seed; :meth:`Exp3Policy.draw` does the
same with a seeded numpy generator whose state is part of the state dict, for trainers that want
ODM's one-domain-per-micro-batch sampling instead of the loader's blocks.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from midtrain.errors import ConfigError
from midtrain.mixers.policies.base import AdaptivePolicy

DEFAULT_REWARD_SCALE = 0.1   # ODM divides the loss by 10


class Exp3Policy(AdaptivePolicy):
    """EXP3 with ODM's decaying exploration rate and loss-as-reward."""

    kind = "exp3"

    def __init__(self, domains: Sequence[str], initial_weights: Sequence[float] | np.ndarray, *,
                 reward_scale: float = DEFAULT_REWARD_SCALE, warmup_updates: int = 0, seed: int = 0) -> None:
        super().__init__(domains, initial_weights)
        if not reward_scale > 0:
            raise ConfigError(f"reward_scale: must be > 0, got {reward_scale}")
        if isinstance(warmup_updates, bool) or not isinstance(warmup_updates, int) or warmup_updates < 0:
            raise ConfigError(f"warmup_updates: must be an integer >= 0, got {warmup_updates!r}")
        self.reward_scale = float(reward_scale)
        self.warmup_updates = warmup_updates
        self.seed = int(seed)
        self.rewards = np.zeros(self.num_domains)
        self.epsilon = 1.0 / self.num_domains
        self.rng = np.random.Generator(np.random.PCG64(self.seed))

    def _next_weights(self, loss: np.ndarray, count: np.ndarray) -> np.ndarray:
        if self.step <= self.warmup_updates:
            return self.weights
        k = self.num_domains
        t = self.step - self.warmup_updates
        drawn = count > 0
        mean = np.divide(loss, count, out=np.zeros_like(loss), where=drawn)
        eps_prev = self.epsilon
        self.epsilon = min(1.0 / k, math.sqrt(math.log(k) / (k * t))) if k > 1 else 1.0
        self.rewards = self.rewards + np.where(drawn, self.reward_scale * mean / self.weights, 0.0)
        logits = eps_prev * self.rewards
        soft = np.exp(logits - logits.max())
        soft /= soft.sum()
        return (1.0 - k * self.epsilon) * soft + self.epsilon

    def draw(self, n: int) -> np.ndarray:
        """``n`` domain indices drawn i.i.d. from the current weights (seeded; same on every rank)."""
        return self.rng.choice(self.num_domains, size=n, p=self.weights)

    def _config(self) -> dict[str, Any]:
        return {"reward_scale": self.reward_scale, "warmup_updates": self.warmup_updates, "seed": self.seed}

    def _extra_state(self) -> dict[str, Any]:
        return {"rewards": self.rewards.tolist(), "epsilon": self.epsilon, "rng": self.rng.bit_generator.state}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.rewards = np.asarray(state["rewards"], dtype=np.float64)
        self.epsilon = float(state["epsilon"])
        self.rng = np.random.Generator(np.random.PCG64())
        self.rng.bit_generator.state = state["rng"]

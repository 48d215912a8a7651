"""What every adaptive mixing policy shares: validated inputs, the update log, state dicts.

A policy is pure math plus state. The trainer all-reduces two vectors per domain (summed loss
and token count, in the policy's domain order) and calls :meth:`AdaptivePolicy.update`; the policy
returns the next weights. It knows nothing about blocks: the loader applies each returned vector
at a future block boundary and logs where. Every update's inputs and outputs are appended to
``history``, so a resumed run can check or replay exactly what happened.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from midtrain.errors import ConfigError


class AdaptivePolicy:
    """Base class: holds ``domains``, the current ``weights`` and the ``history`` of updates."""

    kind = "base"

    def __init__(self, domains: Sequence[str], initial_weights: Sequence[float] | np.ndarray) -> None:
        self.domains: tuple[str, ...] = tuple(domains)
        if not self.domains or len(set(self.domains)) != len(self.domains):
            raise ConfigError(f"domains: expected distinct domain names, got {list(domains)}")
        w = np.asarray(initial_weights, dtype=np.float64)
        if w.shape != (len(self.domains),):
            raise ConfigError(f"initial_weights: expected {len(self.domains)} weights, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
            raise ConfigError(f"initial_weights: must be non-negative and sum to 1, got {w.tolist()}")
        self.initial_weights = w / w.sum()
        self.weights = self.initial_weights.copy()
        self.step = 0
        self.history: list[dict[str, Any]] = []

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    def _check_inputs(self, loss_sum: np.ndarray, token_count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loss = np.asarray(loss_sum, dtype=np.float64)
        count = np.asarray(token_count, dtype=np.float64)
        k = self.num_domains
        if loss.shape != (k,) or count.shape != (k,):
            raise ConfigError(f"update: loss_sum and token_count must both have shape ({k},) in domain order "
                              f"{self.domains}, got {loss.shape} and {count.shape}")
        if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(count))) or np.any(count < 0):
            raise ConfigError(f"update: loss sums must be finite and token counts >= 0, got {loss.tolist()} / "
                              f"{count.tolist()}")
        return loss, count

    def update(self, loss_sum: np.ndarray, token_count: np.ndarray) -> np.ndarray:
        """Consume one all-reduced (loss_sum, token_count) pair; return the next weights (a copy)."""
        loss, count = self._check_inputs(loss_sum, token_count)
        self.step += 1
        self.weights = self._next_weights(loss, count)
        self.history.append({"step": self.step, "loss_sum": loss.tolist(), "token_count": count.tolist(),
                             "weights": self.weights.tolist()})
        return self.weights.copy()

    def _next_weights(self, loss: np.ndarray, count: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- state --------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """JSON-able: configuration, current weights, counters and the full update history."""
        return {"kind": self.kind, "domains": list(self.domains), "config": self._config(),
                "initial_weights": self.initial_weights.tolist(), "weights": self.weights.tolist(),
                "step": self.step, "history": copy.deepcopy(self.history), **self._extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the policy must have been built with the same configuration."""
        if state.get("kind") != self.kind:
            raise ConfigError(f"policy state is for {state.get('kind')!r}, not {self.kind!r}")
        if tuple(state.get("domains", ())) != self.domains:
            raise ConfigError(f"policy state domains {state.get('domains')} differ from this policy's {list(self.domains)}")
        if state.get("config") != self._config():
            raise ConfigError(f"policy state was saved with config {state.get('config')}, this policy has "
                              f"{self._config()}; resume with the same settings")
        self.initial_weights = np.asarray(state["initial_weights"], dtype=np.float64)
        self.weights = np.asarray(state["weights"], dtype=np.float64)
        self.step = int(state["step"])
        self.history = copy.deepcopy(state["history"])
        self._load_extra_state(state)

    def weights_log(self) -> list[tuple[int, list[float]]]:
        """``[(step, weights), ...]`` for every update, in order."""
        return [(h["step"], h["weights"]) for h in self.history]

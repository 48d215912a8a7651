"""Mixtures derived from domain sizes: temperature sampling and UniMax (Chung et al. 2023, arXiv 2304.09151).

Both take the number of unique tokens per domain (from a token corpus manifest) and return a
simplex. They are the two standard answers to "how much of each domain when the domains are very
unequal in size": temperature flattens the size distribution, UniMax spreads the budget as evenly
as possible while capping how often any small domain is repeated.
"""

from __future__ import annotations

import numpy as np

from midtrain.errors import ConfigError


def temperature_weights(domain_tokens: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature sampling: ``q_k = n_k / Σn``, ``p_k = q_k^(1/T) / Σ_j q_j^(1/T)``.

    T = 1 samples in proportion to size; T → ∞ tends to uniform over non-empty domains (mT5 and
    XLM-R are usually quoted with 1/T = 0.3). Empty domains get weight 0.
    """
    n = np.asarray(domain_tokens, dtype=np.float64)
    if not temperature > 0 or not np.isfinite(temperature):
        raise ConfigError(f"temperature must be a positive finite number, got {temperature!r}")
    if n.sum() <= 0:
        raise ConfigError("temperature sampling needs at least one domain with tokens")
    q = n / n.sum()
    # Work in log space so large T (1/T tiny) and tiny q do not underflow to 0 unevenly.
    with np.errstate(divide="ignore"):
        logp = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)) / temperature, -np.inf)
    p = np.exp(logp - logp.max())
    return p / p.sum()


def unimax_budgets(domain_tokens: np.ndarray, budget: int, max_epochs: float) -> np.ndarray:
    """UniMax (Chung et al. 2023, arXiv 2304.09151, Algorithm 1): tokens per domain.

    Visit domains from smallest to largest; each gets ``U_k = min(remaining / (K − i), N·n_k)``
    and ``remaining -= U_k``. Small domains are capped at N epochs, the rest share the budget
    uniformly. Requires ``budget ≤ N·Σn``; ties in size are broken by position (the caller passes
    domains in sorted-name order), so the result is deterministic.
    """
    n = np.asarray(domain_tokens, dtype=np.float64)
    if not max_epochs > 0:
        raise ConfigError(f"unimax max_epochs must be > 0, got {max_epochs!r}")
    capacity = max_epochs * n.sum()
    if budget > capacity * (1 + 1e-12):
        raise ConfigError(f"unimax cannot spend {budget:,} tokens within {max_epochs:g} epochs of "
                          f"{int(n.sum()):,} unique tokens (at most {capacity:,.0f}); raise max_epochs or "
                          "shorten the phase")
    order = np.argsort(n, kind="stable")
    remaining = float(budget)
    out = np.zeros_like(n)
    k = len(n)
    for i, d in enumerate(order):
        out[d] = min(remaining / (k - i), max_epochs * n[d])
        remaining -= out[d]
    return out


def unimax_weights(domain_tokens: np.ndarray, budget: int, max_epochs: float) -> np.ndarray:
    """UniMax budgets normalised to a simplex: ``p_k = U_k / Σ U``."""
    u = unimax_budgets(domain_tokens, budget, max_epochs)
    if u.sum() <= 0:
        raise ConfigError("unimax needs a positive budget and at least one domain with tokens")
    return u / u.sum()

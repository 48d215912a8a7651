"""Mixing laws: a regression from a mixture ``w`` (a row on the simplex) to one held-out loss.

- :class:`LinLogLaw` (``linlog``, the default): ridge regression on ``[w, log(w + 1e-3)]``, closed form
  in numpy, its ridge strength chosen by exact leave-one-out error. On RegMix's released runs it ranks
  256 held-out mixtures with Spearman ρ 0.983 at Pile-CC, LightGBM's level
  (``benchmarks/bench_sweep_fit.py``).
- :class:`DMLLaw` (``dml``): the Data Mixing Laws form (Ye et al., arXiv 2403.16952)
  ``L = c + k·exp(Σ_j t_j w_j)``. Weights sum to one, so ``k`` is ``exp`` of a shift of every ``t_j``
  and is folded into ``t``: ``L = c + exp(t·w)`` (``k > 0``, i.e. the loss falls where the exponent
  falls). Fitted with scipy's least squares under a Huber loss, as Olmix fits its law.
- :class:`LGBMLaw` (``lgbm``): LightGBM, RegMix's regressor, when ``lightgbm`` is installed.

Every law is ``fit(X, y)`` → law, ``predict(X)`` → losses, and round-trips through ``to_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from midtrain.errors import ConfigError

LOG_EPS = 1e-3
"""The ``log(w + eps)`` offset: RegMix's data, checked in ``mixture-search.md`` §2, used 1e-3."""
RIDGE_ALPHAS = np.logspace(-6, 3, 37)
"""Ridge strengths tried, on standardised features (each column has unit variance)."""
HUBER_K = 1.345
"""Huber threshold in robust standard deviations of the residuals (95% efficiency under Gaussian noise)."""
KINDS = ("linlog", "dml", "lgbm")


@dataclass
class LinLogLaw:
    """``L = intercept + Σ_j a_j w_j + Σ_j b_j log(w_j + eps)``; ``coef`` is ``[a, b]``."""

    intercept: float
    coef: np.ndarray
    alpha: float
    eps: float = LOG_EPS
    kind = "linlog"

    @staticmethod
    def features(X: np.ndarray, eps: float = LOG_EPS) -> np.ndarray:
        return np.hstack([X, np.log(X + eps)])

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, *, alpha: float | None = None, **_: Any) -> LinLogLaw:
        """Ridge on standardised features with an unpenalised intercept; ``alpha`` None: the grid value
        with the least exact leave-one-out squared error (the hat-matrix shortcut, no refits)."""
        F = cls.features(X)
        mu, sd = F.mean(axis=0), F.std(axis=0)
        sd = np.where(sd > 1e-12, sd, 1.0)
        Z = (F - mu) / sd
        y_mean = float(y.mean())
        yc = y - y_mean
        U, S, Vt = np.linalg.svd(Z, full_matrices=False)
        Uy = U.T @ yc
        n = len(y)
        if alpha is None:
            best = (math.inf, float(RIDGE_ALPHAS[0]))
            for a in RIDGE_ALPHAS:
                shrink = S**2 / (S**2 + a)
                resid = yc - U @ (shrink * Uy)
                hat = (U**2) @ shrink + 1.0 / n
                loo = resid / np.maximum(1.0 - hat, 1e-9)
                best = min(best, (float(np.mean(loo**2)), float(a)))
            alpha = best[1]
        beta = Vt.T @ (S / (S**2 + alpha) * Uy)
        coef = beta / sd
        return cls(intercept=y_mean - float(mu @ coef), coef=coef, alpha=float(alpha))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.intercept + self.features(X, self.eps) @ self.coef

    def refit(self, X: np.ndarray, y: np.ndarray) -> LinLogLaw:
        """The same law (same ridge strength) fitted to other rows: a bootstrap replicate."""
        return LinLogLaw.fit(X, y, alpha=self.alpha)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "intercept": self.intercept, "coef": self.coef.tolist(), "alpha": self.alpha,
                "eps": self.eps}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinLogLaw:
        return cls(intercept=float(d["intercept"]), coef=np.asarray(d["coef"], dtype=np.float64),
                   alpha=float(d["alpha"]), eps=float(d["eps"]))


@dataclass
class DMLLaw:
    """``L = c + exp(Σ_j t_j w_j)`` (Data Mixing Laws with ``k`` folded into ``t``)."""

    c: float
    t: np.ndarray
    kind = "dml"

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, *, start: DMLLaw | None = None, **_: Any) -> DMLLaw:
        """Least squares under a Huber loss from the best of a few linearised starts (or ``start``).

        A start fixes ``c`` a little below the smallest loss and regresses ``log(y − c)`` on ``w``
        (ordinary least squares: exact when the law holds without noise).
        """
        from scipy.optimize import least_squares

        starts = [start] if start is not None else _dml_starts(X, y)
        scale = max(float(np.std(y)), 1e-12)

        def residual(theta: np.ndarray) -> np.ndarray:
            return (theta[0] + np.exp(np.clip(X @ theta[1:], -50, 50)) - y) / scale

        best: tuple[float, np.ndarray] | None = None
        for law in starts:
            theta0 = np.concatenate([[law.c], law.t])
            r0 = residual(theta0)
            f_scale = max(HUBER_K * 1.4826 * float(np.median(np.abs(r0 - np.median(r0)))), 1e-6)
            sol = least_squares(residual, theta0, loss="huber", f_scale=f_scale, max_nfev=200 * (len(theta0) + 1),
                                x_scale="jac")
            cost = float(np.sum(residual(sol.x) ** 2))
            if best is None or cost < best[0]:
                best = (cost, sol.x)
        assert best is not None
        return cls(c=float(best[1][0]), t=best[1][1:].copy())

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.c + np.exp(np.clip(X @ self.t, -50, 50))

    def refit(self, X: np.ndarray, y: np.ndarray) -> DMLLaw:
        return DMLLaw.fit(X, y, start=self)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "c": self.c, "t": self.t.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DMLLaw:
        return cls(c=float(d["c"]), t=np.asarray(d["t"], dtype=np.float64))


def _dml_starts(X: np.ndarray, y: np.ndarray) -> list[DMLLaw]:
    """Linearised starts: for ``c = min(y) − δ·range(y)`` over a few δ, OLS of ``log(y − c)`` on ``w``;
    the three with the least squared error in the loss itself."""
    spread = max(float(np.ptp(y)), 1e-6 * max(abs(float(np.min(y))), 1.0))
    scored = []
    for delta in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        c = float(np.min(y)) - delta * spread
        t, *_ = np.linalg.lstsq(X, np.log(y - c), rcond=None)
        law = DMLLaw(c=c, t=t)
        scored.append((float(np.sum((law.predict(X) - y) ** 2)), delta, law))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [law for _, _, law in scored[:3]]


@dataclass
class LGBMLaw:
    """LightGBM gradient-boosted trees on ``w`` (RegMix's regressor); the model is kept as LightGBM's text."""

    model: str
    kind = "lgbm"
    PARAMS = {"objective": "regression", "learning_rate": 0.03, "num_leaves": 8, "min_data_in_leaf": 3,
              "num_threads": 1, "verbose": -1}
    ROUNDS = 400
    """No early stopping: RegMix's notebook stops on its test set, which the held-out score must not see.
    LightGBM's own training API (scikit-learn not needed); one thread: swarms are small, and threads
    only contend (12 s instead of 0.05 s for 200 rows on a shared 2-core machine)."""

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, *, seed: int = 0, **_: Any) -> LGBMLaw:
        lgb = import_lightgbm()
        booster = lgb.train({**cls.PARAMS, "seed": seed}, lgb.Dataset(X, y), num_boost_round=cls.ROUNDS)
        return cls(model=booster.model_to_string())

    def predict(self, X: np.ndarray) -> np.ndarray:
        booster = getattr(self, "_booster", None)
        if booster is None:
            booster = import_lightgbm().Booster(model_str=self.model)
            self._booster = booster
        return np.asarray(booster.predict(X), dtype=np.float64)

    def refit(self, X: np.ndarray, y: np.ndarray) -> LGBMLaw:
        return LGBMLaw.fit(X, y)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LGBMLaw:
        return cls(model=str(d["model"]))


Law = Union[LinLogLaw, DMLLaw, LGBMLaw]


def import_lightgbm() -> Any:
    """``lightgbm``, or a ConfigError saying how to install it."""
    try:
        import lightgbm
    except ImportError:
        raise ConfigError("--model lgbm: LightGBM is not installed; `pip install lightgbm` (or use --model linlog, "
                          "dml or auto)") from None
    return lightgbm


def lightgbm_available() -> bool:
    try:
        import_lightgbm()
    except ConfigError:
        return False
    return True


def fit_law(kind: str, X: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Law:
    """Fit the law named ``kind`` (one of :data:`KINDS`) to mixtures ``X`` (rows) and losses ``y``."""
    if kind == "linlog":
        return LinLogLaw.fit(X, y)
    if kind == "dml":
        return DMLLaw.fit(X, y)
    if kind == "lgbm":
        return LGBMLaw.fit(X, y, seed=seed)
    raise ConfigError(f"--model: unknown model {kind!r} (known: {', '.join(KINDS)}, auto)")


def law_from_dict(d: dict[str, Any]) -> Law:
    kinds = {"linlog": LinLogLaw, "dml": DMLLaw, "lgbm": LGBMLaw}
    if d.get("kind") not in kinds:
        raise ConfigError(f"fit.json: unknown law kind {d.get('kind')!r}")
    return kinds[d["kind"]].from_dict(d)

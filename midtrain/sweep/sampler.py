"""Planning a swarm: Dirichlet mixtures around a prior, inside the epoch caps, plus anchors.

The sampler follows RegMix (arXiv 2407.01492) and Olmix (OLMo 3, arXiv 2602.12237):

- the prior is each domain's share of the corpus' tokens to a power (``prior_power``, 0.5: a natural
  mix that tempers the largest domains), renormalised;
- each mixture is a Dirichlet draw with mean at the prior, ``Dir(c · prior)``; the total concentration
  ``c`` is drawn log-uniformly from ``[0.1·D, 5·D]`` for D domains, a fresh ``c`` per draw. Small ``c``
  gives sparse mixtures near the simplex's corners, large ``c`` mixtures near the prior, so the swarm
  covers both the extremes a law must bound and the neighbourhood the optimum usually lies in (RegMix
  draws its strengths from a log-spaced range the same way);
- a mixture that would repeat a domain more than ``max_epochs`` times is rejected, counting what the
  base proxy already drew in anneal mode: ``base_tokens·prior_k + tokens·w_k ≤ max_epochs·unique_k``
  (the planner's arithmetic; :func:`check_with_planner` runs :func:`~midtrain.mixers.plan_budget` on
  every planned run to confirm it);
- weights below ``min_weight`` are floored to 0, the rest renormalised and rounded to 4 decimals (by
  largest remainders, so they sum to exactly 1 and never cross a cap), duplicates dropped;
- anchors are added: the prior, uniform and each domain at its cap (the largest share its cap allows,
  the rest in prior proportions), each with ``seeds_per_anchor`` seeds to measure seed noise;
- ``holdout`` more mixtures are drawn the same way with role ``heldout``: they are scored, never fitted.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from midtrain.errors import ConfigError
from midtrain.sweep.spec import MODES, PROXIES, VERSION, SweepSpec, make_run

CONCENTRATION_RANGE = (0.1, 5.0)
"""Total Dirichlet concentration per domain, drawn log-uniformly: ``c = D·exp(U(log 0.1, log 5))``."""
WEIGHT_DECIMALS = 4
"""Mixtures are rounded to 1e-4 (RegMix's CSVs use 3 decimals); ids hash them to 6 decimals."""
DRAW_BATCH = 4096
MAX_DRAW_BATCHES = 64
"""Give up (ConfigError) after this many batches of draws without enough mixtures inside the caps."""

THROUGHPUT_TOKENS_PER_S = {
    "s14m": {"stacked": 2.0e6, "single": 0.6e6},
    "s42m": {"stacked": 1.0e6, "single": 0.5e6},
}
"""Tokens/s used by the dry run's GPU-time estimate, from an H200 measurement of stacked proxies
(bf16, T 1024, 8 sequences per model): stacked 16 models
under ``torch.compile`` ran 2.56M (14M proxy) and 1.22M (42M) aggregate, one model 0.58M and 0.54M;
rounded down to leave room for data loading and evaluation. ``single`` prices the base proxy of
anneal mode, which trains alone."""


def plan_sweep(corpus: str | os.PathLike, heldout: str | os.PathLike, *, runs: int, holdout: int,
               proxy: str = "s14m", tokens: int, base_tokens: int | None = None, mode: str = "anneal",
               max_epochs: float = 4.0, seed: int = 0, prior_power: float = 0.5, min_weight: float = 0.01,
               seq_len: int = 1024, batch_size: int = 8, seeds_per_anchor: int = 3) -> SweepSpec:
    """Plan a swarm of ``runs`` fit mixtures, ``holdout`` held-out mixtures and the anchor runs.

    ``corpus`` and ``heldout`` are token corpus folders with the same domains. ``base_tokens``
    (anneal mode) defaults to twice ``tokens``. The plan is a pure function of its arguments and the
    two manifests: the same seed gives the same runs, ids and order.
    """
    from midtrain.mixers.domain_sizes import manifest_domain_tokens

    _check_arguments(runs=runs, holdout=holdout, proxy=proxy, tokens=tokens, mode=mode, max_epochs=max_epochs,
                     prior_power=prior_power, min_weight=min_weight, seq_len=seq_len, batch_size=batch_size,
                     seeds_per_anchor=seeds_per_anchor, base_tokens=base_tokens)
    base = (2 * tokens if base_tokens is None else int(base_tokens)) if mode == "anneal" else 0
    sizes = manifest_domain_tokens(corpus)
    held_sizes = manifest_domain_tokens(heldout)
    domains = tuple(sorted(d for d, n in sizes.items() if n > 0))
    if not domains:
        raise ConfigError(f"{corpus}: the corpus has no tokens")
    absent = [d for d in domains if held_sizes.get(d, 0) <= 0]
    if absent:
        raise ConfigError(f"--heldout {heldout}: has no tokens of domain {', '.join(absent)}; the held-out corpus "
                          "needs every training domain to measure its loss")
    unique = np.array([sizes[d] for d in domains], dtype=np.float64)
    prior = prior_weights(unique, prior_power)
    upper = weight_caps(unique, prior, tokens=tokens, base_tokens=base, max_epochs=max_epochs, domains=domains)
    rng = np.random.default_rng(seed)
    anchors = anchor_mixtures(prior, upper, domains)
    taken = {_key(w) for _, w in anchors}
    draws = draw_mixtures(rng, prior, upper, runs + holdout, min_weight=min_weight, exclude=taken, domains=domains)
    specs = [make_run(role="fit", name=f"fit-{i:03d}", weights=_as_dict(domains, w), seed=seed, proxy=proxy)
             for i, w in enumerate(draws[:runs])]
    specs += [make_run(role="heldout", name=f"heldout-{i:03d}", weights=_as_dict(domains, w), seed=seed,
                       proxy=proxy) for i, w in enumerate(draws[runs:])]
    specs += [make_run(role="anchor", name=name, weights=_as_dict(domains, w), seed=seed + s, proxy=proxy)
              for name, w in anchors for s in range(seeds_per_anchor)]
    spec = SweepSpec(version=VERSION, corpus=str(Path(corpus).resolve()), heldout=str(Path(heldout).resolve()),
                     mode=mode, domains=domains, prior=_as_dict(domains, prior),
                     domain_tokens={d: int(sizes[d]) for d in domains}, tokens=int(tokens), base_tokens=base,
                     max_epochs=float(max_epochs), seq_len=seq_len, batch_size=batch_size, seed=seed,
                     runs=tuple(specs))
    check_with_planner(spec)
    return spec


def _check_arguments(**a: Any) -> None:
    for key in ("runs", "holdout"):
        if a[key] < 0:
            raise ConfigError(f"--{key}: must be >= 0, got {a[key]}")
    if a["runs"] + a["holdout"] == 0:
        raise ConfigError("--runs: the swarm needs at least one run")
    if a["proxy"] not in PROXIES:
        raise ConfigError(f"--proxy: unknown proxy {a['proxy']!r} (known: {', '.join(PROXIES)})")
    if a["mode"] not in MODES:
        raise ConfigError(f"--mode: must be one of {', '.join(MODES)}, got {a['mode']!r}")
    for key in ("tokens", "seq_len", "batch_size", "seeds_per_anchor"):
        if a[key] <= 0:
            raise ConfigError(f"--{key.replace('_', '-')}: must be positive, got {a[key]}")
    if not a["max_epochs"] > 0:
        raise ConfigError(f"--max-epochs: must be positive, got {a['max_epochs']}")
    if not a["prior_power"] >= 0:
        raise ConfigError(f"--prior-power: must be >= 0, got {a['prior_power']}")
    if not 0 <= a["min_weight"] < 1:
        raise ConfigError(f"--min-weight: must lie in [0, 1), got {a['min_weight']}")
    if a["base_tokens"] is not None:
        if a["mode"] == "pretrain":
            raise ConfigError("--base-tokens: only anneal mode has a base proxy; drop it or use --mode anneal")
        if a["base_tokens"] <= 0:
            raise ConfigError(f"--base-tokens: must be positive, got {a['base_tokens']}")


def prior_weights(unique_tokens: np.ndarray, power: float) -> np.ndarray:
    """Token shares to ``power``, renormalised (power 1: the natural mix; 0: uniform)."""
    shares = unique_tokens / unique_tokens.sum()
    w = shares ** power
    return w / w.sum()


def weight_caps(unique_tokens: np.ndarray, prior: np.ndarray, *, tokens: int, base_tokens: int,
                max_epochs: float, domains: tuple[str, ...]) -> np.ndarray:
    """The largest share of each domain a run may take: ``(max_epochs·unique − base·prior) / tokens``, at most 1.

    A base run that alone breaks a cap, or caps that cannot hold one run's tokens together, is a
    ConfigError naming the domains.
    """
    allowed = max_epochs * unique_tokens - base_tokens * prior
    over = [f"{d} ({base_tokens * p:,.0f} drawn by the base > {max_epochs:g} x {n:,.0f} unique)"
            for d, p, n, a in zip(domains, prior, unique_tokens, allowed) if a < 0]
    if over:
        raise ConfigError(f"--base-tokens: the base proxy alone exceeds --max-epochs for {'; '.join(over)}; lower "
                          "--base-tokens or raise --max-epochs")
    upper = np.minimum(allowed / tokens, 1.0)
    if upper.sum() < 1.0 - 1e-9:
        raise ConfigError("no mixture fits the epoch caps: " + binding_caps_message(
            upper, unique_tokens, prior, tokens=tokens, base_tokens=base_tokens, max_epochs=max_epochs,
            domains=domains) + "; lower --tokens, raise --max-epochs, or add data")
    return upper


def binding_caps_message(upper: np.ndarray, unique_tokens: np.ndarray, prior: np.ndarray, *, tokens: int,
                         base_tokens: int, max_epochs: float, domains: tuple[str, ...],
                         only: list[int] | None = None) -> str:
    """``math <= 0.1200 (4 epochs x 1,000,000 unique - 200,000 drawn by the base, over 8,000,000 tokens)``, ..."""
    parts = []
    for k in (range(len(domains)) if only is None else only):
        base = f" - {base_tokens * prior[k]:,.0f} drawn by the base" if base_tokens else ""
        parts.append(f"{domains[k]} <= {upper[k]:.4f} ({max_epochs:g} epochs x {unique_tokens[k]:,.0f} unique{base}, "
                     f"over {tokens:,} tokens)")
    total = float(np.minimum(upper, 1.0).sum())
    return f"the caps allow {total:.4f} of a run's tokens in all: " + "; ".join(parts)


def draw_mixtures(rng: np.random.Generator, prior: np.ndarray, upper: np.ndarray, count: int, *,
                  min_weight: float, exclude: set[tuple[int, ...]], domains: tuple[str, ...]) -> list[np.ndarray]:
    """``count`` distinct mixtures from Dirichlet draws around ``prior``, floored, rounded, inside ``upper``."""
    out: list[np.ndarray] = []
    seen = set(exclude)
    over = np.zeros(len(prior), dtype=np.int64)
    drawn = 0
    for _ in range(MAX_DRAW_BATCHES):
        if len(out) >= count:
            break
        W = floor_weights(dirichlet_batch(rng, prior, DRAW_BATCH), min_weight)
        drawn += len(W)
        inside = (W <= upper + 1e-12).all(axis=1)  # the rounding below never raises a share past a cap
        over += (W[~inside] > upper + 1e-12).sum(axis=0)
        for w in W[inside]:
            units = round_to_units(w, upper)
            if units is None:
                continue
            key = tuple(units.tolist())
            if key in seen:
                continue
            seen.add(key)
            out.append(units / 10**WEIGHT_DECIMALS)
            if len(out) >= count:
                break
    if len(out) < count:
        worst = [int(k) for k in np.argsort(-over)[:3] if over[k] > 0]
        caps = ", ".join(f"{domains[k]} <= {upper[k]:.4f} (broken by {over[k] / drawn:.0%} of draws)" for k in worst)
        raise ConfigError(f"--runs/--holdout: only {len(out)} distinct mixtures of {count} fit the epoch caps after "
                          f"{drawn:,} draws; binding caps: {caps or 'none (too few distinct mixtures at 4 decimals)'}; "
                          "lower --tokens, raise --max-epochs or ask for fewer runs")
    return out


def dirichlet_batch(rng: np.random.Generator, prior: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of ``Dir(c·prior)``, ``c = D·exp(U(log lo, log hi))`` per draw (:data:`CONCENTRATION_RANGE`).

    Sampled as normalised gammas; a draw whose gammas all underflow (tiny ``c``) falls back to the
    largest gamma's vertex, which is what the limit ``c → 0`` gives.
    """
    lo, hi = CONCENTRATION_RANGE
    c = len(prior) * np.exp(rng.uniform(math.log(lo), math.log(hi), size=(n, 1)))
    alpha = np.maximum(c * prior[None, :], 1e-12)
    g = rng.standard_gamma(alpha)
    total = g.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    if empty.any():
        g[empty] = np.eye(len(prior))[rng.choice(len(prior), size=int(empty.sum()), p=prior)]
        total = g.sum(axis=1, keepdims=True)
    return g / total


def floor_weights(w: np.ndarray, min_weight: float) -> np.ndarray:
    """Weights below ``min_weight`` set to 0 and the rest renormalised (the largest always survives);
    ``w`` is one mixture or a matrix of them (rows)."""
    W = np.atleast_2d(w)
    keep = W >= min_weight
    keep[np.arange(len(W)), np.argmax(W, axis=1)] = True
    out = np.where(keep, W, 0.0)
    out = out / out.sum(axis=1, keepdims=True)
    return out if np.ndim(w) == 2 else out[0]


def round_to_units(w: np.ndarray, upper: np.ndarray) -> np.ndarray | None:
    """``w`` in integer units of 1e-4 summing to exactly 10⁴, each at most ``upper`` (None: impossible).

    Largest remainders: every share is rounded down, then the missing units go one at a time to the
    domains with the largest remainders, among those present (a floored domain stays at 0) and below
    their cap.
    """
    scale = 10**WEIGHT_DECIMALS
    cap_units = np.floor(upper * scale + 1e-9).astype(np.int64)
    units = np.floor(w * scale + 1e-9).astype(np.int64)
    if (units > cap_units).any():
        return None
    missing = scale - int(units.sum())
    order = [int(k) for k in np.argsort(-(w * scale - units), kind="stable") if w[k] > 0]
    while missing > 0:
        takers = [k for k in order if units[k] < cap_units[k]][:missing]
        if not takers:
            return None
        units[takers] += 1
        missing -= len(takers)
    return units


def anchor_mixtures(prior: np.ndarray, upper: np.ndarray, domains: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """``prior``, ``uniform`` and ``cap:<domain>`` for each domain, each rounded and inside the caps.

    A prior or uniform mix that breaks a cap is clipped to it with the excess spread over the other
    domains in proportion (water-filling); a domain whose cap allows it the whole run gets no cap
    anchor (it would be the one-domain mix). Duplicates keep the first name.
    """
    scale = 10**WEIGHT_DECIMALS
    out: list[tuple[str, np.ndarray]] = []
    seen: set[tuple[int, ...]] = set()
    uniform = np.full(len(prior), 1.0 / len(prior))
    candidates = [("prior", fill_within(prior, upper)), ("uniform", fill_within(uniform, upper))]
    for k, d in enumerate(domains):
        share = min(upper[k], 1.0)
        rest = np.delete(prior, k)
        if share >= 1.0 or rest.sum() <= 0:
            mix = np.eye(len(prior))[k]
        else:
            mix = np.insert(fill_within(rest / rest.sum(), np.delete(upper, k) / (1 - share)) * (1 - share), k, share)
        candidates.append((f"cap:{d}", mix))
    for name, w in candidates:
        units = round_to_units(w, upper)
        if units is None:  # the caps leave no room at 4 decimals
            continue
        key = tuple(units.tolist())
        if key not in seen:
            seen.add(key)
            out.append((name, units / scale))
    return out


def fill_within(w: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The closest mix in proportion to ``w`` inside ``upper``: clip, then spread the excess (water-filling)."""
    w = w / w.sum()
    upper = np.minimum(upper, 1.0)
    fixed = np.zeros(len(w), dtype=bool)
    out = w.copy()
    for _ in range(len(w)):
        over = (out > upper + 1e-15) & ~fixed
        if not over.any():
            break
        fixed |= over
        out[fixed] = upper[fixed]
        free = ~fixed
        mass = 1.0 - out[fixed].sum()
        if not free.any() or w[free].sum() <= 0:
            break
        out[free] = mass * w[free] / w[free].sum()
    return out


# --- the planner's view -------------------------------------------------------------------------
def training_schedule(spec: SweepSpec, weights: Mapping[str, float], *,
                      total_tokens: int | None = None) -> dict[str, Any]:
    """The schedule a run trains on, end to end: in anneal mode the base phase on the prior, then the
    anneal on ``weights``; in pretrain mode one phase. ``total_tokens`` rescales both (the anneal
    keeps its fraction of the run); default the proxy's ``base_tokens + tokens``."""
    domains = list(spec.domains)
    mix = {d: float(weights[d]) for d in domains}
    run_total = spec.base_tokens + spec.tokens
    total = int(total_tokens) if total_tokens is not None else run_total
    if spec.mode == "pretrain":
        return {"total_tokens": total, "domains": domains, "phases": [{"name": "pretrain", "weights": mix}]}
    base_end = round(total * spec.base_tokens / run_total)
    return {"total_tokens": total, "domains": domains,
            "phases": [{"name": "base", "end": base_end, "weights": {d: float(spec.prior[d]) for d in domains}},
                       {"name": "anneal", "weights": mix}]}


def check_with_planner(spec: SweepSpec) -> None:
    """Run :func:`~midtrain.mixers.plan_budget` on every run's full schedule; a cap it reports broken is a bug
    of the sampler's arithmetic, raised as AssertionError naming the run."""
    from midtrain.mixers import load_schedule, plan_budget

    for run in spec.runs:
        schedule = load_schedule(training_schedule(spec, run.weights), domain_tokens=spec.domain_tokens)
        plan = plan_budget(schedule, spec.domain_tokens, max_epochs=spec.max_epochs)
        if plan.violations:
            raise AssertionError(f"{run.name} ({run.run_id}) breaks a cap the sampler checked: {plan.violations}")


def run_epochs(spec: SweepSpec, weights: Mapping[str, float]) -> dict[str, float]:
    """Epochs per domain of a run, base included: ``(base·prior_k + tokens·w_k) / unique_k``."""
    return {d: (spec.base_tokens * spec.prior[d] + spec.tokens * weights[d]) / spec.domain_tokens[d]
            for d in spec.domains}


def sweep_caps(spec: SweepSpec) -> np.ndarray:
    """:func:`weight_caps` of a planned sweep, in ``spec.domains`` order."""
    unique = np.array([spec.domain_tokens[d] for d in spec.domains], dtype=np.float64)
    prior = np.array([spec.prior[d] for d in spec.domains])
    return weight_caps(unique, prior, tokens=spec.tokens, base_tokens=spec.base_tokens, max_epochs=spec.max_epochs,
                       domains=spec.domains)


def describe_plan(spec: SweepSpec) -> str:
    """The dry run: runs by role, tokens in all, the most epochs of each domain, estimated GPU time."""
    from midtrain.mixers.positions import format_tokens

    lines = [f"sweep: {len(spec.runs)} runs, {len(spec.domains)} domains ({', '.join(spec.domains)}), mode {spec.mode}"]
    roles: dict[str, int] = {}
    for r in spec.runs:
        roles[r.role] = roles.get(r.role, 0) + 1
    lines.append("runs by role: " + ", ".join(f"{role} {n}" for role, n in roles.items()))
    proxies = sorted({r.proxy for r in spec.runs})
    swarm = spec.tokens * len(spec.runs)
    base = spec.base_tokens * len(proxies)
    lines.append(f"tokens: {format_tokens(swarm)} in swarm runs ({format_tokens(spec.tokens)} each)"
                 + (f" + {format_tokens(base)} for the base proxy ({format_tokens(spec.base_tokens)} on the prior)"
                    if base else "") + f" = {format_tokens(swarm + base)}")
    lines.append("prior: " + ", ".join(f"{d} {spec.prior[d]:.4f}" for d in spec.domains))
    most = {d: max(run_epochs(spec, r.weights)[d] for r in spec.runs) for d in spec.domains}
    lines.append(f"max epochs per domain (cap {spec.max_epochs:g}): "
                 + ", ".join(f"{d} {most[d]:.2f}" for d in spec.domains))
    seconds = 0.0
    for p in proxies:
        rate = THROUGHPUT_TOKENS_PER_S.get(p, THROUGHPUT_TOKENS_PER_S["s42m"])
        seconds += spec.tokens * sum(r.proxy == p for r in spec.runs) / rate["stacked"]
        seconds += spec.base_tokens / rate["single"]
    rates = {p: THROUGHPUT_TOKENS_PER_S.get(p, THROUGHPUT_TOKENS_PER_S["s42m"])["stacked"] for p in proxies}
    lines.append(f"estimated GPU time: {seconds / 60:.1f} min on one H200 (stacked proxies at "
                 + ", ".join(f"{p} {rate / 1e6:g}M" for p, rate in rates.items())
                 + " tok/s aggregate; base proxy alone; training only, not evaluation, compile or start-up)")
    return "\n".join(lines)


def _key(w: np.ndarray) -> tuple[int, ...]:
    return tuple(np.rint(w * 10**WEIGHT_DECIMALS).astype(np.int64).tolist())


def _as_dict(domains: tuple[str, ...], w: np.ndarray) -> dict[str, float]:
    return {d: round(float(x), WEIGHT_DECIMALS + 2) for d, x in zip(domains, w)}

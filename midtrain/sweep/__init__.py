"""Mixture search: a swarm of small proxy runs, a mixing law fitted to them, and the mix it proposes.

- :mod:`~midtrain.sweep.spec`: the sweep folder (``sweep.json``, ``results.jsonl``), the contract
  between planning, training and fitting;
- :mod:`~midtrain.sweep.sampler`: :func:`plan_sweep`, Dirichlet mixtures around a prior, inside the epoch caps;
- :mod:`~midtrain.sweep.fit`: mixing laws (``linlog`` ridge, ``dml`` exponential, optional LightGBM),
  chosen by cross-validation on the fit runs, with bootstrap uncertainty;
- :mod:`~midtrain.sweep.optimize`: the constrained search for the best mix and its schedule;
- :mod:`~midtrain.sweep.metrics`, :mod:`~midtrain.sweep.report`: how well the law ranks held-out mixes;
- :mod:`~midtrain.sweep.stacked`, :mod:`~midtrain.sweep.train`: training the swarm on one GPU.

Importing this package loads nothing heavy; see ``README.md`` here and ``docs/sweep.md``.
"""

from midtrain.lazy import lazy_getattr

_EXPORTS = {
    "PROXIES": "midtrain.sweep.spec",
    "RunResult": "midtrain.sweep.spec",
    "RunSpec": "midtrain.sweep.spec",
    "SweepSpec": "midtrain.sweep.spec",
    "append_result": "midtrain.sweep.spec",
    "read_results": "midtrain.sweep.spec",
    "read_sweep": "midtrain.sweep.spec",
    "run_schedule": "midtrain.sweep.spec",
    "write_sweep": "midtrain.sweep.spec",
    "plan_sweep": "midtrain.sweep.sampler",
    "fit_sweep": "midtrain.sweep.fit",
    "optimize_mix": "midtrain.sweep.optimize",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

"""Packed, mixed, resumable batches for PyTorch trainers.

``build_loader(corpus, schedule, seq_len=, batch_size=, seed=)``, or the same settings as a
:class:`LoaderConfig` and ``config.build(schedule)``, returns a loader whose global order is a pure
function of (corpus, schedule, seed, position): per-domain seeded epochs packed into sequences
(concat-and-split or best-fit), interleaved in blocks that follow the schedule's weights to within
one sequence, each rank taking its slice of every global batch. Importing this package pulls in
numpy, pyarrow, torch and numba only (no curation stack), on first use of a name (so the
``midtrain amend`` command registers without them).

Modules, in the order data flows: :mod:`~midtrain.loaders.config` (the settings),
:mod:`~midtrain.loaders.streams` (per-domain packed sequences), :mod:`~midtrain.loaders.plan`
(the global block plan and its resumable state), :mod:`~midtrain.loaders.batches` (a planned batch
into tensors), :mod:`~midtrain.loaders.ring` (shared-memory hand-off from workers),
:mod:`~midtrain.loaders.dataset` (the torch dataset each worker runs),
:mod:`~midtrain.loaders.loader` (what the trainer iterates and checkpoints),
:mod:`~midtrain.loaders.feed` (adaptive weight changes handed to running workers);
:mod:`~midtrain.loaders.kernels` holds the compiled hot loops; :mod:`~midtrain.loaders.amend`
(schedule amendments), :mod:`~midtrain.loaders.remote` (batches from a corpus at a URL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.loaders.config import LoaderConfig
    from midtrain.loaders.loader import PackedLoader, build_loader
    from midtrain.loaders.plan import GlobalPlan, PlanState

_EXPORTS = {"LoaderConfig": "midtrain.loaders.config", "PackedLoader": "midtrain.loaders.loader",
            "build_loader": "midtrain.loaders.loader", "GlobalPlan": "midtrain.loaders.plan",
            "PlanState": "midtrain.loaders.plan"}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

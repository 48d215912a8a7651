"""Packed, mixed, resumable batches for PyTorch trainers.

``build_loader(corpus, schedule, seq_len=, batch_size=, seed=)`` returns a loader whose global
order is a pure function of (corpus, schedule, seed, position): per-domain seeded epochs packed
into sequences (concat-and-split or best-fit), interleaved in blocks that follow the schedule's
weights to within one sequence, each rank taking its slice of every global batch. Importing this
package pulls in numpy, pyarrow, torch and numba only (no curation stack).
"""

from midtrain.loaders.loader import PackedLoader, build_loader
from midtrain.loaders.plan import GlobalPlan, PlanState

__all__ = ["GlobalPlan", "PackedLoader", "PlanState", "build_loader"]

"""Per-domain held-out loss of every member of a stack, on rows fixed once for the whole sweep.

Every run of a sweep is scored on the same rows, so two runs' losses differ only by what they
learned: the rows of a domain are the first ``rows`` sequences of midtrain's own loader over the
held-out corpus with that domain alone, concat packing and a fixed seed (:data:`HELDOUT_SEED`): a
pure function of the corpus and ``seq_len``. They carry the loader's ``document_ids``, so a document
never sees the one packed before it, and its labels (-100 where a document ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from midtrain.errors import ConfigError

HELDOUT_SEED = 20_241_216
"""Seed of the held-out rows' document order; any fixed number would do, it must only never change."""
BATCH_KEYS = ("input_ids", "labels", "position_ids", "document_ids")

LossFn = Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]
"""A stacked batch (``[M, B, T]`` tensors on the CPU) -> each member's (loss sum, token count)."""


@dataclass(frozen=True)
class HeldoutRows:
    """One domain's fixed held-out rows, ``[R, T]`` each (int64; ``document_ids`` -1 on padding)."""

    domain: str
    input_ids: torch.Tensor
    labels: torch.Tensor
    position_ids: torch.Tensor
    document_ids: torch.Tensor

    @property
    def tokens(self) -> int:
        """Tokens that are scored (labels other than -100)."""
        return int((self.labels != -100).sum())


def heldout_rows(corpus: str, domains: tuple[str, ...] | list[str], *, seq_len: int,
                 rows: int) -> list[HeldoutRows]:
    """The first ``rows`` packed sequences of each domain of the held-out ``corpus`` (fewer when the
    domain has fewer than ``rows x seq_len`` tokens, so no held-out token is scored twice)."""
    from midtrain.loaders import build_loader
    from midtrain.mixers import load_schedule
    from midtrain.mixers.domain_sizes import manifest_domain_tokens

    sizes = manifest_domain_tokens(corpus)
    out = []
    for d in domains:
        if sizes.get(d, 0) <= 0:
            raise ConfigError(f"{corpus}: the held-out corpus has no tokens of domain {d!r}")
        n = max(1, min(int(rows), sizes[d] // seq_len))
        schedule = load_schedule({"domains": [d], "phases": [{"weights": {d: 1.0}}]})
        loader = build_loader(corpus, schedule, seq_len=seq_len, batch_size=n, seed=HELDOUT_SEED, rank=0,
                              world_size=1, packing="concat", num_workers=0)
        it = iter(loader)
        batch = next(it)
        out.append(HeldoutRows(d, *(batch[k].to(torch.int64).clone() for k in BATCH_KEYS)))
        it.close()
    return out


def padded_chunks(rows: HeldoutRows, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """``rows`` in chunks of exactly ``batch_size`` sequences ``[B, T]``; the last is padded with rows
    that score nothing (labels -100, their own document), so every chunk has one shape."""
    R, T = rows.input_ids.shape
    chunks = []
    for a in range(0, R, batch_size):
        chunk = {k: getattr(rows, k)[a:a + batch_size] for k in BATCH_KEYS}
        short = batch_size - chunk["input_ids"].shape[0]
        if short:
            fill = {"input_ids": 0, "labels": -100, "position_ids": 0, "document_ids": -1}
            chunk = {k: torch.cat([v, torch.full((short, T), fill[k], dtype=v.dtype)]) for k, v in chunk.items()}
            chunk["position_ids"][-short:] = torch.arange(T)
        chunks.append(chunk)
    return chunks


@torch.no_grad()
def heldout_losses(loss_fn: LossFn, heldout: list[HeldoutRows], *, members: int,
                   batch_size: int) -> list[dict[str, float]]:
    """Mean nats/token per domain for each of ``members`` stacked models: every member scores the
    same rows (the chunk is repeated along the model dimension)."""
    out: list[dict[str, float]] = [{} for _ in range(members)]
    for rows in heldout:
        total = torch.zeros(members, dtype=torch.float64)
        count = torch.zeros(members, dtype=torch.float64)
        for chunk in padded_chunks(rows, batch_size):
            stacked = {k: v.unsqueeze(0).expand(members, *v.shape) for k, v in chunk.items()}
            loss_sum, n = loss_fn(stacked)
            total += loss_sum.double().cpu()
            count += n.double().cpu()
        for m in range(members):
            out[m][rows.domain] = float(total[m] / count[m]) if count[m] > 0 else float("nan")
    return out

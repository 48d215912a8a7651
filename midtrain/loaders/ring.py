"""Shared-memory slots that loader workers fill with finished batches: the zero-copy hand-off.

Handing a batch from a worker process to the trainer is where multi-worker loaders lose most of
their speed (ANCHORS §2.7: 30–110 µs per row): a fresh shared-memory segment per batch, a file
descriptor passed over a socket, and page faults in both processes as the new pages are touched.
Here the main process allocates, per ``DataLoader`` iteration, a fixed ring of slots for each
worker once. A worker writes its batches' ``input_ids``, ``labels``, ``position_ids`` and
``document_ids`` straight into one of its free slots with the same kernel as the in-process path
(:func:`~midtrain.loaders.kernels.fill_batch`) and sends only a small message (where the batch
lies, its ``cu_seqlens``, domains and resume state). The main process wraps the slot's bytes as
tensors without copying.

Buffer lifetime: every slot is leased to the batches that the main process built from it. The
lease is the Python object that all their arrays and tensors keep alive (directly or through
their bases and storages); when the last of them is garbage-collected, a finalizer marks the slot
free again and the worker may reuse it. A trainer that keeps batches (a list of them, an
asynchronous copy still in flight) simply keeps the slot: when a worker finds none of its slots
free it falls back to the compact message of :class:`~midtrain.loaders.dataset.CompactBatch`,
so the loader never blocks on memory held by the consumer and the batches are identical either
way.

Slot states live in a small shared ``int8`` array: the worker sets ``BUSY`` before writing and
the main process sets ``FREE`` after the last reference to the batch is gone. Each transition
has a single writer, and the data itself is published through the ``DataLoader``'s queue (a
system call on both sides), so no further synchronisation is needed.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

FREE, BUSY = 0, 1
_ALIGN = 64


def batch_bytes(batch_size: int, seq_len: int, compact: bool) -> int:
    """Slot bytes one batch takes: three token-sized arrays (int64, or int32 if compact) and int32 document ids."""
    token_bytes = 4 if compact else 8
    per_array = batch_size * seq_len
    return _aligned(3 * _aligned(per_array * token_bytes) + _aligned(per_array * 4))


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


@dataclass
class SlotBatch:
    """What a worker sends for a batch it wrote into a slot (everything but the four big arrays)."""

    worker: int
    slot: int
    offset: int
    batch_size: int
    seq_len: int
    cu_seqlens: np.ndarray
    max_seqlen: int
    domain: np.ndarray
    batch_index: int
    resume: Any


class _Lease:
    """Owner of one use of a slot: the arrays built from it keep it alive; its death frees the slot."""

    def __init__(self, memory: np.ndarray) -> None:
        self._memory = memory
        self.__array_interface__ = memory.__array_interface__


class SlotRing:
    """``slots`` shared-memory slots of ``slot_bytes`` for each of ``workers`` loader workers."""

    def __init__(self, workers: int, slots: int, slot_bytes: int, compact: bool) -> None:
        self.workers = workers
        self.slots = slots
        self.slot_bytes = _aligned(slot_bytes)
        self.compact = compact
        # torch shared tensors: inherited by forked workers, passed by file descriptor to spawned ones
        self._memory = torch.empty(workers * slots * self.slot_bytes, dtype=torch.uint8).share_memory_()
        self._state = torch.zeros((workers, slots), dtype=torch.int8).share_memory_()

    @classmethod
    def create(cls, workers: int, slots: int, slot_bytes: int, compact: bool) -> "SlotRing | None":
        """A ring, or ``None`` where shared memory cannot be had (the compact messages still work).

        A ring that would take more than a quarter of the free space of ``/dev/shm`` is not made:
        a tmpfs that runs out while pages are being touched kills the process with SIGBUS (Docker's
        default ``/dev/shm`` is 64 MB).
        """
        need = workers * slots * _aligned(slot_bytes)
        try:
            stat = os.statvfs("/dev/shm")
            if need > stat.f_bavail * stat.f_frsize // 4:
                return None
        except OSError:  # no /dev/shm (not Linux): torch picks its own shared-memory mechanism
            pass
        try:
            return cls(workers, slots, slot_bytes, compact)
        except (RuntimeError, OSError):
            return None

    def _slot(self, worker: int, slot: int) -> np.ndarray:
        start = (worker * self.slots + slot) * self.slot_bytes
        return self._memory.numpy()[start:start + self.slot_bytes]

    def _views(self, memory: np.ndarray, offset: int, batch_size: int,
               seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        token = np.int32 if self.compact else np.int64
        n = batch_size * seq_len
        step = _aligned(n * np.dtype(token).itemsize)
        views = [memory[offset + k * step:offset + k * step + n * np.dtype(token).itemsize].view(token)
                 for k in range(3)]
        doc = memory[offset + 3 * step:offset + 3 * step + n * 4].view(np.int32)
        shape = (batch_size, seq_len)
        return views[0].reshape(shape), views[1].reshape(shape), views[2].reshape(shape), doc.reshape(shape)

    # -- worker side -------------------------------------------------------------------------
    def acquire(self, worker: int) -> int | None:
        """A free slot of ``worker``, now marked busy, or ``None`` if the consumer holds them all."""
        state = self._state.numpy()[worker]
        free = np.flatnonzero(state == FREE)
        if len(free) == 0:
            return None
        slot = int(free[0])
        state[slot] = BUSY
        return slot

    def arrays(self, worker: int, slot: int, offset: int, batch_size: int,
               seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Where a worker writes ``input_ids``, ``labels``, ``position_ids``, ``document_ids``."""
        return self._views(self._slot(worker, slot), offset, batch_size, seq_len)

    # -- main-process side -------------------------------------------------------------------
    def lease(self, worker: int, slot: int) -> _Lease:
        """The owner of this use of the slot; the slot is freed once nothing refers to it any more."""
        lease = _Lease(self._slot(worker, slot))
        weakref.finalize(lease, _release, self._state, worker, slot)
        return lease

    def batch(self, part: SlotBatch, lease: _Lease) -> dict[str, Any]:
        """The batch dict over the slot's memory (no copy); its tensors keep ``lease`` alive."""
        ids, labels, pos, doc = self._views(np.asarray(lease), part.offset, part.batch_size, part.seq_len)
        return {
            "input_ids": torch.from_numpy(ids),
            "labels": torch.from_numpy(labels),
            "position_ids": torch.from_numpy(pos),
            "document_ids": torch.from_numpy(doc),
            "cu_seqlens": torch.from_numpy(part.cu_seqlens),
            "max_seqlen": part.max_seqlen,
            "domain": torch.from_numpy(part.domain),
            "seq_len": part.seq_len,
            "batch_index": part.batch_index,
            "_resume": part.resume,
        }

    def free_slots(self) -> int:
        """Slots not leased or being written (for tests and diagnostics)."""
        return int((self._state.numpy() == FREE).sum())


def _release(state: torch.Tensor, worker: int, slot: int) -> None:
    state.numpy()[worker, slot] = FREE

"""Shared-memory slots that loader workers fill with finished batches: the zero-copy hand-off.

Handing a batch from a worker process to the trainer is where multi-worker loaders lose most of
their speed: a plain torch ``DataLoader`` over a numpy memmap of 2,048-token rows went from about
5 µs per row without workers to about 110 µs with two (measured on 200M tokens), and the cost is
a fresh shared-memory segment per batch, a file descriptor passed over a socket, and page faults
in both processes as the new pages are touched.
Here the main process allocates, per ``DataLoader`` iteration, a fixed ring of slots for each
worker once. A worker writes its batches' ``input_ids``, ``labels``, ``position_ids`` and
``document_ids`` straight into one of its free slots with the same kernel as the in-process path
(:func:`~midtrain.loaders.kernels.fill_batch`) and sends only a small message (where the batch
lies, its ``cu_seqlens``, domains and resume state). The main process wraps the slot's bytes as
tensors without copying.

Buffer lifetime: every slot is leased to the batches that the main process built from it. The
lease is the Python object that all their arrays and tensors keep alive (directly or through
their bases and storages); when the last of them is garbage-collected, a weakref callback marks
the slot free again and the worker may reuse it. A trainer that keeps batches (a list of them, an
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
    mixture: int = -1
    """The log entry whose weights planned the batch's block (see ``PlannedBatch.mixture``)."""
    extras: dict[str, Any] | None = None
    """``rope``, ``phase`` and ``cp`` (see ``PlannedBatch.extras``)."""


class _Lease:
    """Owner of one use of a slot: every array handed out from it keeps it alive; its death frees the slot.

    It also holds the ring's memory, so a batch outlives its loader safely.
    """

    __slots__ = ("__weakref__", "memory")

    def __init__(self, memory: np.ndarray) -> None:
        self.memory = memory


class _View:
    """One output array over slot memory, made by ``np.asarray``; keeps its lease alive."""

    __slots__ = ("__array_interface__", "lease")

    def __init__(self, interface: dict[str, Any], lease: _Lease) -> None:
        self.__array_interface__ = interface
        self.lease = lease


class SlotRing:
    """``slots`` slots of ``slot_bytes`` for each of ``workers`` loader workers.

    With ``shared=False`` the slots are private memory: the in-process loader (no workers) recycles
    its output buffers the same way, which saves the page faults of fresh multi-megabyte tensors
    on every batch.
    """

    def __init__(self, workers: int, slots: int, slot_bytes: int, compact: bool, shared: bool = True) -> None:
        self.workers = workers
        self.slots = slots
        self.slot_bytes = _aligned(slot_bytes)
        self.compact = compact
        self._memory = torch.empty(workers * slots * self.slot_bytes, dtype=torch.uint8)
        self._state = torch.zeros((workers, slots), dtype=torch.int8)
        if shared:
            # torch shared tensors: inherited by forked workers, passed by file descriptor to spawned ones
            self._memory.share_memory_()
            self._state.share_memory_()
        self._local()

    def _local(self) -> None:
        """Per-process caches: numpy views of the tensors, array layouts, live leases."""
        self._np_memory = self._memory.numpy()
        self._np_state = self._state.numpy()
        self._layouts: dict[tuple[int, int, int, int, int], tuple[np.ndarray, ...]] = {}
        self._interfaces: dict[tuple[int, int, int, int, int], tuple[dict[str, Any], ...]] = {}
        self._leases: dict[weakref.ref, tuple[int, int]] = {}
        self._next = [0] * self.workers

    def __getstate__(self) -> dict[str, Any]:
        # the tensors travel (by file descriptor); the numpy views and caches are rebuilt
        return {k: v for k, v in self.__dict__.items() if k in
                ("workers", "slots", "slot_bytes", "compact", "_memory", "_state")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local()

    @classmethod
    def create(cls, workers: int, slots: int, slot_bytes: int, compact: bool) -> "SlotRing | None":
        """A shared ring, or ``None`` where shared memory cannot be had (the compact messages still work).

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

    def arrays(self, worker: int, slot: int, offset: int, batch_size: int,
               seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The ``input_ids``, ``labels``, ``position_ids``, ``document_ids`` arrays at ``offset`` of a slot."""
        key = (worker, slot, offset, batch_size, seq_len)
        arrays = self._layouts.get(key)
        if arrays is None:
            token = np.dtype(np.int32 if self.compact else np.int64)
            n = batch_size * seq_len
            step = _aligned(n * token.itemsize)
            start = (worker * self.slots + slot) * self.slot_bytes + offset
            if offset + batch_bytes(batch_size, seq_len, self.compact) > self.slot_bytes:
                raise ValueError(f"a {batch_size}x{seq_len} batch at offset {offset} overflows a "
                                 f"{self.slot_bytes}-byte slot")
            mem = self._np_memory
            arrays = tuple(mem[start + k * step:start + k * step + n * token.itemsize].view(token)
                           .reshape(batch_size, seq_len) for k in range(3))
            arrays += (mem[start + 3 * step:start + 3 * step + n * 4].view(np.int32).reshape(batch_size, seq_len),)
            self._layouts[key] = arrays
        return arrays

    # -- worker side -------------------------------------------------------------------------
    def acquire(self, worker: int) -> int | None:
        """A free slot of ``worker``, now marked busy, or ``None`` if the consumer holds them all."""
        state = self._np_state[worker]
        slot = self._next[worker]
        if state[slot] != FREE:
            free = np.flatnonzero(state == FREE)
            if len(free) == 0:
                return None
            slot = int(free[0])
        state[slot] = BUSY
        self._next[worker] = (slot + 1) % self.slots
        return slot

    # -- main-process side -------------------------------------------------------------------
    def lease(self, worker: int, slot: int) -> _Lease:
        """The owner of this use of the slot; the slot is freed once nothing refers to it any more."""
        lease = _Lease(self._np_memory)
        self._leases[weakref.ref(lease, self._release)] = (worker, slot)
        return lease

    def _release(self, ref: weakref.ref) -> None:
        worker, slot = self._leases.pop(ref)
        self._np_state[worker, slot] = FREE

    def tensors(self, part: SlotBatch, lease: _Lease) -> tuple[torch.Tensor, ...]:
        """``input_ids``, ``labels``, ``position_ids``, ``document_ids`` over the slot's memory (no
        copy); each keeps ``lease`` alive."""
        key = (part.worker, part.slot, part.offset, part.batch_size, part.seq_len)
        interfaces = self._interfaces.get(key)
        if interfaces is None:
            interfaces = self._interfaces[key] = tuple(a.__array_interface__ for a in self.arrays(*key))
        return tuple(torch.from_numpy(np.asarray(_View(i, lease))) for i in interfaces)

    def free_slots(self) -> int:
        """Slots not leased or being written (for tests and diagnostics)."""
        return int((self._np_state == FREE).sum())

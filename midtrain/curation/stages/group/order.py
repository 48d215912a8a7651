"""Dependency order inside each package: DeepSeek-Coder's "smallest in-degree first" rule.

Files are nodes numbered by (package, path), so a package is a contiguous range of nodes and a
smaller node number is a smaller path. An edge ``dep -> file`` says that ``file`` imports ``dep``;
a file's *in-degree* is the number of its dependencies not yet placed. The rule (DeepSeek-Coder,
2401.14196 §2.2, Algorithm 1) repeatedly places the remaining file with the smallest in-degree,
ties broken by path (DeepSeek breaks them at random; midtrain must be deterministic). On an acyclic
graph the smallest in-degree is always 0, so every dependency comes before its dependents. On a
cycle no remaining file has in-degree 0; the rule then places the smallest (in-degree, path) file
before some of its dependencies -- a *break*, counted per package -- and carries on.

:func:`dependency_order` is the numba kernel (a binary heap with lazy deletion, O((V + E) log V));
:func:`order_stats` counts satisfied edges and cycles (strongly connected components) from it;
:func:`order_files` orders one package held in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _push(heap: np.ndarray, size: int, key: np.int64) -> int:
    i = size
    heap[i] = key
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@nb.njit(cache=True)
def _pop(heap: np.ndarray, size: int) -> int:
    """Move the smallest key to ``heap[size - 1]`` and restore the heap on the rest; returns ``size - 1``."""
    size -= 1
    heap[0], heap[size] = heap[size], heap[0]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            child = left + 1
        if heap[i] <= heap[child]:
            break
        heap[i], heap[child] = heap[child], heap[i]
        i = child
    return size


@nb.njit(cache=True)
def dependency_order(starts: np.ndarray, indptr: np.ndarray, dependents: np.ndarray,
                     indegree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, breaks)``: the nodes of every package in dependency order, and breaks per package.

    ``starts`` (packages + 1): package ``p`` is nodes ``starts[p] .. starts[p + 1] - 1``;
    ``indptr``/``dependents``: CSR of the edges ``dep -> file`` (the files importing each node);
    ``indegree[v]``: dependencies of ``v``. Edges never leave a package.
    """
    n = len(indegree)
    degree = indegree.astype(np.int64).copy()
    placed = np.zeros(n, np.bool_)
    order = np.empty(n, np.int64)
    breaks = np.zeros(len(starts) - 1, np.int64)
    at = 0
    for p in range(len(starts) - 1):
        lo, hi = starts[p], starts[p + 1]
        width = hi - lo
        heap = np.empty(width + indptr[hi] - indptr[lo], np.int64)
        size = 0
        for v in range(lo, hi):  # key = in-degree * width + offset: smallest degree, then smallest path
            size = _push(heap, size, degree[v] * width + (v - lo))
        while size > 0:
            size = _pop(heap, size)
            key = heap[size]
            v = lo + key % width
            d = key // width
            if placed[v] or d != degree[v]:
                continue  # a stale entry: v was placed, or its degree dropped since
            placed[v] = True
            order[at] = v
            at += 1
            if d > 0:
                breaks[p] += 1
            for e in range(indptr[v], indptr[v + 1]):
                w = dependents[e]
                if not placed[w]:
                    degree[w] -= 1
                    size = _push(heap, size, degree[w] * width + (w - lo))
    return order, breaks


def csr(num_nodes: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, dependents, indegree)`` of ``edges`` (``(m, 2)``: dep, file)."""
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    by_dep = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    indptr = np.zeros(num_nodes + 1, np.int64)
    np.cumsum(np.bincount(by_dep[:, 0], minlength=num_nodes), out=indptr[1:])
    indegree = np.bincount(edges[:, 1], minlength=num_nodes).astype(np.int64)
    return indptr, by_dep[:, 1].copy(), indegree


def order_stats(num_nodes: int, starts: np.ndarray, edges: np.ndarray, order: np.ndarray,
                breaks: np.ndarray) -> dict[str, int]:
    """Counts of an ordering: edges satisfied (overall, in acyclic packages, outside cycles) and cycles."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    position = np.empty(num_nodes, np.int64)
    position[order] = np.arange(num_nodes)
    satisfied = position[edges[:, 0]] < position[edges[:, 1]]
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(num_nodes, num_nodes))
    _, label = connected_components(graph, directed=True, connection="strong")
    size = np.bincount(label, minlength=num_nodes)
    cyclic_node = size[label] > 1
    package = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    cyclic_package = np.zeros(len(starts) - 1, bool)
    cyclic_package[package[cyclic_node]] = True
    in_cycle = label[edges[:, 0]] == label[edges[:, 1]]
    acyclic_edge = ~cyclic_package[package[edges[:, 0]]] if len(edges) else np.zeros(0, bool)
    return {"edges": int(len(edges)), "satisfied": int(satisfied.sum()),
            "edges_in_acyclic_packages": int(acyclic_edge.sum()),
            "satisfied_in_acyclic_packages": int((satisfied & acyclic_edge).sum()),
            "edges_outside_cycles": int((~in_cycle).sum()),
            "satisfied_outside_cycles": int((satisfied & ~in_cycle).sum()),
            "cyclic_packages": int(cyclic_package.sum()),
            "cycles": int(np.count_nonzero(np.bincount(label[cyclic_node]))) if cyclic_node.any() else 0,
            "files_in_cycles": int(cyclic_node.sum()),
            "breaks": int(breaks.sum())}


@dataclass(frozen=True)
class PackageOrder:
    """One package's files in dependency order, with its edges and counts (see :func:`order_files`)."""

    paths: list[str]
    """The files, in the order a ``repo`` group writes them."""
    edges: list[tuple[str, str]]
    """Resolved import edges ``(dependency, importer)``."""
    counts: dict[str, int]
    """As in the stage's report: ``edges``, ``satisfied``, ``cycles``, ``breaks``, ..."""


def order_files(package: str, files: Mapping[str, str]) -> PackageOrder:
    """The files of one package (``{relative path: text}``) in dependency order, in memory.

    The same references, resolution and rule as ``group_by: repo``, for one package held in memory
    (tests, benchmarks, a notebook).
    """
    from midtrain.curation.stages.group.imports import file_references
    from midtrain.curation.stages.group.resolve import PackageFiles

    paths = sorted(files)
    found = [file_references(path, files[path]) for path in paths]
    index = PackageFiles(package, paths, outside=frozenset(f for f, (_, p) in enumerate(found) if p == "go-ignored"))
    edges = []
    for f, (refs, _) in enumerate(found):
        deps, _ = index.dependencies(f, refs)
        edges += [(d, f) for d in sorted(deps)]
    edge_array = np.array(edges, np.int64).reshape(-1, 2)
    starts = np.array([0, len(paths)], np.int64)
    order, breaks = dependency_order(starts, *csr(len(paths), edge_array))
    counts = order_stats(len(paths), starts, edge_array, order, breaks)
    return PackageOrder(paths=[paths[v] for v in order], edges=[(paths[a], paths[b]) for a, b in edges], counts=counts)

"""Connected components over verified duplicate pairs, and the one document each cluster keeps.

Union-find with path halving and union by index in a numba kernel; the representative of a
component is its smallest node, so components do not depend on the order pairs arrive in. The
keeper of a cluster is chosen by :func:`choose_keepers` from (priority, quality, id): documents of
an existing index first, then the highest quality score, then the smallest id.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@nb.njit(cache=True, inline="always")
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@nb.njit(cache=True)
def connected_components(num_nodes: int, pairs: np.ndarray) -> np.ndarray:
    """``root[i]`` = smallest node of i's component, for nodes ``0..num_nodes-1``."""
    parent = np.arange(num_nodes)
    for p in range(len(pairs)):
        a = _find(parent, pairs[p, 0])
        b = _find(parent, pairs[p, 1])
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    root = np.empty(num_nodes, np.int64)
    for i in range(num_nodes):
        root[i] = _find(parent, i)
    return root


def choose_keepers(nodes: np.ndarray, roots: np.ndarray, priority: np.ndarray, quality: np.ndarray,
                   ids: pa.Array) -> np.ndarray:
    """The keeper node of each member's cluster, for members of clusters with more than one node.

    Order within a cluster: ``priority`` descending (1 = already-clean index document), then
    ``quality`` descending (NaN = lowest), then ``id`` ascending. Returns ``keeper[k]`` for
    ``nodes[k]``.
    """
    if len(nodes) == 0:
        return np.zeros(0, np.int64)
    quality = np.where(np.isnan(quality), -np.inf, quality)
    table = pa.table({"node": nodes, "root": roots, "priority": priority, "quality": quality, "id": ids})
    order = pc.sort_indices(table, sort_keys=[("root", "ascending"), ("priority", "descending"),
                                              ("quality", "descending"), ("id", "ascending")]).to_numpy()
    sorted_roots = roots[order]
    first = np.ones(len(order), bool)
    first[1:] = sorted_roots[1:] != sorted_roots[:-1]
    keeper_of_group = nodes[order][first]
    group = np.cumsum(first) - 1
    keeper = np.empty(len(nodes), np.int64)
    keeper[order] = keeper_of_group[group]
    return keeper

"""Connected components over verified duplicate pairs, and the one document each cluster keeps.

Union-find with path halving and union by index in a numba kernel; the representative of a
component is its smallest node, so components do not depend on the order pairs arrive in. The
keeper of a cluster is chosen by :func:`choose_keepers` from (priority, quality, id): documents of
an existing index first, then the highest quality score, then the smallest id; :func:`star_keepers`
makes sure every removed document is itself near its keeper. A *node* numbers a document over
the whole job: the input's documents first (``0 .. total-1``), then the index's;
:func:`gather_signatures` and :func:`gather_docs` read the rows of a set of nodes from the work
folder and the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus.shards import open_ipc_file
from midtrain.curation.stages.dedup.index import DOC_SCHEMA

if TYPE_CHECKING:
    from midtrain.curation.stages.dedup.index import DedupIndex
    from midtrain.curation.stages.dedup.steps import DedupJob


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


def star_keepers(members: np.ndarray, root: np.ndarray, pairs: np.ndarray, priority: np.ndarray,
                 quality: np.ndarray, ids: pa.Array, signatures: np.ndarray, threshold: float,
                 max_rounds: int = 8) -> np.ndarray:
    """The keeper of every cluster member, such that a removed document is a near-duplicate of it.

    Connected components chain: A~B and B~C put A and C in one cluster even when A and C are far
    apart, and removing C as a "duplicate of A" would be wrong. So a member is assigned to its
    cluster's keeper only if their signatures estimate Jaccard >= ``threshold``; the members that
    are not are clustered again among themselves (over the verified pairs between them), with
    keepers chosen the same way, for up to ``max_rounds`` rounds. What is left keeps itself.
    ``root`` is indexed by node; ``signatures`` rows follow ``members``.
    """
    keeper = members.copy()
    pending = np.arange(len(members))
    sub_root = root[members]
    k = signatures.shape[1]
    for _ in range(max_rounds):
        if len(pending) == 0:
            break
        chosen = choose_keepers(members[pending], sub_root[pending], priority[pending], quality[pending],
                                ids.take(pa.array(pending)))
        row = np.searchsorted(members, chosen)
        same = (signatures[pending] == signatures[row]).sum(axis=1)
        ok = same >= threshold * k - 1e-9
        keeper[pending[ok]] = chosen[ok]
        left = pending[~ok]
        if len(left) == len(pending) or len(left) < 2:
            break
        # re-cluster the members that matched no keeper, over the pairs among themselves
        nodes_left = members[left]
        inside = np.isin(pairs[:, 0], nodes_left) & np.isin(pairs[:, 1], nodes_left)
        local = np.searchsorted(nodes_left, pairs[inside])
        comp = connected_components(len(left), local)
        multi = np.bincount(comp, minlength=len(left))[comp] > 1
        pending = left[multi]
        sub_root[pending] = nodes_left[comp[multi]]
    return keeper


def gather_signatures(job: DedupJob, index: DedupIndex | None, nodes: np.ndarray) -> np.ndarray:
    """Signature rows of ``nodes`` (sorted; node ≥ total = index document), read from disk."""
    out = np.empty((len(nodes), job.config.permutations), np.uint64)
    for s in job.shards:
        lo, hi = np.searchsorted(nodes, [s.first_doc, s.first_doc + s.rows])
        if hi > lo:
            sigs = np.load(job.shard_file("signatures", s, ".npy"), mmap_mode="r")
            out[lo:hi] = sigs[nodes[lo:hi] - s.first_doc]
    lo = np.searchsorted(nodes, job.total)
    if lo < len(nodes):
        out[lo:] = index.signatures()[nodes[lo:] - job.total]
    return out


def gather_docs(job: DedupJob, index: DedupIndex | None, nodes: np.ndarray) -> pa.Table:
    """Document-table rows (id, quality, exact hashes) of ``nodes`` (sorted), in that order."""
    tables = []
    for s in job.shards:
        lo, hi = np.searchsorted(nodes, [s.first_doc, s.first_doc + s.rows])
        if hi > lo:
            reader, _ = open_ipc_file(job.shard_file("docs", s, ".arrow"))
            tables.append(reader.read_all().take(pa.array(nodes[lo:hi] - s.first_doc)))
    lo = np.searchsorted(nodes, job.total)
    if lo < len(nodes):
        tables.append(index.docs().take(pa.array(nodes[lo:] - job.total)))
    return pa.concat_tables(tables) if tables else DOC_SCHEMA.empty_table()

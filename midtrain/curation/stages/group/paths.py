"""Chains of near neighbours: In-Context Pretraining's greedy path, over MinHash neighbours.

In-Context Pretraining (Shi et al., 2310.10638, §2.2) orders documents so that each is followed
by its most similar unvisited neighbour, starting a new path from an unvisited document when the
current one has none left. Here the neighbours are the verified MinHash-LSH pairs of one domain
(estimated Jaccard ≥ threshold), and a path becomes one output document:

1. documents are visited in input order (shards by path, rows in order); an unvisited one starts a group;
2. the group grows by the most similar unvisited neighbour of its last document (ties: the earlier
   document); when the last one has none left, of the latest earlier member that has one (a
   depth-first walk, so that a document similar to many others keeps them together);
3. it stops at ``max_docs`` documents, when no member has an unvisited neighbour, or before the
   neighbour that would take it past ``max_chars`` characters (separators included).

A document without neighbours stays alone. :func:`greedy_paths` is the numba kernel, linear in
documents and pairs: each document's neighbour list is sorted once and scanned forward once.
"""

from __future__ import annotations

import numba as nb
import numpy as np


def neighbour_lists(num_nodes: int, pairs: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, neighbours)``: every node's neighbours, most similar first, ties by smaller node."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    sim = np.concatenate([similarity, similarity])
    order = np.lexsort((dst, -sim, src))
    indptr = np.zeros(num_nodes + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=num_nodes), out=indptr[1:])
    return indptr, dst[order].copy()


@nb.njit(cache=True)
def greedy_paths(indptr: np.ndarray, neighbours: np.ndarray, chars: np.ndarray, separator: int,
                 max_docs: int, max_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, sizes)``: every node once, group by group, and the size of each group.

    ``chars[v]``: length of document ``v``; ``separator``: length of what joins two documents;
    ``max_chars`` < 0: no limit.
    """
    n = len(chars)
    visited = np.zeros(n, np.bool_)
    cursor = indptr[:-1].copy()
    order = np.empty(n, np.int64)
    sizes = np.empty(n, np.int64)
    path = np.empty(max(max_docs, 1), np.int64)
    at = 0
    groups = 0
    for start in range(n):
        if visited[start]:
            continue
        visited[start] = True
        path[0] = start
        members = 1
        total = chars[start]
        while members < max_docs:
            nxt = -1
            for j in range(members - 1, -1, -1):
                m = path[j]
                while cursor[m] < indptr[m + 1] and visited[neighbours[cursor[m]]]:
                    cursor[m] += 1
                if cursor[m] < indptr[m + 1]:
                    nxt = neighbours[cursor[m]]
                    break
            if nxt < 0 or (max_chars >= 0 and total + separator + chars[nxt] > max_chars):
                break
            visited[nxt] = True
            path[members] = nxt
            members += 1
            total += separator + chars[nxt]
        order[at:at + members] = path[:members]
        at += members
        sizes[groups] = members
        groups += 1
    return order, sizes[:groups].copy()

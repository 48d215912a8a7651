"""Specification of the array kernels of tokenize: BOS/EOS insertion and cutting documents into shards.

Each is checked against a plain-Python twin that says the rule in the obvious way.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.tokenize.documents import add_special_tokens, shard_cuts

docs_strategy = st.lists(st.lists(st.integers(2, 60_000), max_size=40), max_size=30)


def specials_twin(docs: list[list[int]], bos: int | None, eos: int | None) -> tuple[list[int], list[int]]:
    tokens, offsets = [], [0]
    for doc in docs:
        tokens += ([bos] if bos is not None else []) + doc + ([eos] if eos is not None else [])
        offsets.append(len(tokens))
    return tokens, offsets


def cuts_twin(lengths: list[int], budget: int) -> list[int]:
    cuts, fill = [], None
    for i, n in enumerate(lengths):
        if fill is None or fill + n > budget:
            cuts.append(i)
            fill = 0
        fill += n
    return cuts


def flatten(docs):
    flat = np.array([t for d in docs for t in d], dtype=np.uint32)
    return flat, np.array([len(d) for d in docs], dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(docs_strategy, st.sampled_from([None, 1]), st.sampled_from([None, 0]))
def test_special_tokens_match_the_plain_python_rule(docs, bos, eos):
    tokens, offsets = add_special_tokens(*flatten(docs), bos_id=bos, eos_id=eos, dtype=np.dtype(np.uint16))
    want_tokens, want_offsets = specials_twin(docs, bos, eos)
    assert tokens.dtype == np.uint16 and offsets.dtype == np.int64
    assert tokens.tolist() == want_tokens
    assert offsets.tolist() == want_offsets


def test_eos_follows_every_document():
    tokens, offsets = add_special_tokens(*flatten([[5, 6], [7]]), bos_id=None, eos_id=0, dtype=np.dtype(np.uint32))
    assert tokens.tolist() == [5, 6, 0, 7, 0]
    assert offsets.tolist() == [0, 3, 5]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 500), max_size=60), st.integers(1, 800))
def test_shard_cuts_match_greedy_packing(lengths, budget):
    assert shard_cuts(np.array(lengths, dtype=np.int64), budget).tolist() == cuts_twin(lengths, budget)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=60), st.integers(1, 800))
def test_every_shard_is_within_budget_unless_it_is_one_oversized_document(lengths, budget):
    cuts = shard_cuts(np.array(lengths), budget).tolist() + [len(lengths)]
    for a, b in zip(cuts[:-1], cuts[1:]):
        assert b > a, "no empty shards"
        assert sum(lengths[a:b]) <= budget or b - a == 1
    assert sum(b - a for a, b in zip(cuts[:-1], cuts[1:])) == len(lengths), "every document in exactly one shard"


def test_a_document_bigger_than_the_budget_gets_a_shard_of_its_own():
    assert shard_cuts(np.array([3, 50, 4, 4]), 10).tolist() == [0, 1, 2]

"""Schedule amendments (``PackedLoader.amend``, ``midtrain amend``): an amended resume equals the
uninterrupted run of the amended plan row for row, whatever the boundary, packing, workers and world
size; before the boundary nothing changes; every domain continues its epoch order and removed
documents never appear again; bad amendments and foreign states are refused with what differs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from midtrain.cli import main
from midtrain.corpus import CorpusWriter, TokenCorpus, open_token_corpus
from midtrain.errors import ConfigError
from midtrain.loaders import build_loader

from helpers.loader_corpora import make_token_corpus, row_digests

A = {"phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
B = {"phases": [{"weights": {"web": 0.1, "code": 0.1, "math": 0.8}}]}
C = {"phases": [{"name": "early", "end": 6144, "weights": {"web": 0.6, "code": 0.2, "math": 0.2}},
                {"name": "late", "start": 6144, "seq_len": 256, "weights": {"web": 0.2, "code": 0.2, "math": 0.6}}]}
KW = dict(seq_len=128, batch_size=4, seed=3, block_batches=2)
"""A global batch of 512 tokens, a block of 1,024."""
REMOVE = ["math/0/3", "web/1/7", "code/0/11", "math/1/0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("amend") / "tok", docs_per_shard=60)


def rows(loader, n: int) -> list[list[str]]:
    it = iter(loader)
    return [row_digests(next(it)) for _ in range(n)]


def uninterrupted(corpus, new, at, remove, n, **kw):
    loader = build_loader(corpus, A, **{**KW, **kw})
    loader.amend(new, at_tokens=at, remove=remove)
    return rows(loader, n)


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stop=st.integers(0, 6), after=st.integers(0, 4), new=st.sampled_from([B, C]),
       remove=st.sampled_from([[], REMOVE[:2], REMOVE]), packing=st.sampled_from(["concat", "best_fit"]),
       world=st.sampled_from([1, 2]), workers=st.sampled_from([0, 0, 2]))
def test_amended_resume_equals_the_uninterrupted_amended_run(corpus, stop, after, new, remove, packing, world,
                                                            workers):
    """Interrupted at any batch, amended from any later boundary, resumed on another world size and
    worker count: the rows equal those of one uninterrupted run of the amended plan."""
    at = (stop + after) * 512
    whole = uninterrupted(corpus, new, at, remove, 12, packing=packing)
    first = build_loader(corpus, A, **KW, packing=packing)
    head = rows(first, stop)
    first.amend(new, at_tokens=at, remove=remove)
    state = json.loads(json.dumps(first.state_dict()))
    per_rank = []
    for rank in range(world):
        resumed = build_loader(corpus, new, **{**KW, "batch_size": 4 // world}, packing=packing, rank=rank,
                               world_size=world, num_workers=workers)
        resumed.load_state_dict(state)
        per_rank.append(rows(resumed, 12 - stop))
    assert head + [sum((r[k] for r in per_rank), []) for k in range(12 - stop)] == whole
    plain = rows(build_loader(corpus, A, **KW, packing=packing), 12)
    boundary = first.schedule.amendments[0].from_block * KW["block_batches"]
    assert whole[:boundary] == plain[:boundary]  # nothing before the boundary changes


@pytest.mark.parametrize("workers,world", [(2, 1), (0, 2)])
def test_resume_with_other_workers_and_world_size(corpus, workers, world):
    whole = uninterrupted(corpus, B, 1536, REMOVE, 10)
    first = build_loader(corpus, A, **KW)
    head = rows(first, 3)
    first.amend(B, remove=REMOVE)
    state = first.state_dict()
    per_rank = []
    for rank in range(world):
        loader = build_loader(corpus, B, **{**KW, "batch_size": 4 // world}, rank=rank, world_size=world,
                              num_workers=workers)
        loader.load_state_dict(state)
        per_rank.append(rows(loader, 7))
    assert head + [sum((r[k] for r in per_rank), []) for k in range(7)] == whole


def _begins(plan, blocks: int) -> tuple[dict[int, list[int]], list[dict[int, int]]]:
    """Per domain index: documents in the order the plan begins them; and per block the count so far."""
    state, order, marks = plan.initial_state(), {}, []
    for _ in range(blocks):
        marks.append({k: len(v) for k, v in order.items()})
        block, state = plan.block(state)
        for d, doc, begin in zip(block.seg_domain, block.seg_doc, block.seg_begin):
            if begin == 0:
                order.setdefault(int(d), []).append(int(doc))
    return order, marks


@pytest.mark.parametrize("packing", ["concat", "best_fit"])
def test_each_domain_continues_its_epoch_order_and_removed_documents_never_return(corpus, packing):
    amended = build_loader(corpus, A, **KW, packing=packing)
    amended.amend(B, at_tokens=3000, remove=REMOVE)
    plain = build_loader(corpus, A, **KW, packing=packing)
    boundary = amended.schedule.amendments[0].from_block
    got, marks = _begins(amended._plan, 40)
    ref, _ = _begins(plain._plan, 400)  # long enough for the domain the amendment draws most
    tc = open_token_corpus(corpus)
    for k, d in enumerate(amended.domains):
        ids = [i for s in tc.shards[d] for i in s.ids()]
        removed = {ids.index(x) for x in REMOVE if x.startswith(d + "/")}
        cut = marks[boundary].get(k, 0)
        expected = ref[k][:cut] + [doc for doc in ref[k][cut:] if doc not in removed]
        assert got[k] == expected[:len(got[k])] and len(got[k]) > cut
        assert not removed & set(got[k][cut:])
        n = len(ids)  # within each epoch no document twice
        epochs = [got[k][i:i + n - len(removed)] for i in range(cut, len(got[k]), n)]
        assert all(len(e) == len(set(e)) for e in epochs)


def test_a_new_domain_from_a_new_corpus(tmp_path):
    old = make_token_corpus(tmp_path / "old", docs_per_shard=50, domains=("code", "math"))
    new = tmp_path / "new"
    writer = CorpusWriter(new, "token", tokenizer=open_token_corpus(old).manifest.tokenizer)
    old_corpus: TokenCorpus = open_token_corpus(old)
    for d in ("code", "math"):
        for s in old_corpus.shards[d]:
            writer.write_tokens(d, s.ids(), np.asarray(s.tokens), np.asarray(s.offsets))
    rng = np.random.default_rng(9)
    lengths = rng.integers(20, 400, 80)
    off = np.concatenate([[0], np.cumsum(lengths)])
    writer.write_tokens("web", [f"web/{i}" for i in range(80)], rng.integers(1, 999, int(off[-1])).astype(np.uint16), off)
    writer.finish()
    two = {"phases": [{"weights": {"code": 0.5, "math": 0.5}}]}
    three = {"phases": [{"weights": {"code": 0.2, "math": 0.2, "web": 0.6}}]}

    first = build_loader(old, two, **KW)
    head = rows(first, 4)
    first.amend(three, corpus=new)
    state = first.state_dict()
    resumed = build_loader(new, three, **KW)
    resumed.load_state_dict(state)
    tail = rows(resumed, 6)
    whole = build_loader(new, two, **KW)
    whole.amend(three, at_tokens=4 * 512)
    assert head + tail == rows(whole, 10)
    assert 2 in {int(x) for b in itertools.islice(iter(resumed), 3) for x in b["domain"]}  # web is drawn


def test_bad_amendments_are_refused(corpus, tmp_path):
    loader = build_loader(corpus, A, **KW)
    rows(loader, 3)
    with pytest.raises(ConfigError, match=r"at_tokens: 100 is before the loader's position \(1,536 tokens"):
        loader.amend(B, at_tokens=100)
    with pytest.raises(ConfigError, match=r"remove: 1 document id\(s\) not in the corpus .*: nope/1"):
        loader.amend(B, remove=["nope/1"])
    with pytest.raises(ConfigError, match=r"weights.poetry: the corpus has no domain 'poetry'"):
        loader.amend({"phases": [{"weights": {"web": 0.5, "poetry": 0.5}}]})
    assert loader.schedule.__class__.__name__ == "Schedule"  # a refused amendment changes nothing
    assert rows(loader, 1) == rows(build_loader(corpus, A, **KW), 4)[3:]


def test_a_foreign_state_says_what_differs(corpus, tmp_path):
    other = make_token_corpus(tmp_path / "other", docs_per_shard=61)
    state = build_loader(corpus, A, **KW).state_dict()
    with pytest.raises(ConfigError, match=r"phase 0 \(phase0\) differs in weights.*amend"):
        build_loader(corpus, B, **KW).load_state_dict(state)
    with pytest.raises(ConfigError, match=r"domain 'code' has other documents .*shards changed"):
        build_loader(other, A, **KW).load_state_dict(state)
    with pytest.raises(ConfigError, match=r"seed 3 != 4"):
        build_loader(corpus, A, **{**KW, "seed": 4}).load_state_dict(state)


def test_midtrain_amend_writes_a_state_the_job_resumes_from(corpus, tmp_path, capsys):
    first = build_loader(corpus, A, **KW)
    head = rows(first, 3)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(first.state_dict()))
    (tmp_path / "b.json").write_text(json.dumps(B))
    (tmp_path / "rm.txt").write_text("\n".join(REMOVE) + "\n")
    argv = ["amend", str(path), str(tmp_path / "b.json"), "--corpus", str(corpus), "--remove", str(tmp_path / "rm.txt")]
    assert main(argv) == 0 and "from block 2 (2,048 tokens)" in capsys.readouterr().out
    resumed = build_loader(corpus, B, **KW)
    resumed.load_state_dict(json.loads(path.read_text()))
    assert head + rows(resumed, 7) == uninterrupted(corpus, B, 1536, REMOVE, 10)
    before = path.read_bytes()
    assert main(["amend", str(path), str(tmp_path / "b.json"), "--corpus", str(corpus), "--at", "100"]) == 2
    assert "before the loader's position" in capsys.readouterr().err and path.read_bytes() == before


def test_the_ledger_of_an_amended_run_equals_its_batches(corpus):
    """The ledger follows the amended plan (state loaded): every batch's spans are the loader's rows,
    and no removed document is served after the boundary."""
    from midtrain.loaders import LoaderConfig
    from midtrain.loaders.ledger import open_ledger

    from test_ledger import assert_record_is_batch

    first = build_loader(corpus, A, **KW)
    rows(first, 3)
    first.amend(B, remove=REMOVE)
    state = first.state_dict()
    ledger = open_ledger(LoaderConfig(corpus=str(corpus), **KW), B, state=state)
    tc = open_token_corpus(corpus)
    documents = {i: s.doc(r) for d in tc.domains for s in tc.shards[d] for r, i in enumerate(s.ids())}
    resumed = build_loader(corpus, B, **KW)
    resumed.load_state_dict(state)
    for k, batch in enumerate(itertools.islice(iter(resumed), 8), start=3):
        record = ledger.batch(k)
        assert_record_is_batch(record, batch, documents)
        if k >= first.schedule.amendments[0].from_block * KW["block_batches"]:
            assert not {s.doc for r in record.rows for s in r.spans} & set(REMOVE)


def test_midtrain_ledger_takes_the_settings_from_an_amended_state(corpus, tmp_path, capsys):
    first = build_loader(corpus, A, **KW)
    rows(first, 3)
    first.amend(B, remove=REMOVE)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(first.state_dict()))
    argv = ["ledger", str(corpus), json.dumps(B), "--state", str(path), "--batch", "6", "--json", "--no-cache"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    resumed = build_loader(corpus, B, **KW)
    resumed.load_state_dict(first.state_dict())
    batch = next(itertools.islice(iter(resumed), 3, None))  # global batch 6
    assert len(record["rows"]) == batch["input_ids"].shape[0]
    assert not {s["doc"] for r in record["rows"] for s in r["spans"]} & set(REMOVE)
    assert main(["ledger", str(corpus), json.dumps(B), "--batch", "6"]) == 2
    assert "--seq-len, --batch-size, --seed: the run's loader settings are needed" in capsys.readouterr().err


def test_a_new_domain_without_tokens_is_refused(tmp_path):
    corpus = make_token_corpus(tmp_path / "tok", docs_per_shard=30, domains=("code", "web"))
    writer = CorpusWriter(tmp_path / "tok2", "token", tokenizer=open_token_corpus(corpus).manifest.tokenizer)
    for d in ("code", "web"):
        for s in open_token_corpus(corpus).shards[d]:
            writer.write_tokens(d, s.ids(), np.asarray(s.tokens), np.asarray(s.offsets))
    writer.write_tokens("math", ["empty/0", "empty/1"], np.zeros(0, np.uint16), np.zeros(3, np.int64))
    writer.finish()
    loader = build_loader(corpus, {"phases": [{"weights": {"code": 0.5, "web": 0.5}}]}, **KW)
    rows(loader, 2)
    with pytest.raises(ConfigError, match=r"math.*(no tokens|has no)"):
        loader.amend({"phases": [{"weights": {"code": 0.4, "math": 0.2, "web": 0.4}}]}, corpus=tmp_path / "tok2")

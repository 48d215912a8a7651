"""The exposure ledger: computed from the plan alone, it equals what iterating the loader serves."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.cli import main
from midtrain.corpus import open_token_corpus
from midtrain.errors import ConfigError
from midtrain.loaders import LoaderConfig
from midtrain.loaders.ledger import PlanLedger, open_ledger
from midtrain.loaders.plan import GlobalPlan
from midtrain.mixers import load_schedule

from helpers.loader_corpora import make_token_corpus

MIX = {"domains": ["code", "math", "web"],
       "phases": [{"end": 30_000, "weights": {"web": 0.5, "code": 0.3, "math": 0.2}},
                  {"weights": {"web": 0.2, "code": 0.2, "math": 0.6}}]}
TOTAL = 60_000
"""Tokens of the test runs: 118 global batches of 4 x 128 tokens, over about 1.2 epochs of web."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("ledger") / "tok", docs_per_shard=30)


@pytest.fixture(scope="module")
def documents(corpus):
    """Every document's tokens by id."""
    c = open_token_corpus(corpus)
    return {i: s.doc(r) for d in c.domains for s in c.shards[d] for r, i in enumerate(s.ids())}


def config(corpus, **kw):
    base = dict(corpus=corpus, seq_len=128, batch_size=4, seed=5, block_batches=4, total_tokens=TOTAL)
    return LoaderConfig(**{**base, **kw})


def rows_of(batch):
    """Each row of a loader batch as its pieces: ``[(tokens of one document piece), ...]`` and its padding."""
    ids, docs = batch["input_ids"].numpy(), batch["document_ids"].numpy()
    out = []
    for r in range(ids.shape[0]):
        cuts = [0, *(np.flatnonzero(np.diff(docs[r])) + 1).tolist(), ids.shape[1]]
        pieces = [ids[r, a:b] for a, b in zip(cuts[:-1], cuts[1:]) if docs[r, a] >= 0]
        out.append((pieces, int((docs[r] < 0).sum())))
    return out


def assert_record_is_batch(record, batch, documents):
    """The ledger's rows hold exactly the loader's tokens: every span's document tokens, in order."""
    rows = rows_of(batch)
    assert [r.rank_row for r in record.rows] == list(range(len(rows)))
    assert [r.domain for r in record.rows] == [record_domain for record_domain in
                                               (["code", "math", "web"][d] for d in batch["domain"].tolist())]
    for row, (pieces, padding) in zip(record.rows, rows):
        assert row.padding == padding
        assert len(row.spans) == len(pieces)
        for span, piece in zip(row.spans, pieces):
            assert span.doc_length == len(documents[span.doc])
            assert np.array_equal(documents[span.doc][span.begin:span.begin + span.length], piece)


@pytest.mark.parametrize("packing,world_size,balance", [("concat", 1, "none"), ("best_fit", 1, "none"),
                                                        ("concat", 2, "none"), ("best_fit", 2, "attention")])
def test_every_batch_and_the_exposure_equal_the_loader(corpus, documents, packing, world_size, balance):
    ledger = open_ledger(config(corpus, packing=packing, batch_size=4 // world_size, world_size=world_size,
                                rank=0, balance=balance), MIX)
    served = Counter()
    slots = padding = 0
    for rank in range(world_size):
        loader = config(corpus, packing=packing, batch_size=4 // world_size, world_size=world_size, rank=rank,
                        balance=balance).build(MIX)
        for k, batch in enumerate(loader):
            record = ledger.batch(k, rank=rank)
            assert_record_is_batch(record, batch, documents)
            for row in record.rows:
                for span in row.spans:
                    served[span.doc] += span.length
            padding += int((batch["document_ids"] < 0).sum())
            slots += batch["input_ids"].numel()
    assert k + 1 == ledger.plan.total_batches
    report = ledger.exposure()
    c = report.counts
    assert (c.token_slots, c.padding, c.document_tokens) == (slots, padding, slots - padding)
    assert (padding == 0) == (packing == "concat")
    ids = ledger.all_ids()
    assert {ids[g]: int(t) for g, t in enumerate(c.tokens) if t} == dict(served)
    lengths = {i: len(documents[i]) for i in ids}
    assert report.to_dict()["histogram"] == {str(k): v for k, v in sorted(Counter(
        served[i] // lengths[i] for i in ids if lengths[i]).items())}
    assert sorted(report.cut_documents) == sorted({s.doc for k in range(c.step) for r in ledger.batch(k).rows
                                                   for s in r.spans if s.cut})
    assert sum(r["tokens_served"] for r in report.by_domain) == sum(r["tokens_served"] for r in report.by_source)


def test_a_state_carries_its_mixture_log_into_the_ledger(corpus, documents, tmp_path):
    loader = config(corpus).build(MIX)
    it = iter(loader)
    for _ in range(6):
        next(it)
    loader.set_weights({"code": 0.0, "math": 0.1, "web": 0.9})
    rest = list(it)
    state = loader.state_dict()
    assert state["mixture_log"]
    ledger = open_ledger(config(corpus), MIX, state=state, cache_dir=tmp_path)
    for k, batch in enumerate(rest, start=6):
        assert_record_is_batch(ledger.batch(k), batch, documents)
    # without the state the plan has no weight change: the later batches differ
    plain = open_ledger(config(corpus), MIX)
    assert [plain.batch(k).rows for k in range(6, 20)] != [ledger.batch(k).rows for k in range(6, 20)]
    assert ledger.exposure().counts.step == state["batches_consumed"] == 6 + len(rest)


def test_the_snapshot_index_is_saved_and_reused(corpus, tmp_path):
    first = open_ledger(config(corpus, packing="best_fit"), MIX, cache_dir=tmp_path)
    expected = first.batch(100).to_dict()
    (path,) = tmp_path.glob("ledger-*.json")
    assert path.with_suffix(".npz").is_file()  # every block's segments: the whole plan was walked
    # the first lookup walked the whole plan once: the state at the start of every block, and at its end
    blocks = first.plan.total_batches // 4
    assert len(json.loads(path.read_text())["snapshots"]) == blocks + 1
    again = open_ledger(config(corpus, packing="best_fit"), MIX, cache_dir=tmp_path)
    assert len(again.plan.snapshots) == blocks + 1 and again.plan.store is not None
    assert again.batch(100).to_dict() == expected
    assert not again.plan.grown  # read from the saved store: nothing walked
    # with the snapshots alone, the block is planned again from its snapshot: the same batch
    path.with_suffix(".npz").unlink()
    alone = open_ledger(config(corpus, packing="best_fit"), MIX, cache_dir=tmp_path)
    assert alone.plan.store is None and alone.batch(100).to_dict() == expected
    # another seed is another plan: another file
    open_ledger(config(corpus, packing="best_fit", seed=6), MIX, cache_dir=tmp_path).batch(3)
    assert len(list(tmp_path.glob("ledger-*.json"))) == 2
    # an unreadable index is rebuilt, not trusted
    path.write_text("{not json")
    assert open_ledger(config(corpus, packing="best_fit"), MIX, cache_dir=tmp_path).batch(100).to_dict() == expected


def test_seen_lists_every_span_of_a_document(corpus):
    ledger = open_ledger(config(corpus), MIX)
    spans = [(k, r.row, s.begin, s.length) for k in range(40) for r in ledger.batch(k).rows for s in r.spans
             if s.doc == "math/1/25"]
    assert spans  # a long document, in several sequences
    assert [(a.batch, a.row, a.begin, a.length) for a in ledger.seen("math/1/25", 40)] == spans
    with pytest.raises(ConfigError, match="'nope' is not in the corpus"):
        ledger.seen("nope", 40)


def test_a_batch_beyond_the_schedule_is_refused(corpus):
    ledger = open_ledger(config(corpus), MIX)
    total = ledger.plan.total_batches
    ledger.batch(total - 1)
    with pytest.raises(ConfigError, match=f"beyond the schedule: it has {total} global batches"):
        ledger.batch(total)
    with pytest.raises(ConfigError, match="beyond the schedule"):
        ledger.exposure(total + 1)


def test_an_endless_schedule_is_looked_up_from_snapshots(corpus, documents):
    """Without a token budget the walk never ends: lookups plan their block from the snapshots,
    and an exposure needs a step."""
    ledger = open_ledger(config(corpus, total_tokens=None), MIX)
    loader = config(corpus, total_tokens=None).build(MIX)
    for k, batch in zip(range(30), loader):
        assert_record_is_batch(ledger.batch(k), batch, documents)
    assert ledger.plan.total_batches is None and ledger.plan.store is None
    assert ledger.exposure(30).counts.token_slots == 30 * 4 * 128
    with pytest.raises(ConfigError, match="endless; give a step"):
        ledger.exposure()


# -- a property over plans: every token is accounted for, no document twice in an epoch ---------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), step=st.integers(0, 60), packing=st.sampled_from(["concat", "best_fit"]),
       web=st.floats(0.05, 0.9))
def test_exposure_accounts_for_every_token(seed, step, packing, web):
    rng = np.random.default_rng(seed)
    lengths = {d: np.clip(rng.lognormal(np.log(150), 1.0, 40), 0, 2_000).astype(np.int64) for d in ("a", "b")}
    schedule = load_schedule({"domains": ["a", "b"], "phases": [{"weights": {"a": 1 - web, "b": web}}]},
                             total_tokens=60 * 8 * 64)
    plan = GlobalPlan(lengths, schedule, seed=seed, seq_len=64, block_size=32, global_batch_size=8, packing=packing,
                      window=16)
    ledger = PlanLedger(plan, lengths, block_batches=4)
    c = ledger.exposure(step)
    assert c.token_slots == step * 8 * 64 == c.document_tokens + c.padding
    assert c.padding == 0 or packing == "best_fit"
    # the same tokens, batch by batch, from a second ledger that plans each block from the first's snapshots
    again = PlanLedger(plan, lengths, block_batches=4, snapshots=ledger.snapshots)
    tokens = np.zeros(len(c.tokens), np.int64)
    for k in range(step):
        b = again.batch(k)
        a, e = b.block.seq_ptr[b.first_row], b.block.seq_ptr[b.first_row + b.rows]
        np.add.at(tokens, ledger.doc_base[b.block.seg_domain[a:e]] + b.block.seg_doc[a:e], b.block.seg_len[a:e])
    assert np.array_equal(tokens, c.tokens)
    # the first ledger walked the whole plan from block 0: it keeps every block's segments, which
    # equal the blocks planned again from the snapshots
    assert ledger.store is not None
    fresh = PlanLedger(plan, lengths, block_batches=4, snapshots=ledger.snapshots)
    for b in range(ledger.store.blocks):
        stored, planned = ledger.block(b), fresh.block(b)
        for f in ("domain", "seq_ptr", "seg_domain", "seg_doc", "seg_begin", "seg_len"):
            assert np.array_equal(getattr(stored, f), getattr(planned, f)), f
        assert (stored.seq_len, stored.global_batch_size, stored.phase) == (planned.seq_len,
                                                                            planned.global_batch_size, planned.phase)
    for k in range(2):  # each domain's documents are seen epoch by epoch: never twice in one
        full = c.full[(c.doc_domain == k) & (c.doc_len > 0)]
        assert full.max() - full.min() <= 1
        if packing == "concat":  # a visit in progress only where the domain's stream stands
            assert int(c.partial[c.doc_domain == k].sum()) <= 1


# -- the command ---------------------------------------------------------------------------------------
def cli(corpus, tmp_path, *args):
    return main(["ledger", str(corpus), json.dumps(MIX), "--seq-len", "128", "--batch-size", "4", "--seed", "5",
                 "--block-batches", "4", "--total-tokens", str(TOTAL), "--cache", str(tmp_path), *args])


def test_command_answers_batch_exposure_and_seen(corpus, tmp_path, capsys):
    ledger = open_ledger(config(corpus), MIX)
    assert cli(corpus, tmp_path, "--batch", "7", "--json") == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(ledger.batch(7).to_dict()))
    assert cli(corpus, tmp_path, "--exposure", "--step", "50", "--json", "--documents") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["token_slots"] == 50 * 4 * 128 == out["document_tokens"] + out["padding"]
    assert sum(d["tokens_served"] for d in out["documents"]) == out["document_tokens"]
    assert {d["id"] for d in out["documents"] if d["cut"]} == set(out["cut_documents"])
    assert cli(corpus, tmp_path, "--seen", "math/1/25", "--before", "40") == 0
    assert capsys.readouterr().out.startswith(f"math/1/25: {len(ledger.seen('math/1/25', 40))} span(s)")
    assert cli(corpus, tmp_path, "--exposure") == 0
    assert "token slots" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--seen", "nope"], "document id 'nope' is not in the corpus"),
    (["--batch", "100000"], "batch 100000 is beyond the schedule"),
    (["--batch", "0", "--rank", "3"], "rank: 3 is outside world size 1"),
    (["--exposure", "--rank", "0"], "--rank goes with --batch"),
])
def test_command_errors_are_one_line(corpus, tmp_path, capsys, args, message):
    assert cli(corpus, tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_command_refuses_a_state_of_another_plan(corpus, tmp_path, capsys):
    other = config(corpus, seed=9).build(MIX)
    (tmp_path / "state.json").write_text(json.dumps(other.state_dict()))
    assert cli(corpus, tmp_path, "--state", str(tmp_path / "state.json"), "--exposure") == 2
    err = capsys.readouterr().err
    assert "loader state was saved for another" in err and err.count("\n") == 1 and "Traceback" not in err


def test_tokenize_carries_source_and_quality_tier_into_the_ledger(tmp_path):
    """A text corpus with ``source`` and ``quality_tier`` columns: tokenize copies them into the token
    shards, and the ledger counts exposure per source and per tier, the totals equal to per domain."""
    import pyarrow as pa

    from midtrain.corpus import CorpusWriter
    from midtrain.tokenize import tokenize_corpus, train_bpe

    rng = np.random.default_rng(4)
    words = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega".split()
    writer = CorpusWriter(tmp_path / "text", "text")
    for domain in ("code", "math", "web"):
        n = 40
        writer.write_table(domain, pa.table({
            "id": [f"{domain}-{i}" for i in range(n)],
            "text": [" ".join(rng.choice(words, int(rng.integers(20, 200)))) for _ in range(n)],
            "domain": [domain] * n, "source": [f"{domain}-src{i % 2}" for i in range(n)],
            "quality_tier": pa.array([None if i % 7 == 0 else i % 5 for i in range(n)], pa.int8())}))
    writer.finish()
    tokenizer = train_bpe(tmp_path / "text", tmp_path / "tok.json", vocab_size=300).output
    tokenize_corpus(tmp_path / "text", tmp_path / "tokens", str(tokenizer), progress=False)
    shard = open_token_corpus(tmp_path / "tokens").shards["web"][0]
    assert shard.metadata("source")[:2] == ["web-src0", "web-src1"] and shard.metadata("quality_tier")[:2] == [None, 1]

    mix = {"phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
    ledger = open_ledger(LoaderConfig(corpus=str(tmp_path / "tokens"), seq_len=64, batch_size=4, seed=1,
                                      total_tokens=64 * 4 * 40), mix)
    report = ledger.exposure()
    sources = {r["name"] for r in report.by_source}
    assert sources == {f"{d}-src{k}" for d in ("code", "math", "web") for k in (0, 1)}
    assert {r["name"] for r in report.by_tier} == {"none", "0", "1", "2", "3", "4"}
    served = sum(r["tokens_served"] for r in report.by_domain)
    assert served == sum(r["tokens_served"] for r in report.by_source) == sum(r["tokens_served"] for r in report.by_tier)
    spans = [s for r in ledger.batch(0).rows for s in r.spans]
    assert all(s.source.startswith(s.domain + "-src") for s in spans)

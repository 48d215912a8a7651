"""`long` in old schedules: on a corpus without a `long` domain it is selected by length across domains.

The corpus here marks every token with its document: document k (1-based) is k repeated, so any
row of any batch says exactly which documents it came from.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from midtrain.cli import main
from midtrain.corpus import CorpusWriter, Manifest, document_lengths, open_token_corpus
from midtrain.corpus.stats import corpus_stats
from midtrain.errors import ConfigError
from midtrain.loaders import build_loader
from midtrain.loaders.dataset import DomainIndex
from midtrain.mixers import corpus_domain_tokens, load_schedule, load_schedule_for_corpus, plan_budget

from helpers.loader_corpora import batch_digest, make_token_corpus

THRESHOLD = 4096
MIX = {"domains": ["code", "long", "math", "web"],
       "phases": [{"weights": {"web": 0.4, "code": 0.2, "math": 0.1, "long": 0.3}}]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Topical domains only; each has a few documents of 4,096+ tokens among web-like short ones."""
    out = tmp_path_factory.mktemp("long") / "tok"
    rng = np.random.default_rng(14)
    w = CorpusWriter(out, "token", tokenizer={"fingerprint": "test", "name": "test", "vocab_size": 50_000,
                                              "bos_id": None, "eos_id": 0, "dtype": "uint16"})
    doc = 0
    for d, n_long in (("code", 3), ("math", 1), ("web", 4)):
        for s in range(2):
            lengths = np.clip(rng.lognormal(np.log(300), 1.0, 80), 2, 3000).astype(np.int64)
            lengths[rng.choice(80, n_long, replace=False)] = rng.integers(THRESHOLD, 3 * THRESHOLD, n_long)
            lengths[0] = THRESHOLD - 1  # just below: stays in its domain
            ids = np.arange(doc + 1, doc + 1 + len(lengths))
            w.write_tokens(d, [f"{d}/{s}/{i}" for i in range(len(lengths))],
                           np.repeat(ids, lengths).astype(np.uint16), np.concatenate([[0], np.cumsum(lengths)]))
            doc += len(lengths)
    w.finish()
    return out


def doc_table(corpus_path):
    """Document id -> (domain, length in tokens)."""
    c = open_token_corpus(corpus_path)
    return {int(shard.doc(i)[0]): (d, int(n)) for d in c.domains for shard in c.shards[d]
            for i, n in enumerate(shard.doc_lengths)}


def take(loader, n):
    return list(itertools.islice(iter(loader), n))


def test_document_lengths_come_from_the_offsets(corpus):
    lengths = document_lengths(corpus)
    manifest = Manifest.read(corpus)
    assert sorted(lengths) == ["code", "math", "web"]
    for d, x in lengths.items():
        assert len(x) == manifest.domains[d]["rows"] and int(x.sum()) == manifest.domains[d]["tokens"]
    assert int((lengths["web"] >= THRESHOLD).sum()) == 8 and int((lengths["web"] == THRESHOLD - 1).sum()) == 2


@pytest.mark.parametrize("packing", ["concat", "best_fit"])
def test_long_slots_serve_exactly_the_long_documents_and_topical_slots_never_do(corpus, packing):
    docs = doc_table(corpus)
    long_ids = {k for k, (_, n) in docs.items() if n >= THRESHOLD}
    assert len(long_ids) == 16
    loader = build_loader(corpus, MIX, seq_len=512, batch_size=8, seed=3, packing=packing,
                          long_min_tokens=THRESHOLD)
    assert loader.domains == ["code", "long", "math", "web"]
    seen_long = set()
    for batch in take(loader, 150):
        ids, dom = batch["input_ids"].numpy(), batch["domain"].numpy()
        for row, k in zip(ids, dom):
            row_docs = set(np.unique(row[row > 0]).tolist())
            if loader.domains[k] == "long":
                assert row_docs <= long_ids
                seen_long |= row_docs
            else:  # a topical row: only that domain's documents under the threshold
                assert all(docs[i][0] == loader.domains[k] and docs[i][1] < THRESHOLD for i in row_docs)
    assert seen_long == long_ids  # more than one epoch of long: every long document was served


@pytest.mark.parametrize("domain", ["long", "web"])
def test_each_document_is_served_once_per_epoch(corpus, domain):
    """One domain at weight 1: the first epoch's tokens are each of its documents, whole, once."""
    docs = doc_table(corpus)
    mix = {"domains": MIX["domains"], "phases": [{"weights": {d: float(d == domain) for d in MIX["domains"]}}]}
    members = {k: n for k, (d, n) in docs.items()
               if (n >= THRESHOLD if domain == "long" else (d == domain and n < THRESHOLD))}
    epoch = sum(members.values())
    loader = build_loader(corpus, mix, seq_len=512, batch_size=8, seed=9, long_min_tokens=THRESHOLD)
    stream = np.concatenate([b["input_ids"].numpy().reshape(-1) for b in take(loader, -(-epoch // 4096) + 1)])
    counts = np.bincount(stream[:epoch], minlength=max(docs) + 1)
    assert {k: int(counts[k]) for k in np.flatnonzero(counts)} == members


def test_every_document_is_in_exactly_one_plan_domain(corpus):
    c = open_token_corpus(corpus)
    index = DomainIndex(c, MIX["domains"], THRESHOLD)
    assert index.selection.long_min_tokens == THRESHOLD
    # (shard, start offset) identifies a document; over all plan domains each appears once
    keys = index.doc_shard * (1 << 40) + index.doc_offset
    assert len(keys) == len(np.unique(keys)) == sum(s.num_docs for d in c.shards.values() for s in d)
    lengths = index.lengths_by_domain(MIX["domains"])
    assert (lengths["long"] >= THRESHOLD).all() and len(lengths["long"]) == 16
    assert all((lengths[d] < THRESHOLD).all() for d in ("code", "math", "web"))


def test_planner_tokens_equal_what_the_loader_serves(corpus, tmp_path, capsys):
    sizes = corpus_domain_tokens(corpus, schedule=MIX, long_min_tokens=THRESHOLD)
    loader = build_loader(corpus, MIX, seq_len=512, batch_size=8, seed=0, long_min_tokens=THRESHOLD)
    served = {d: s.tokens_per_epoch for d, s in loader._plan.streams.items()}
    assert sizes == served
    assert sum(sizes.values()) == sum(t["tokens"] for t in Manifest.read(corpus).domains.values())  # no double count
    schedule, plan_sizes = load_schedule_for_corpus(MIX, corpus, total_tokens=1_000_000, long_min_tokens=THRESHOLD)
    assert plan_sizes == served
    plan = plan_budget(schedule, plan_sizes, long_min_tokens=THRESHOLD)
    assert {s.domain: s.unique_tokens for s in plan.summary} == served
    # the CLI says the same, threshold from the schedule file this time
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({**MIX, "long": {"min_tokens": THRESHOLD}}))
    assert main(["plan", str(path), "--corpus", str(corpus), "--total-tokens", "1M", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert {s["domain"]: s["unique_tokens"] for s in body["domains_summary"]} == served
    assert body["long_min_tokens"] == THRESHOLD
    assert main(["plan", str(path), "--corpus", str(corpus), "--total-tokens", "1M"]) == 0
    assert "long: every document of >= 4,096 tokens, from every domain" in capsys.readouterr().out


def test_the_schedule_file_sets_the_threshold_and_the_argument_overrides_it(corpus):
    in_file = build_loader(corpus, {**MIX, "long": {"min_tokens": THRESHOLD}}, seq_len=512, batch_size=8, seed=1)
    by_argument = build_loader(corpus, MIX, seq_len=512, batch_size=8, seed=1, long_min_tokens=THRESHOLD)
    overridden = build_loader(corpus, {**MIX, "long": {"min_tokens": 99}}, seq_len=512, batch_size=8, seed=1,
                              long_min_tokens=THRESHOLD)
    a, b, c = ([batch_digest(x) for x in take(loader, 4)] for loader in (in_file, by_argument, overridden))
    assert a == b == c
    assert in_file._plan.long_min_tokens == overridden._plan.long_min_tokens == THRESHOLD
    schedule = load_schedule({**MIX, "long": {"min_tokens": "4K"}}, total_tokens=10**6)
    assert schedule.long_min_tokens == 4000 and load_schedule(schedule.to_dict()) == schedule
    assert "long" not in load_schedule(MIX).to_dict()  # schedules without the key keep their fingerprint


def test_default_threshold_is_32k_tokens(corpus):
    # no document reaches 32,768 tokens here: the default leaves long empty
    with pytest.raises(ConfigError, match="at least 32,768 tokens"):
        build_loader(corpus, MIX, seq_len=512, batch_size=8, seed=0)


def test_resume_equals_uninterrupted_with_a_virtual_long(corpus):
    kw = dict(seq_len=512, batch_size=4, seed=5, packing="best_fit", window=64, long_min_tokens=THRESHOLD)
    full = [batch_digest(b) for b in take(build_loader(corpus, MIX, **kw), 30)]
    first = build_loader(corpus, MIX, **kw)
    it = iter(first)
    head = [batch_digest(next(it)) for _ in range(11)]
    state = json.loads(json.dumps(first.state_dict()))
    resumed = build_loader(corpus, MIX, num_workers=2, **kw)
    resumed.load_state_dict(state)
    assert head + [batch_digest(b) for b in take(resumed, 19)] == full
    other = build_loader(corpus, MIX, **{**kw, "long_min_tokens": 2 * THRESHOLD})
    with pytest.raises(ConfigError, match="long_min_tokens"):
        other.load_state_dict(state)  # another threshold moves documents between domains


def test_a_threshold_that_leaves_long_empty_names_it_and_the_longest_document(corpus, tmp_path, capsys):
    longest = max(int(x.max()) for x in document_lengths(corpus).values())
    message = rf"no document has at least 1,000,000 tokens \(long_min_tokens\).*longest document has {longest:,} tokens"
    with pytest.raises(ConfigError, match=message):
        build_loader(corpus, MIX, seq_len=512, batch_size=8, seed=0, long_min_tokens=1_000_000)
    schedule = load_schedule(MIX)  # already resolved: the loader's own check says the same
    with pytest.raises(ConfigError, match=message):
        build_loader(corpus, schedule, seq_len=512, batch_size=8, seed=0, long_min_tokens=1_000_000)
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(MIX))
    args = ["plan", str(path), "--corpus", str(corpus), "--total-tokens", "1M", "--long-min-tokens", "1000000"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1,000,000 tokens" in err and f"{longest:,} tokens" in err
    # renormalising drops an empty long as it drops a domain the corpus lacks
    assert main(args + ["--missing-domains", "renormalise", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["domains"] == ["code", "math", "web"] and "long_min_tokens" not in body


# Digests of the first batches of an old corpus (with data/long/ shards) taken before `long` could be
# virtual (commit 1f14fd6): a corpus with a long domain is read exactly as it was, whatever the threshold.
OLD = {"concat": ("5c25168db525de22", ["d0603851b60148ef", "1683e1170a828247", "d4d6c0d4028b7fef",
                                       "0a96713f58998113", "aa86075c99f799a0", "dd8983a87cc9e3e4"]),
       "best_fit": ("242ed75fe395c8cb", ["5dcab4ebcc177a08", "c33f98fa02a31a03", "73efd55ee3f82067",
                                         "e3eef79911784ada", "50458a7daafefd65", "b592cd21b7ebcb7d"])}


@pytest.mark.parametrize("packing", ["concat", "best_fit"])
@pytest.mark.parametrize("long_min_tokens", [None, 100])
def test_old_corpus_with_a_long_domain_is_unchanged(tmp_path, packing, long_min_tokens):
    old = make_token_corpus(tmp_path / "tok", docs_per_shard=60, shards=1, domains=("code", "long", "web"))
    mix = {"phases": [{"weights": {"web": 0.5, "code": 0.3, "long": 0.2}}]}
    loader = build_loader(old, mix, seq_len=256, batch_size=4, seed=11, packing=packing,
                          long_min_tokens=long_min_tokens)
    fingerprint, digests = OLD[packing]
    assert loader.fingerprint == fingerprint
    assert [batch_digest(b) for b in take(loader, 6)] == digests
    assert loader._plan.long_min_tokens is None
    assert corpus_domain_tokens(old, schedule=mix, long_min_tokens=long_min_tokens) == corpus_domain_tokens(old)


def test_a_schedule_without_long_leaves_long_documents_in_their_domains(corpus):
    mix = {"phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
    loader = build_loader(corpus, mix, seq_len=512, batch_size=8, seed=0, long_min_tokens=THRESHOLD)
    manifest = Manifest.read(corpus)
    assert {d: s.tokens_per_epoch for d, s in loader._plan.streams.items()} == \
        {d: manifest.domains[d]["tokens"] for d in ("code", "math", "web")}
    assert loader._plan.long_min_tokens is None


def test_stats_report_lengths_per_domain(corpus):
    stats = corpus_stats(corpus)
    lengths = document_lengths(corpus)
    for d, e in stats["domains"].items():
        hist = e["length_histogram"]
        assert sum(hist["documents"]) == e["documents"] == len(lengths[d])
        assert hist["documents"][hist["edges"].index(2048)] == int(((lengths[d] >= 2048) & (lengths[d] < 8192)).sum())
        assert e["long_documents"] == {"min_tokens": 32_768, "documents": 0, "tokens": 0}

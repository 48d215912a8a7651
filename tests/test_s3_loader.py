"""The loader on a corpus at an ``s3://`` URL, against a real S3-API server (moto) on loopback:
the same batches as on local disk, exact resume, clear errors, bounded bytes fetched."""

from __future__ import annotations

import itertools

import fsspec
import numpy as np
import pytest

from midtrain.corpus import CorpusError, open_token_corpus
from midtrain.corpus.remote import BlockCache, locate_tokens, open_remote_corpus
from midtrain.loaders import build_loader
from midtrain.mixers import load_schedule_for_corpus
from midtrain.storage import is_url, put_atomic, read_range, upload_corpus
from midtrain.storage.objects import with_retries

from helpers.loader_corpora import batch_digest, make_token_corpus
from helpers.s3_server import s3_server

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
BLOCK = 64 << 10
"""Small blocks, so that the test corpus's shards (about 0.7 MB) span several blocks each."""


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("s3") / "tok")


@pytest.fixture(scope="module")
def bucket():
    with s3_server() as root:
        yield root


@pytest.fixture(scope="module")
def remote(local, bucket):
    url = f"{bucket}/tok"
    upload_corpus(local, url, block_bytes=BLOCK)
    return url


@pytest.fixture(scope="module")
def schedule(local):
    return load_schedule_for_corpus(MIX, local)[0]


def digests(corpus, schedule, n, **kw):
    loader = build_loader(corpus, schedule, seq_len=128, batch_size=4, seed=3, **kw)
    return [batch_digest(b) for b in itertools.islice(iter(loader), n)]


def test_is_url():
    assert is_url("s3://bucket/corpus") and is_url("file:///tmp/x")
    assert not is_url("/tmp/corpus") and not is_url("corpus") and not is_url(None)


def test_layout_from_head_and_tail_matches_pyarrow(local):
    """The offsets and values buffers located from a shard's head and tail are where pyarrow maps them."""
    for shard in open_token_corpus(local).shards["web"]:
        data = shard.path.read_bytes()
        layout = locate_tokens(lambda s, n: data[s:s + n], len(data), str(shard.path))
        offsets = np.frombuffer(data, np.int64, shard.num_docs + 1, layout.offsets_start)
        tokens = np.frombuffer(data, shard.dtype, shard.num_tokens, layout.values_start)
        assert (offsets == shard.offsets).all() and (tokens == shard.tokens).all()


def test_truncated_shard_is_refused(local):
    path = open_token_corpus(local).shards["web"][0].path
    data = path.read_bytes()[:-100]
    with pytest.raises(CorpusError, match=r"00000.arrow: not a readable Arrow IPC file"):
        locate_tokens(lambda s, n: data[s:s + n], len(data), str(path))


def test_remote_corpus_serves_the_local_tokens(local, remote):
    here, there = open_token_corpus(local), open_remote_corpus(remote)
    assert there.block_bytes == BLOCK
    for d in here.domains:
        for a, b in zip(here.shards[d], there.shards[d]):
            assert (a.offsets == b.offsets).all()
            n = -(-b.num_tokens // there.block_tokens(b.dtype))
            assert (np.concatenate(there.blocks([(b, k) for k in range(n)])) == a.tokens).all()
    assert there.bytes_fetched == sum(s.num_tokens * 2 for s in here.shards["web"] + here.shards["code"]
                                      + here.shards["math"])


@pytest.mark.parametrize("packing,workers,fetch", [("concat", 0, "blocks"), ("best_fit", 0, "blocks"),
                                                    ("concat", 2, "blocks"), ("concat", 0, "documents"),
                                                    ("best_fit", 0, "documents"), ("best_fit", 2, "documents")])
def test_batches_equal_the_local_loader(local, remote, schedule, packing, workers, fetch):
    assert digests(remote, schedule, 6, packing=packing, num_workers=workers, fetch=fetch) == \
        digests(local, schedule, 6, packing=packing, num_workers=0)


@pytest.mark.parametrize("fetch", ["blocks", "documents"])
def test_resume_equals_uninterrupted(remote, schedule, tmp_path, fetch):
    whole = digests(remote, schedule, 8)
    loader = build_loader(remote, schedule, seq_len=128, batch_size=4, seed=3, cache_dir=str(tmp_path), fetch=fetch)
    assert [batch_digest(b) for b in itertools.islice(iter(loader), 5)] == whole[:5]
    resumed = build_loader(remote, schedule, seq_len=128, batch_size=4, seed=3, cache_dir=str(tmp_path), fetch=fetch)
    resumed.load_state_dict(loader.state_dict())
    assert [batch_digest(b) for b in itertools.islice(iter(resumed), 3)] == whole[5:]


def test_documents_fetch_partial_epoch_and_resume(remote, schedule):
    """fetch="documents": on a partial epoch the bytes fetched are the bytes used plus the unused rest
    of the documents still open (at most one per domain with concat packing), and a resumed loader
    re-fetches at most one document per domain: the ones the interrupted run had begun."""
    kwargs = dict(seq_len=128, batch_size=4, seed=3, fetch="documents")
    loader = build_loader(remote, schedule, **kwargs)
    first = _in_process_dataset(loader)
    batches = iter(first)
    for _ in range(20):
        next(batches)
    corpus, _, _ = first.open()
    longest = max(int(s.doc_lengths.max()) for shards in corpus.shards.values() for s in shards) * 2
    assert corpus.bytes_used > 0 and corpus.bytes_fetched <= 1.05 * corpus.bytes_used + 3 * longest
    seen = corpus.pieces_used
    assert corpus.blocks_fetched == 0 and corpus.docs_fetched == len(corpus.doc_cache._slots) >= len(seen)

    state = _state_after(loader, 20)
    resumed = build_loader(remote, schedule, **kwargs)
    resumed.load_state_dict(state)
    again = _in_process_dataset(resumed, start=resumed)
    later = iter(again)
    for _ in range(5):
        next(later)
    refetched = set(again.open()[0].doc_cache._slots) & seen
    assert len(refetched) <= len(schedule.domains)


def test_document_checksums_match_xxhash():
    import xxhash
    from hypothesis import given, settings, strategies as st

    from midtrain.corpus.doc_checksums import xxh64_ranges

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.binary(max_size=200), max_size=8))
    def check(pieces):
        data = b"".join(pieces)
        ends = np.cumsum([len(p) for p in pieces], dtype=np.int64)
        starts = ends - np.array([len(p) for p in pieces], np.int64)
        got = xxh64_ranges(np.frombuffer(data, np.uint8), starts, ends)
        assert [int(x) for x in got] == [xxhash.xxh64_intdigest(p) for p in pieces]

    check()


def test_corrupted_document_is_refused_by_its_checksum(local, bucket):
    url = f"{bucket}/corrupt-doc"
    upload_corpus(local, url, block_bytes=BLOCK)
    corpus = open_remote_corpus(url)
    shard = corpus.shards["web"][0]
    data = bytearray(fsspec.filesystem("s3").cat_file(shard.url))
    data[shard.layout.values_start + 2 * int(shard.offsets[5])] ^= 1  # the first token of document 5
    put_atomic(shard.url, bytes(data))
    corpus = open_remote_corpus(url)
    shard = corpus.shards["web"][0]
    assert len(corpus.documents([(shard, 4)])) == 1
    with pytest.raises(CorpusError, match=r"corrupt-doc/data/web/00000.arrow: checksum mismatch in document 5"):
        corpus.documents([(shard, 3), (shard, 5), (shard, 6)])


def test_resume_with_a_cache_dir_refetches_no_block(remote, tmp_path):
    """Blocks fetched before the interruption are read back from the cache folder, not fetched."""
    first = open_remote_corpus(remote, cache_dir=tmp_path)
    shard = first.shards["web"][0]
    first.blocks([(shard, 0), (shard, 1)])
    again = open_remote_corpus(remote, cache_dir=tmp_path)
    again.blocks([(again.shards["web"][0], 0), (again.shards["web"][0], 1), (again.shards["web"][0], 2)])
    assert first.blocks_fetched == 2 and again.blocks_fetched == 1


def test_partial_epoch_fetches_little_more_than_it_uses(remote, schedule):
    """Bytes fetched <= 1.05 x bytes used + one block per domain, on the first batches of an epoch.

    Only that far: documents come in a global shuffle, so later batches touch a new block per
    document until the cache holds the corpus (benchmarks/README.md, "Object storage")."""
    loader = build_loader(remote, schedule, seq_len=128, batch_size=4, seed=3)
    dataset = _in_process_dataset(loader)
    batches = iter(dataset)
    for _ in range(3):
        next(batches)
    corpus, _, _ = dataset.open()
    assert 0 < corpus.bytes_fetched <= 1.05 * corpus.bytes_used + 3 * BLOCK


def test_lru_cache_is_bounded():
    cache = BlockCache(limit_bytes=1000)
    for k in range(5):
        cache.put(("x", k), np.zeros(150, np.uint16))
    assert cache.held_bytes == 900 and cache.get(("x", 0)) is None and cache.get(("x", 4)) is not None


def test_transient_errors_are_retried_with_backoff_then_reported():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection reset")
        return b"ok"

    assert with_retries("s3://b/k", "read", flaky, backoff_s=0) == b"ok" and len(calls) == 3

    def down():
        raise TimeoutError("read timeout")

    with pytest.raises(CorpusError, match=r"s3://b/k: read failed after 4 tries \(TimeoutError"):
        with_retries("s3://b/k", "read", down, attempts=4, backoff_s=0)


def test_denied_request_is_not_retried():
    calls = []

    def denied():
        calls.append(1)
        raise PermissionError("Access Denied")

    with pytest.raises(CorpusError, match=r"s3://b/k: read: access denied \(403\)"):
        with_retries("s3://b/k", "read", denied, backoff_s=0)
    assert len(calls) == 1


def test_missing_object_names_the_url(bucket):
    url = f"{bucket}/nothing/here.arrow"
    with pytest.raises(CorpusError, match="nothing/here.arrow.*404"):
        read_range(url, 0, 10)


def test_corpus_without_manifest_is_incomplete(local, bucket):
    upload_corpus(local, f"{bucket}/partial", manifest=False)
    with pytest.raises(CorpusError, match=r"partial/manifest.json: no manifest.json; .*incomplete"):
        open_remote_corpus(f"{bucket}/partial")


def test_corrupted_object_is_refused_by_its_checksum(local, bucket):
    url = f"{bucket}/corrupt"
    upload_corpus(local, url, block_bytes=BLOCK)
    corpus = open_remote_corpus(url)
    shard = corpus.shards["code"][1]
    data = bytearray(fsspec.filesystem("s3").cat_file(shard.url))
    data[shard.layout.values_start + BLOCK + 7] ^= 1  # a token of block 1
    put_atomic(shard.url, bytes(data))
    corpus = open_remote_corpus(url)
    assert len(corpus.blocks([(corpus.shards["code"][1], 0)])) == 1
    with pytest.raises(CorpusError, match=r"corrupt/data/code/00001.arrow: checksum mismatch .*block 1"):
        corpus.blocks([(corpus.shards["code"][1], 1)])
    with pytest.raises(CorpusError, match=r"corrupt/data/code/00001.arrow: checksum mismatch"):
        open_remote_corpus(url, checksums=True)


def _in_process_dataset(loader, start=None):
    """The loader's dataset, iterated in this process (its corpus object and counters stay reachable);
    ``start``: a loader whose resumed position it starts from."""
    from midtrain.loaders.dataset import PackedDataset

    if start is None:
        return PackedDataset(loader.config, loader.schedule, start_batch=0, snapshot=None, mixture_log=[])
    return PackedDataset(start.config, start.schedule, start_batch=start._batches, snapshot=start._snapshot,
                         mixture_log=list(start._plan.mixture_log))


def _state_after(loader, n):
    it = iter(loader)
    for _ in range(n):
        next(it)
    return loader.state_dict()


def test_auto_fetch_reads_blocks_when_the_corpus_fits_in_the_cache(remote):
    from midtrain.loaders.remote import RemoteBatches

    fits = open_remote_corpus(remote)
    shards = [s for d in sorted(fits.shards) for s in fits.shards[d]]
    assert RemoteBatches(fits, shards).fetch == "blocks"
    stream = sum(s.num_tokens * s.dtype.itemsize for s in shards)
    small = open_remote_corpus(remote, cache_bytes=stream - 1)
    assert RemoteBatches(small, [s for d in sorted(small.shards) for s in small.shards[d]]).fetch == "documents"
    with pytest.raises(ValueError, match="fetch: must be"):
        RemoteBatches(fits, shards, "pages")


def test_ledger_and_amendments_on_a_corpus_at_a_url(local, remote, schedule):
    """Document ids are read with ranged GETs of the ``id`` column: the ledger of the URL corpus equals
    the local one's, and an amendment removing documents by id works on the URL corpus."""
    from midtrain.loaders import LoaderConfig
    from midtrain.loaders.ledger import open_ledger

    kw = dict(seq_len=128, batch_size=4, seed=3, total_tokens=128 * 4 * 30)
    here, there = (open_ledger(LoaderConfig(corpus=str(c), **kw), MIX) for c in (local, remote))
    for k in (0, 7, 29):
        assert there.batch(k).to_dict() == here.batch(k).to_dict()
    assert there.exposure().to_dict() == here.exposure().to_dict()
    shard = open_remote_corpus(remote).shards["code"][1]
    assert shard.ids() == open_token_corpus(local).shards["code"][1].ids() and shard.metadata("source") is None

    removed = ["code/1/5", "web/0/9"]
    url_loader, local_loader = (build_loader(c, schedule, seq_len=128, batch_size=4, seed=3) for c in (remote, local))
    for loader in (url_loader, local_loader):
        loader.amend(MIX, at_tokens=2048, remove=removed)
    assert [batch_digest(b) for b in itertools.islice(iter(url_loader), 8)] == \
        [batch_digest(b) for b in itertools.islice(iter(local_loader), 8)]

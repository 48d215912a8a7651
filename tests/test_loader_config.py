"""LoaderConfig: frozen, keyword-only, checked field by field, built from a dict, and building the
same loader as ``build_loader``."""

from __future__ import annotations

import dataclasses
import itertools
import pickle

import pytest

from midtrain.errors import ConfigError
from midtrain.loaders import LoaderConfig, PackedLoader, build_loader

from helpers.loader_corpora import batch_digest, make_token_corpus

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_token_corpus(tmp_path_factory.mktemp("loader_config") / "tok", docs_per_shard=60, shards=1)


def test_fields_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        LoaderConfig("tok", 128, 4, 0)
    config = LoaderConfig(corpus="tok", seq_len=128, batch_size=4, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1
    assert pickle.loads(pickle.dumps(config)) == config


def test_a_path_is_stored_as_a_string(tmp_path):
    assert LoaderConfig(corpus=tmp_path, seq_len=8, batch_size=1, seed=0).corpus == str(tmp_path)


@pytest.mark.parametrize("field, value, message", [
    ("seq_len", 0, "seq_len: must be a positive integer, got 0"),
    ("batch_size", True, "batch_size: must be a positive integer, got True"),
    ("seed", -1, "seed: must be a non-negative integer, got -1"),
    ("world_size", 0, "world_size: must be a positive integer, got 0"),
    ("rank", 2, "rank: rank 2 is outside world size 2"),
    ("packing", "greedy", "packing: must be 'concat' or 'best_fit', got 'greedy'"),
    ("window", 0, "window: must be a positive integer"),
    ("block_batches", 0, "block_batches: must be a positive integer"),
    ("pad_id", -1, "pad_id: must be a non-negative integer"),
    ("long_min_tokens", 0, "long_min_tokens: must be a positive integer number of tokens"),
    ("total_tokens", 0, "total_tokens: must be a positive integer"),
    ("num_workers", -1, "num_workers: must be a non-negative integer"),
    ("prefetch_factor", 0, "prefetch_factor: must be a positive integer"),
    ("multiprocessing_context", "threads", "multiprocessing_context 'threads' is not a start method"),
    ("corpus", "", "corpus: expected the path of a token corpus"),
])
def test_an_invalid_field_is_a_config_error_naming_it(field, value, message):
    fields = {"corpus": "tok", "seq_len": 128, "batch_size": 4, "seed": 0, "world_size": 2, field: value}
    with pytest.raises(ConfigError, match=f"^{message}"):
        LoaderConfig(**fields)


def test_from_mapping_checks_every_key_and_names_its_path():
    data = {"corpus": "tok", "seq_len": 128, "batch_size": 4, "seed": 0, "packing": "best_fit", "num_workers": 2}
    assert LoaderConfig.from_mapping(data) == LoaderConfig(**data)
    with pytest.raises(ConfigError, match=r"^loader\.batch_size: expected an integer, got str"):
        LoaderConfig.from_mapping({**data, "batch_size": "4"})
    with pytest.raises(ConfigError, match=r"^train\.loader\.batch_sise: unknown key"):
        LoaderConfig.from_mapping({**data, "batch_sise": 4}, "train.loader")
    with pytest.raises(ConfigError, match=r"^loader\.packing: expected one of 'concat', 'best_fit'"):
        LoaderConfig.from_mapping({**data, "packing": "greedy"})
    with pytest.raises(ConfigError, match=r"^loader\.seed: required key is missing"):
        LoaderConfig.from_mapping({k: v for k, v in data.items() if k != "seed"})


def test_resolved_fills_rank_world_size_and_block_batches_without_torch_distributed():
    config = LoaderConfig(corpus="tok", seq_len=128, batch_size=24, seed=0).resolved()
    assert (config.rank, config.world_size, config.global_batch_size) == (0, 1, 24)
    assert config.block_batches == 11  # the fewest batches of 24 that make 256 sequences
    assert config.resolved() is config
    with pytest.raises(ConfigError, match="^rank: rank 3 is outside world size 1"):
        LoaderConfig(corpus="tok", seq_len=128, batch_size=4, seed=0, rank=3).resolved()


def test_build_gives_the_loader_build_loader_gives(corpus):
    config = LoaderConfig(corpus=corpus, seq_len=128, batch_size=4, seed=7, packing="best_fit", window=64)
    loader = config.build(MIX)
    assert isinstance(loader, PackedLoader) and loader.config == config.resolved()
    same = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=7, packing="best_fit", window=64)
    assert loader.fingerprint == same.fingerprint
    assert ([batch_digest(b) for b in itertools.islice(loader, 6)] ==
            [batch_digest(b) for b in itertools.islice(same, 6)])

"""Shared fixtures: small real-text corpora built from the quickstart sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from midtrain.corpus import CorpusWriter
from midtrain.quickstart.sample import build_sample


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory) -> Path:
    """The quickstart's raw sample (real text: Python docs, stdlib code, mpmath, CHAMP)."""
    out = tmp_path_factory.mktemp("sample_raw")
    build_sample(out, code_bytes=400_000)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def small_token_corpus(tmp_path) -> Path:
    """A token corpus with two domains and known contents (uint16 ids)."""
    rng = np.random.default_rng(0)
    writer = CorpusWriter(tmp_path / "tok", "token",
                          tokenizer={"fingerprint": "test", "vocab_size": 1000, "bos_id": None, "eos_id": 0,
                                     "dtype": "uint16", "name": "test"})
    for domain, n_docs in (("web", 50), ("code", 30)):
        for _ in range(2):
            lengths = rng.integers(1, 300, size=n_docs)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            tokens = rng.integers(1, 1000, size=int(offsets[-1])).astype(np.uint16)
            ids = [f"{domain}-{i}" for i in range(n_docs)]
            writer.write_tokens(domain, ids, tokens, offsets)
    writer.finish()
    return tmp_path / "tok"


# The test tiers. `pytest -m "not slow"` is the quick tier (under a minute on 2 cores); the full
# suite runs both. "slow" = spawns processes (CLI, torchrun, Ray, quickstart, trainers) or builds a
# real corpus in a fixture (the quickstart sample included); chosen from `pytest --durations` on 2 cores (over ~2 s).
SLOW_MODULES = {
    "test_cli_quickstart.py", "test_curation_cli.py", "test_curation_job.py", "test_curation_ray.py",
    "test_curation_resume.py", "test_dedup_corpus.py", "test_dedup_incremental.py", "test_dedup_ray.py",
    "test_docs_examples.py", "test_example_train_llama.py", "test_example_trainers.py",
    "test_labels_training.py", "test_loader_distributed.py", "test_tokenize_interchange.py",
    "test_tokenize_job.py", "test_curation_refilter.py", "test_labels_heldout.py",
    "test_loader_online_weights.py", "test_sweep_run.py", "test_sweep_cli.py", "test_sweep_report.py",
    "test_group.py", "test_group_similar.py", "test_group_ray.py", "test_longctx_eval.py", "test_longctx_synthetic.py",
    "test_longctx_loader.py", "test_longctx_rope.py", "test_s3_loader.py", "test_s3_commands.py", "test_decont_perturbed.py",
    "test_s3_curate.py",
    "test_s3_faults.py", "test_s3_stages.py", "test_s3_chain.py",
}
SLOW_TESTS = {
    "test_amended_resume_equals_the_uninterrupted_amended_run", "test_the_ledger_of_an_amended_run_equals_its_batches",
    "test_process_exits_cleanly_while_workers_are_mid_stream", "test_importing_the_loader_does_not_pull_the_curation_stack",
    "test_spawned_workers_receive_the_slots_and_release_them", "test_no_ring_when_shared_memory_is_short",
    "test_training_twice_writes_the_same_bytes", "test_kernel_equals_reference_on_real_documents",
    "test_signals_equal_reference_on_real_documents", "test_help_imports_no_heavy_library",
    "test_flag_table_equals_python_predicates_on_every_code_point", "test_dedup_command_prints_counts_and_explains",
    "test_magika_is_imported_only_when_a_document_needs_it", "test_deterministic_and_independent_of_batch",
    "test_rope_base_command",
}


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the slow tier (see SLOW_MODULES / SLOW_TESTS) without touching each test file."""
    for item in items:
        builds_sample = "sample_raw" in getattr(item, "fixturenames", ())  # ~12 s per process, once
        if item.path.name in SLOW_MODULES or item.originalname in SLOW_TESTS or builds_sample:
            item.add_marker(pytest.mark.slow)

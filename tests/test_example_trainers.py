"""examples/hf_trainer.py and examples/lightning_module.py on CPU: an interrupted run resumes exactly.

Each example trains a tiny Llama for 6 steps in one go, and again stopped after 4 steps and
resumed from its checkpoint. Every step logs a fingerprint of the batch it trained on and its
loss: the resumed run must train on the same batches as the uninterrupted one, step for step,
and (model, optimizer and loader restored together) reach the same losses.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from midtrain.errors import ConfigError

from helpers.loader_corpora import make_token_corpus

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MIX = {"phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}
STEPS, STOP = 6, 4


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing look the module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_torch_thread():
    """A tiny model trains 4x faster on one thread here: two threads spin-wait for each other on busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_token_corpus(tmp_path_factory.mktemp("tok") / "tok", docs_per_shard=60, vocab=512)


def run(example: ModuleType, corpus: Path, output: Path, *extra: str) -> None:
    example.main(["--corpus", str(corpus), "--schedule", json.dumps(MIX), "--steps", str(STEPS),
                  "--save-every", "3", "--seq-len", "64", "--batch-size", "4", "--output", str(output), *extra])


def steps_log(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "steps.jsonl").read_text().splitlines()]


def assert_resumes_exactly(example: ModuleType, corpus: Path, tmp_path: Path) -> None:
    run(example, corpus, tmp_path / "straight")
    run(example, corpus, tmp_path / "interrupted", "--stop-after", str(STOP))
    assert [s["step"] for s in steps_log(tmp_path / "interrupted")] == list(range(1, STOP + 1))
    run(example, corpus, tmp_path / "interrupted", "--resume")
    straight, resumed = steps_log(tmp_path / "straight"), steps_log(tmp_path / "interrupted")
    assert [s["step"] for s in straight] == list(range(1, STEPS + 1))
    batches = [s["batches"] for s in straight]
    assert len({b for step in batches for b in step}) == STEPS  # a new batch every step
    assert [s["batches"] for s in resumed] == batches
    assert all(math.isfinite(s["loss"]) and s["loss"] > 0 for s in straight)
    assert [s["loss"] for s in resumed] == pytest.approx([s["loss"] for s in straight], rel=1e-5)


def test_hf_trainer_resumes_the_same_batches(corpus, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    example = load_example("hf_trainer")
    assert_resumes_exactly(example, corpus, tmp_path)
    state = json.loads((tmp_path / "interrupted" / f"checkpoint-{STOP}" / example.LOADER_STATE).read_text())
    assert state["batches_consumed"] == STOP


def test_hf_trainer_resume_without_checkpoint_is_a_config_error(corpus, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    with pytest.raises(ConfigError, match="no checkpoint-N folder"):
        run(load_example("hf_trainer"), corpus, tmp_path / "empty", "--resume")


def test_lightning_datamodule_resumes_the_same_batches(corpus, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("lightning")
    assert_resumes_exactly(load_example("lightning_module"), corpus, tmp_path)
    checkpoint = torch.load(tmp_path / "interrupted" / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == STEPS
    assert checkpoint["MidtrainDataModule"]["loader"]["batches_consumed"] == STEPS


def test_lightning_resume_without_checkpoint_is_a_config_error(corpus, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("lightning")
    with pytest.raises(ConfigError, match="last.ckpt does not exist"):
        run(load_example("lightning_module"), corpus, tmp_path / "empty", "--resume")

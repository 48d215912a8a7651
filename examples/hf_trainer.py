"""Train a tiny Llama with Hugging Face's ``Trainer`` on midtrain's loader, resuming exactly.

    python examples/hf_trainer.py --corpus TOKENS --schedule MIX.yaml --steps 200 --output run/
    python examples/hf_trainer.py --corpus TOKENS --schedule MIX.yaml --steps 200 --output run/ --resume

The second command continues from the newest ``run/checkpoint-N/``. How the loader meets the Trainer:

- ``MidtrainTrainer.get_train_dataloader`` hands the Trainer the loader's batches as they are: no
  torch ``DataLoader``, collator or ``accelerator.prepare``. The loader already batches and takes
  this rank's rows (``build_loader`` reads rank and world size from ``torch.distributed``);
  accelerate's wrapper would re-shard or dispatch them, and it reads one batch ahead, so the loader
  state saved with a checkpoint would be a batch past what the model saw.
- Labels arrive shifted (label t is token t + 1, -100 across documents). The Trainer's causal LM
  loss shifts ``labels`` again unless the batch gives ``shift_labels``; the batch gives both, and
  the Trainer counts the tokens of a step over ``shift_labels`` too.
- Packed documents do not attend to each other: ``compute_loss`` builds a block-diagonal causal mask
  from the batch's ``document_ids`` on the model's device.
- ``LoaderStateCallback.on_save`` writes ``loader.state_dict()`` as ``midtrain_loader_state.json``
  into every ``checkpoint-N`` folder, and ``MidtrainTrainer.train(resume_from_checkpoint=...)``
  loads it before the first batch. The Trainer's own resume would skip the seen batches by
  reading them again, so ``TrainingArguments(ignore_data_skip=True)`` is required.

``OUTPUT/steps.jsonl`` gets one line per optimizer step (rank 0): the step, its loss and a
fingerprint of each batch, so two runs can be compared batch for batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from transformers import (HfArgumentParser, LlamaConfig, LlamaForCausalLM, Trainer, TrainerCallback,
                          TrainingArguments)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from midtrain.corpus import Manifest
from midtrain.errors import ConfigError
from midtrain.loaders import PackedLoader, build_loader

LOADER_STATE = "midtrain_loader_state.json"


class ModelInputs:
    """The loader's batches as keyword arguments of a causal LM's ``forward`` (plus ``document_ids``)."""

    def __init__(self, loader: PackedLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for batch in self.loader:
            yield {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"],
                   "labels": batch["labels"], "shift_labels": batch["labels"],
                   "document_ids": batch["document_ids"]}


def document_mask(document_ids: torch.Tensor) -> torch.Tensor:
    """``[B, 1, L, L]`` boolean mask: causal, and only within a document (padding, -1, sees padding)."""
    same = document_ids[:, :, None] == document_ids[:, None, :]
    return (same & torch.ones_like(same[0]).tril())[:, None]


class LoaderStateCallback(TrainerCallback):
    """Writes the loader state into every checkpoint folder the Trainer saves."""

    def __init__(self, loader: PackedLoader) -> None:
        self.loader = loader

    def on_save(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        # the state is the same on every rank (a position in the global stream): rank 0 writes it
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            (folder / LOADER_STATE).write_text(json.dumps(self.loader.state_dict()))


class MidtrainTrainer(Trainer):
    """A ``Trainer`` that reads midtrain's loader and saves and restores its state with each checkpoint."""

    def __init__(self, *args: Any, loader: PackedLoader, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.args.ignore_data_skip:
            raise ConfigError("MidtrainTrainer needs TrainingArguments(ignore_data_skip=True): the loader state "
                              "resumes exactly, and the Trainer's own skip would drop as many batches again")
        self.loader = loader
        self.batch_fingerprints: list[str] = []
        """One fingerprint per batch trained on since the last log line (see ``StepLog``)."""
        self.add_callback(LoaderStateCallback(loader))

    def get_train_dataloader(self) -> ModelInputs:
        return ModelInputs(self.loader)

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        ids = inputs["input_ids"].cpu().numpy()
        self.batch_fingerprints.append(hashlib.sha256(ids.tobytes()).hexdigest()[:16])
        inputs["attention_mask"] = document_mask(inputs.pop("document_ids"))
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> Any:
        """``Trainer.train``, with the loader state of the checkpoint it resumes from loaded first."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ConfigError(f"--resume: no checkpoint-N folder in {self.args.output_dir}")
        if resume_from_checkpoint:
            path = Path(resume_from_checkpoint) / LOADER_STATE
            if not path.is_file():
                raise ConfigError(f"{path} is missing: that checkpoint was not saved by MidtrainTrainer")
            self.loader.load_state_dict(json.loads(path.read_text()))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)


class StepLog(TrainerCallback):
    """Appends ``{"step", "loss", "batches"}`` to a JSON-lines file at every log (``logging_steps=1``)."""

    def __init__(self, trainer: MidtrainTrainer, path: Path) -> None:
        self.trainer, self.path = trainer, path

    def on_log(self, args: TrainingArguments, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if logs and "loss" in logs and state.is_world_process_zero:
            line = {"step": state.global_step, "loss": logs["loss"], "batches": self.trainer.batch_fingerprints}
            with self.path.open("a") as f:
                f.write(json.dumps(line) + "\n")
        self.trainer.batch_fingerprints = []


class StopAfter(TrainerCallback):
    """Ends training after ``step`` optimizer steps with a checkpoint, as an interrupted job would have."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.global_step >= self.step:
            control.should_training_stop = control.should_save = True
        return control


def tiny_llama(vocab_size: int, seed: int) -> LlamaForCausalLM:
    """A randomly initialised Llama (hidden 64, 2 layers, 99k parameters besides the embeddings)."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, attn_implementation="sdpa"))


@dataclass
class ExampleArguments:
    """The command line (``HfArgumentParser`` makes each field a ``--flag``; ``--stop-after`` = ``--stop_after``)."""

    corpus: str = field(metadata={"help": "token corpus folder"})
    schedule: str = field(metadata={"help": "schedule file (YAML/TOML/JSON) or a JSON string"})
    steps: int = field(metadata={"help": "optimizer steps; the schedule spans exactly these"})
    output: str = field(metadata={"aliases": ["-o"], "help": "folder for checkpoint-N/ and steps.jsonl"})
    resume: bool = field(default=False, metadata={"help": "continue from the newest checkpoint in --output"})
    stop_after: int | None = field(default=None, metadata={"help": "stop (and save a checkpoint) after N steps"})
    save_every: int = field(default=50, metadata={"help": "steps between checkpoints"})
    seq_len: int = 256
    batch_size: int = field(default=8, metadata={"help": "sequences per rank per step"})
    workers: int = field(default=0, metadata={"help": "loader worker processes"})
    lr: float = 1e-3
    seed: int = field(default=0, metadata={"help": "seeds the model and the data order"})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train (or resume); returns the Trainer's final metrics."""
    (args,) = HfArgumentParser(ExampleArguments).parse_args_into_dataclasses(args=argv)
    schedule = json.loads(args.schedule) if args.schedule.lstrip().startswith("{") else args.schedule
    # TrainingArguments first: under torchrun it starts torch.distributed, where build_loader finds the rank
    training = TrainingArguments(
        output_dir=args.output, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, save_steps=args.save_every, logging_steps=1, ignore_data_skip=True, seed=args.seed,
        report_to="none", disable_tqdm=True, ddp_find_unused_parameters=False,
        use_cpu=not torch.cuda.is_available())  # on CPU, torchrun then gets gloo DDP rather than 2 lone runs
    total_tokens = args.steps * args.batch_size * training.world_size * args.seq_len
    loader = build_loader(args.corpus, schedule, seq_len=args.seq_len, batch_size=args.batch_size, seed=args.seed,
                          num_workers=args.workers, total_tokens=total_tokens)
    vocab = int((Manifest.read(args.corpus).tokenizer or {}).get("vocab_size") or 65536)
    trainer = MidtrainTrainer(model=tiny_llama(vocab, args.seed), args=training, loader=loader)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    trainer.add_callback(StepLog(trainer, Path(args.output) / "steps.jsonl"))
    if args.stop_after is not None:
        trainer.add_callback(StopAfter(args.stop_after))
    return trainer.train(resume_from_checkpoint=args.resume or None).metrics


if __name__ == "__main__":
    print(json.dumps(main()))

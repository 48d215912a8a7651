"""Train a tiny Llama with Lightning on midtrain's loader; the DataModule's state resumes it exactly.

    python examples/lightning_module.py --corpus TOKENS --schedule MIX.yaml --steps 200 --output run/
    python examples/lightning_module.py --corpus TOKENS --schedule MIX.yaml --steps 200 --output run/ --resume

The second command continues from ``run/checkpoints/last.ckpt``. How the loader meets Lightning:

- ``MidtrainDataModule.state_dict()`` is the loader state after the last batch the model trained
  on, so Lightning stores it in every checkpoint and hands it back to ``load_state_dict()`` on
  ``fit(ckpt_path=...)``. Lightning reads one batch ahead of the training step (to see the end of
  an iterable without a length), so the loader's own position is a batch past the model's: each
  batch therefore travels with the loader state taken right after it, and
  ``on_before_batch_transfer`` keeps the state of the batch that is about to be trained.
- ``train_dataloader()`` returns the batches as the loader makes them (it already batches, and
  takes this rank's rows), wrapped so that Lightning does not see a ``state_dict`` of its own:
  Lightning would save the loader's read-ahead position and load it over the DataModule's.
- Labels arrive shifted (label t is token t + 1, -100 across documents), so the loss is a plain
  cross-entropy of the logits against them; ``document_ids`` give a block-diagonal causal mask.

``OUTPUT/steps.jsonl`` gets one line per step (rank 0): the step, its loss and a fingerprint of the
batch, so two runs can be compared batch for batch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from transformers import LlamaConfig, LlamaForCausalLM

from midtrain.corpus import Manifest
from midtrain.errors import ConfigError
from midtrain.loaders import PackedLoader, build_loader


class BatchesWithState:
    """Iterates ``(batch, loader state right after it)``; deliberately has no ``state_dict`` itself."""

    def __init__(self, loader: PackedLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for batch in self.loader:
            yield batch, self.loader.state_dict()


class MidtrainDataModule(pl.LightningDataModule):
    """midtrain's loader as a DataModule whose ``state_dict`` is the loader state of the last trained batch."""

    def __init__(self, corpus: str, schedule: Any, *, seq_len: int, batch_size: int, seed: int,
                 total_tokens: int | None = None, num_workers: int = 0) -> None:
        super().__init__()
        self.corpus, self.schedule, self.total_tokens = corpus, schedule, total_tokens
        self.seq_len, self.batch_size, self.seed, self.num_workers = seq_len, batch_size, seed, num_workers
        self.loader: PackedLoader | None = None
        self.trained_state: dict[str, Any] | None = None
        """Loader state after the batch now (or last) in the training step; ``None`` before the first."""

    def setup(self, stage: str) -> None:
        if self.loader is None:
            self.loader = build_loader(self.corpus, self.schedule, seq_len=self.seq_len, batch_size=self.batch_size,
                                       seed=self.seed, rank=self.trainer.global_rank,
                                       world_size=self.trainer.world_size, num_workers=self.num_workers,
                                       total_tokens=self.total_tokens)
            if self.trained_state is not None:
                self.loader.load_state_dict(self.trained_state)

    def train_dataloader(self) -> BatchesWithState:
        return BatchesWithState(self.loader)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> dict[str, Any]:
        batch, self.trained_state = batch
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"loader": self.trained_state} if self.trained_state is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.trained_state = state_dict.get("loader")
        if self.loader is not None and self.trained_state is not None:
            self.loader.load_state_dict(self.trained_state)


class TinyLlama(pl.LightningModule):
    """A randomly initialised Llama (hidden 64, 2 layers) trained on packed, document-masked batches."""

    def __init__(self, vocab_size: int, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.model = LlamaForCausalLM(LlamaConfig(
            vocab_size=vocab_size, hidden_size=64, intermediate_size=172, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, attn_implementation="sdpa"))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        docs = batch["document_ids"]
        # causal, and only within a document; a row's padding (document -1) attends to padding
        mask = (docs[:, :, None] == docs[:, None, :]).tril()[:, None]
        logits = self.model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                            attention_mask=mask).logits
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=-100)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


class StepLog(pl.Callback):
    """Appends ``{"step", "loss", "batches"}`` to a JSON-lines file after every training step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.is_global_zero:
            ids = batch["input_ids"].cpu().numpy()
            line = {"step": trainer.global_step, "loss": float(outputs["loss"]),
                    "batches": [hashlib.sha256(ids.tobytes()).hexdigest()[:16]]}
            with self.path.open("a") as f:
                f.write(json.dumps(line) + "\n")


class StopAfter(pl.Callback):
    """Ends training after ``step`` steps with a ``last.ckpt``, as an interrupted job would have left it."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.global_step >= self.step:
            trainer.save_checkpoint(Path(trainer.checkpoint_callback.dirpath) / "last.ckpt")
            trainer.should_stop = True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True, help="token corpus folder")
    p.add_argument("--schedule", required=True, help="schedule file (YAML/TOML/JSON) or a JSON string")
    p.add_argument("--steps", type=int, required=True, help="training steps; the schedule spans exactly these")
    p.add_argument("--output", "-o", required=True, help="folder for checkpoints/ and steps.jsonl")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoints/last.ckpt")
    p.add_argument("--stop-after", type=int, help="stop (and save last.ckpt) after this many steps")
    p.add_argument("--save-every", type=int, default=50, help="steps between checkpoints")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8, help="sequences per rank per step")
    p.add_argument("--workers", type=int, default=0, help="loader worker processes")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0, help="seeds the model and the data order")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train (or resume) on one process; returns the last step and the last loss."""
    args = parse_args(argv)
    schedule = json.loads(args.schedule) if args.schedule.lstrip().startswith("{") else args.schedule
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    vocab = int((Manifest.read(args.corpus).tokenizer or {}).get("vocab_size") or 65536)
    pl.seed_everything(args.seed, verbose=False)
    model = TinyLlama(vocab, args.lr)
    data = MidtrainDataModule(args.corpus, schedule, seq_len=args.seq_len, batch_size=args.batch_size,
                              seed=args.seed, total_tokens=args.steps * args.batch_size * args.seq_len,
                              num_workers=args.workers)
    last = output / "checkpoints" / "last.ckpt"
    if args.resume and not last.is_file():
        raise ConfigError(f"--resume: {last} does not exist")
    # a checkpoint every --save-every steps, and last.ckpt whenever one is written
    callbacks = [ModelCheckpoint(dirpath=last.parent, every_n_train_steps=args.save_every, save_top_k=-1,
                                 save_last=True), StepLog(output / "steps.jsonl")]
    if args.stop_after is not None:
        callbacks.append(StopAfter(args.stop_after))
    # one pass over the schedule: it ends after --steps steps (fewer if a phase lengthens seq_len)
    trainer = pl.Trainer(max_steps=args.steps, max_epochs=1, accelerator="auto", devices=1, callbacks=callbacks,
                         logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=data, ckpt_path=last if args.resume else None)
    return {"step": trainer.global_step, **{k: float(v) for k, v in trainer.callback_metrics.items()}}


if __name__ == "__main__":
    print(json.dumps(main()))

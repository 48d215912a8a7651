"""Training a small byte-level BPE on a text corpus: the quickstart's offline tokenizer.

No vocabulary can be downloaded at quickstart time, and a PyPI-shipped one (cl100k, 100k ids)
needs uint32 tokens. A 16,384-id byte-level BPE trained on the sample itself takes seconds, fits
uint16, and covers any input (every byte is in the alphabet). Training is deterministic for the
same documents in the same order (``tokenizers`` breaks merge ties by pair order), so the
quickstart writes the same ``tokenizer.json`` bytes every time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midtrain.corpus import Manifest, read_text_shard
from midtrain.corpus.manifest import atomic_write_bytes, resolve_inside

BPE_SPECIAL_TOKENS = ("<|endoftext|>", "<|begin_of_text|>")
"""EOS first, then BOS; ids 0 and 1 of every vocabulary :func:`train_bpe` writes."""


@dataclass(frozen=True)
class BpeReport:
    """What :func:`train_bpe` wrote: the ``tokenizer.json`` and what it was trained on."""

    output: Path
    vocab_size: int
    """Ids in the vocabulary, special tokens included (below the asked size when the text runs out of merges)."""
    documents: int
    """Non-empty documents trained on."""

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "vocab_size": self.vocab_size, "documents": self.documents}


def train_bpe(text_corpus: str | os.PathLike, output: str | os.PathLike, *, vocab_size: int = 16384,
              min_frequency: int = 2) -> BpeReport:
    """Train a byte-level BPE on every document of ``text_corpus`` and save it as ``output`` (tokenizer.json).

    Documents are read shard by shard in manifest order. The result has ``<|endoftext|>`` (EOS)
    and ``<|begin_of_text|>`` (BOS) as special tokens and no post-processor, so
    ``Tokenizer.encode(text).ids`` is the text's ids alone.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    src = Path(text_corpus)
    manifest = Manifest.read(src)
    documents = 0

    def batches():
        nonlocal documents
        for shard in manifest.shards:
            table = read_text_shard(resolve_inside(src, shard.path), columns=["text"])
            for batch in table.column("text").chunks:
                texts = [t for t in batch.to_pylist() if t]
                documents += len(texts)
                yield texts

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=list(BPE_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(batches(), trainer=trainer)
    out = Path(output)
    atomic_write_bytes(out, tokenizer.to_str(pretty=False).encode())
    return BpeReport(out, tokenizer.get_vocab_size(), documents)

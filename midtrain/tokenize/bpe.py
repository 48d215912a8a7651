"""Training a small byte-level BPE on a text corpus: the quickstart's offline tokenizer.

No vocabulary can be downloaded at quickstart time, and a PyPI-shipped one (cl100k, 100k ids)
needs uint32 tokens. A 16,384-id byte-level BPE trained on the sample itself takes seconds, fits
uint16, and covers any input (every byte is in the alphabet). Training is deterministic for the
same documents in the same order (``tokenizers`` breaks merge ties by pair order), so the
quickstart writes the same ``tokenizer.json`` bytes every time.
"""

from __future__ import annotations

import os
from pathlib import Path

from midtrain.corpus import Manifest, read_text_shard
from midtrain.corpus.manifest import atomic_write_bytes, resolve_inside

BPE_SPECIAL_TOKENS = ("<|endoftext|>", "<|begin_of_text|>")
"""EOS first, then BOS; ids 0 and 1 of every vocabulary :func:`train_bpe` writes."""


def train_bpe(text_corpus: str | os.PathLike, out_path: str | os.PathLike, *, vocab_size: int = 16384,
              min_frequency: int = 2) -> Path:
    """Train a byte-level BPE on every document of ``text_corpus`` and save it as ``out_path`` (tokenizer.json).

    Documents are read shard by shard in manifest order. The result has ``<|endoftext|>`` (EOS)
    and ``<|begin_of_text|>`` (BOS) as special tokens and no post-processor, so
    ``Tokenizer.encode(text).ids`` is the text's ids alone.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    src = Path(text_corpus)
    manifest = Manifest.read(src)

    def documents():
        for shard in manifest.shards:
            table = read_text_shard(resolve_inside(src, shard.path), columns=["text"])
            for batch in table.column("text").chunks:
                yield [t for t in batch.to_pylist() if t]

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=list(BPE_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(documents(), trainer=trainer)
    out = Path(out_path)
    atomic_write_bytes(out, tokenizer.to_str(pretty=False).encode())
    return out

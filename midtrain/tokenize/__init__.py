"""Tokenize: a text corpus in, a memory-mappable token corpus out (DESIGN.md, "Corpora on disk").

- :func:`tokenize_corpus` — the job: parallel, batch-encoded, resumable, one folder per domain.
- :func:`train_bpe` — a small byte-level BPE trained on a corpus (the quickstart's tokenizer).
- :func:`load_tokenizer` — a ``tokenizer.json`` or ``tiktoken:<encoding>`` with its fingerprint.
- :func:`export_megatron` / :func:`import_datatrove` — interchange with Megatron-LM's indexed
  dataset (``.bin``/``.idx``) and datatrove's tokenized output (``.ds``/``.ds.index``).

This package is ``midtrain.tokenize``, never a top-level ``tokenize``, which would shadow Python's
own module (DESIGN.md, "Layout").
"""

from midtrain.tokenize.bpe import train_bpe
from midtrain.tokenize.datatrove import import_datatrove
from midtrain.tokenize.job import DEFAULT_SHARD_TOKENS, tokenize_corpus
from midtrain.tokenize.megatron import export_megatron
from midtrain.tokenize.tokenizer import TokenizerInfo, load_tokenizer

__all__ = ["DEFAULT_SHARD_TOKENS", "TokenizerInfo", "export_megatron", "import_datatrove", "load_tokenizer",
           "tokenize_corpus", "train_bpe"]

"""Tokenize: a text corpus in, a memory-mappable token corpus out (``midtrain.corpus`` has both formats).

- :func:`tokenize_corpus` — the job: parallel, batch-encoded, resumable, one folder per domain.
- :func:`train_bpe` — a small byte-level BPE trained on a corpus (the quickstart's tokenizer).
- :func:`load_tokenizer` — a ``tokenizer.json`` or ``tiktoken:<encoding>`` with its fingerprint.
- :func:`export_megatron` / :func:`import_datatrove` — interchange with Megatron-LM's indexed
  dataset (``.bin``/``.idx``) and datatrove's tokenized output (``.ds``/``.ds.index``).

Each returns a report dataclass with ``to_dict()``. This package is ``midtrain.tokenize``, never a
top-level ``tokenize``, which would shadow Python's own module. Importing it is light (the
``midtrain`` command registers from it); pyarrow and the tokenizers load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.tokenize.bpe import BpeReport, train_bpe
    from midtrain.tokenize.datatrove import import_datatrove
    from midtrain.tokenize.job import DEFAULT_SHARD_TOKENS, TokenCorpusReport, tokenize_corpus
    from midtrain.tokenize.megatron import MegatronExport, export_megatron
    from midtrain.tokenize.tokenizer import TokenizerInfo, load_tokenizer

_EXPORTS = {
    "BpeReport": "midtrain.tokenize.bpe",
    "train_bpe": "midtrain.tokenize.bpe",
    "import_datatrove": "midtrain.tokenize.datatrove",
    "DEFAULT_SHARD_TOKENS": "midtrain.tokenize.job",
    "TokenCorpusReport": "midtrain.tokenize.job",
    "tokenize_corpus": "midtrain.tokenize.job",
    "MegatronExport": "midtrain.tokenize.megatron",
    "export_megatron": "midtrain.tokenize.megatron",
    "TokenizerInfo": "midtrain.tokenize.tokenizer",
    "load_tokenizer": "midtrain.tokenize.tokenizer",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)

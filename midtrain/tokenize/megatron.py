"""Export a token corpus to Megatron-LM's indexed dataset (``.bin`` + ``.idx``), one pair per domain.

Megatron-LM and NeMo train on ``--data-path w1 prefix1 w2 prefix2 ...``; every domain becomes one
prefix, and the report's ``data_path`` is that blend with token-count weights. The format, as
``megatron/core/datasets/indexed_dataset.py`` reads it:

- ``.bin``: the token ids of every document back to back, little-endian;
- ``.idx``: ``MMIDIDX\\x00\\x00``, version ``<Q`` = 1, dtype code ``<B``, sequence count ``<Q``,
  document count ``<Q`` (= sequences + 1), then ``int32`` sequence lengths, ``int64`` byte
  pointers of each sequence into ``.bin``, and ``int64`` document indices ``0..n``
  (one sequence per document).

Megatron has no ``uint32`` code: vocabularies over 65,536 go out as ``int32`` (code 4), which
holds every id below 2**31 unchanged, so the ``uint32`` shard is reinterpreted without a copy.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midtrain.corpus import open_token_corpus
from midtrain.corpus.errors import CorpusError

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# Megatron's DType enum (indexed_dataset.py): only the two codes token ids use.
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


@dataclass(frozen=True)
class MegatronExport:
    """What :func:`export_megatron` wrote: one ``.bin``/``.idx`` prefix per domain, and the blend."""

    output: Path
    """The prefix asked for; domain ``d`` is at ``{output}_{d}.bin/.idx``."""
    prefixes: dict[str, Path]
    tokens: dict[str, int]
    """Tokens per domain, the blend's weights."""

    @property
    def data_path(self) -> str:
        """The ``--data-path`` argument for Megatron-LM or NeMo, weighting each domain by its tokens."""
        return " ".join(f"{self.tokens[d]} {self.prefixes[d]}" for d in sorted(self.prefixes))

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "prefixes": {d: str(p) for d, p in self.prefixes.items()},
                "tokens": dict(self.tokens), "data_path": self.data_path}


def export_megatron(token_corpus: str | os.PathLike, output: str | os.PathLike) -> MegatronExport:
    """Write ``{output}_{domain}.bin/.idx`` for every domain of ``token_corpus``.

    ``output`` is a path prefix (``megatron/mix`` writes ``megatron/mix_code.bin``, ...). Each file
    is written under a temporary name and renamed, ``.bin`` before ``.idx``, so a prefix with an
    ``.idx`` is complete.
    """
    corpus = open_token_corpus(token_corpus)
    out_prefix = Path(output)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    prefixes = {}
    for domain in corpus.domains:
        shards = corpus.shards[domain]
        dtype = np.dtype(np.uint16) if shards[0].dtype == np.uint16 else np.dtype(np.int32)
        prefix = out_prefix.with_name(f"{out_prefix.name}_{domain}")
        bin_path, idx_path = prefix.with_suffix(prefix.suffix + ".bin"), prefix.with_suffix(prefix.suffix + ".idx")
        with _atomic(bin_path) as f:
            for shard in shards:
                tokens = shard.tokens
                if dtype == np.int32 and len(tokens) and int(tokens.max()) >= 1 << 31:
                    raise CorpusError(f"{shard.path}: token id {int(tokens.max())} does not fit Megatron's int32")
                f.write(memoryview(tokens.view(dtype) if dtype == np.int32 else tokens))
        lengths = corpus.doc_lengths(domain)
        if len(lengths) and int(lengths.max()) >= 1 << 31:
            raise CorpusError(f"{token_corpus}: a document of domain {domain!r} has {int(lengths.max())} tokens; "
                              "Megatron stores sequence lengths as int32")
        pointers = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1] * dtype.itemsize, out=pointers[1:])
        with _atomic(idx_path) as f:
            f.write(INDEX_HEADER)
            f.write(struct.pack("<Q", INDEX_VERSION))
            f.write(struct.pack("<B", DTYPE_CODES[dtype]))
            f.write(struct.pack("<Q", len(lengths)))
            f.write(struct.pack("<Q", len(lengths) + 1))
            f.write(lengths.astype("<i4").tobytes())
            f.write(pointers.astype("<i8").tobytes())
            f.write(np.arange(len(lengths) + 1, dtype="<i8").tobytes())
        prefixes[domain] = prefix
    return MegatronExport(out_prefix, prefixes, {d: corpus.num_tokens(d) for d in prefixes})


class _atomic:
    """Open ``path.tmp-<pid>`` for writing; fsync and rename over ``path`` on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")

    def __enter__(self):
        self.file = open(self.tmp, "wb")
        return self.file

    def __exit__(self, exc_type, *exc) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

"""The two on-disk corpus formats every stage shares.

- text corpus: one row per document (``id``, ``text``, ``domain``, ``source`` + signal columns);
- token corpus: one row per document, a ``tokens`` list column whose flat buffer is the stream;
  its offsets give every document's length (:func:`document_lengths`), which is what selects the
  ``long`` domain of a schedule (:mod:`~midtrain.corpus.lengths`).

Both are folders of Arrow IPC shards under ``data/<domain>/`` plus a ``manifest.json`` written
last. Importing this package is light (the ``midtrain`` command registers from it); each name
loads its module on first use, and loading needs only numpy, pyarrow and xxhash (polars only for
:mod:`~midtrain.corpus.stats`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.corpus.errors import CorpusError
from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.corpus.lengths import (DEFAULT_LONG_MIN_TOKENS, LONG_DOMAIN, DocumentSelection, document_lengths,
                                         select_documents, virtual_long)
    from midtrain.corpus.manifest import FORMAT_VERSION, Manifest, ShardInfo, file_checksum
    from midtrain.corpus.reader import TokenCorpus, open_token_corpus
    from midtrain.corpus.shards import TokenShard, read_text_shard, token_dtype, token_table
    from midtrain.corpus.validation import check_corpus, validate
    from midtrain.corpus.writer import CorpusWriter

_EXPORTS = {
    **dict.fromkeys(["DEFAULT_LONG_MIN_TOKENS", "LONG_DOMAIN", "DocumentSelection", "document_lengths",
                     "select_documents", "virtual_long"], "midtrain.corpus.lengths"),
    **dict.fromkeys(["FORMAT_VERSION", "Manifest", "ShardInfo", "file_checksum"], "midtrain.corpus.manifest"),
    **dict.fromkeys(["TokenCorpus", "open_token_corpus"], "midtrain.corpus.reader"),
    **dict.fromkeys(["TokenShard", "read_text_shard", "token_dtype", "token_table"], "midtrain.corpus.shards"),
    **dict.fromkeys(["check_corpus", "validate"], "midtrain.corpus.validation"),
    "CorpusWriter": "midtrain.corpus.writer",
}
__all__ = sorted(["CorpusError", *_EXPORTS])


__getattr__ = lazy_getattr(__name__, _EXPORTS)

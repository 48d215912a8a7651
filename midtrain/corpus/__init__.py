"""The two on-disk corpus formats every stage shares (DESIGN.md, "Corpora on disk").

- text corpus: one row per document (``id``, ``text``, ``domain``, ``source`` + signal columns);
- token corpus: one row per document, a ``tokens`` list column whose flat buffer is the stream;
  its offsets give every document's length (:func:`document_lengths`), which is what selects the
  ``long`` domain of a schedule (:mod:`~midtrain.corpus.lengths`).

Both are folders of Arrow IPC shards under ``data/<domain>/`` plus a ``manifest.json`` written
last. Import only what loading needs here: numpy, pyarrow, xxhash (polars is imported by stats).
"""

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.lengths import (DEFAULT_LONG_MIN_TOKENS, LONG_DOMAIN, DocumentSelection, document_lengths,
                                     select_documents, virtual_long)
from midtrain.corpus.manifest import FORMAT_VERSION, Manifest, ShardInfo, file_checksum
from midtrain.corpus.reader import TokenCorpus, open_token_corpus
from midtrain.corpus.shards import TokenShard, read_text_shard, token_dtype, token_table
from midtrain.corpus.validate import check_corpus, validate
from midtrain.corpus.writer import CorpusWriter

__all__ = [
    "DEFAULT_LONG_MIN_TOKENS", "FORMAT_VERSION", "LONG_DOMAIN", "CorpusError", "CorpusWriter", "DocumentSelection",
    "Manifest", "ShardInfo", "TokenCorpus", "TokenShard", "check_corpus", "document_lengths", "file_checksum",
    "open_token_corpus", "read_text_shard", "select_documents", "token_dtype", "token_table", "validate",
    "virtual_long",
]

"""``compute_signals``: every heuristic signal of a batch of documents, as one typed Arrow table, and
``FAMILIES``, the registry of rule families.

The batch is decoded once (textbatch.py), split into words once (words.py), and every rule family
derives its columns from those shared arrays in compiled kernels; nothing loops over documents in
Python. All families are computed for every document whatever its domain, so a corpus can be
re-decided under another domain policy (``apply_thresholds``) without recomputing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from midtrain.curation.rules import c4, fineweb, gopher_quality, gopher_repetition, source_code
from midtrain.curation.rules.chunks import (LONG_CHUNK_CHARS, check_chunk_chars, chunk_batch, long_documents,
                                           replace_with_chunk_medians)
from midtrain.curation.rules.family import RuleFamily
from midtrain.curation.rules.textbatch import TextBatch
from midtrain.curation.rules.words import split_words
from midtrain.curation.rules.wordstats import word_stats

# Every family, in the order of their columns (and of datatrove's pipeline for the prose ones).
FAMILIES: dict[str, RuleFamily] = {f.name: f for f in (gopher_repetition.FAMILY, gopher_quality.FAMILY, c4.FAMILY,
                                                         fineweb.FAMILY, source_code.FAMILY)}

# Columns every family may read: the document's length in characters and in words.
BASE_SCHEMA: dict[str, pa.DataType] = {"rules_chars": pa.int64(), "rules_words": pa.int64()}

SIGNAL_SCHEMA: dict[str, pa.DataType] = {
    **BASE_SCHEMA, **{name: t for family in FAMILIES.values() for name, t in family.schema.items()}}


def compute_signals(texts: pa.Array | pa.ChunkedArray | list[str],
                    domains: pa.Array | list[str | None] | None = None, *,
                    long_chunk_chars: int | None = LONG_CHUNK_CHARS) -> pa.Table:
    """One row per text, the columns of ``SIGNAL_SCHEMA`` in that order.

    ``domains`` is accepted for the pipeline's convenience and checked for length; the signals
    themselves do not depend on it (the domain only chooses the thresholds). A document of at least
    ``2 * long_chunk_chars`` characters takes its chunks' median for the signals of local text
    (chunks.py); ``None`` computes every signal on the whole document.
    """
    check_chunk_chars(long_chunk_chars)
    batch = TextBatch.from_texts(texts)
    if domains is not None and len(domains) != batch.num_docs:
        raise ValueError(f"compute_signals: {batch.num_docs} texts but {len(domains)} domains")
    docs = long_documents(batch, long_chunk_chars)
    whole_top = np.ones(batch.num_docs, np.bool_)
    whole_top[docs] = False  # a long document's top n-grams are its chunks'
    columns = _signal_columns(batch, top_ngrams=whole_top)
    if len(docs):
        chunks, owners = chunk_batch(batch, docs, long_chunk_chars)
        replace_with_chunk_medians(columns, docs, _signal_columns(chunks, dup_ngrams=False), owners)
    return pa.table({name: pa.array(columns[name], type=t) for name, t in SIGNAL_SCHEMA.items()})


def _signal_columns(batch: TextBatch, **repetition) -> dict[str, np.ndarray]:
    """Every signal of every document of ``batch``, computed on the whole text; ``repetition``: the savings of
    ``gopher_repetition.signals`` (its top n-grams where a mask says, its duplicated n-grams or not)."""
    words = split_words(batch)
    stats = word_stats(batch, words)
    columns: dict[str, np.ndarray] = {
        "rules_chars": np.diff(batch.offsets),
        "rules_words": np.diff(words.doc_offsets),
    }
    for family in FAMILIES.values():
        extra = repetition if family is gopher_repetition.FAMILY else {}
        columns.update(family.signals(batch, words, stats, **extra))
    return columns

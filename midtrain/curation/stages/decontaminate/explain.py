"""``--explain``: why a document was (or was not) cut, item by item.

:func:`explain_text` scores one text against the index exactly as the stage does
(:func:`.scoring.score_batch`) but keeps every item found, contaminating or not, and lists for each
the benchmark, item id, score, rule, the span (character offsets and text) and every matched
n-gram (its offsets, normalised words and IDF weight). :func:`explain_document` finds a document by
id in a local text corpus first; :func:`format_explanation` prints either.

    midtrain decontaminate CORPUS --against gsm8k humaneval --explain DOC_ID [DOC_ID ...]

prints the explanation of each document and writes nothing (``--output`` is not needed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import CorpusError
from midtrain.curation.stages.decontaminate.config import DecontConfig
from midtrain.curation.stages.decontaminate.eval_sets import EvalIndex, build_eval_index
from midtrain.curation.stages.decontaminate.matching import word_offsets
from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.decontaminate.scoring import ItemMatch, score_batch
from midtrain.curation.stages.shingles import document_ngrams


@dataclass(frozen=True)
class MatchedNgram:
    """One n-gram of an item found in the document."""

    start: int
    """Character offset of its first word in the original text (-1 when words cannot be mapped back)."""
    end: int
    words: str
    """The n-gram as normalised words (numbers are ``0``)."""
    weight: float
    """Its IDF weight (:mod:`.eval_sets`)."""


@dataclass(frozen=True)
class ItemExplanation:
    """Why one evaluation item does or does not contaminate a document."""

    benchmark: str
    item: str
    score: float
    share: float
    answer_near: bool
    rule: str
    contaminated: bool
    field: str
    span: tuple[int, int] | None
    span_text: str
    ngrams: list[MatchedNgram]


def explain_text(text: str, index: EvalIndex, config: DecontConfig) -> list[ItemExplanation]:
    """Every evaluation item found in ``text``, highest score first, with its evidence."""
    texts = pa.array([text], pa.large_string())
    normalised = normalize_texts(texts)
    matches = score_batch(texts, normalised, index, config, keep_below=True).get(0, [])
    words = normalised[0].as_py().split()
    offsets = word_offsets(text)
    return [_explain(m, text, words, offsets, index) for m in matches]


def _explain(m: ItemMatch, text: str, words: list[str], offsets: tuple[np.ndarray, np.ndarray] | None,
             index: EvalIndex) -> ItemExplanation:
    entries = index.entry_part == m.part
    weight_of = dict(zip(index.hashes[entries].tolist(), index.entry_weight[entries].tolist()))
    grams = []
    for w in m.first_words.tolist():
        gram = " ".join(words[w:w + m.length])
        raw = gram.encode()
        (h,) = document_ngrams(np.frombuffer(raw, np.uint8), 0, len(raw), m.length, False).tolist()
        start, end = (-1, -1) if offsets is None else (int(offsets[0][w]), int(offsets[1][w + m.length - 1]))
        grams.append(MatchedNgram(start, end, gram, round(weight_of.get(h, 0.0), 4)))
    span_text = text[m.span[0]:m.span[1]] if m.span else ""
    return ItemExplanation(benchmark=index.item_set[m.item], item=index.item_id[m.item], score=round(m.score, 4),
                           share=round(m.share, 4), answer_near=m.answer_near, rule=m.rule,
                           contaminated=m.contaminated, field=index.part_field[m.part], span=m.span,
                           span_text=span_text, ngrams=grams)


def find_document(corpus: str | os.PathLike, doc_id: str) -> str:
    """The text of document ``doc_id`` of the local text corpus ``corpus`` (kept shards, then rejected)."""
    from midtrain.corpus import Manifest, read_text_shard

    root = Path(corpus)
    manifest = Manifest.read(root)
    for shard in list(manifest.shards) + list(manifest.rejected):
        table = read_text_shard(root / shard.path, columns=["id", "text"])
        hit = pc.indices_nonzero(pc.equal(table.column("id"), pa.scalar(doc_id, table.schema.field("id").type)))
        if len(hit):
            return table.column("text")[hit[0].as_py()].as_py() or ""
    raise CorpusError(f"{root}: no document with id {doc_id!r} in its {len(manifest.shards)} shards "
                      f"or {len(manifest.rejected)} rejected shards")


def explain_document(corpus: str | os.PathLike, doc_id: str, config: DecontConfig, *,
                     index: EvalIndex | None = None) -> list[ItemExplanation]:
    """:func:`explain_text` of document ``doc_id`` of a local text corpus (``index``: built from ``config``)."""
    text = find_document(corpus, doc_id)
    return explain_text(text, index if index is not None else build_eval_index(config), config)


def format_explanation(doc_id: str, explanations: list[ItemExplanation], config: DecontConfig,
                       max_ngrams: int = 10) -> str:
    """A human-readable explanation: the verdict, then per item its score, rule, span and n-grams."""
    cut = [e for e in explanations if e.contaminated]
    why = " (items found below the threshold)" if explanations else " (no item n-gram found)"
    verdict = f"contaminated by {cut[0].benchmark}:{cut[0].item}" if cut else "not contaminated" + why
    lines = [f"{doc_id}: {verdict}; min_score {config.min_score}"]
    for e in explanations:
        span = f"chars {e.span[0]}-{e.span[1]}" if e.span else "span unknown"
        lines.append(f"  {e.benchmark}:{e.item} [{e.field}] score {e.score:.3f} (share {e.share:.3f}"
                     f"{', answer near +bonus' if e.answer_near else ''}) rule {e.rule}"
                     f" -> {'cut' if e.contaminated else 'kept'}; {span}, {len(e.ngrams)} n-gram(s)")
        if e.span_text:
            shown = e.span_text if len(e.span_text) <= 300 else e.span_text[:150] + " ... " + e.span_text[-150:]
            lines.append("    span: " + repr(shown))
        for g in e.ngrams[:max_ngrams]:
            lines.append(f"    {g.start}-{g.end} w={g.weight:.2f}: {g.words}")
        if len(e.ngrams) > max_ngrams:
            lines.append(f"    ... {len(e.ngrams) - max_ngrams} more")
    return "\n".join(lines)

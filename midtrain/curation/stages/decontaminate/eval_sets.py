"""Loading evaluation items and turning them into a sorted, IDF-weighted n-gram index.

Each item's text fields are normalised like the documents (:mod:`.normalize`: Unicode and case
folded, markup stripped, numbers masked), split into words and hashed into word n-grams by the
same numba kernel that scans the corpus (:mod:`midtrain.curation.stages.shingles`), so an item and
its copy in a document produce the same hashes whatever their case, spacing, markup or numbers.
Each text field of an item is one *part*; the index is three arrays sorted by hash, ``(hash, part,
weight)``, which the scan searches with binary search, and per part its item, its n-gram length and
the sum of its weights (what a full copy scores).

Weights are inverse document frequencies over the items: an n-gram found in ``df`` of the ``N``
indexed items weighs ``log(1 + N / df)``, so a phrase that many items share (a template sentence
of a benchmark) counts for little and one that only its item has counts most (:mod:`.scoring`
turns them into a score).

Masking numbers makes n-grams more alike, so an n-gram enters the index only if at least
``MIN_CONTENT_SHARE`` of its words are *content words*: three characters or more (never the number
placeholder ``0``, a variable ``x`` or a grade ``a``) and not one of the ``FUNCTION_WORDS``. A table
of numbers, a grade scale or a run like "how many of the 0 are in the 0" cannot then match on its
own. Two kinds of item are *whole* parts, found only when a document holds every one of their
n-grams: a *short* item (``short_min_words`` words or more but fewer than ``ngram``), indexed as one
n-gram of all its words; and a *formula* item, long enough but without one n-gram of enough content
words (``for positive a b what is the smallest value of a 0 b 0 a b 0``, a third of CHAMP), indexed
with all its n-grams when it has at least ``MIN_WHOLE_CONTENT_WORDS`` content words. An item left
with no n-gram (empty, shorter than ``short_min_words``, or numbers and function words only) cannot
be found: it is skipped, counted in ``unmatchable`` and named in a warning. A file that cannot be
read, a line that is not a JSON object, a text field that is not text: a :class:`CorpusError`
naming the file and the line or record.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.corpus import CorpusError
from midtrain.curation.stages.decontaminate.config import (ANSWER_FIELDS, ID_FIELDS, TEXT_FIELDS, DecontConfig,
                                                           EvalSet)
from midtrain.curation.stages.decontaminate.named_sets import NAMED_SETS, load_named_set
from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.shingles import document_ngrams

MIN_CONTENT_SHARE = 0.3
"""Least share of content words in an indexed n-gram: 4 of 13. Every GSM8K and HumanEval test item
keeps at least one n-gram (at 0.4, 21 number-heavy GSM8K questions kept none), and no clean
document of ``benchmarks/bench_decont_perturb.py`` matches."""
FUNCTION_WORDS = frozenset(
    "a an the of to in on at by for from with as and or but not no is are was were be been being am "
    "it its this that these those there he she they we you i me him her them us his hers their our your "
    "my do does did has have had will would can could shall should may might must if then than so "
    "how what which who whom when where why many much".split())
"""The commonest English function words (and the words of a question about a quantity)."""
MIN_WHOLE_CONTENT_WORDS = 2
"""A formula item needs this many content words in all to be indexed whole (a table of numbers has none)."""
ANSWER_MAX_WORDS = 40
"""An answer longer than this (a HumanEval solution) is looked for by its first 40 words."""


@dataclass
class EvalIndex:
    """The n-grams of every item part, sorted by hash, with their IDF weights."""

    hashes: np.ndarray
    """uint64, sorted: one entry per distinct n-gram of each part."""
    entry_part: np.ndarray
    """int64: the part of each entry."""
    entry_weight: np.ndarray
    """float64: ``log(1 + N / df)`` of each entry's n-gram."""
    part_item: np.ndarray
    """int64: the item of each part."""
    part_length: np.ndarray
    """int64: words per n-gram of each part (``ngram``, or all the words of a short item)."""
    part_whole: np.ndarray
    """bool: the part is found only whole (a short or formula item: every n-gram must be found)."""
    part_total: np.ndarray
    """float64: the sum of each part's weights (a whole copy of the part scores 1)."""
    part_field: list[str]
    item_set: list[str]
    item_id: list[str]
    item_answer: list[str]
    """Each item's answer in :func:`answer_words` form, words joined by spaces ('' for none)."""
    unmatchable: dict[str, int]
    """Per set, items that cannot be found: empty, too short, or only generic n-grams."""

    @property
    def lengths(self) -> np.ndarray:
        """The distinct n-gram lengths the scan must hash (int64, ascending)."""
        return np.unique(self.part_length).astype(np.int64) if len(self.part_length) else np.zeros(0, np.int64)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("hashes", "entry_part", "entry_weight", "part_item", "part_length", "part_whole", "part_total"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / "items.json").write_text(json.dumps({
            "part_field": self.part_field, "set": self.item_set, "id": self.item_id, "answer": self.item_answer,
            "unmatchable": self.unmatchable}))

    @classmethod
    def load(cls, folder: Path) -> "EvalIndex":
        meta = json.loads((folder / "items.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy") for name in
                  ("hashes", "entry_part", "entry_weight", "part_item", "part_length", "part_whole", "part_total")}
        return cls(**arrays, part_field=meta["part_field"], item_set=meta["set"], item_id=meta["id"],
                   item_answer=meta["answer"], unmatchable=meta["unmatchable"])


def answer_words(text: str) -> list[str]:
    """An answer (or the text around a match) as words with numbers kept: NFKC, case folded,
    thousands separators dropped (``1,000`` = ``1000``), numbers (``3.75``) and letter runs as words."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    return re.findall(r"\d+(?:\.\d+)?|[^\W\d_]+", text)


def final_answer(value: object) -> str:
    """The answer an item's answer field holds: GSM8K's ``... #### 18`` is ``18``."""
    text = "" if value is None else str(value)
    return text.rpartition("####")[2].strip() if "####" in text else text


def _read_jsonl(path: Path, body: str) -> list[dict]:
    records = []
    for line_no, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{line_no}: not JSON ({exc.msg} at column {exc.colno}); "
                              "an evaluation set holds one JSON object per line") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{line_no}: expected a JSON object per line, got {type(record).__name__}")
        records.append(record)
    return records


def load_records(eval_set: EvalSet) -> list[dict]:
    """The rows of an eval set as dicts; errors name the file (and line)."""
    src = eval_set.source
    if not isinstance(src, (str, Path)):
        return [dict(r) for r in src]  # a datasets.Dataset (or any iterable of mappings)
    path = Path(src)
    if isinstance(src, str) and src in NAMED_SETS and not path.exists():
        return load_named_set(src)
    if not path.exists():
        known = ", ".join(NAMED_SETS)
        raise CorpusError(f"{path}: evaluation set not found (neither a file nor a named set: {known})")
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise CorpusError(f"{path}: not a datasets folder saved with save_to_disk ({exc})") from None
        if isinstance(ds, datasets.DatasetDict):
            raise CorpusError(f"{path}: holds several splits {list(ds)}; point at one split's folder")
        return [dict(r) for r in ds]
    name = path.name
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                body = f.read()
            if name.endswith((".json", ".json.gz")) and body.lstrip().startswith("["):
                rows = json.loads(body)
                bad = next((k for k, r in enumerate(rows) if not isinstance(r, dict)), None)
                if bad is not None:
                    raise CorpusError(f"{path}: record {bad} is a {type(rows[bad]).__name__}, expected a JSON object")
                return rows
            return _read_jsonl(path, body)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError, pa.ArrowInvalid) as exc:
        raise CorpusError(f"{path}: cannot read evaluation set ({type(exc).__name__}: {exc})") from None
    raise CorpusError(f"{path}: unknown evaluation set format; use .jsonl[.gz], .json, .parquet or a datasets folder")


def _set_fields(eval_set: EvalSet, records: list[dict]) -> tuple[tuple[str, ...], str | None, str | None]:
    """The text fields, id field and answer field of a set, checked against its first record."""
    first = records[0]
    named = isinstance(eval_set.source, str) and eval_set.source in NAMED_SETS and not Path(eval_set.source).exists()
    fields = eval_set.fields or (("question",) if named else tuple(f for f in TEXT_FIELDS if f in first)[:1])
    if not fields or any(f not in first for f in fields):
        raise CorpusError(f"{eval_set.source}: no text field {list(eval_set.fields or TEXT_FIELDS)} in its records "
                          f"(fields: {sorted(first)}); name one with PATH:FIELD")
    id_field = eval_set.id_field or next((f for f in ID_FIELDS if f in first), None)
    if eval_set.id_field and eval_set.id_field not in first:
        raise CorpusError(f"{eval_set.source}: id field {eval_set.id_field!r} not in its records "
                          f"(fields: {sorted(first)})")
    if eval_set.answer_field == "":
        answer_field = None
    elif eval_set.answer_field:
        if eval_set.answer_field not in first:
            raise CorpusError(f"{eval_set.source}: answer field {eval_set.answer_field!r} not in its records "
                              f"(fields: {sorted(first)})")
        answer_field = eval_set.answer_field
    else:
        answer_field = next((f for f in ANSWER_FIELDS if f in first and f not in fields), None)
    return fields, id_field, answer_field


def _field_text(eval_set: EvalSet, row: int, record: dict, field_name: str) -> str:
    value = record.get(field_name)
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise CorpusError(f"{eval_set.source}: record {row}: field {field_name!r} is a {type(value).__name__}, "
                      "expected text")


def build_eval_index(config: DecontConfig) -> EvalIndex:
    """Hash every n-gram of every part of every item of every set in ``config.against``, weighted by IDF."""
    part_grams, part_item, part_length, part_whole, part_field = [], [], [], [], []
    item_set, item_id, item_answer, unmatchable = [], [], [], {}
    n, short_min = config.ngram, config.short_min_words
    for eval_set in config.against:
        records = load_records(eval_set)
        label = eval_set.label
        if not records:
            raise CorpusError(f"{eval_set.source}: evaluation set {label!r} is empty")
        fields, id_field, answer_field = _set_fields(eval_set, records)
        empty = short = generic = 0
        # one Arrow pass over every field of every record: row r's fields are r*F .. r*F+F-1
        normalised = normalize_texts(pa.array([_field_text(eval_set, row, record, f) for row, record in
                                               enumerate(records) for f in fields], pa.large_string())).to_pylist()
        for row, record in enumerate(records):
            item = len(item_set)
            item_set.append(label)
            item_id.append(str(record[id_field]) if id_field and record.get(id_field) is not None else str(row))
            answer = final_answer(record.get(answer_field)) if answer_field else ""
            item_answer.append(" ".join(answer_words(answer)[:ANSWER_MAX_WORDS]))
            texts = normalised[row * len(fields):(row + 1) * len(fields)]
            found = 0
            for field_name, text in zip(fields, texts):
                grams, length, whole = item_ngrams(text, n, short_min)
                if len(grams):
                    part_grams.append(np.unique(grams))
                    part_item.append(item)
                    part_length.append(length)
                    part_whole.append(whole)
                    part_field.append(field_name)
                    found += 1
            if not found:
                words = max(len(t.split()) for t in texts)
                empty += words == 0
                short += 0 < words < short_min
                generic += words >= short_min
        unmatchable[label] = empty + short + generic
        if unmatchable[label]:
            warnings.warn(f"{eval_set.source}: {unmatchable[label]} of {len(records)} items of {label!r} skipped, "
                          f"they cannot be found ({empty} empty, {short} with fewer than {short_min} words, "
                          f"{generic} with too few content words: numbers, variables, function words)", stacklevel=2)
    return _weighted_index(part_grams, part_item, part_length, part_whole, part_field, item_set, item_id,
                           item_answer, unmatchable)


def _weighted_index(part_grams: list[np.ndarray], part_item: list[int], part_length: list[int],
                    part_whole: list[bool], part_field: list[str], item_set: list[str], item_id: list[str],
                    item_answer: list[str], unmatchable: dict[str, int]) -> EvalIndex:
    sizes = [len(g) for g in part_grams]
    hashes = np.concatenate(part_grams) if part_grams else np.zeros(0, np.uint64)
    parts = np.repeat(np.arange(len(part_grams), dtype=np.int64), sizes)
    items = np.asarray(part_item, np.int64)[parts] if len(parts) else np.zeros(0, np.int64)
    # document frequency over items: an n-gram two fields of one item share counts once
    pairs = (np.unique(np.stack([hashes, items.astype(np.uint64)]), axis=1) if len(hashes)
             else np.zeros((2, 0), np.uint64))
    uniq, df = np.unique(pairs[0], return_counts=True)
    indexed_items = len(np.unique(items))
    weight = np.log1p(indexed_items / df)[np.searchsorted(uniq, hashes)] if len(hashes) else np.zeros(0)
    order = np.lexsort((parts, hashes))
    totals = np.bincount(parts, weights=weight, minlength=len(part_grams)) if len(parts) else np.zeros(0)
    return EvalIndex(hashes[order], parts[order], weight[order], np.asarray(part_item, np.int64),
                     np.asarray(part_length, np.int64), np.asarray(part_whole, bool), totals.astype(np.float64),
                     part_field, item_set, item_id,
                     item_answer, unmatchable)


def is_content_word(word: str) -> bool:
    """Three characters or more and not a function word; one- and two-letter words are variables,
    grades and hex digits (``x``, ``xs``, ``a+``) in code and math, and match everywhere."""
    return len(word) >= 3 and word not in FUNCTION_WORDS


def item_ngrams(text: str, n: int, short_min_words: int) -> tuple[np.ndarray, int, bool]:
    """The indexed n-gram hashes of one normalised item text, their length in words, and whether
    the item is found only whole.

    ``n``-grams with enough content words (:func:`content_ngrams`); else, for a formula item with at
    least ``MIN_WHOLE_CONTENT_WORDS`` content words, all its ``n``-grams, whole; a short text
    (``short_min_words`` to ``n - 1`` words) with enough content words gives the one hash of all its
    words, whole; otherwise none.
    """
    words = text.split()
    raw = " ".join(words).encode()
    if len(words) >= n:
        grams = content_ngrams(text, n)
        if len(grams) or sum(map(is_content_word, words)) < MIN_WHOLE_CONTENT_WORDS:
            return grams, n, False
        return document_ngrams(np.frombuffer(raw, np.uint8), 0, len(raw), n, False), n, True
    if len(words) < short_min_words or sum(map(is_content_word, words)) < math.ceil(MIN_CONTENT_SHARE * len(words)):
        return np.zeros(0, np.uint64), len(words), True
    return document_ngrams(np.frombuffer(raw, np.uint8), 0, len(raw), len(words), False), len(words), True


def content_ngrams(text: str, n: int) -> np.ndarray | None:
    """The hashes of the n-grams of a normalised text that hold enough content words, in text order.

    ``None`` when the text has fewer than ``n`` words (it cannot be matched at all).
    """
    words = text.split()
    if len(words) < n:
        return None
    raw = text.encode()
    grams = document_ngrams(np.frombuffer(raw, np.uint8), 0, len(raw), n, False)
    content = np.array([is_content_word(w) for w in words], np.int64)
    per_gram = np.convolve(content, np.ones(n, np.int64), "valid")
    return grams[per_gram >= math.ceil(MIN_CONTENT_SHARE * n)]

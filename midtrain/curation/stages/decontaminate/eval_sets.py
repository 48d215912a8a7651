"""Loading evaluation items and turning them into a sorted n-gram index.

Each item's text fields are normalised like the documents (:mod:`.normalize`: Unicode and case
folded, markup stripped, numbers masked), split into words and hashed into word n-grams by the
same numba kernel that scans the corpus (:mod:`midtrain.curation.stages.shingles`), so an item and
its copy in a document produce the same hashes whatever their case, spacing, markup or numbers.
The index is two arrays sorted by hash, ``(hash, item)``, which the scan searches with binary
search.

Masking numbers makes n-grams more alike, so an n-gram enters the index only if at least
``MIN_CONTENT_SHARE`` of its words are *content words*: three characters or more (never the number
placeholder ``0``, a variable ``x`` or a grade ``a``) and not one of the ``FUNCTION_WORDS``. A table
of numbers, a grade scale or a run like "how many of the 0 are in the 0" cannot then match on its
own. An item left with no n-gram (empty, fewer words than ``ngram``, or only
generic n-grams) cannot be found: it is skipped, counted in ``unmatchable`` and named in a warning.
"""

from __future__ import annotations

import gzip
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.corpus import CorpusError
from midtrain.curation.stages.decontaminate.config import ID_FIELDS, TEXT_FIELDS, DecontConfig, EvalSet
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


@dataclass
class EvalIndex:
    """The n-grams of every item: ``hashes`` sorted, ``items[k]`` the item of ``hashes[k]``."""

    hashes: np.ndarray
    items: np.ndarray
    item_set: list[str]
    item_id: list[str]
    unmatchable: dict[str, int]
    """Per set, items that cannot be found: empty, fewer words than ``ngram``, or only generic n-grams."""

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "hashes.npy", self.hashes)
        np.save(folder / "items.npy", self.items)
        (folder / "items.json").write_text(json.dumps({"set": self.item_set, "id": self.item_id,
                                                       "unmatchable": self.unmatchable}))

    @classmethod
    def load(cls, folder: Path) -> "EvalIndex":
        meta = json.loads((folder / "items.json").read_text())
        return cls(np.load(folder / "hashes.npy"), np.load(folder / "items.npy"), meta["set"], meta["id"],
                   meta["unmatchable"])


def load_records(eval_set: EvalSet) -> list[dict]:
    """The rows of an eval set as dicts; errors name the file."""
    src = eval_set.source
    if not isinstance(src, (str, Path)):
        return [dict(r) for r in src]  # a datasets.Dataset (or any iterable of mappings)
    path = Path(src)
    if not path.exists():
        raise CorpusError(f"{path}: evaluation set not found")
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
                return json.loads(body)
            return [json.loads(line) for line in body.splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, pa.ArrowInvalid) as exc:
        raise CorpusError(f"{path}: cannot read evaluation set ({exc})") from None
    raise CorpusError(f"{path}: unknown evaluation set format; use .jsonl[.gz], .json, .parquet or a datasets folder")


def build_eval_index(config: DecontConfig) -> EvalIndex:
    """Hash every n-gram of every item of every set in ``config.against``."""
    hashes, items, item_set, item_id, unmatchable = [], [], [], [], {}
    for eval_set in config.against:
        records = load_records(eval_set)
        label = eval_set.label
        if not records:
            raise CorpusError(f"{eval_set.source}: evaluation set {label!r} is empty")
        fields = eval_set.fields or tuple(f for f in TEXT_FIELDS if f in records[0])[:1]
        if not fields or any(f not in records[0] for f in fields):
            raise CorpusError(f"{eval_set.source}: no text field {list(eval_set.fields or TEXT_FIELDS)} in its records "
                              f"(fields: {sorted(records[0])}); name one with PATH:FIELD")
        id_field = eval_set.id_field or next((f for f in ID_FIELDS if f in records[0]), None)
        unmatchable[label] = 0
        empty = short = generic = 0
        for row, record in enumerate(records):
            item = len(item_set)
            item_set.append(label)
            item_id.append(str(record[id_field]) if id_field else str(row))
            texts = normalize_texts(pa.array([str(record.get(f) or "") for f in fields], pa.large_string()))
            found = 0
            for text in texts.to_pylist():
                grams = content_ngrams(text, config.ngram)
                if grams is not None and len(grams):
                    hashes.append(grams)
                    items.append(np.full(len(grams), item, np.int64))
                    found += 1
            if not found:
                words = max(len(t.split()) for t in texts.to_pylist())
                empty += words == 0
                short += 0 < words < config.ngram
                generic += words >= config.ngram
        unmatchable[label] = empty + short + generic
        if unmatchable[label]:
            warnings.warn(f"{eval_set.source}: {unmatchable[label]} of {len(records)} items of {label!r} skipped, "
                          f"they cannot be found ({empty} empty, {short} with fewer than {config.ngram} words, "
                          f"{generic} with no {config.ngram}-gram of enough content words)", stacklevel=2)
    all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    all_items = np.concatenate(items) if items else np.zeros(0, np.int64)
    order = np.lexsort((all_items, all_hashes))
    return EvalIndex(all_hashes[order], all_items[order], item_set, item_id, unmatchable)


def is_content_word(word: str) -> bool:
    """Three characters or more and not a function word; one- and two-letter words are variables,
    grades and hex digits (``x``, ``xs``, ``a+``) in code and math, and match everywhere."""
    return len(word) >= 3 and word not in FUNCTION_WORDS


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

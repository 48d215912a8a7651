"""Loading evaluation items and turning them into a sorted n-gram index.

Each item's text fields are split into words and hashed into word n-grams by the same numba
kernel that scans the corpus (:mod:`midtrain.curation.stages.shingles`, digits kept as they are),
so an item and its copy in a document produce the same hashes whatever their case or spacing.
The index is two arrays sorted by hash, ``(hash, item)``, which the scan searches with binary
search.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.corpus import CorpusError
from midtrain.curation.stages.decontaminate.config import ID_FIELDS, TEXT_FIELDS, DecontConfig, EvalSet
from midtrain.curation.stages.shingles import arrow_buffers, document_ngrams


@dataclass
class EvalIndex:
    """The n-grams of every item: ``hashes`` sorted, ``items[k]`` the item of ``hashes[k]``."""

    hashes: np.ndarray
    items: np.ndarray
    item_set: list[str]
    item_id: list[str]
    unmatchable: dict[str, int]
    """Per set, items with fewer words than ``ngram`` in every field (they cannot be found)."""

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
        for row, record in enumerate(records):
            item = len(item_set)
            item_set.append(label)
            item_id.append(str(record[id_field]) if id_field else str(row))
            texts = pa.array([str(record.get(f) or "") for f in fields], pa.large_string())
            data, offsets = arrow_buffers(texts)
            found = 0
            for k in range(len(fields)):
                grams = document_ngrams(data, offsets[k], offsets[k + 1], config.ngram, False)
                if len(grams) and _word_count(data, offsets[k], offsets[k + 1]) >= config.ngram:
                    hashes.append(grams)
                    items.append(np.full(len(grams), item, np.int64))
                    found += 1
            unmatchable[label] += found == 0
    all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    all_items = np.concatenate(items) if items else np.zeros(0, np.int64)
    order = np.lexsort((all_items, all_hashes))
    return EvalIndex(all_hashes[order], all_items[order], item_set, item_id, unmatchable)


def _word_count(data: np.ndarray, start: int, end: int) -> int:
    # document_ngrams gives one shingle for a short text; count words to tell "short" apart
    return len(document_ngrams(data, start, end, 1, False))

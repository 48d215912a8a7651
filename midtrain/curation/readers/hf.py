"""Hugging Face ``datasets``: a dataset saved with ``save_to_disk``, or a ``load_dataset`` spec.

``load_dataset`` specs that work offline are the packaged builders over local files
(``json``, ``parquet``, ``csv``, ``text``, ``arrow`` with ``data_files``) and local dataset
folders. A task reads one row range of one split through the memory-mapped Arrow table
(``with_format("arrow")``), so no row is converted to a Python dict.
"""

from __future__ import annotations

from collections.abc import Iterator

from datatrove.data import Document

from midtrain.curation.inputs import InputSpec, InputUnit
from midtrain.curation.readers.documents import documents_from_columns
from midtrain.curation.readers.log import ReadLog
from midtrain.errors import ConfigError

BATCH_ROWS = 1024


def open_hf_splits(spec: InputSpec, where: str = "input") -> list[tuple[str, object]]:
    """``[(split, Dataset)]`` of a saved dataset or a ``load_dataset`` spec, in split order."""
    import datasets

    try:
        if spec.format == "hf_disk":
            ds = datasets.load_from_disk(spec.path)
        else:
            ds = datasets.load_dataset(spec.path, name=spec.hf_name, data_files=spec.data_files, split=spec.split)
    except Exception as exc:  # datasets raises many types (FileNotFoundError, DatasetNotFoundError, ...)
        raise ConfigError(f"{where}: cannot open Hugging Face dataset {spec.path!r} "
                          f"({type(exc).__name__}: {exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        splits = [spec.split] if spec.split else sorted(ds)
        missing = [s for s in splits if s not in ds]
        if missing:
            raise ConfigError(f"{where}.split: dataset {spec.path!r} has no split {missing[0]!r} (has {sorted(ds)})")
        return [(s, ds[s]) for s in splits]
    return [(spec.split or "train", ds)]


def read_hf(spec: InputSpec, unit: InputUnit, log: ReadLog) -> Iterator[Document]:
    """The documents of rows ``[unit.start, unit.stop)`` of one split."""
    ds = dict(open_hf_splits(spec))[unit.split].with_format("arrow")
    columns = [c for c in (spec.text_field, spec.id_field, spec.domain_field) if c and c in ds.column_names]
    ds = ds.select_columns(columns)
    for start in range(unit.start, unit.stop, BATCH_ROWS):
        table = ds[start:min(start + BATCH_ROWS, unit.stop)]
        texts = table.column(spec.text_field).to_pylist()
        ids = table.column(spec.id_field).to_pylist() if spec.id_field in columns else None
        hints = table.column(spec.domain_field).to_pylist() if spec.domain_field in columns else None
        yield from documents_from_columns(spec, unit, log, texts, ids, hints, start)

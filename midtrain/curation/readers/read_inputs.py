"""The reader step: task ``rank`` turns its input unit into documents with the reader for its format.

A unit is a JSONL, Parquet or Arrow file, a corpus shard, a dataset row range or a chunk of plain
files (:func:`midtrain.curation.inputs.plan_units`). datatrove's own readers shard one folder by
``files[rank::world_size]`` and drop bad records with a warning; here a job mixes many inputs (each
with a domain hint) and every record is accounted for (:mod:`midtrain.curation.readers.log`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from midtrain.curation.inputs import InputSpec, InputUnit
from midtrain.curation.readers.columnar import read_columnar
from midtrain.curation.readers.files import read_files
from midtrain.curation.readers.hf import read_hf
from midtrain.curation.readers.jsonl import read_jsonl
from midtrain.curation.readers.log import ReadLog

Reader = Callable[[InputSpec, InputUnit, ReadLog], Iterator[Document]]
READERS: dict[str, Reader] = {
    "jsonl": read_jsonl,
    "parquet": read_columnar,
    "arrow": read_columnar,
    "corpus": read_columnar,
    "hf": read_hf,
    "hf_disk": read_hf,
    "files": read_files,
}
"""Input format -> the function that reads one unit of it."""


class ReadInputs(PipelineStep):
    """Task ``rank`` reads ``units[rank]``; its read counts and invalid records go to ``job_dir``."""

    name = "midtrain inputs"
    type = "📖 - READER"
    signal_schema: dict[str, pa.DataType] = {"path": pa.string(), "programming_language": pa.string()}
    """Columns some readers add: plain files keep their path and programming language."""

    def __init__(self, specs: list[InputSpec], units: list[InputUnit], job_dir: str) -> None:
        super().__init__()
        self.specs = specs
        self.units = units
        self.job_dir = job_dir

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Yield ``data`` (if any), then every document of unit ``rank``; write the task's read log."""
        if data:
            yield from data
        if world_size != len(self.units):
            raise ValueError(f"the job has {len(self.units)} input units but runs {world_size} tasks; "
                             "they must be equal (one task per unit)")
        unit = self.units[rank]
        log = ReadLog()
        for doc in READERS[unit.format](self.specs[unit.input_index], unit, log):
            self.stat_update("documents")
            yield doc
        log.write(self.job_dir, rank)

"""``DecontConfig`` and ``EvalSet``: which evaluation items to look for, and what to do on a hit.

GPT-3 and NeMo's legacy decontamination use 13-grams, datatrove 12-grams; midtrain
defaults to 13 word-grams over text normalised by :mod:`.normalize` (Unicode and case folded,
markup and punctuation stripped, numbers masked), so an eval item pasted with other spacing, line
breaks, capitals, Markdown/LaTeX or numbers is still found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from midtrain.curation.stages.stage import StageConfig
from midtrain.errors import ConfigError

if TYPE_CHECKING:
    from midtrain.curation.config import ExecutorConfig
    from midtrain.curation.stages.decontaminate.report import DecontReport

TEXT_FIELDS = ("text", "question", "prompt", "problem", "content")
"""Tried in order when an eval set does not name its text field(s)."""
ID_FIELDS = ("task_id", "id", "idx", "uid")
"""Tried in order for an item's id; otherwise the item is named by its row number."""


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """One evaluation set: a JSONL(.gz) or Parquet file, a ``datasets`` folder, or a ``Dataset``.

    In a config file an eval set is a mapping of these fields or its :meth:`parse` string.
    """

    source: Any
    """Path to ``.jsonl``/``.jsonl.gz``/``.json``/``.parquet``, a ``save_to_disk`` folder, or a
    ``datasets.Dataset``."""
    name: str | None = None
    """Set name used in reasons (``contaminated=<name>:<item>``); defaults to the file stem."""
    fields: tuple[str, ...] = ()
    """Text fields whose n-grams are searched (each field separately); default: the first of
    ``TEXT_FIELDS`` present."""
    id_field: str | None = None
    """Item id field; default: the first of ``ID_FIELDS`` present, else the row number."""

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if isinstance(self.source, (str, os.PathLike)):
            stem = Path(self.source).name
            for suffix in (".gz", ".jsonl", ".json", ".parquet"):
                stem = stem.removesuffix(suffix)
            return stem
        return "eval"

    @classmethod
    def parse(cls, spec: str) -> "EvalSet":
        """``[NAME=]PATH[:FIELD[+FIELD...]]``, e.g. ``gsm8k=test.jsonl:question+answer``."""
        name = None
        head, sep, rest = spec.partition("=")
        if sep and "/" not in head and head:
            name, spec = head, rest
        fields_: tuple[str, ...] = ()
        if ":" in spec and not Path(spec).exists():
            path, _, tail = spec.rpartition(":")
            if tail and "/" not in tail:
                spec, fields_ = path, tuple(f for f in tail.split("+") if f)
        return cls(source=spec, name=name, fields=fields_)


@dataclass(frozen=True, kw_only=True)
class DecontConfig(StageConfig):
    """Decontamination settings (the ``decontaminate:`` section of a curate config)."""

    stage_name = "decontaminate"

    against: tuple[EvalSet, ...] = field(default_factory=tuple)
    """The evaluation sets to search for."""
    ngram: int = 13
    """Words per n-gram (13 as GPT-3); an item with fewer words cannot be matched and is reported."""
    mode: Literal["drop", "cut"] = "drop"
    """``drop`` removes a matching document; ``cut`` removes only the overlapping span(s) and keeps
    the rest (a document left without words is dropped)."""
    batch_rows: int = 4096
    """Documents per record batch when streaming a shard."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "against", tuple(e if isinstance(e, EvalSet) else EvalSet(source=e)
                                                  for e in self.against))
        if not self.against:
            raise ConfigError("against: give at least one evaluation set (a JSONL/Parquet file or dataset)")
        if not isinstance(self.ngram, int) or isinstance(self.ngram, bool) or self.ngram < 1:
            raise ConfigError(f"ngram: must be a positive integer, got {self.ngram!r}")
        if self.mode not in ("drop", "cut"):
            raise ConfigError(f"mode: must be 'drop' or 'cut', got {self.mode!r}")
        if not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise ConfigError(f"batch_rows: must be a positive integer, got {self.batch_rows!r}")
        labels = [e.label for e in self.against]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ConfigError(f"against: two evaluation sets are both named {dupes[0]!r}; name them (NAME=PATH)")

    def to_dict(self) -> dict[str, Any]:
        """The settings as recorded in the output manifest (an in-memory dataset is named ``dataset``)."""
        return {"ngram": self.ngram, "mode": self.mode,
                "against": [{"name": e.label,
                             "source": str(e.source) if isinstance(e.source, (str, Path)) else "dataset",
                             "fields": list(e.fields)} for e in self.against]}

    def run(self, corpus: str | os.PathLike, output: str | os.PathLike, executor: ExecutorConfig, *,
            logging_dir: str | None = None, progress: bool = False) -> DecontReport:
        """Decontaminate ``corpus`` into ``output`` with these settings (see :func:`decontaminate_corpus`)."""
        from midtrain.curation.stages.decontaminate.job import run_decontaminate

        return run_decontaminate(corpus, output, self, executor, logging_dir=logging_dir, progress=progress)

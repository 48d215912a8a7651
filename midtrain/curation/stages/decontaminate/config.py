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
ANSWER_FIELDS = ("answer", "canonical_solution", "solution", "target")
"""Tried in order for an item's answer (looked for near a match, :mod:`.scoring`); none: no answer."""


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """One evaluation set: a named set, a JSONL(.gz)/JSON/Parquet file, a ``datasets`` folder or ``Dataset``.

    In a config file an eval set is a mapping of these fields or its :meth:`parse` string.
    """

    source: Any
    """A named set (``gsm8k``, ``humaneval``, ``aime2025``, ``gpqa_diamond``, ``champ``: see
    :mod:`.named_sets`), a path to ``.jsonl``/``.jsonl.gz``/``.json``/``.parquet``, a
    ``save_to_disk`` folder, or a ``datasets.Dataset``."""
    name: str | None = None
    """Set name used in reasons (``contaminated=<name>:<item>``); defaults to the file stem."""
    fields: tuple[str, ...] = ()
    """Text fields whose n-grams are searched (each field separately); default: the first of
    ``TEXT_FIELDS`` present."""
    id_field: str | None = None
    """Item id field; default: the first of ``ID_FIELDS`` present, else the row number."""
    answer_field: str | None = None
    """Item answer field, looked for near a match (an answer nearby raises the score); default: the
    first of ``ANSWER_FIELDS`` present; ``""``: none. A ``#### x`` answer (GSM8K) counts as ``x``."""

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
        """``[NAME=]SOURCE[:FIELD[+FIELD...]]`` or ``[NAME=]SOURCE:question=F[+F],answer=F,id=F``.

        ``SOURCE`` is a named set or a path: ``gsm8k``, ``gsm8k=test.jsonl:question+answer``,
        ``mine=items.jsonl:question=q,answer=a,id=uid``.
        """
        name = None
        head, sep, rest = spec.partition("=")
        if sep and head and not set("/:.") & set(head):
            name, spec = head, rest
        fields_: tuple[str, ...] = ()
        keys: dict[str, str] = {}
        if ":" in spec and not Path(spec).exists():
            path, _, tail = spec.rpartition(":")
            if tail and "/" not in tail:
                spec = path
                if "=" in tail:
                    for pair in tail.split(","):
                        key, eq, value = pair.partition("=")
                        key = "question" if key == "text" else key
                        if not eq or key not in ("question", "answer", "id") or not value:
                            raise ConfigError(f"against: {pair!r} in {tail!r}: expected question=FIELD[+FIELD], "
                                              "answer=FIELD or id=FIELD")
                        keys[key] = value
                    fields_ = tuple(f for f in keys.get("question", "").split("+") if f)
                else:
                    fields_ = tuple(f for f in tail.split("+") if f)
        return cls(source=spec, name=name, fields=fields_, id_field=keys.get("id"), answer_field=keys.get("answer"))


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
    min_score: float = 0.5
    """A document is contaminated by an item when the item's score reaches this: the IDF-weighted
    share of the item's n-grams found in it, plus ``ANSWER_BONUS`` when the answer is near
    (:mod:`.scoring`). 0.5 lies between GPT-3's any-13-gram rule and PaLM's 70% of 8-grams."""
    short_min_words: int = 8
    """Items with fewer than ``ngram`` words but at least this many are matched only whole (every
    word, in order, after normalisation); shorter ones cannot be matched and are reported."""
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
        if isinstance(self.min_score, bool) or not isinstance(self.min_score, (int, float)) \
                or not 0 < self.min_score <= 1:
            raise ConfigError(f"min_score: must be a number in (0, 1], got {self.min_score!r}")
        if not isinstance(self.short_min_words, int) or isinstance(self.short_min_words, bool) \
                or not 1 <= self.short_min_words <= self.ngram:
            raise ConfigError(f"short_min_words: must be an integer from 1 to ngram ({self.ngram}), "
                              f"got {self.short_min_words!r}")
        if not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise ConfigError(f"batch_rows: must be a positive integer, got {self.batch_rows!r}")
        labels = [e.label for e in self.against]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ConfigError(f"against: two evaluation sets are both named {dupes[0]!r}; name them (NAME=PATH)")

    def to_dict(self) -> dict[str, Any]:
        """The settings as recorded in the output manifest (an in-memory dataset is named ``dataset``)."""
        return {"ngram": self.ngram, "mode": self.mode, "min_score": self.min_score,
                "short_min_words": self.short_min_words,
                "against": [{"name": e.label,
                             "source": str(e.source) if isinstance(e.source, (str, Path)) else "dataset",
                             "fields": list(e.fields), "id_field": e.id_field, "answer_field": e.answer_field}
                            for e in self.against]}

    def run(self, corpus: str | os.PathLike, output: str | os.PathLike, executor: ExecutorConfig, *,
            logging_dir: str | None = None, progress: bool = False) -> DecontReport:
        """Decontaminate ``corpus`` into ``output`` with these settings (see :func:`decontaminate_corpus`)."""
        from midtrain.curation.stages.decontaminate.job import run_decontaminate

        return run_decontaminate(corpus, output, self, executor, logging_dir=logging_dir, progress=progress)

"""No label model trains on an evaluation set that decontamination knows by name.

Issue 14 forbids it: a model trained on GSM8K or CHAMP text would learn those items, and a corpus it labels
would then be judged by text that decontamination is meant to keep out of training. ``fetch`` refuses the
packages that ship the named sets (``fetch.decontamination_packages``); this module checks the text itself, so
a source that copied items from one (a puzzle generator built on benchmark templates, a quoted problem) is
caught too. It runs midtrain's own decontamination scoring (``score_batch``, the defaults of ``DecontConfig``)
over the training texts against every set of ``NAMED_SETS``, and the training scripts stop before they train
when any text is contaminated.

Measured at stop 46 (``python -m scripts.labeldata.decont_guard``): with the ``champ`` source still in the
registry, 257 of its 265 documents were contaminated and no document of any other source; after its removal,
none of the 24,492 registry documents and none of the code-language model's 11,087 other files.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from midtrain.curation.stages.decontaminate.config import DecontConfig, EvalSet
from midtrain.curation.stages.decontaminate.eval_sets import EvalIndex, build_eval_index
from midtrain.curation.stages.decontaminate.named_sets import NAMED_SETS
from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.decontaminate.scoring import score_batch

BATCH = 2000


@dataclass(frozen=True)
class Contaminated:
    """One training text that holds an evaluation item."""

    source: str
    id: str
    item: str
    """``set:item id`` of the best-scoring item, e.g. ``champ:P_Combinatorics_1``."""


@functools.lru_cache(maxsize=4)
def _index(sets: tuple[str, ...]) -> tuple[DecontConfig, EvalIndex]:
    """The settings and the index of ``sets``, built once per process (a training script checks several tables)."""
    config = DecontConfig(against=tuple(EvalSet(source=name) for name in sets))
    with warnings.catch_warnings():  # the sets' unmatchable short items are counted at index time; not ours
        warnings.simplefilter("ignore", UserWarning)
        return config, build_eval_index(config)


def contaminated(texts: Sequence[str] | pa.Array, sources: Sequence[str], ids: Sequence[str],
                 sets: Sequence[str] = tuple(NAMED_SETS)) -> list[Contaminated]:
    """The texts that decontamination against ``sets`` would remove, in input order."""
    if not len(texts) == len(sources) == len(ids):
        raise ValueError(f"texts, sources and ids differ in length: {len(texts)}, {len(sources)}, {len(ids)}")
    config, index = _index(tuple(sets))
    array = texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.large_string())
    out = []
    for start in range(0, len(array), BATCH):
        chunk = array.slice(start, BATCH)
        for d, matches in sorted(score_batch(chunk, normalize_texts(chunk), index, config).items()):
            hits = [m for m in matches if m.contaminated]
            if hits:
                k = start + d
                out.append(Contaminated(str(sources[k]), str(ids[k]),
                                        f"{index.item_set[hits[0].item]}:{index.item_id[hits[0].item]}"))
    return out


def _columns(table: pa.Table) -> tuple[pa.Array, list[str], list[str]]:
    """(texts, sources, ids) of a table with those columns (a corpus table of the registry)."""
    return table.column("text").combine_chunks(), table.column("source").to_pylist(), table.column("id").to_pylist()


def check(texts: Sequence[str] | pa.Array, sources: Sequence[str], ids: Sequence[str], what: str) -> None:
    """Raise ``ValueError`` naming the contaminated texts (by source and id) and their items, if any."""
    found = contaminated(texts, sources, ids) if len(texts) else []
    if found:
        shown = "; ".join(f"{c.source}/{c.id} holds {c.item}" for c in found[:10])
        raise ValueError(f"{what}: {len(found)} training text(s) hold items of an evaluation set used by "
                         f"decontamination, which no label model may train on (issue 14): {shown}"
                         + (" ..." if len(found) > 10 else ""))


def check_table(table: pa.Table, what: str) -> None:
    """``check`` over a table with columns text, source and id."""
    check(*_columns(table), what)


def main() -> int:
    ap = argparse.ArgumentParser(description="Score every registry source (and the code-language model's other "
                                             "packages) against the evaluation sets decontamination knows.")
    ap.parse_args()
    from . import registry
    from .code_sources import CODE_LANGUAGE_SOURCES
    names = {s.name for s in registry.all_sources()}
    sources = registry.all_sources() + [s for s in CODE_LANGUAGE_SOURCES if s.name not in names]
    table = registry.corpus_table(sources)
    found = contaminated(*_columns(table))
    print(f"{table.num_rows:,} documents of {len(sources)} sources against {', '.join(NAMED_SETS)}: "
          f"{len(found)} contaminated")
    for c in found:
        print(f"  {c.source}/{c.id}: {c.item}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

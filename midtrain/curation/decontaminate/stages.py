"""The decontamination stage: a datatrove step that rewrites the shards of its task.

Each shard is streamed record batch by record batch through :func:`find_hits`; contaminated
documents go to ``rejected/`` with ``contaminated=<set>:<item>`` (the item with the most
matching n-grams), or in ``cut`` mode lose the overlapping spans and stay. Every match is listed
in the shard's part file, which the job merges into the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.curation.decontaminate.config import DecontConfig
from midtrain.curation.decontaminate.eval_sets import EvalIndex
from midtrain.curation.decontaminate.matching import cut_spans, find_hits
from midtrain.curation.dedup.rewrite import (InputShard, StreamingShardWriter, iter_batches, rejected_path,
                                             rejected_schema, with_reject_columns, write_part)
from midtrain.curation.dedup.shingles import arrow_buffers
from midtrain.curation.dedup.stages import DedupStep

STEP = "decontaminate"


@dataclass(frozen=True)
class DecontPlan:
    corpus: str
    work: str
    output: str
    config: DecontConfig
    shards: tuple[InputShard, ...]
    taken_rejected: frozenset[str] = frozenset()

    def path(self, *parts: str) -> Path:
        return Path(self.work).joinpath(*parts)


class Decontaminate(DedupStep):
    """Rewrite each shard of this task without (or with cut) contaminated documents."""

    name = "n-gram decontamination"
    type = "🧪 - DECONT"

    def work(self, rank: int, world_size: int) -> None:
        index = EvalIndex.load(self.plan.path("eval_index"))
        for shard in self.plan.shards[rank::world_size]:
            self._shard(shard, index)

    def _shard(self, shard: InputShard, index: EvalIndex) -> None:
        plan, cfg = self.plan, self.plan.config
        out = Path(plan.output)
        kept_writer = rejected_writer = None
        matches, reasons, cut = [], Counter(), 0
        for batch in iter_batches(Path(plan.corpus), shard, cfg.batch_rows):
            if kept_writer is None:
                kept_writer = StreamingShardWriter(out, shard.path, shard.domain, batch.schema)
                rejected_writer = StreamingShardWriter(out, rejected_path(shard, STEP, set(plan.taken_rejected)),
                                                       shard.domain, rejected_schema(batch.schema))
            docs, words, items = find_hits(*arrow_buffers(batch.column("text")), cfg.ngram, index.hashes, index.items)
            drop = np.zeros(batch.num_rows, bool)
            reason = np.full(batch.num_rows, None, object)
            new_text = {}
            ids = batch.column("id")
            for d in np.unique(docs).tolist():
                in_doc = docs == d
                per_item = Counter(items[in_doc].tolist())
                top = min(per_item, key=lambda i: (-per_item[i], i))
                label = f"{index.item_set[top]}:{index.item_id[top]}"
                record = {"doc": ids[d].as_py(), "shard": shard.path,
                          "items": [{"set": index.item_set[i], "item": index.item_id[i], "ngrams": c}
                                    for i, c in sorted(per_item.items(), key=lambda kv: (-kv[1], kv[0]))]}
                if cfg.mode == "cut":
                    text, spans = cut_spans(batch.column("text")[d].as_py(), words[in_doc], cfg.ngram)
                    record["cut_bytes"] = [list(s) for s in spans]
                    if text.strip(" \t\r\n.,;:!?-") == "" or not any(ch.isalnum() for ch in text):
                        drop[d], reason[d] = True, f"contaminated={label}"
                        record["action"] = "dropped (nothing left after cutting)"
                    else:
                        new_text[d] = text
                        record["action"] = "cut"
                        cut += 1
                else:
                    drop[d], reason[d] = True, f"contaminated={label}"
                    record["action"] = "dropped"
                if drop[d]:
                    reasons[index.item_set[top]] += 1
                matches.append(record)
            if new_text:
                texts = batch.column("text").to_pylist()
                for d, t in new_text.items():
                    texts[d] = t
                col = batch.schema.get_field_index("text")
                batch = batch.set_column(col, batch.schema.field(col), pa.array(texts, batch.schema.field(col).type))
            kept_writer.write(batch.filter(pa.array(~drop)))
            if drop.any():
                sel = np.nonzero(drop)[0]
                rejected_writer.write(with_reject_columns(batch.filter(pa.array(drop)),
                                                          pa.array([STEP] * len(sel), pa.string()),
                                                          pa.array(reason[sel].tolist(), pa.string())))
        kept = kept_writer.close() if kept_writer else None
        rejected = rejected_writer.close() if rejected_writer else None
        dropped = sum(reasons.values())
        write_part(plan.path("parts", f"{shard.index:05d}.json"), [kept] if kept else [], [rejected] if rejected else [],
                   input=shard.rows, kept=shard.rows - dropped, cut=cut, matches=matches,
                   rejected={STEP: {f"contaminated={s}": c for s, c in sorted(reasons.items())}} if reasons else {})

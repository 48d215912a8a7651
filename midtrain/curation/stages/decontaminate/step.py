"""The decontamination step: a datatrove step that rewrites the shards of its task.

Each shard is streamed record batch by record batch, normalised (:func:`normalize_texts`) and
scored by :func:`.scoring.score_batch`; contaminated documents go to ``rejected/`` with
``contaminated=<set>:<item>`` (the item with the highest score), or in ``cut`` mode lose the
matched spans of their contaminating items and stay. Every contaminated document is listed in the
shard's part file (items, score, rule, span), which the job merges into the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.curation.stages.decontaminate.config import DecontConfig
from midtrain.curation.stages.decontaminate.eval_sets import EvalIndex
from midtrain.curation.stages.decontaminate.matching import cut_spans
from midtrain.curation.stages.decontaminate.normalize import normalize_texts
from midtrain.curation.stages.decontaminate.scoring import ItemMatch, score_batch
from midtrain.curation.stages.rewrite import InputShard, ShardRewrite, iter_batches, write_part
from midtrain.curation.stages.step import StageJob, StageStep

STEP = "decontaminate"


@dataclass(frozen=True, kw_only=True)
class DecontJob(StageJob):
    """A decontamination run: the stage job plus its settings (the eval index is in the work folder)."""

    config: DecontConfig


class Decontaminate(StageStep):
    """Rewrite each shard of this task without (or with cut) contaminated documents."""

    name = "n-gram decontamination"
    type = "🧪 - DECONT"
    job: DecontJob

    def work(self, rank: int, world_size: int) -> None:
        index = EvalIndex.load(self.job.path("eval_index"))
        for shard in self.job.shards[rank::world_size]:
            self._shard(shard, index)

    def _shard(self, shard: InputShard, index: EvalIndex) -> None:
        job, cfg = self.job, self.job.config
        rewrite = ShardRewrite(Path(job.output), shard, STEP, job.taken_rejected)
        matches, reasons, cut = [], Counter(), 0
        for batch in iter_batches(Path(job.corpus), shard, cfg.batch_rows):
            texts = batch.column("text")
            if isinstance(texts, pa.ChunkedArray):
                texts = texts.combine_chunks()
            found = score_batch(texts, normalize_texts(texts), index, cfg)
            drop = np.zeros(batch.num_rows, bool)
            reason = np.full(batch.num_rows, None, object)
            new_text = {}
            ids = batch.column("id")
            for d, item_matches in sorted(found.items()):
                hits = [m for m in item_matches if m.contaminated]
                top = hits[0].item
                label = f"{index.item_set[top]}:{index.item_id[top]}"
                record = {"doc": ids[d].as_py(), "shard": shard.path, "items": [match_entry(m, index) for m in hits]}
                if cfg.mode == "cut":
                    text, spans = cut_spans(texts[d].as_py(), np.concatenate([m.first_words for m in hits]),
                                            np.concatenate([np.full(len(m.first_words), m.length) for m in hits]))
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
                rows = texts.to_pylist()
                for d, t in new_text.items():
                    rows[d] = t
                col = batch.schema.get_field_index("text")
                batch = batch.set_column(col, batch.schema.field(col), pa.array(rows, batch.schema.field(col).type))
            sel = np.nonzero(drop)[0]
            rewrite.write(batch, drop, pa.array([STEP] * len(sel), pa.string()),
                          pa.array(reason[sel].tolist(), pa.string()))
        kept, rejected = rewrite.close()
        dropped = sum(reasons.values())
        write_part(job.shard_file("parts", shard, ".json"), kept, rejected, input=shard.rows, kept=shard.rows - dropped,
                   cut=cut, matches=matches,
                   rejected={STEP: {f"contaminated={s}": c for s, c in sorted(reasons.items())}} if reasons else {})


def match_entry(match: ItemMatch, index: EvalIndex) -> dict:
    """A contaminating item as the report lists it: set, item id, score, rule, span, n-grams found."""
    return {"set": index.item_set[match.item], "item": index.item_id[match.item], "score": round(match.score, 4),
            "rule": match.rule, "span": list(match.span) if match.span else None, "ngrams": len(match.first_words)}

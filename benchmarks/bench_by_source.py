"""What ``midtrain train-classifier --by-source`` reports on the project's own domain training sources, beside the
random held-out split that ``train-classifier`` prints without it.

    python -m scripts.labeldata.registry            # fetch and cache the sources once (see docs/label-sources.md)
    python benchmarks/bench_by_source.py [--folds 10] [--workers 2]

The examples are the domain model's own (``training_sets.domain_examples``: windows of the training sources, each
domain and source weighted as the shipped model is trained), and the settings are its recipe
(``DOMAIN_TRAIN_CONFIG``). Both scores are of the fastText model alone, which is what ``train-classifier`` trains:
the shipped labeller also mixes in its word model and rules, so its own figure (``bench_labels.py --parts loso``)
is higher than the by-source one here. The point is the gap between the two scores of one recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from midtrain.curation.labels.source_folds import format_by_source, score_by_source  # noqa: E402
from midtrain.curation.labels.training import train_classifier  # noqa: E402
from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.training_sets import DOMAIN_TRAIN_CONFIG, domain_examples  # noqa: E402

TOPICAL = ("web", "code", "math", "reasoning")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10, help="source folds (0: one model per source, ~80 models)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write both scores here")
    args = parser.parse_args()
    train = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name not in registry.HELDOUT]
    labels, texts, sources = domain_examples(registry.corpus_table(train))
    print(f"{len(texts)} examples of {len(set(sources))} training sources; recipe {DOMAIN_TRAIN_CONFIG}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        split = train_classifier(labels, texts, Path(tmp) / "m.bin", replace(DOMAIN_TRAIN_CONFIG, holdout=0.2))
    split_seconds = time.perf_counter() - start
    start = time.perf_counter()
    by_source = score_by_source(labels, texts, sources, DOMAIN_TRAIN_CONFIG, folds=args.folds, workers=args.workers)
    by_seconds = time.perf_counter() - start
    print(format_by_source(by_source))
    ci = by_source["macro_f1_interval"]
    print(f"\nrandom 20% split: macro-F1 {split.scores['macro_f1']:.4f} ({split.scores['documents']} examples, "
          f"{split_seconds:.0f} s)")
    print(f"by source ({len(by_source['folds'])} folds): macro-F1 {by_source['pooled']['macro_f1']:.4f} "
          f"[{ci['low']:.3f}, {ci['high']:.3f}], {len(by_source['sources_under'])} sources under 0.70 "
          f"({by_seconds:.0f} s, {args.workers} at a time)")
    if args.json:
        args.json.write_text(json.dumps({"split": split.scores, "by_source": by_source}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

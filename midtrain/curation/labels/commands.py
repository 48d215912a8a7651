"""CLI of the labels stage: ``midtrain train-classifier``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-classifier", help="train a fastText classifier from labelled examples",
                       description="Train a fastText classifier (domain, quality, or your own labels) from a "
                                   "JSONL file of {\"label\", \"text\"} records or a folder with one sub-folder "
                                   "per label. Prints per-label precision, recall and F1 on a held-out split "
                                   "and a confusion matrix; writes them as JSON next to the model. With "
                                   "--by-source, also scores every source with a model trained without it "
                                   "(records name theirs in \"source\"; in a folder, LABEL/SOURCE/...): what "
                                   "to expect on text from sources the model never saw.")
    p.add_argument("data", help="JSONL file or folder of per-label folders")
    p.add_argument("--output", required=True, help="model file to write (e.g. domain.ftz)")
    p.add_argument("--quantize", action="store_true", help="write a quantized (small) model")
    p.add_argument("--dsub", type=int, default=None,
                   help="quantizing: sub-vector size of the codes (default dim/2, as midtrain's own models: about "
                        "1.6x faster to predict than fastText's 2)")
    p.add_argument("--cutoff", type=int, default=0,
                   help="quantizing: keep only this many words and n-grams (default 0: all; a cutoff makes "
                        "the model smaller and prediction slower)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--holdout", type=float, default=0.2, help="fraction held out for the scores (default 0.2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1,
                   help="train this many models (seeds --seed, --seed + 1, ...) and fold them into one whose logits "
                        "are their mean: labels that do not rest on one training draw, no slower to predict "
                        "(default 1; not with --quantize)")
    p.add_argument("--by-source", action="store_true",
                   help="also score leave-one-source-out: every example labelled by a model trained with the "
                        "same settings on the other sources (one model per source, or per --source-folds fold)")
    p.add_argument("--source-folds", type=int,
                   help="with --by-source: deal the sources into this many folds, stratified by label, instead "
                        "of training one model per source (default 0: one per source)")
    p.add_argument("--min-recall", type=float,
                   help="with --by-source: list the sources whose examples get their own label less often "
                        "(default 0.7)")
    p.add_argument("--workers", type=int,
                   help="with --by-source: fold models trained at once (default 1; the scores do not depend on it)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from midtrain.corpus.manifest import atomic_write_bytes
    from midtrain.curation.labels.evaluation import format_report
    from midtrain.curation.labels.source_folds import DEFAULT_MIN_RECALL, format_by_source, score_by_source
    from midtrain.curation.labels.training import TrainConfig, read_sourced_examples, train_classifier
    from midtrain.errors import ConfigError

    if not 0.0 <= args.holdout < 1.0:
        raise ConfigError(f"--holdout must be in [0, 1), got {args.holdout}")
    if args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
    if not args.quantize and (args.dsub is not None or args.cutoff):
        raise ConfigError("--dsub and --cutoff shape a quantized model: add --quantize")
    dsub = args.dsub if args.dsub is not None else max(1, args.dim // 2)
    if dsub < 1 or args.dim % dsub:
        raise ConfigError(f"--dsub must divide --dim ({args.dim}), got {dsub}")
    if args.cutoff < 0:
        raise ConfigError(f"--cutoff must be 0 (keep all) or more, got {args.cutoff}")
    fold_settings = (args.source_folds, args.min_recall, args.workers)
    if not args.by_source and any(v is not None for v in fold_settings):
        raise ConfigError("--source-folds, --workers and --min-recall shape the leave-one-source-out score: "
                          "add --by-source")
    labels, texts, sources = read_sourced_examples(args.data)
    config = TrainConfig(epochs=args.epochs, lr=args.lr, dim=args.dim, word_ngrams=args.word_ngrams,
                         holdout=args.holdout, seed=args.seed, seeds=args.seeds, quantize=args.quantize, dsub=dsub,
                         cutoff=args.cutoff)
    by_source = None
    if args.by_source:  # first: a record without a source is refused before any training
        by_source = score_by_source(labels, texts, sources, config, folds=args.source_folds or 0,
                                    min_recall=DEFAULT_MIN_RECALL if args.min_recall is None else args.min_recall,
                                    workers=args.workers or 1)
    result = train_classifier(labels, texts, args.output, config)
    report = result.to_json()
    if by_source is not None:
        report["by_source"] = by_source
    report_path = Path(args.output).with_suffix(".json")
    atomic_write_bytes(report_path, (json.dumps(report, indent=2) + "\n").encode())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"trained {args.output} on {sum(result.train_counts.values())} examples {result.train_counts}")
        if result.scores:
            print(format_report(result.scores, f"held-out scores ({sum(result.holdout_counts.values())} examples)"))
        if args.by_source:
            print(format_by_source(report["by_source"]))
        print(f"report: {report_path}")
    return 0

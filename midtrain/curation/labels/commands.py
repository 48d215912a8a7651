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
                                   "and a confusion matrix; writes them as JSON next to the model.")
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
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from midtrain.curation.labels.evaluation import format_report
    from midtrain.curation.labels.training import TrainConfig, read_examples, train_classifier
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
    labels, texts = read_examples(args.data)
    config = TrainConfig(epochs=args.epochs, lr=args.lr, dim=args.dim, word_ngrams=args.word_ngrams,
                         holdout=args.holdout, seed=args.seed, seeds=args.seeds, quantize=args.quantize, dsub=dsub,
                         cutoff=args.cutoff)
    result = train_classifier(labels, texts, args.output, config)
    report = result.to_json()
    report_path = Path(args.output).with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"trained {args.output} on {sum(result.train_counts.values())} examples {result.train_counts}")
        if result.scores:
            print(format_report(result.scores, f"held-out scores ({sum(result.holdout_counts.values())} examples)"))
        print(f"report: {report_path}")
    return 0

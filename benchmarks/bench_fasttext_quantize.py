"""How the shipped fastText models are quantized: prediction time against fidelity (issue 14).

    python benchmarks/bench_fasttext_quantize.py [--lines 3000] [--repeats 7]
    python benchmarks/bench_fasttext_quantize.py --models new=midtrain/curation/labels/models/domain.bin old=OLD.bin

Trains one unquantized domain model on the training sources' examples (the shipped recipe, three
epochs to keep the run short), quantizes copies of it several ways (product-quantization sub-vector
size ``dsub``, vocabulary ``cutoff``, with fastText's retraining of the output layer), and times
``multilinePredict`` on the same classifier lines, the models taking turns so machine load hits
each alike. Fidelity: the share of lines whose top label equals the unquantized model's.
Why: fastText's default ``dsub=2`` splits every vector into dim/2 sub-vectors, each decoded through
its own code book per token, and a ``cutoff`` adds a hash-map lookup per token; the shipped models
spend most of the labelling time there.
``--models NAME=PATH ...`` times given model files on the same lines instead, taking turns (a
shipped model against an earlier one: ``git show REV:midtrain/curation/labels/models/domain.bin``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import fasttext
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.training_sets import DOMAIN_TRAIN_CONFIG, domain_examples  # noqa: E402
from midtrain.curation.labels.domain import classifier_lines  # noqa: E402
from midtrain.curation.labels.text_windows import text_windows  # noqa: E402

RECIPES = (  # (dsub, cutoff): the first is what the models shipped with before
    (2, 100_000), (2, 0), (4, 0), (8, 0), (16, 0), (8, 100_000),
)


def time_models(models: dict[str, tuple[object, int]], test: list[str], repeats: int, base: str, ref: str) -> None:
    """Time ``multilinePredict`` of every model on ``test``, the models taking turns ``repeats`` times, and
    print the medians: speed against model ``base``, top-label agreement with model ``ref``."""
    times: dict[str, list[float]] = {name: [] for name in models}
    labels: dict[str, list] = {}
    for _ in range(repeats):
        for name, (model, _) in models.items():
            t0 = time.perf_counter()
            labels[name] = model.f.multilinePredict(test, 1, 0.0, "replace")[0]
            times[name].append(time.perf_counter() - t0)
    base_time = statistics.median(times[base])
    print(f"{len(test)} classifier lines, median of {repeats} turns")
    print(f"{'model':<26} {'MB':>6} {'µs/line':>8} {'vs ' + base:>14} {'top-1 = ' + ref:>20}")
    for name, (_, size) in models.items():
        med = statistics.median(times[name])
        agree = float(np.mean([a == b for a, b in zip(labels[name], labels[ref])]))
        print(f"{name:<26} {size / 1e6:>6.2f} {med / len(test) * 1e6:>8.1f} {base_time / med:>13.2f}x {agree:>20.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", metavar="NAME=PATH", help="time these model files instead "
                        "(e.g. the shipped domain.bin and one from `git show REV:...`); the first is the reference")
    args = parser.parse_args()
    if args.lines < 1 or args.repeats < 1:
        parser.error("--lines and --repeats must be at least 1")
    given = {}
    for item in args.models or ():
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"--models {item!r}: expected NAME=PATH of an existing fastText model file")
        given[name] = path
    sources = [s for s in registry.all_sources() if s.name not in registry.HELDOUT and s.domain != "bad"]
    labels, texts, _ = domain_examples(registry.corpus_table(sources))
    lines = classifier_lines(text_windows(pa.array(texts, pa.large_string()), 512, 512), True)
    rng = np.random.default_rng(0)
    if given:
        test = [lines[i] + "\n" for i in rng.permutation(len(lines))[:args.lines]]
        models = {name: (fasttext.load_model(path), os.path.getsize(path)) for name, path in given.items()}
        first = next(iter(models))
        time_models(models, test, args.repeats, base=first, ref=first)
        return
    cfg = DOMAIN_TRAIN_CONFIG
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "train.txt"
        with open(train, "w", encoding="utf-8") as f:
            for i in rng.permutation(len(lines)):
                f.write(f"__label__{labels[i]} {lines[i]}\n")
        plain = fasttext.train_supervised(input=str(train), epoch=3, lr=cfg.lr, dim=cfg.dim,
                                          wordNgrams=cfg.word_ngrams, minCount=cfg.min_count, bucket=cfg.bucket,
                                          thread=1, seed=0, verbose=0)
        plain.save_model(f"{tmp}/plain.bin")
        models = {"unquantized": (plain, os.path.getsize(f"{tmp}/plain.bin"))}
        for dsub, cutoff in RECIPES:
            m = fasttext.load_model(f"{tmp}/plain.bin")
            m.quantize(input=str(train), qnorm=True, retrain=True, cutoff=cutoff, dsub=dsub, thread=1, epoch=1,
                       lr=cfg.lr, verbose=0)
            path = f"{tmp}/q{dsub}_{cutoff}.ftz"
            m.save_model(path)
            models[f"dsub={dsub} cutoff={cutoff:,}"] = (fasttext.load_model(path), os.path.getsize(path))
        test = [lines[i] + "\n" for i in rng.permutation(len(lines))[:args.lines]]
        time_models(models, test, args.repeats, base=f"dsub={RECIPES[0][0]} cutoff={RECIPES[0][1]:,}",
                    ref="unquantized")

if __name__ == "__main__":
    main()

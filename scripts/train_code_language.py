"""The fastText code-language candidate: ``python scripts/train_code_language.py --out MODEL.ftz``.

midtrain ships Magika for code languages (``midtrain.curation.labels.code_language``): on packages
neither model trained on, Magika was far more accurate (``benchmarks/bench_code_language.py``).
This script stays as the reproducible recipe of the fastText model it was compared with; the
benchmark trains it from here. Nothing it writes is shipped.

Examples (all real, fetched from Debian / npm / PyPI by ``labeldata`` and cached):

- code: every file of every ``labeldata.code_sources`` source except the held-out packages
  (``HELDOUT_GROUPS``, fixed before training; the benchmark scores only those), labelled with its
  language; besides the file itself (which prediction sees as its head + middle window), up to
  ``EXTRA_CHUNKS`` further pieces of the file, cut at line ends, each one more example;
- ``unknown``: English prose, paragraphs of the CPython 3.11 documentation's reST sources (Debian
  ``python3.11-doc``) with directives, indented blocks (code samples) and markup lines dropped,
  joined into pieces of about 2 KB; so prose is ``unknown`` rather than a guessed language.

Training goes through ``midtrain.curation.labels.training.train_classifier`` (fresh process, one
thread, fixed seed, quantized), so the file is a function of the sources and ``CODE_LANGUAGE_CONFIG``.
``--validation`` trains without ``VALIDATION_SOURCES`` as well and scores those (what the settings
were tuned on); ``--out`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import fetch  # noqa: E402
from scripts.labeldata.code_sources import HELDOUT_GROUPS, SOURCES, VALIDATION_SOURCES  # noqa: E402
from scripts.labeldata.source import every_kth, read_text  # noqa: E402
from midtrain.curation.labels.evaluation import classification_report  # noqa: E402
from midtrain.curation.labels.models import FastTextClassifier  # noqa: E402
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402
from midtrain.curation.labels.training import TrainConfig, train_classifier  # noqa: E402

HEAD_BYTES = 1024
MIDDLE_BYTES = 1024
UNKNOWN = "unknown"
CODE_LANGUAGE_CONFIG = TrainConfig(epochs=10, lr=0.5, dim=32, word_ngrams=2, min_count=2, bucket=200_000,
                                   holdout=0.0, seed=0, quantize=True, cutoff=100_000,
                                   head=HEAD_BYTES, middle=MIDDLE_BYTES)
EXTRA_CHUNKS = 2
PROSE_PIECES = 1500


def extra_chunks(text: str, k: int = EXTRA_CHUNKS, size: int = HEAD_BYTES + MIDDLE_BYTES) -> list[str]:
    """Up to ``k`` pieces of about ``size`` characters, cut at line ends, after the file's first piece."""
    if k <= 0 or len(text) <= 2 * size:
        return []
    pieces, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line)
        if n >= size:
            pieces.append("".join(cur))
            cur, n = [], 0
    return every_kth(pieces[1:], k)


_MARKUP = re.compile(r"^(\.\.|:|=+$|-+$|\*+$|~+$|\^+$|>>>|\||\+[-=])")


def prose_pieces(limit: int = PROSE_PIECES, size: int = 2000) -> list[str]:
    """English prose paragraphs from the CPython docs' reST sources (no code samples, no directives)."""
    root = fetch.debian("python3.11-doc") / "usr/share/doc/python3.11/html/_sources"
    pieces: list[str] = []
    for path in sorted(root.rglob("*.txt")):
        cur: list[str] = []
        for para in re.split(r"\n\s*\n", read_text(path)):
            lines = para.splitlines()
            if not lines or lines[0][:1].isspace() or any(_MARKUP.match(ln) for ln in lines) or len(para) < 80:
                continue
            cur.append(para)
            if sum(map(len, cur)) >= size:
                pieces.append("\n\n".join(cur))
                cur = []
    return every_kth(pieces, limit)


def examples(exclude_sources: tuple[str, ...] = (), extra: int = EXTRA_CHUNKS, prose: bool = True
             ) -> tuple[list[str], list[str]]:
    """``(labels, texts)`` from every non-held-out source not named in ``exclude_sources``."""
    labels, texts = [], []
    for src in SOURCES:
        if src.name in exclude_sources:
            continue
        for doc in src.docs():
            if doc.group in HELDOUT_GROUPS:
                continue
            for text in [doc.text, *extra_chunks(doc.text, extra)]:
                labels.append(doc.code_language)
                texts.append(text)
    if prose:
        for text in prose_pieces():
            labels.append(UNKNOWN)
            texts.append(text)
    return labels, texts


def train(output: Path, exclude_sources: tuple[str, ...] = (), config: TrainConfig = CODE_LANGUAGE_CONFIG,
          extra: int = EXTRA_CHUNKS, prose: bool = True) -> dict:
    labels, texts = examples(exclude_sources, extra, prose)
    result = train_classifier(labels, texts, output, config)
    return {"model": str(output), "bytes": output.stat().st_size, "train_counts": result.train_counts}


def predict(model: Path, texts: list[str], config: TrainConfig = CODE_LANGUAGE_CONFIG) -> list[str]:
    """The fastText candidate's language for each text (same windows as training)."""
    lines = fasttext_lines(text_windows(pa.array(texts, pa.large_string()), config.head, config.middle))
    return FastTextClassifier(model).predict(lines).labels.tolist()


def validate(model: Path) -> dict:
    """Accuracy on ``VALIDATION_SOURCES`` of a model trained without them."""
    docs = [d for s in SOURCES if s.name in VALIDATION_SOURCES for d in s.docs()]
    rep = classification_report([d.code_language for d in docs], predict(model, [d.text for d in docs]))
    return {"accuracy": rep.get("accuracy"), "macro_f1": rep.get("macro_f1"), "report": rep}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--validation", action="store_true", help="train without VALIDATION_SOURCES and score them")
    ap.add_argument("--config", default="{}", help="JSON overrides of CODE_LANGUAGE_CONFIG (tuning)")
    ap.add_argument("--extra", type=int, default=EXTRA_CHUNKS)
    ap.add_argument("--no-prose", action="store_true")
    args = ap.parse_args()
    config = replace(CODE_LANGUAGE_CONFIG, **json.loads(args.config))
    exclude = VALIDATION_SOURCES if args.validation else ()
    info = train(args.out, exclude, config, args.extra, not args.no_prose)
    print(json.dumps({k: v for k, v in info.items()}, indent=1))
    if args.validation:
        val = validate(args.out)
        print(json.dumps({"validation_accuracy": val["accuracy"], "macro_f1": val["macro_f1"]}))
        print(json.dumps(val["report"], indent=1, default=str)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())

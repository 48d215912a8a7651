"""Code-language detection on packages no candidate trained on: Magika against a fastText model.

    python benchmarks/bench_code_language.py [--repeats 3] [--json out.json]

Held-out packages, one per language, fixed in ``labeldata.code_sources.HELDOUT_GROUPS`` before any
model was trained or any setting tuned, and never tuned on (settings were tuned on
``VALIDATION_SOURCES``, other packages of the training side):

    c           pypi:psycopg2                  c++         pypi:sentencepiece
    java        npm:@capacitor/android         javascript  npm:eslint
    typescript  npm:zod                        python      pypi:django
    go          debian:golang-github-prometheus-client-golang-dev
    rust        debian:librust-tokio-dev       ruby        debian:ruby-rack
    php         debian:php-monolog             shell       debian:dracut-core
    sql         debian:gnumed-server           ocaml       debian:libbase-ocaml-dev
    perl        debian:libmojolicious-perl     lua         debian:awesome
    r           debian:r-cran-ggplot2

Candidates, on the same held-out files (whole files, as shipped; no file names):

- ``magika``: ``midtrain.curation.labels.code_language.detect_code_language`` (Magika 1.0
  ``standard_v3_3``, pretrained by Google; its training data is not ours, so these packages may
  well be in it: held-out here means held out from *our* training, which Magika has none of);
- ``fasttext``: ``scripts/train_code_language.py``'s model, trained here on every other package
  of ``labeldata.code_sources`` (plus prose as ``unknown``) through midtrain's ``train_classifier``
  (punctuation split into tokens, word bigrams, head + middle window), quantized.

``unknown`` or any other label counts as wrong. docs/s: one batch call over all held-out files,
the best of ``--repeats``, after a warm-up call (model loaded), on this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from labeldata.code_sources import HELDOUT_GROUPS, SOURCES  # noqa: E402
from midtrain.curation.labels.code_language import detect_code_language  # noqa: E402

HELDOUT = {
    "c": "pypi:psycopg2", "c++": "pypi:sentencepiece", "java": "npm:@capacitor/android", "javascript": "npm:eslint",
    "typescript": "npm:zod", "python": "pypi:django", "go": "debian:golang-github-prometheus-client-golang-dev",
    "rust": "debian:librust-tokio-dev", "ruby": "debian:ruby-rack", "php": "debian:php-monolog",
    "shell": "debian:dracut-core", "sql": "debian:gnumed-server", "ocaml": "debian:libbase-ocaml-dev",
    "perl": "debian:libmojolicious-perl", "lua": "debian:awesome", "r": "debian:r-cran-ggplot2",
}
assert set(HELDOUT.values()) == set(HELDOUT_GROUPS), "keep this list equal to code_sources.HELDOUT_GROUPS"


def heldout_docs() -> tuple[list[str], list[str]]:
    truth, texts = [], []
    for src in SOURCES:
        for doc in src.docs():
            if doc.group in HELDOUT_GROUPS:
                truth.append(doc.code_language)
                texts.append(doc.text)
    return truth, texts


def timed(fn, texts: list[str], repeats: int) -> tuple[list[str], float]:
    fn(texts[:8])  # warm-up: load the model
    best, pred = float("inf"), []
    for _ in range(repeats):
        t = time.perf_counter()
        pred = fn(texts)
        best = min(best, time.perf_counter() - t)
    return pred, len(texts) / best


def scores(truth: list[str], pred: list[str]) -> dict:
    per = {}
    for lang in sorted(set(truth)):
        idx = [i for i, t in enumerate(truth) if t == lang]
        wrong = Counter(pred[i] for i in idx if pred[i] != lang)
        per[lang] = {"n": len(idx), "accuracy": sum(pred[i] == lang for i in idx) / len(idx),
                     "confused_with": dict(wrong.most_common(3))}
    overall = sum(p == t for p, t in zip(pred, truth)) / len(truth)
    macro = sum(v["accuracy"] for v in per.values()) / len(per)
    return {"per_language": per, "accuracy": overall, "macro_accuracy": macro}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-fasttext", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    truth, texts = heldout_docs()
    print(f"held-out: {len(texts)} files, {len(set(truth))} languages, "
          f"{sum(len(t.encode()) for t in texts) / 1e6:.1f} MB", flush=True)
    results: dict[str, dict] = {}

    pred, rate = timed(lambda ts: detect_code_language(ts)["code_language"].to_pylist(), texts, args.repeats)
    results["magika"] = {**scores(truth, pred), "docs_per_s": rate}

    if not args.skip_fasttext:
        import train_code_language as ft
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "code_language_fasttext.ftz"
            t = time.perf_counter()
            info = ft.train(model)
            train_s = time.perf_counter() - t
            pred, rate = timed(lambda ts: ft.predict(model, ts), texts, args.repeats)
            results["fasttext"] = {**scores(truth, pred), "docs_per_s": rate, "model_bytes": info["bytes"],
                                   "train_s": train_s}

    names = list(results)
    print(f"\n{'language':<12} {'n':>5} " + " ".join(f"{n:>10}" for n in names) + "   (accuracy on held-out packages)")
    for lang in sorted(set(truth)):
        row = results[names[0]]["per_language"][lang]
        cells = " ".join(f"{results[n]['per_language'][lang]['accuracy']:>10.3f}" for n in names)
        conf = "; ".join(f"{n}: {results[n]['per_language'][lang]['confused_with']}" for n in names
                         if results[n]["per_language"][lang]["confused_with"])
        print(f"{lang:<12} {row['n']:>5} {cells}   {conf}")
    for key, fmt in (("accuracy", "{:>10.4f}"), ("macro_accuracy", "{:>10.4f}"), ("docs_per_s", "{:>10.0f}")):
        print(f"{key:<18} " + " ".join(fmt.format(results[n][key]) for n in names))
    if "fasttext" in results:
        print(f"fasttext model: {results['fasttext']['model_bytes']} bytes, trained in "
              f"{results['fasttext']['train_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

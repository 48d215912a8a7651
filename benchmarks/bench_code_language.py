"""Code-language detection on packages no candidate trained on: Magika (per document and batched),
a fastText model, and fastText with Magika where fastText is unsure.

    python benchmarks/bench_code_language.py [--repeats 3] [--skip-fasttext] [--json out.json]

Held-out packages, one per language, fixed in ``scripts.labeldata.code_sources.HELDOUT_GROUPS`` before
any model was trained or any setting tuned, and never tuned on (settings, the hybrid's threshold
included, were tuned on ``VALIDATION_SOURCES``, other packages of the training side):

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

- ``magika-per-doc``: Magika's public ``identify_bytes``, one document at a time, onnxruntime's
  default threads (``detect_code_language_per_document``; the reference, and the old path);
- ``magika``: ``midtrain.curation.labels.code_language.detect_code_language``: the same model
  (Magika 1.0 ``standard_v3_3``, pretrained by Google; its training data is not ours, so these
  packages may well be in it: held-out here means held out from *our* training), inputs cut by a
  numba kernel, batched model calls, one thread. Its labels must equal the reference's: the
  benchmark prints every document where they differ;
- ``magika-all-cores``: the same with ``threads=0`` (onnxruntime takes every core: a lone process);
- ``fasttext``: ``scripts/train_code_language.py``'s model, trained here on every other package
  of ``code_sources`` (plus prose as ``unknown``) through midtrain's ``train_classifier``, quantized;
- ``hybrid``: ``fasttext`` first, ``magika`` for the documents whose fastText probability is below
  a threshold (or whose fastText label is ``unknown``). The threshold is the smallest of
  ``HYBRID_THRESHOLDS`` whose accuracy on ``VALIDATION_SOURCES`` (fastText trained without them) is
  within ``--hybrid-tolerance`` of Magika's there; the held-out files play no part in choosing it.

``unknown`` or any other label counts as wrong. Speed: one batch call over all held-out files, the
best of ``--repeats``, after a warm-up call (model
loaded): docs/s of wall time, and CPU ms per document (all threads of this process; steadier than
wall time on a shared machine). ``--skip-fasttext`` skips training the two fastText models (about
2 and 4 minutes on 2 cores) and the two candidates that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import train_code_language as ft  # noqa: E402
from scripts.labeldata.code_sources import HELDOUT_GROUPS, SOURCES, VALIDATION_SOURCES  # noqa: E402
from midtrain.curation.labels.code_language import (detect_code_language,  # noqa: E402
                                                    detect_code_language_per_document)
from midtrain.curation.labels.models import FastTextClassifier  # noqa: E402
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402

HELDOUT = {
    "c": "pypi:psycopg2", "c++": "pypi:sentencepiece", "java": "npm:@capacitor/android", "javascript": "npm:eslint",
    "typescript": "npm:zod", "python": "pypi:django", "go": "debian:golang-github-prometheus-client-golang-dev",
    "rust": "debian:librust-tokio-dev", "ruby": "debian:ruby-rack", "php": "debian:php-monolog",
    "shell": "debian:dracut-core", "sql": "debian:gnumed-server", "ocaml": "debian:libbase-ocaml-dev",
    "perl": "debian:libmojolicious-perl", "lua": "debian:awesome", "r": "debian:r-cran-ggplot2",
}
assert set(HELDOUT.values()) == set(HELDOUT_GROUPS), "keep this list equal to code_sources.HELDOUT_GROUPS"
HYBRID_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def heldout_docs() -> tuple[list[str], list[str]]:
    """``(languages, texts)`` of every file of the held-out packages."""
    truth, texts = [], []
    for src in SOURCES:
        for doc in src.docs():
            if doc.group in HELDOUT_GROUPS:
                truth.append(doc.code_language)
                texts.append(doc.text)
    return truth, texts


def validation_docs() -> tuple[list[str], list[str]]:
    """``(languages, texts)`` of the validation sources (training side; where the hybrid is tuned)."""
    docs = [d for s in SOURCES if s.name in VALIDATION_SOURCES for d in s.docs() if d.group not in HELDOUT_GROUPS]
    return [d.code_language for d in docs], [d.text for d in docs]


def fasttext_scored(model: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The fastText candidate's ``(labels, probabilities)``, on the windows it was trained on."""
    cfg = ft.CODE_LANGUAGE_CONFIG
    lines = fasttext_lines(text_windows(pa.array(texts, pa.large_string()), cfg.head, cfg.middle))
    pred = FastTextClassifier(model).predict(lines)
    return pred.labels, pred.scores


def magika_labels(texts: list[str]) -> list[str]:
    return detect_code_language(texts)["code_language"].to_pylist()


def hybrid(model: Path, threshold: float, texts: list[str]) -> tuple[list[str], float]:
    """fastText's label, or Magika's where fastText's probability is below ``threshold``; and Magika's share."""
    labels, probs = fasttext_scored(model, texts)
    unsure = np.flatnonzero((probs < threshold) | (labels == "unknown"))
    if len(unsure):
        labels[unsure] = magika_labels([texts[i] for i in unsure])
    return labels.tolist(), len(unsure) / max(len(texts), 1)


def choose_threshold(model: Path, tolerance: float) -> tuple[float, dict]:
    """The smallest threshold whose validation accuracy is within ``tolerance`` of Magika's there."""
    truth, texts = validation_docs()
    labels, probs = fasttext_scored(model, texts)
    magika = np.array(magika_labels(texts), dtype=object)
    truth_arr = np.array(truth, dtype=object)
    target = float((magika == truth_arr).mean()) - tolerance
    curve = {}
    for t in HYBRID_THRESHOLDS:
        unsure = (probs < t) | (labels == "unknown")
        acc = float((np.where(unsure, magika, labels) == truth_arr).mean())
        curve[t] = {"accuracy": acc, "magika_share": float(unsure.mean())}
        if acc >= target:
            return t, {"validation_docs": len(texts), "magika_accuracy": target + tolerance, "curve": curve}
    return 1.01, {"validation_docs": len(texts), "magika_accuracy": target + tolerance, "curve": curve}


def timed(fn, texts: list[str], repeats: int) -> tuple[list[str], float, float]:
    """``(predictions, docs/s, CPU ms per document)``: best of ``repeats`` after a warm-up call."""
    fn(texts[:8])
    best, cpu, pred = float("inf"), float("inf"), []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        pred = fn(texts)
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return pred, len(texts) / best, cpu / len(texts) * 1e3


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


def run_magika(truth: list[str], texts: list[str], repeats: int, results: dict) -> None:
    """The per-document reference and the batched path; every document whose label differs is printed."""
    table = {}

    def reference(ts):
        table["ref"] = detect_code_language_per_document(ts)
        return table["ref"]["code_language"].to_pylist()

    ref, rate, cpu = timed(reference, texts, repeats)
    results["magika-per-doc"] = {**scores(truth, ref), "docs_per_s": rate, "cpu_ms_per_doc": cpu}
    new, rate, cpu = timed(magika_labels, texts, repeats)
    results["magika"] = {**scores(truth, new), "docs_per_s": rate, "cpu_ms_per_doc": cpu}
    every_core, rate, cpu = timed(lambda ts: detect_code_language(ts, threads=0)["code_language"].to_pylist(),
                                  texts, repeats)
    assert every_core == new, "labels must not depend on the number of threads"
    results["magika-all-cores"] = {**scores(truth, every_core), "docs_per_s": rate, "cpu_ms_per_doc": cpu}
    differ = [i for i, (a, b) in enumerate(zip(ref, new)) if a != b]
    score_diff = np.abs(table["ref"]["code_language_score"].to_numpy()
                        - detect_code_language(texts)["code_language_score"].to_numpy())
    results["magika"]["labels_differing_from_per_doc"] = [(i, ref[i], new[i]) for i in differ]
    print(f"batched vs per-document Magika: {len(differ)} of {len(texts)} labels differ "
          f"{results['magika']['labels_differing_from_per_doc']}; largest score difference "
          f"{score_diff.max():.2g} (onnxruntime rounds a one-document call differently)", flush=True)


def run_fasttext(truth: list[str], texts: list[str], repeats: int, tolerance: float, results: dict) -> None:
    """Train the fastText candidate twice (without the validation sources to tune the hybrid; then on all)."""
    with tempfile.TemporaryDirectory() as tmp:
        tuned = Path(tmp) / "code_language_without_validation.ftz"
        ft.train(tuned, exclude_sources=VALIDATION_SOURCES)
        threshold, tuning = choose_threshold(tuned, tolerance)
        print(f"hybrid threshold {threshold} (validation, tolerance {tolerance}): "
              f"{json.dumps(tuning['curve'])}", flush=True)
        model = Path(tmp) / "code_language_fasttext.ftz"
        t = time.perf_counter()
        info = ft.train(model)
        train_s = time.perf_counter() - t
        pred, rate, cpu = timed(lambda ts: fasttext_scored(model, ts)[0].tolist(), texts, repeats)
        results["fasttext"] = {**scores(truth, pred), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                               "model_bytes": info["bytes"], "train_s": train_s}
        share = {}

        def run_hybrid(ts):
            labels, share["magika"] = hybrid(model, threshold, ts)
            return labels

        pred, rate, cpu = timed(run_hybrid, texts, repeats)
        results["hybrid"] = {**scores(truth, pred), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                             "threshold": threshold, "magika_share": share["magika"], "tuning": tuning}


def print_table(truth: list[str], results: dict) -> None:
    names = list(results)
    print(f"\n{'language':<12} {'n':>5} " + " ".join(f"{n:>14}" for n in names) + "   (accuracy on held-out packages)")
    for lang in sorted(set(truth)):
        row = results[names[0]]["per_language"][lang]
        cells = " ".join(f"{results[n]['per_language'][lang]['accuracy']:>14.3f}" for n in names)
        conf = "; ".join(f"{n}: {results[n]['per_language'][lang]['confused_with']}" for n in names
                         if results[n]["per_language"][lang]["confused_with"] and not n.startswith("magika-"))
        print(f"{lang:<12} {row['n']:>5} {cells}   {conf}")
    for key, fmt in (("accuracy", "{:>14.4f}"), ("macro_accuracy", "{:>14.4f}"), ("docs_per_s", "{:>14.0f}"),
                     ("cpu_ms_per_doc", "{:>14.2f}")):
        print(f"{key:<18} " + " ".join(fmt.format(results[n][key]) for n in names))
    if "fasttext" in results:
        print(f"fasttext model: {results['fasttext']['model_bytes']} bytes, trained in "
              f"{results['fasttext']['train_s']:.0f} s")
        h = results["hybrid"]
        print(f"hybrid: threshold {h['threshold']} (chosen on validation sources), Magika ran on "
              f"{h['magika_share']:.1%} of the held-out files")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-fasttext", action="store_true")
    ap.add_argument("--hybrid-tolerance", type=float, default=0.02,
                    help="accuracy the hybrid may lose against Magika on the validation sources")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    truth, texts = heldout_docs()
    print(f"held-out: {len(texts)} files, {len(set(truth))} languages, "
          f"{sum(len(t.encode()) for t in texts) / 1e6:.1f} MB", flush=True)
    results: dict[str, dict] = {}
    run_magika(truth, texts, args.repeats, results)
    if not args.skip_fasttext:
        run_fasttext(truth, texts, args.repeats, args.hybrid_tolerance, results)
    print_table(truth, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

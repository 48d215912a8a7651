"""Code-language detection on packages no candidate trained on: Magika (per document and batched),
fastText models, and the shipped hybrid (fastText, Magika where fastText is unsure).

    python benchmarks/bench_code_language.py [--repeats 3] [--skip-original] [--json out.json]

Held-out packages, one per language, fixed in ``scripts.labeldata.code_sources.HELDOUT_GROUPS`` before
any model was trained or any setting tuned, and never tuned on (recipes and the hybrids' thresholds
were chosen on ``VALIDATION_SOURCES``, other packages of the training side):

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
  default threads (``detect_code_language_per_document``; the reference);
- ``magika``: ``detect_code_language(model="magika")``: the same model (Magika 1.0 ``standard_v3_3``,
  pretrained by Google; its training data is not ours, so these packages may well be in it: held-out
  here means held out from *our* training), inputs cut by a numba kernel, batched model calls, one
  thread. Its labels must equal the reference's: the benchmark prints every document where they differ;
- ``magika-all-cores``: the same with ``threads=0`` (onnxruntime takes every core: a lone process);
- ``magika-int8``: the same batched path on midtrain's int8 copy of the model (``scripts/quantize_magika.py``,
  the default), with the share of its labels equal to ``magika``'s (``agreement``);
- ``fasttext-original`` and ``hybrid-original``: the first fastText candidate
  (``scripts/train_code_language.py``'s ``ORIGINAL_CONFIG``: the three or four ``SOURCES`` packages per
  language, retrained here through midtrain's ``train_classifier``), alone, and with Magika for the
  documents whose probability is below a threshold chosen as below (``--skip-original`` skips both and
  their two trainings);
- ``fasttext``: the shipped model (``models/code_language.ftz``: 9 to 12 training packages per language plus
  an ``other`` class of data and markup formats) alone, without Magika (``fasttext_code_language``);
  ``other`` and ``unknown`` count as wrong;
- ``hybrid``: what midtrain ships, ``detect_code_language(texts)``: the shipped model first, Magika
  for the documents whose fastText probability is below the threshold in ``models/code_language.json``
  or whose fastText label is ``unknown``/``other``. Each threshold is the smallest of
  ``train_code_language.HYBRID_THRESHOLDS`` whose accuracy on ``VALIDATION_SOURCES`` (fastText trained
  without them) is within ``HYBRID_TOLERANCE`` (0.02) of Magika's there; the held-out files play no
  part in choosing it. The share of documents Magika decided is printed;
- ``hybrid-original-magika``: the hybrid with Magika's own model (``magika="original"``), and its agreement
  with ``hybrid``.

``--packages validation`` scores the validation packages (the hybrid's tuning side, data and markup
files included in the agreement only) instead: decisions are made there, the held-out packages are
read after them. ``--packages fresh`` scores a second held-out set, one package per language
(``code_sources.FRESH_HELDOUT_SOURCES``, stop 58), written down before any of it was fetched or scored, because
the first set had been read at many stops; it is read once and never used for a decision.

``unknown`` or any other label counts as wrong. Speed: one batch call over all the files, the best of
``--repeats``, after a warm-up call (models loaded, Magika's included): docs/s of wall time, and CPU ms
per document (all threads of this process; steadier than wall time on a shared machine).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import train_code_language as ft  # noqa: E402
from scripts.labeldata.code_sources import (FRESH_HELDOUT_SOURCES, HELDOUT_GROUPS, SOURCES,  # noqa: E402
                                            VALIDATION_OTHER_SOURCES, VALIDATION_SOURCES)
from midtrain.curation.labels.code_language import (detect_code_language,  # noqa: E402
                                                    detect_code_language_per_document, fasttext_code_language,
                                                    hybrid_settings)
from midtrain.curation.labels.evaluation import bootstrap_interval  # noqa: E402

HELDOUT = {
    "c": "pypi:psycopg2", "c++": "pypi:sentencepiece", "java": "npm:@capacitor/android", "javascript": "npm:eslint",
    "typescript": "npm:zod", "python": "pypi:django", "go": "debian:golang-github-prometheus-client-golang-dev",
    "rust": "debian:librust-tokio-dev", "ruby": "debian:ruby-rack", "php": "debian:php-monolog",
    "shell": "debian:dracut-core", "sql": "debian:gnumed-server", "ocaml": "debian:libbase-ocaml-dev",
    "perl": "debian:libmojolicious-perl", "lua": "debian:awesome", "r": "debian:r-cran-ggplot2",
}
assert set(HELDOUT.values()) == set(HELDOUT_GROUPS), "keep this list equal to code_sources.HELDOUT_GROUPS"


def heldout_docs() -> tuple[list[str], list[str]]:
    """``(languages, texts)`` of every file of the held-out packages."""
    truth, texts = [], []
    for src in SOURCES:
        for doc in src.docs():
            if doc.group in HELDOUT_GROUPS:
                truth.append(doc.code_language)
                texts.append(doc.text)
    return truth, texts


def fresh_docs() -> tuple[list[str], list[str]]:
    """``(languages, texts)`` of every file of the second held-out set (``code_sources.FRESH_HELDOUT_SOURCES``,
    stop 58): read once, never for a decision."""
    truth, texts = [], []
    for src in FRESH_HELDOUT_SOURCES:
        for doc in src.docs():
            truth.append(doc.code_language)
            texts.append(doc.text)
    return truth, texts


def magika_labels(texts: list[str], magika: str = "original") -> list[str]:
    return detect_code_language(texts, model="magika", magika=magika)["code_language"].to_pylist()


def validation_docs() -> tuple[list[str], list[str]]:
    """``(languages, texts)`` of the validation packages (the hybrid's tuning side), data and markup
    files included (truth ``other``: left out of the accuracy, kept in the agreement)."""
    truth, texts, _ = ft.validation_docs(other=True)
    return truth, texts


def original_hybrid(model: Path, threshold: float, texts: list[str]) -> tuple[list[str], float]:
    """The first candidate's label, or Magika's where its probability is below ``threshold``; and Magika's share."""
    labels, probs = ft.scored(model, texts, ft.ORIGINAL_CONFIG)
    unsure = np.flatnonzero((probs < threshold) | (labels == ft.UNKNOWN))
    if len(unsure):
        labels[unsure] = magika_labels([texts[i] for i in unsure])
    return labels.tolist(), len(unsure) / max(len(texts), 1)


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
    """Accuracy per language and overall, over the code files (truth ``other``, data and markup, left out)."""
    keep = [i for i, t in enumerate(truth) if t != "other"]
    truth, pred = [truth[i] for i in keep], [pred[i] for i in keep]
    per = {}
    for lang in sorted(set(truth)):
        idx = [i for i, t in enumerate(truth) if t == lang]
        wrong = Counter(pred[i] for i in idx if pred[i] != lang)
        per[lang] = {"n": len(idx), "accuracy": sum(pred[i] == lang for i in idx) / len(idx),
                     "confused_with": dict(wrong.most_common(3))}
    overall = sum(p == t for p, t in zip(pred, truth)) / len(truth)
    macro = sum(v["accuracy"] for v in per.values()) / len(per)
    # one package per language: files are redrawn within it (another set of packages cannot be drawn)
    interval = bootstrap_interval(truth, pred, truth, metric="accuracy", resample="docs")
    return {"per_language": per, "accuracy": overall, "macro_accuracy": macro, "accuracy_interval": interval}


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
    every_core, rate, cpu = timed(lambda ts: detect_code_language(ts, threads=0, model="magika", magika="original")
                                  ["code_language"].to_pylist(), texts, repeats)
    assert every_core == new, "labels must not depend on the number of threads"
    results["magika-all-cores"] = {**scores(truth, every_core), "docs_per_s": rate, "cpu_ms_per_doc": cpu}
    differ = [i for i, (a, b) in enumerate(zip(ref, new)) if a != b]
    batched = detect_code_language(texts, model="magika", magika="original")
    score_diff = np.abs(table["ref"]["code_language_score"].to_numpy() - batched["code_language_score"].to_numpy())
    results["magika"]["labels_differing_from_per_doc"] = [(i, ref[i], new[i]) for i in differ]
    print(f"batched vs per-document Magika: {len(differ)} of {len(texts)} labels differ "
          f"{results['magika']['labels_differing_from_per_doc']}; largest score difference "
          f"{score_diff.max():.2g} (onnxruntime rounds a one-document call differently)", flush=True)
    fast, rate, cpu = timed(lambda ts: magika_labels(ts, "int8"), texts, repeats)
    results["magika-int8"] = {**scores(truth, fast), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                              "agreement": agreement(fast, new)}
    print(f"midtrain's int8 Magika vs Magika's own model: {results['magika-int8']['agreement']:.2%} of "
          f"{len(texts)} labels equal", flush=True)


def agreement(a: list[str], b: list[str]) -> float:
    """Share of documents with the same label (data and markup files included)."""
    return sum(x == y for x, y in zip(a, b)) / max(len(a), 1)


def run_original(truth: list[str], texts: list[str], repeats: int, results: dict) -> None:
    """Train the first fastText candidate twice (without the validation sources to tune its hybrid; then
    on all) and score it alone and as a hybrid."""
    with tempfile.TemporaryDirectory() as tmp:
        tuned = Path(tmp) / "original_without_validation.ftz"
        ft.train_original(tuned, exclude_sources=VALIDATION_SOURCES + VALIDATION_OTHER_SOURCES)
        vtruth, vtexts, _ = ft.validation_docs()
        labels, probs = ft.scored(tuned, vtexts, ft.ORIGINAL_CONFIG)
        threshold, tuning = ft.choose_threshold(vtruth, labels, probs, ft.magika_labels(vtexts))
        print(f"hybrid-original threshold {threshold} (validation): {json.dumps(tuning['curve'])}", flush=True)
        model = Path(tmp) / "original.ftz"
        t = time.perf_counter()
        info = ft.train_original(model)
        train_s = time.perf_counter() - t
        pred, rate, cpu = timed(lambda ts: ft.scored(model, ts, ft.ORIGINAL_CONFIG)[0].tolist(), texts, repeats)
        results["fasttext-original"] = {**scores(truth, pred), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                                        "model_bytes": info["bytes"], "train_s": train_s}
        share = {}

        def run_hybrid(ts):
            labels, share["magika"] = original_hybrid(model, threshold, ts)
            return labels

        pred, rate, cpu = timed(run_hybrid, texts, repeats)
        results["hybrid-original"] = {**scores(truth, pred), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                                      "threshold": threshold, "magika_share": share["magika"], "tuning": tuning}


def run_shipped(truth: list[str], texts: list[str], repeats: int, results: dict) -> None:
    """The shipped fastText model alone, and the shipped hybrid (``detect_code_language``'s default)."""
    for variant in ("original", "int8"):  # both Magika models loaded before any timing
        detect_code_language(texts[:8], model="magika", magika=variant)
    pred, rate, cpu = timed(lambda ts: fasttext_code_language(ts)["code_language"].to_pylist(), texts, repeats)
    model = ft.DEFAULT_OUT
    results["fasttext"] = {**scores(truth, pred), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                           "model_bytes": model.stat().st_size}
    pred, rate, cpu = timed(lambda ts: detect_code_language(ts)["code_language"].to_pylist(), texts, repeats)
    share = float(np.mean(fasttext_code_language(texts)["needs_magika"].to_numpy(zero_copy_only=False)))
    results["hybrid"] = {**scores(truth, pred), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                         "threshold": hybrid_settings()["threshold"], "magika_share": share}
    exact, rate, cpu = timed(lambda ts: detect_code_language(ts, magika="original")["code_language"].to_pylist(),
                             texts, repeats)
    results["hybrid-original-magika"] = {**scores(truth, exact), "docs_per_s": rate, "cpu_ms_per_doc": cpu,
                                         "agreement": agreement(pred, exact)}


def print_table(results: dict, packages: str) -> None:
    names = list(results)
    print(f"\n{'language':<12} {'n':>5} " + " ".join(f"{n:>14}" for n in names)
          + f"   (accuracy on {packages} packages)")
    for lang in results[names[0]]["per_language"]:
        row = results[names[0]]["per_language"][lang]
        cells = " ".join(f"{results[n]['per_language'][lang]['accuracy']:>14.3f}" for n in names)
        conf = "; ".join(f"{n}: {results[n]['per_language'][lang]['confused_with']}" for n in names
                         if results[n]["per_language"][lang]["confused_with"] and not n.startswith("magika-"))
        print(f"{lang:<12} {row['n']:>5} {cells}   {conf}")
    for key, fmt in (("accuracy", "{:>14.4f}"), ("macro_accuracy", "{:>14.4f}"), ("docs_per_s", "{:>14.0f}"),
                     ("cpu_ms_per_doc", "{:>14.2f}")):
        print(f"{key:<18} " + " ".join(fmt.format(results[n][key]) for n in names))
    print(f"{'95% interval':<18} " + " ".join(
        f"{results[n]['accuracy_interval']['low']:>6.4f}-{results[n]['accuracy_interval']['high']:.4f}"
        for n in names) + "   (accuracy, files redrawn within each package, 1,000 rounds)")
    print(f"{'agreement':<18} " + " ".join(f"{results[n]['agreement']:>14.4f}" if "agreement" in results[n]
                                           else f"{'':>14}" for n in names)
          + "   (int8 Magika's labels equal to Magika's own model's, all files)")
    if "hybrid-original" in results:
        h = results["hybrid-original"]
        print(f"fasttext-original: {results['fasttext-original']['model_bytes']:,} bytes, trained in "
              f"{results['fasttext-original']['train_s']:.0f} s; hybrid-original: threshold {h['threshold']}, "
              f"Magika ran on {h['magika_share']:.1%} of the {packages} files")
    if "hybrid" in results:
        h = results["hybrid"]
        print(f"shipped fasttext model: {results['fasttext']['model_bytes']:,} bytes; hybrid: threshold "
              f"{h['threshold']} (chosen on validation sources), Magika ran on {h['magika_share']:.1%} "
              f"of the {packages} files")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-original", action="store_true",
                    help="skip the first fastText candidate (its two trainings) and its hybrid")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--packages", choices=["heldout", "validation", "fresh"], default="heldout",
                    help="validation: the hybrid's tuning packages (for decisions), never the held-out ones; fresh: "
                         "the second held-out set of stop 58 (code_sources.FRESH_HELDOUT_SOURCES)")
    args = ap.parse_args()

    truth, texts = {"heldout": heldout_docs, "validation": validation_docs, "fresh": fresh_docs}[args.packages]()
    print(f"{args.packages}: {len(texts)} files, {len(set(truth))} languages, "
          f"{sum(len(t.encode()) for t in texts) / 1e6:.1f} MB", flush=True)
    results: dict[str, dict] = {}
    run_magika(truth, texts, args.repeats, results)
    if not args.skip_original:
        run_original(truth, texts, args.repeats, results)
    run_shipped(truth, texts, args.repeats, results)
    print_table(results, args.packages)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

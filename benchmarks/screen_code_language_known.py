"""Screen the code-language hybrid's routing on the validation packages: Magika also for the files whose
window the fastText model mostly does not know (stop 48, E36).

    python benchmarks/screen_code_language_known.py [--kappa 0.5 0.6 0.7]

Out of package, the hybrid's errors are files fastText calls sure and wrong, so Magika never sees them.
A window read through few known words is one fastText has little to go on, however sure it says it is
(the domain labeller's E33 mixes by the same share, ``rare_words.known_fractions``). For each ``kappa``
the hybrid sends to Magika the files whose share of known tokens is below it, besides those under the
probability threshold; the threshold is chosen by ``train_code_language.choose_threshold``'s rule (the
smallest within ``HYBRID_TOLERANCE`` of Magika alone). Validation packages only (the model is trained
without them, as ``train_code_language.py --validation`` does); the held-out packages play no part.
Prints, per setting, the chosen threshold, the hybrid's accuracy and Magika's share.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata.code_sources import VALIDATION_OTHER_SOURCES, VALIDATION_SOURCES  # noqa: E402
from scripts.train_code_language import (CODE_LANGUAGE_CONFIG, choose_threshold, magika_labels,  # noqa: E402
                                         train, validation_docs)
from midtrain.curation.labels.models import FastTextClassifier  # noqa: E402
from midtrain.curation.labels.rare_words import known_fractions  # noqa: E402
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402


def routed(truth: np.ndarray, labels: np.ndarray, probs: np.ndarray, known: np.ndarray, magika: np.ndarray,
           kappa: float) -> dict:
    """The threshold ``choose_threshold``'s rule picks when files under ``kappa`` known tokens also go to
    Magika, with the hybrid's accuracy and Magika's share there (and the whole curve)."""
    chosen, tuning = choose_threshold(truth.tolist(), labels, probs, magika, also_unsure=known < kappa)
    return {"kappa": kappa, "threshold": chosen if chosen <= 1 else None, "point": tuning["curve"].get(chosen),
            "magika_accuracy": tuning["magika_accuracy"], "curve": tuning["curve"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kappa", nargs="+", type=float, default=[0.5, 0.6, 0.7])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    truth, texts, _ = validation_docs(other=False)
    config = CODE_LANGUAGE_CONFIG
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "code_language.ftz"
        train(model, VALIDATION_SOURCES + VALIDATION_OTHER_SOURCES, config)
        classifier = FastTextClassifier(model)
        lines = fasttext_lines(text_windows(pa.array(texts, pa.large_string()), config.head, config.middle))
        pred = classifier.predict(lines)
        known = known_fractions(lines, classifier.word_set)
    truth_arr = np.asarray(truth, dtype=object)
    magika = magika_labels(texts)
    print(f"{len(truth)} validation files; share of known tokens: median {np.median(known):.3f}, "
          f"p10 {np.percentile(known, 10):.3f}; accuracy of fastText's sure calls (p >= 0.8) by known share:")
    sure = pred.scores >= 0.8
    for lo, hi in ((0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.01)):
        sel = sure & (known >= lo) & (known < hi)
        acc = float((pred.labels[sel] == truth_arr[sel]).mean()) if sel.any() else float("nan")
        print(f"  [{lo:.1f}, {min(hi, 1.0):.1f}): {int(sel.sum()):>5} files, fastText {acc:.3f}, "
              f"Magika {float((magika[sel] == truth_arr[sel]).mean()) if sel.any() else float('nan'):.3f}")
    rows = [routed(truth_arr, pred.labels, pred.scores, known, magika, k) for k in [0.0, *args.kappa]]
    print(f"\n{'kappa':>6} {'threshold':>10} {'accuracy':>9} {'Magika share':>13}")
    for r in rows:
        p = r["point"] or {"accuracy": float("nan"), "magika_share": float("nan")}
        print(f"{r['kappa']:>6g} {r['threshold']!s:>10} {p['accuracy']:>9.4f} {p['magika_share']:>13.2%}")
    print(f"Magika alone: {rows[0]['magika_accuracy']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

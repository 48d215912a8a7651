"""Screen variants of the domain labeller's word model over every leave-one-source-out fold, offline.

    python benchmarks/bench_labels.py --parts loso --workers 2 --crop 300 --save-probs loso.npz   # ~15-25 min
    python benchmarks/screen_word_model.py --probs loso.npz --variants mean max sif mean:l2=1e-2 [--workers 2]
    python benchmarks/screen_word_model.py --probs loso.npz --variants mean --stack s1 s2

A real leave-one-source-out run trains a fastText model per fold, which is most of its time. The word
model (``word_vectors.py``) is mixed with fastText's probabilities *after* fastText has spoken, so a
variant of the word model alone can be scored on each fold's saved fastText probabilities
(``--save-probs``): per fold, refit the variant's logistic regression on the fold's domain examples
(``domain_examples`` without the left-out source), mix 0.7 / 0.3 as the labeller does, apply
``label_domains``' rules after the mix (an unsure mix goes to the LaTeX and code-line signals; unknown
script and binary text are ``unknown``), and score the pooled macro-F1, the sources under 0.70 and
the same for every document cut to 300 characters.

``mean`` is the shipped variant; its labels must equal the real run's saved ones (printed as
``replica``: anything under 100% means this screen no longer follows the labeller). Variants (joined
with ``:`` they combine, e.g. ``sif:max``):

- ``mean``: the normalised mean of the window's token vectors (shipped);
- ``max``: that and the per-dimension max over the tokens (512 features);
- ``sif``: a weighted mean, a / (a + p(token)) with a = 1e-3 and p the token frequency in the domain
  examples of every training source but the left-out one;
- ``l2=X``: the regression's L2 strength (shipped 1e-3);
- ``short=K``: the regression also fitted on K short pieces of every long document (``short_per_doc``).
- ``nap=K``: the K directions along which the training sources of one domain differ most removed from
  every vector before the regression (``source_directions``; E10 of stop 39).
- ``src``: the regression learns one class per training source instead of one per domain, and a domain's
  probability is the sum of its sources' (E84 of stop 68, not shipped: 0.8892 -> 0.8781 at seed 0, 6 sources
  under 0.70).

``--stack s1 s2`` (with ``mean``) screens stacked mixers instead of the fixed 0.7 / 0.3 share: per
left-out source S, a logistic regression fitted on the *other* sources' out-of-source rows (whole and
cut, each domain and each source within it weighted alike), applied to S's rows, then ``decide``.
``s1`` reads both models' log probabilities, ``s2`` also the window's seven shape signals (log1p).
Nested by source, with one leak: another source's rows come from a fold model that was trained with S.

``--known-power G ...`` (stop 48, E33) mixes fastText at ``0.7 * k ** G``, k the share of the window's words its
fold model knows (saved by ``--save-probs`` as ``known``); G = 1 shipped, and ``mean`` mixes so whenever the file
has ``known``, whose relation to the run's errors it prints first (``known_share_report``). ``--min-confidence C ...``
(E34, E35) decides the mix with ``DomainConfig.min_confidence = C``;
``--mix M ...`` (E37) mixes at ``M * k`` instead of ``0.7 * k``.

``--genre FILE --genre-share C ...`` (stop 49, E38) mixes a genre model's out-of-source probabilities
(``benchmarks/genre_folds.py``: fastText on delexicalized windows) into the shipped mix:
``softmax((1 - C) log p_mix + C log p_genre)``, then ``decide``. With ``--genre-when D`` (stop 55, E54) it mixes
only where the genre model's top label is D, as the opt-in encoder votes (``encoder_folds.py`` writes its
per-fold probabilities in this file's format), and ``--genre-min T ...`` (stop 59, E62, not shipped) also screens
the vote where that top label's probability is at least T (variant ``genreCminT``).

``--ft-floor F ...`` (stop 49, E41) floors fastText's probabilities at F before the mix (not shipped).

``--gate G ...`` (stop 50, E42, E43) uses fastText's probabilities alone wherever its top probability is at
least G: the word model does not run there (``DomainConfig.word_model_gate``, shipped 0.99).

``--bias`` screens per-domain shifts of the mixed log probabilities (web 0, the others from
``BIAS_GRID``), chosen per left-out source on the other sources' rows (``choose_bias``), with the same leak.

A screen only chooses what a real ``bench_labels.py`` run should confirm; its figures are not the
leave-one-source-out figures of a shipped model. Records: benchmarks/README.md, stop 37 (E2-E4),
stop 38 (E5, the stackers; E6, the shifts) and stop 48 (E33-E35, E37).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.training_sets import crop_text, domain_examples  # noqa: E402
from midtrain.curation.labels import word_vectors as wv  # noqa: E402
from midtrain.curation.labels.domain import (  # noqa: E402
    _FEATURES, DomainConfig, content_signals, script_signals, shape_signals)
from midtrain.curation.labels.evaluation import classification_report  # noqa: E402
from midtrain.curation.labels.text_windows import text_windows  # noqa: E402

TOPICAL = ("web", "code", "math", "reasoning")
LABELS = np.array([*TOPICAL, "unknown"], dtype=object)
"""``decide_codes``' indices as labels."""
SIF_A = 1e-3
CROP = 300


@numba.njit(cache=True)
def _pooled(ids: np.ndarray, offsets: np.ndarray, vectors: np.ndarray, weights: np.ndarray,
            with_max: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per text: the normalised weighted sum of its token vectors, and (``with_max``) their max."""
    n, dim = len(offsets) - 1, vectors.shape[1]
    mean = np.zeros((n, dim))
    top = np.zeros((n, dim if with_max else 1))
    acc = np.zeros(dim)
    for i in range(n):
        acc[:] = 0.0
        for t in range(offsets[i], offsets[i + 1]):
            row, w = ids[t], weights[ids[t]]
            for d in range(dim):
                acc[d] += w * vectors[row, d]
                if with_max and (t == offsets[i] or vectors[row, d] > top[i, d]):
                    top[i, d] = vectors[row, d]
        norm = np.sqrt((acc * acc).sum())
        if norm > 0:
            mean[i] = acc / norm
    return mean, top


def tokens(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The labeller's own tokens (its table is a cache of the byte-pair encoder: any table gives these)."""
    return wv.load_word_model(wv.SHIPPED_WORD_MODEL).table.tokens(texts)


def features(texts: list[str], variant: set[str], weights: np.ndarray) -> np.ndarray:
    ids, offsets = tokens(texts)
    if variant <= {"mean"}:  # the shipped vector, computed by the labeller's own kernel
        return wv._mean_vectors(ids, offsets, wv.token_vectors()).astype(np.float64)
    mean, top = _pooled(ids, offsets, wv.token_vectors(), weights if "sif" in variant else np.ones_like(weights),
                        "max" in variant)
    return np.hstack([mean, top]) if "max" in variant else mean


def window_signals(windows: pa.Array) -> np.ndarray:
    """Per window, what ``label_domains``' rules read: LaTeX per KB, code-line share, binary share, Latin share."""
    return np.column_stack([*content_signals(windows), *script_signals(windows)])


def decide_codes(probs: np.ndarray, signals: np.ndarray, config: DomainConfig = DomainConfig()) -> np.ndarray:
    """``label_domains``' rules after the mix, for text without hints or paths: indices into ``TOPICAL``
    (columns of ``probs``), ``len(TOPICAL)`` for ``unknown``."""
    latex, code, binary, latin = signals.T
    domain = probs.argmax(axis=1)
    unseen = latin < config.min_latin_fraction  # a script the classifier never learnt (stop 61's E67)
    undecided = (probs.max(axis=1) < config.min_confidence) | unseen
    by_latex = undecided & (latex >= config.latex_per_kb)
    by_code = undecided & ~by_latex & (code >= config.code_line_fraction)
    domain[by_latex] = TOPICAL.index("math")
    domain[by_code] = TOPICAL.index("code")
    domain[(unseen & ~by_latex & ~by_code) | (binary > config.max_binary_fraction)] = len(TOPICAL)
    return domain


def decide(probs: np.ndarray, signals: np.ndarray, config: DomainConfig = DomainConfig()) -> np.ndarray:
    """``decide_codes`` as labels (``unknown`` included); ``signals`` from ``window_signals``."""
    return LABELS[decide_codes(probs, signals, config)]


def macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over ``TOPICAL`` of index arrays (as ``classification_report``'s, ``unknown`` always wrong)."""
    k = len(TOPICAL) + 1
    confusion = np.bincount(truth * k + pred, minlength=k * k).reshape(k, k)[:len(TOPICAL), :len(TOPICAL)]
    tp = np.diag(confusion).astype(np.float64)
    predicted = np.bincount(pred, minlength=k)[:len(TOPICAL)]
    actual = np.bincount(truth, minlength=k)[:len(TOPICAL)]
    f1 = np.divide(2 * tp, predicted + actual, out=np.zeros(len(TOPICAL)), where=(predicted + actual) > 0)
    return float(f1.mean())


BIAS_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)


def choose_bias(rows: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], rounds: int = 3) -> np.ndarray:
    """Log-probability shifts per domain (web fixed at 0) maximising the mean over ``rows`` (``whole``,
    ``crop``: log mixed probabilities, rule signals, true indices) of pooled macro-F1; coordinate ascent
    over ``BIAS_GRID``, ties to the smaller shift in size, then the smaller shift."""
    def score(bias: np.ndarray) -> float:
        return float(np.mean([macro_f1(truth, decide_codes(wv._softmax(logp + bias), signals))
                              for logp, signals, truth in rows.values()]))

    bias = np.zeros(len(TOPICAL))
    for _ in range(rounds):
        for d in range(1, len(TOPICAL)):
            best = None
            for value in sorted(BIAS_GRID, key=lambda v: (abs(v), v)):
                trial = bias.copy()
                trial[d] = value
                got = score(trial)
                if best is None or got > best[0] + 1e-12:
                    best = (got, value)
            bias[d] = best[1]
    return bias


def biased(results: dict, names: list[str]) -> None:
    """E6, nested: per left-out source S, shifts chosen on the other sources' rows, applied to S's."""
    for name in names:
        rows = {}
        for key in ("whole", "crop"):
            others = [n for n in names if n != name]
            rows[key] = (np.vstack([np.log(results[n][f"mixed/{key}"]) for n in others]),
                         np.vstack([results[n][f"signals/{key}"] for n in others]),
                         np.concatenate([results[n]["truth_index"] for n in others]))
        bias = choose_bias(rows)
        results[name]["bias"] = bias
        for key in ("whole", "crop"):
            probs = wv._softmax(np.log(results[name][f"mixed/{key}"]) + bias)
            results[name][f"bias/{key}"] = decide(probs, results[name][f"signals/{key}"])


def parse(variant: str) -> tuple[set[str], float, int, int]:
    """``(flags, l2, short pieces per document, source directions removed)`` of a variant name such as
    ``sif:max:l2=1e-2`` or ``mean:nap=16``."""
    flags, l2, short, nap = set(), wv.DEFAULT_L2, 0, 0
    for part in variant.split(":"):
        key, _, value = part.partition("=")
        number = int if key in ("short", "nap") else float
        try:
            value = number(value) if key in ("l2", "short", "nap") else value
        except ValueError:
            raise SystemExit(f"--variants {variant!r}: {key}= takes a number, got {value!r}") from None
        if key == "l2":
            l2 = value
        elif key == "short":
            short = value
        elif key == "nap":
            nap = value
            if not 0 < nap < wv.token_vectors().shape[1]:
                raise SystemExit(f"--variants {variant!r}: nap=K takes 1 to {wv.token_vectors().shape[1] - 1} "
                                 "directions")
        elif key in ("mean", "max", "sif", "src"):
            flags.add(key)
        else:
            raise SystemExit(f"--variants {variant!r}: unknown part {part!r} "
                             "(mean, max, sif, src, l2=X, short=K, nap=K)")
    return flags, l2, short, nap


def source_directions(x: np.ndarray, sources: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` directions along which sources of one domain differ most (E10, nuisance attribute
    projection): each source's mean vector minus its domain's mean of source means (sources weighted
    alike), and the top right singular vectors of those differences, as orthonormal columns."""
    names = sorted(set(sources.tolist()))
    centroids = np.array([x[sources == name].mean(axis=0) for name in names])
    domain = np.array([labels[sources == name][0] for name in names])
    diffs = centroids - np.array([centroids[domain == d].mean(axis=0) for d in domain])
    return np.linalg.svd(diffs, full_matrices=False)[2][:k].T


_TABLE: pa.Table | None = None
_PROBS: dict | None = None
_COUNTS: dict[str, np.ndarray] = {}


def seed_ensemble(probs: dict[str, np.ndarray], others: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``probs`` with fastText's probabilities (whole and cut) replaced by the softmax of the mean log
    probability over ``probs`` and ``others``: leave-one-source-out runs of the same sources that differ only in
    the training seed (E52). For each document that is the softmax of the mean of the runs' logits, since each
    run's log probabilities are its logits less one number per document. The runs must hold the same documents
    in the same order and the same ``known`` shares (the seed does not change a fold's vocabulary)."""
    out = dict(probs)
    for other in others:
        for key in ("sources", "index", "known", "crop_known"):
            if key in probs and (key not in other or not np.array_equal(probs[key], other[key])):
                raise SystemExit(f"--ensemble: the runs differ in {key!r}; they must be the same sources and data")
    for key in ("probs", "crop_probs"):
        out[key] = wv._softmax(np.mean([np.log(np.maximum(run[key], 1e-38)) for run in [probs, *others]], axis=0))
    return out


def _load(probs_file: str, with_counts: bool = False, genre_file: str | None = None,
          ensemble: tuple[str, ...] = ()) -> None:
    """Each worker's corpus table, saved probabilities, (for ``sif``) token counts per source and (for ``--genre``)
    the genre model's probabilities, as ``genre_probs`` / ``crop_genre_probs`` rows in ``_PROBS``' order.
    ``ensemble``: other runs' files, averaged with ``probs_file`` by ``seed_ensemble``."""
    global _TABLE, _PROBS, _COUNTS
    train = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name not in registry.HELDOUT]
    heldout = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name in registry.HELDOUT]
    _TABLE = registry.corpus_table(train + heldout)
    with np.load(probs_file, allow_pickle=False) as z:
        _PROBS = {k: z[k] for k in z.files}
    if ensemble:
        others = []
        for other in ensemble:
            with np.load(other, allow_pickle=False) as z:
                others.append({k: z[k] for k in z.files})
        _PROBS = seed_ensemble(_PROBS, others)
    _COUNTS = source_token_counts() if with_counts else {}
    if genre_file:
        with np.load(genre_file, allow_pickle=False) as z:
            row_of = {int(i): r for r, i in enumerate(z["index"])}
            missing = [int(i) for i in _PROBS["index"] if int(i) not in row_of]
            if missing:
                raise SystemExit(f"{genre_file}: no genre probabilities for {len(missing)} documents of {probs_file}")
            rows = np.array([row_of[int(i)] for i in _PROBS["index"]])
            _PROBS["genre_probs"], _PROBS["crop_genre_probs"] = z["genre_probs"][rows], z["crop_genre_probs"][rows]


def fold(name: str, variants: list[str]) -> dict[str, np.ndarray]:
    """Labels of the left-out source ``name``'s documents (whole and cut) under every variant."""
    sel = _PROBS["sources"] == name
    texts = _TABLE.column("text").to_pylist()
    docs = [texts[i] for i in _PROBS["index"][sel]]
    windows = {"whole": text_windows(pa.array(docs, pa.large_string()), 512, 512),
               "crop": text_windows(pa.array([crop_text(t, CROP) for t in docs], pa.large_string()), 512, 512)}
    signals = {key: window_signals(win) for key, win in windows.items()}  # the rules' inputs, once per window
    fasttext = {"whole": _PROBS["probs"][sel], "crop": _PROBS["crop_probs"][sel]}
    truth = _PROBS["truth"][sel]
    out = {"truth": truth, "truth_index": np.array([TOPICAL.index(t) for t in truth], np.int64),
           "replica/whole": _PROBS["pred"][sel], "replica/crop": _PROBS["crop_pred"][sel],
           "fasttext/whole": fasttext["whole"], "fasttext/crop": fasttext["crop"],
           "signals/whole": signals["whole"], "signals/crop": signals["crop"]}
    weights = np.ones(wv.token_vectors().shape[0])
    if _COUNTS:  # token frequencies without the left-out source
        counts = sum(_COUNTS.values()) - _COUNTS.get(name, 0)
        weights = SIF_A / (SIF_A + counts / max(counts.sum(), 1))
    exclude = set(registry.HELDOUT) | {name}
    for variant in variants:
        flags, l2, short, nap = parse(variant)
        labels, examples, sources = domain_examples(_TABLE, exclude=exclude, short_per_doc=short)
        targets = sources if "src" in flags else labels  # src: one class per training source (E84)
        classes = tuple(sorted(set(targets)))
        y = np.array([classes.index(t) for t in targets])
        domain_of = {s: lab for s, lab in zip(sources, labels)}
        # column j of the summed probabilities: every class whose domain is TOPICAL[j]
        to_domains = np.array([[float((domain_of[c] if "src" in flags else c) == d) for d in TOPICAL]
                               for c in classes])
        x_train = features(examples, flags, weights)
        away = source_directions(x_train, np.asarray(sources), np.asarray(labels), nap) if nap else None
        if away is not None:
            x_train = x_train - (x_train @ away) @ away.T
        mean, scale, coef, bias = wv.fit_logistic(x_train, y,
                                                  wv.balanced_weights(np.asarray(labels), np.asarray(sources)),
                                                  len(classes), l2)
        for key, win in windows.items():
            x = features(pc.fill_null(win, "").to_pylist(), flags, weights)
            if away is not None:
                x = x - (x @ away) @ away.T
            words = wv._softmax(((x - mean) / scale) @ coef + bias) @ to_domains
            known = _PROBS["known" if key == "whole" else "crop_known"][sel] if "known" in _PROBS else None
            mixed = wv.mix_probabilities(fasttext[key], words, wv.DEFAULT_MIX, known, wv.DEFAULT_KNOWN_POWER)
            out[f"{variant}/{key}"] = decide(mixed, signals[key])
            if variant == "mean":  # the stackers' and shifts' inputs (``--stack``, ``--bias``)
                out[f"mixed/{key}"] = mixed
                out[f"words/{key}"] = words
                shape = shape_signals(win, (signals[key][:, 0], signals[key][:, 1]))
                out[f"shape/{key}"] = np.log1p(np.column_stack([shape[k] for _, k, _ in _FEATURES]))
    if "genre_probs" in _PROBS:  # the genre model's out-of-source probabilities (``--genre``)
        out["genre/whole"], out["genre/crop"] = _PROBS["genre_probs"][sel], _PROBS["crop_genre_probs"][sel]
    if "known" in _PROBS:  # the share of each window's words the fold's fastText model knows (``--known-power``)
        out["known/whole"], out["known/crop"] = _PROBS["known"][sel], _PROBS["crop_known"][sel]
    return out


def known_share_report(saved: dict) -> dict:
    """Does a low known share single out the saved run's wrong labels? The AUROC of ``1 - known`` for a wrong
    whole-document label (0.5: no better than chance), and the Spearman correlation of each source's mean share
    with its recall (stop 48: 0.445 and -0.14, so E33's premise holds only weakly)."""
    from scipy.stats import rankdata, spearmanr

    wrong = saved["pred"] != saved["truth"]
    ranks = rankdata(-saved["known"])
    n_wrong, n_right = int(wrong.sum()), int((~wrong).sum())
    auroc = (ranks[wrong].sum() - n_wrong * (n_wrong + 1) / 2) / max(n_wrong * n_right, 1)
    names = list(dict.fromkeys(saved["sources"].tolist()))
    share = [float(saved["known"][saved["sources"] == n].mean()) for n in names]
    recall = [float((~wrong[saved["sources"] == n]).mean()) for n in names]
    rho = float(spearmanr(share, recall).statistic)
    print(f"known share: AUROC of a low share for a wrong label {auroc:.3f} ({n_wrong} wrong of {len(wrong)}; "
          f"median share wrong {np.median(saved['known'][wrong]):.3f}, right {np.median(saved['known'][~wrong]):.3f}); "
          f"Spearman of a source's mean share with its recall {rho:.2f} over {len(names)} sources")
    return {"auroc": auroc, "source_spearman": rho}


def confidence_floor(results: dict, names: list[str], floor: float) -> None:
    """E34: the shipped mix decided with ``DomainConfig.min_confidence = floor`` (shipped 0.6): below it the
    LaTeX and code-line signals decide; written to ``results[S][f"conf{floor:g}/{key}"]``."""
    config = DomainConfig(min_confidence=floor)
    for name in names:
        for key in ("whole", "crop"):
            results[name][f"conf{floor:g}/{key}"] = decide(results[name][f"mixed/{key}"],
                                                           results[name][f"signals/{key}"], config)


def known_mixed(results: dict, names: list[str], name_of: str, mix: float, power: float, floor: float = 0.0) -> None:
    """The mix at fastText's share ``mix * k ** power`` (k: the share of the window's words the fold's model knows),
    fastText's probabilities floored at ``floor`` first, then ``decide``: E33 (``--known-power``, ``mix`` 0.7), E37
    (``--mix``, ``power`` 1) and E41 (``--ft-floor``); written to ``results[S][f"{name_of}/{key}"]``."""
    for name in names:
        for key in ("whole", "crop"):
            fasttext = np.maximum(results[name][f"fasttext/{key}"], floor)
            mixed = wv.mix_probabilities(fasttext, results[name][f"words/{key}"], mix,
                                         results[name].get(f"known/{key}"), power)
            results[name][f"{name_of}/{key}"] = decide(mixed, results[name][f"signals/{key}"])


def gated(results: dict, names: list[str], gate: float) -> None:
    """E42: the shipped mix, but fastText's probabilities alone wherever its top probability is at least ``gate``
    (the word model not run there), then ``decide``; written to ``results[S][f"gate{gate:g}/{key}"]``."""
    for name in names:
        for key in ("whole", "crop"):
            fasttext = results[name][f"fasttext/{key}"]
            sure = fasttext.max(axis=1) >= gate
            probs = np.where(sure[:, None], fasttext, results[name][f"mixed/{key}"])
            results[name][f"gate{gate:g}/{key}"] = decide(probs, results[name][f"signals/{key}"])


def genre_variant(share: float, min_probability: float = 0.0) -> str:
    """The name of ``genre_mixed``'s variant."""
    return f"genre{share:g}" + (f"min{min_probability:g}" if min_probability else "")


def genre_mixed(results: dict, names: list[str], share: float, when: str | None = None,
                min_probability: float = 0.0) -> None:
    """E38: the shipped mix with the genre model's log probabilities at ``share``, then ``decide``; written to
    ``results[S][f"{genre_variant(share, min_probability)}/{key}"]``. ``when`` (E54): mix only where the genre
    model's own top label is that domain, with at least ``min_probability`` (E62); elsewhere the shipped mix alone."""
    for name in names:
        for key in ("whole", "crop"):
            mixed, genre = results[name][f"mixed/{key}"], results[name][f"genre/{key}"]
            probs = wv._softmax((1.0 - share) * np.log(mixed + 1e-6) + share * np.log(genre + 1e-6))
            if when is not None:
                column = TOPICAL.index(when)
                votes = (genre.argmax(axis=1) == column) & (genre[:, column] >= min_probability)
                probs = np.where(votes[:, None], probs, mixed)
            results[name][f"{genre_variant(share, min_probability)}/{key}"] = decide(
                probs, results[name][f"signals/{key}"])


def stack_inputs(results: dict, name: str, key: str, stack: str) -> np.ndarray:
    """A stacker's features of source ``name``'s ``key`` rows: log probabilities (and shape signals for s2)."""
    x = np.hstack([np.log(results[name][f"fasttext/{key}"] + 1e-6), np.log(results[name][f"words/{key}"] + 1e-6)])
    return np.hstack([x, results[name][f"shape/{key}"]]) if stack == "s2" else x


def stacked(results: dict, names: list[str], stack: str, l2: float = wv.DEFAULT_L2) -> None:
    """Per left-out source S: a logistic regression on the other sources' out-of-source rows (whole and cut),
    applied to S's rows and followed by ``decide``; written to ``results[S][f"{stack}/{key}"]``."""
    x = {(n, k): stack_inputs(results, n, k, stack) for n in names for k in ("whole", "crop")}
    for name in names:
        rows = [(n, k) for n in names if n != name for k in ("whole", "crop")]
        truth = np.concatenate([results[n]["truth"] for n, _ in rows])
        owner = np.concatenate([np.full(len(results[n]["truth"]), n, dtype=object) for n, _ in rows])
        y = np.concatenate([results[n]["truth_index"] for n, _ in rows])
        mean, scale, coef, bias = wv.fit_logistic(np.vstack([x[r] for r in rows]), y,
                                                  wv.balanced_weights(truth, owner), len(TOPICAL), l2)
        for key in ("whole", "crop"):
            probs = wv._softmax(((x[name, key] - mean) / scale) @ coef + bias)
            results[name][f"{stack}/{key}"] = decide(probs, results[name][f"signals/{key}"])


def source_token_counts() -> dict[str, np.ndarray]:
    """Token counts of every training source's domain examples (for ``sif``)."""
    labels, examples, sources = domain_examples(_TABLE, exclude=set(registry.HELDOUT))
    ids, offsets = tokens(examples)
    owner = np.repeat(np.asarray(sources, dtype=object), np.diff(offsets))
    return {s: np.bincount(ids[owner == s], minlength=wv.token_vectors().shape[0]).astype(np.float64)
            for s in sorted(set(sources))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probs", type=Path, required=True, help="bench_labels.py --crop 300 --save-probs output")
    parser.add_argument("--variants", nargs="+", default=["mean"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stack", nargs="*", default=[], choices=["s1", "s2"],
                        help="stacked mixers, nested by left-out source (needs the mean variant): s1 reads both "
                        "models' log probabilities, s2 also the shape signals")
    parser.add_argument("--bias", action="store_true",
                        help="per-domain shifts of the mixed log probabilities, chosen per left-out source on the "
                        "other sources' rows (needs the mean variant)")
    parser.add_argument("--known-power", nargs="*", type=float, default=[],
                        help="E33: fastText's share of the mix times k ** POWER, k the share of the window's words "
                        "its fold model knows (needs the mean variant and a --save-probs file with `known`)")
    parser.add_argument("--mix", nargs="*", type=float, default=[],
                        help="E37: fastText's share of the mix before the known-share scaling (shipped 0.7; needs "
                        "the mean variant and a --save-probs file with `known`)")
    parser.add_argument("--min-confidence", nargs="*", type=float, default=[],
                        help="E34: the shipped mix with DomainConfig.min_confidence set to each value (needs the "
                        "mean variant)")
    parser.add_argument("--genre", type=Path, help="E38: genre_folds.py output, mixed in at each --genre-share")
    parser.add_argument("--genre-when", choices=TOPICAL,
                        help="E54: mix the --genre model in only where its own top label is this domain")
    parser.add_argument("--genre-min", nargs="*", type=float, default=[],
                        help="E62: with --genre-when, also each of these minimum probabilities of that domain for "
                        "the genre model to vote (0, always screened, is E54's vote)")
    parser.add_argument("--genre-share", nargs="*", type=float, default=[],
                        help="E38: the genre model's share of the log-probability mix (needs --genre and the mean "
                        "variant)")
    parser.add_argument("--ft-floor", nargs="*", type=float, default=[],
                        help="E41: fastText's probabilities floored at each value before the mix (needs the mean "
                        "variant)")
    parser.add_argument("--gate", nargs="*", type=float, default=[],
                        help="E42: fastText alone wherever its top probability is at least each value (needs the "
                        "mean variant)")
    parser.add_argument("--ensemble", nargs="+", type=Path, default=[], metavar="FILE",
                        help="E52: runs of the same sources with other training seeds (bench_labels.py --set seed=S "
                        "--save-probs FILE); fastText's probabilities become the softmax of the runs' mean logits. "
                        "`replica` then still reads --probs' own labels")
    parser.add_argument("--sources", nargs="+", help="only these left-out sources (a quick look, not a screen; "
                        "a --stack stacker is then fitted on those sources' rows only)")
    args = parser.parse_args()
    for variant in args.variants:
        parse(variant)
    if (args.stack or args.bias or args.known_power or args.mix or args.min_confidence or args.ft_floor
            or args.gate) and "mean" not in args.variants:
        parser.error("--stack, --bias, --known-power, --mix, --min-confidence, --ft-floor and --gate need the mean "
                     "variant (its probabilities are their inputs)")
    if not args.probs.is_file():
        parser.error(f"--probs {args.probs}: no such file; write it with bench_labels.py --parts loso --crop {CROP} "
                     "--save-probs FILE")
    missing = [str(f) for f in args.ensemble if not f.is_file()]
    if missing:
        parser.error(f"--ensemble {missing}: no such file; write each with bench_labels.py --parts loso --crop {CROP} "
                     "--set seed=S --save-probs FILE")
    if bool(args.genre) != bool(args.genre_share) or (args.genre_share and "mean" not in args.variants):
        parser.error("--genre and --genre-share go together, with the mean variant")
    if args.genre_min and not args.genre_when:
        parser.error("--genre-min needs --genre-when")
    genre_mins = [0.0, *(m for m in args.genre_min if m)]
    genre = str(args.genre) if args.genre else None
    ensemble = tuple(str(f) for f in args.ensemble)
    _load(str(args.probs), genre_file=genre, ensemble=ensemble)
    if (args.known_power or args.mix) and "known" not in _PROBS:
        parser.error(f"{args.probs}: no `known` array; write it again with this bench_labels.py --save-probs")
    if "known" in _PROBS:
        known_share_report(_PROBS)
    if "crop_probs" not in _PROBS:
        parser.error(f"{args.probs}: no crop_probs; write it with bench_labels.py --crop {CROP} --save-probs")
    names = [n for n in dict.fromkeys(_PROBS["sources"].tolist()) if not args.sources or n in args.sources]
    if not names:
        parser.error(f"--sources {args.sources}: none is a left-out source of {args.probs}")
    sif = any("sif" in parse(v)[0] for v in args.variants)
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_load, initargs=(str(args.probs), sif, genre, ensemble)) as pool:
        results = dict(zip(names, pool.map(fold, names, [args.variants] * len(names))))
    for stack in args.stack:
        stacked(results, names, stack)
    for power in args.known_power:
        known_mixed(results, names, f"known{power:g}", wv.DEFAULT_MIX, power)
    for floor in args.min_confidence:
        confidence_floor(results, names, floor)
    for mix in args.mix:
        known_mixed(results, names, f"mix{mix:g}", mix, wv.DEFAULT_KNOWN_POWER)
    for share in args.genre_share:
        for low in genre_mins:
            genre_mixed(results, names, share, args.genre_when, low)
    for floor in args.ft_floor:
        known_mixed(results, names, f"floor{floor:g}", wv.DEFAULT_MIX, wv.DEFAULT_KNOWN_POWER, floor)
    for gate in args.gate:
        gated(results, names, gate)
        skipped = np.concatenate([results[n]["fasttext/whole"].max(axis=1) >= gate for n in names])
        print(f"--gate {gate:g}: the word model skipped on {skipped.mean():.1%} of the whole documents")
    if args.bias:
        biased(results, names)
        chosen = np.array([results[n]["bias"] for n in names])
        print(f"--bias: shifts chosen per fold (web, code, math, reasoning): "
              f"{sorted({tuple(b) for b in chosen.tolist()})}")
        truth = np.concatenate([results[n]["truth_index"] for n in names])
        everything = {key: (np.vstack([np.log(results[n][f"mixed/{key}"]) for n in names]),
                            np.vstack([results[n][f"signals/{key}"] for n in names]), truth)
                      for key in ("whole", "crop")}
        print(f"--bias: shifts chosen on all {len(names)} sources (what would ship): {choose_bias(everything)}")
    print(f"{len(names)} folds in {time.perf_counter() - start:.0f} s, {args.workers} at a time")
    print(f"{'variant':<28} {'whole':>7} {'<0.70':>6} {'cut ' + str(CROP):>8} {'<0.70':>6}")
    for variant in ["replica", *args.variants, *args.stack, *(["bias"] if args.bias else []),
                    *(f"known{g:g}" for g in args.known_power), *(f"conf{c:g}" for c in args.min_confidence),
                    *(f"mix{m:g}" for m in args.mix),
                    *(genre_variant(c, m) for c in args.genre_share for m in genre_mins),
                    *(f"floor{f:g}" for f in args.ft_floor), *(f"gate{g:g}" for g in args.gate)]:
        cells = []
        for key in ("whole", "crop"):
            truth = [t for n in names for t in results[n]["truth"]]
            pred = [p for n in names for p in results[n][f"{variant}/{key}"]]
            low = [n for n in names if np.mean(results[n][f"{variant}/{key}"] == results[n]["truth"]) < 0.70]
            cells += [f"{classification_report(truth, pred, labels=list(TOPICAL))['macro_f1']:>7.4f}", f"{len(low):>6}"]
        whole_pred = [p for n in names for p in results[n][f"{variant}/whole"]]
        hits = {d: [p == d for p, t in zip(whole_pred, truth) if t == d] for d in TOPICAL}
        whole_recall = {d: float(np.mean(h)) if h else float("nan") for d, h in hits.items()}
        low_names = [n for n in names if np.mean(results[n][f"{variant}/whole"] == results[n]["truth"]) < 0.70]
        print(f"{variant:<28} {cells[0]} {cells[1]} {cells[2]:>8} {cells[3]}  recall (whole) "
              + " ".join(f"{d} {r:.3f}" for d, r in whole_recall.items()) + f"  under 0.70: {low_names}")
    if "mean" in args.variants:
        same = np.mean([p == q for n in names for key in ("whole", "crop")
                        for p, q in zip(results[n][f"mean/{key}"], results[n][f"replica/{key}"])])
        print(f"mean (shipped) equals the real run's labels on {same:.2%} of the documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())

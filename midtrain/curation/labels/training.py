"""Training a fastText classifier from labelled examples: what ``midtrain train-classifier`` runs.

Examples come from a JSONL file (one ``{"label": ..., "text": ...}`` per line, optionally with the
``"source"`` it came from) or a folder with one sub-folder per label (every file inside is one example;
a sub-folder inside a label's folder names the source). A fixed fraction is held out by a
hash of the text, so the split does not depend on file order and a re-run holds out the same
examples. Training sees the same text windows as prediction (``text_windows``) and runs on one
thread with a fixed seed in a fresh process, which makes the model file reproducible on one machine.
That split shares its sources with training; ``source_folds.score_by_source`` leaves whole sources out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from midtrain.curation.labels.evaluation import classification_report
from midtrain.curation.labels.models import LABEL_PREFIX, FastTextClassifier
from midtrain.curation.labels.rare_words import replace_rare, shared_words
from midtrain.curation.labels.text_windows import PUNCT_RUN_CAP, PUNCT_RUN_JOIN, fasttext_lines, text_windows
from midtrain.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """fastText hyper-parameters and the held-out split."""

    epochs: int = 10
    """Passes over the training examples."""
    lr: float = 0.5
    """Learning rate (fastText's text-classification tutorial uses 0.1–1.0)."""
    dim: int = 32
    """Embedding size; small keeps the quantized model small and prediction fast."""
    word_ngrams: int = 2
    """Word n-grams (bigrams catch ``\\ frac``, ``fn main``, ``step 1``)."""
    min_count: int = 2
    """Drop words seen fewer times (typos, identifiers that occur once)."""
    bucket: int = 200_000
    """Hash buckets for n-grams."""
    holdout: float = 0.2
    """Fraction of examples held out for the scores."""
    seed: int = 0
    seeds: int = 1
    """Train this many models on the same examples, with seeds ``seed``, ``seed + 1``, ... (each its own
    shuffle), and fold them into one model whose logits are their mean (``fold_models``). fastText's training
    is noisy: a model of another seed labels some sources differently (benchmarks/README.md, stop 54), and the
    folded model does not rest on one draw. It has one dimension per label, so it predicts no slower than one
    model. 1: one model, as fastText writes it."""
    minn: int = 0
    """Shortest character n-gram of a word (0: none); subwords help on unseen identifiers."""
    maxn: int = 0
    shape_features: bool = False
    """Append the domain labeller's content-feature tokens (``domain.feature_token_array``) to every line."""
    features_min_chars: int = 0
    """With ``shape_features``: leave the tokens off windows shorter than this, as the labeller's
    ``DomainConfig.features_min_chars`` does when it predicts (0: every window gets them)."""
    punct_run_cap: int = PUNCT_RUN_CAP
    """With ``shape_features``: cut every run of more than this many equal one-byte punctuation tokens to this
    many (``text_windows.cap_punct_runs``), as ``DomainConfig.punct_run_cap`` must then do when it predicts. An
    underline or a separator of sixty ``=`` otherwise outweighs the words of a window in fastText's average.
    0: off (every model before stop 65)."""
    punct_run_join: bool = PUNCT_RUN_JOIN
    """With ``punct_run_cap``: such a run becomes one token of ``punct_run_cap`` copies of its byte (``===``)
    instead of that many separate tokens, so the one-byte token is learnt only from its uses outside runs (the
    shipped model since stop 65's E80; stop 64's E78 cut to 3 separate tokens). ``DomainConfig.punct_run_join``
    must then be the same."""
    min_sources: int = 0
    """Replace every word seen in fewer than this many training sources (``train_classifier``'s
    ``groups``) by a placeholder of its shape, so the model learns from the words sources share; the
    labeller then replaces every word the model does not know the same way (``rare_words``). 0: off."""
    word_dropout: float = 0.0
    """With p > 0, every training line is also learnt once more with each word dropped with probability p; the
    content-feature tokens (``shape_features``) are kept. The deep-averaging recipe: the model learns to label a
    window from a few of its words and its shape, not from the words of one source. 0: off."""
    quantize: bool = False
    """Write a quantized ``.ftz`` (about 10–50× smaller, scores within a point)."""
    cutoff: int = 100_000
    """When quantizing: keep this many most important words and n-grams (0: keep all; a pruned model
    looks every word and n-gram up in a hash map when it predicts)."""
    dsub: int = 2
    """When quantizing: the length of the sub-vectors that product quantization codes. fastText's
    default 2 means dim/2 code books to decode per word; dim/2 (two code books, as midtrain's own
    models) predicts about 1.6x faster, with the unquantized model's top label on 99.5% of lines
    (``benchmarks/bench_fasttext_quantize.py``)."""
    head: int = 512
    middle: int = 512


@dataclass
class TrainingResult:
    """What a training run produced: the model file, the label counts and held-out scores."""

    model_path: Path
    train_counts: dict[str, int]
    holdout_counts: dict[str, int]
    scores: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"model": str(self.model_path), "train_counts": self.train_counts,
                "holdout_counts": self.holdout_counts, "holdout_scores": self.scores}


def read_examples(source: str | os.PathLike) -> tuple[list[str], list[str]]:
    """``(labels, texts)`` from a JSONL file or a folder of per-label folders."""
    labels, texts, _ = read_sourced_examples(source)
    return labels, texts


def read_sourced_examples(source: str | os.PathLike) -> tuple[list[str], list[str], list[str | None]]:
    """``(labels, texts, sources)`` from a JSONL file or a folder of per-label folders.

    An example's source is where it came from (a package, a site, a dataset): a JSONL record's optional
    ``"source"`` string, or in a folder ``LABEL/SOURCE/...`` the first sub-folder under the label's folder.
    ``None`` where an example names none (a record without ``"source"``, a file directly in its label's
    folder). Sources are what a leave-one-source-out score (``source_folds.score_by_source``) leaves out.
    """
    path = Path(source)
    if path.is_dir():
        return _read_folders(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file or folder of labelled examples")
    labels, texts, sources = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg}); expected "
                                  '{"label": ..., "text": ...} per line') from None
            if not isinstance(rec, dict) or not isinstance(rec.get("label"), str) \
                    or not isinstance(rec.get("text"), str):
                raise ConfigError(f"{path}:{n}: needs a string 'label' and a string 'text'")
            if rec.get("source") is not None and not isinstance(rec["source"], str):
                raise ConfigError(f"{path}:{n}: 'source' must be a string (where the example came from), "
                                  f"got {rec['source']!r}")
            labels.append(rec["label"])
            texts.append(rec["text"])
            sources.append(rec.get("source"))
    return labels, texts, sources


def _read_folders(root: Path) -> tuple[list[str], list[str], list[str | None]]:
    labels, texts, sources = [], [], []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(p for p in label_dir.rglob("*") if p.is_file()):
            text = file.read_text(encoding="utf-8", errors="replace")
            if text.strip():
                parts = file.relative_to(label_dir).parts
                labels.append(label_dir.name)
                texts.append(text)
                sources.append(parts[0] if len(parts) > 1 else None)
    return labels, texts, sources


def holdout_mask(texts: list[str], fraction: float, seed: int = 0) -> np.ndarray:
    """True for held-out examples: decided by a hash of the text, not by position."""
    h = np.array([xxhash.xxh64_intdigest(t.encode("utf-8", "replace"), seed=seed) for t in texts], dtype=np.uint64)
    return (h % np.uint64(10_000)).astype(np.int64) < int(round(fraction * 10_000))


def example_lines(texts: list[str], config: TrainConfig) -> list[str]:
    """The one line per text that a model trained with ``config`` learns from and is asked about: its
    windows (``text_windows``), normalised, with the content-feature tokens when ``config.shape_features``.
    (A model trained with ``min_sources`` also reads its unknown words as placeholders: ``model_lines``.)"""
    windows = text_windows(pa.array(texts, pa.large_string()), config.head, config.middle)
    if config.shape_features:
        from midtrain.curation.labels.domain import classifier_lines

        return classifier_lines(windows, with_features=True, features_min_chars=config.features_min_chars,
                                punct_run_cap=config.punct_run_cap, punct_run_join=config.punct_run_join)
    return fasttext_lines(windows)


def train_classifier(labels: list[str], texts: list[str], output: str | os.PathLike,
                     config: TrainConfig = TrainConfig(), groups: list[str] | None = None) -> TrainingResult:
    """Train on the non-held-out examples, write ``output``, score the held-out ones.

    ``groups``: each example's source, which ``config.min_sources`` counts words by.
    """
    if len(labels) != len(texts):
        raise ValueError("labels and texts differ in length")
    if config.min_sources < 0:
        raise ConfigError(f"min_sources={config.min_sources}: expected a number of sources, 0 (off) or more")
    if config.min_sources and (groups is None or len(groups) != len(texts)):
        raise ConfigError(f"min_sources={config.min_sources} counts the sources a word occurs in: give "
                          "train_classifier one group (source name) per example")
    if not 0.0 <= config.word_dropout < 1.0:
        raise ConfigError(f"word_dropout={config.word_dropout}: expected a probability in [0, 1)")
    if isinstance(config.punct_run_cap, bool) or not isinstance(config.punct_run_cap, int) or config.punct_run_cap < 0:
        raise ConfigError(f"punct_run_cap={config.punct_run_cap!r}: expected a whole number, 0 (off) or more")
    if not isinstance(config.punct_run_join, bool):
        raise ConfigError(f"punct_run_join={config.punct_run_join!r}: expected true or false")
    if config.seeds < 1:
        raise ConfigError(f"seeds={config.seeds}: expected the number of models to fold into one, 1 or more")
    if config.seeds > 1 and config.quantize:
        raise ConfigError(f"seeds={config.seeds} with quantize: a quantized model cannot be folded; train "
                          "with quantize off, or one seed")
    bad = [lab for lab in set(labels) if not lab or any(c.isspace() for c in lab)]
    if bad:
        raise ConfigError(f"labels must be non-empty and without spaces: {sorted(bad)[:5]}")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ConfigError(f"need examples of at least two labels, got {dict(counts)}")
    lines = example_lines(texts, config)
    held = holdout_mask(texts, config.holdout, config.seed)
    if config.holdout > 0 and held.all():
        raise ConfigError("every example fell in the held-out split: give more examples or a smaller --holdout")
    train_idx = np.flatnonzero(~held)
    if config.min_sources:
        known = shared_words([lines[i] for i in train_idx], [groups[i] for i in train_idx], config.min_sources)
        lines = replace_rare(lines, known)
    examples = [(labels[i], lines[i]) for i in train_idx]
    if config.word_dropout:  # each training line once more, thinned; the held-out lines stay as they are
        thinned = dropped_words([line for _, line in examples], config.word_dropout, config.seed)
        examples += [(label, line) for (label, _), line in zip(examples, thinned)]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="midtrain-train-") as tmp:
        models = []
        for seed in range(config.seed, config.seed + config.seeds):
            # fastText reads examples in file order; a seeded shuffle keeps labels interleaved.
            order = np.random.default_rng(seed).permutation(len(examples))
            train_file = Path(tmp) / f"train-{seed}.txt"
            with open(train_file, "w", encoding="utf-8") as f:
                for i in order:  # fastText would read a "__label__" inside the text as one more label
                    label, line = examples[i]
                    f.write(f"{LABEL_PREFIX}{label} {line.replace(LABEL_PREFIX, '_label_')}\n")
            models.append(Path(tmp) / f"model-{seed}")
            _fit_in_fresh_process(train_file, models[-1], replace(config, seed=seed))
        tmp_model = models[0]
        if len(models) > 1:
            tmp_model = Path(tmp) / "model"
            fold_models(models, tmp_model)
        os.replace(tmp_model, output) if _same_fs(tmp_model, output) else _copy_atomic(tmp_model, output)
    result = TrainingResult(output, dict(sorted(Counter(labels[i] for i in train_idx).items())),
                            dict(sorted(Counter(np.asarray(labels, object)[held].tolist()).items())))
    if held.any():
        classifier = FastTextClassifier(output)
        held_idx = np.flatnonzero(held)
        pred = classifier.predict([lines[i] for i in held_idx])
        result.scores = classification_report([labels[i] for i in held_idx], pred.labels.tolist(),
                                              labels=sorted(counts))
    return result


_FEATURE_TOKEN = r"^fx[a-z]+[0-9]+$"  # domain.feature_token_array's tokens: fx<signal><bin>


def dropped_words(lines: list[str], p: float, seed: int = 0) -> list[str]:
    """``lines`` with each space-separated word dropped with probability ``p`` (seeded: the same lines and seed give
    the same result); content-feature tokens (``fxcode3``) always stay. With Arrow, over all words at once."""
    if not lines:
        return []
    words = pc.split_pattern(pa.array(lines, pa.large_string()), " ")
    flat = pc.list_flatten(words)
    parents = pc.list_parent_indices(words).to_numpy()
    keep = np.random.default_rng(seed).random(len(flat)) >= p
    keep |= pc.match_substring_regex(flat, _FEATURE_TOKEN).to_numpy(zero_copy_only=False)
    keep &= pc.not_equal(flat, "").to_numpy(zero_copy_only=False)  # doubled spaces leave empty words
    offsets = np.zeros(len(lines) + 1, np.int64)
    np.cumsum(np.bincount(parents[keep], minlength=len(lines)), out=offsets[1:])
    kept = pa.LargeListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))
    return pc.binary_join(kept, pa.scalar(" ", pa.large_string())).to_pylist()


def fold_models(paths: list[Path], output: Path) -> None:
    """Write one fastText model whose logits are the mean of the softmax models' at ``paths``.

    A supervised fastText model is linear up to its softmax: a line's logits are ``B @ mean(E[rows])``, its
    input rows ``E`` (words, then hashed buckets) averaged, times the output matrix ``B``. So the mean of k
    models' logits is ``mean(L[rows])`` with ``L[r] = mean_k(B_k @ E_k[r])``: one model with the rows ``L``
    (one column per label) and an identity output. Words are matched by their string (each model orders its
    dictionary itself) and labels by name; buckets share their index. Every model must know the same words,
    as models trained on the same examples do.
    """
    import fasttext

    first = fasttext.load_model(str(paths[0]))
    words, labels = first.get_words(), first.get_labels()
    total = np.zeros((first.get_input_matrix().shape[0], len(labels)), np.float64)
    for path in paths:
        model = first if path == paths[0] else fasttext.load_model(str(path))
        if model.f.getArgs().loss != fasttext.FastText.loss_name.softmax or model.is_quantized():
            raise ConfigError(f"{path}: only unquantized softmax models fold into one")
        if (sorted(model.get_words()) != sorted(words) or sorted(model.get_labels()) != sorted(labels)
                or model.get_input_matrix().shape[0] != total.shape[0]):
            raise ConfigError(f"{path}: not the words, labels and buckets of {paths[0]}; fold models of the same "
                              "examples and settings")
        rows = np.array([model.get_word_id(w) for w in words], np.int64)
        rows = np.concatenate([rows, np.arange(len(words), model.get_input_matrix().shape[0])])
        order = [model.get_labels().index(label) for label in labels]
        logits = model.get_input_matrix().astype(np.float64) @ model.get_output_matrix()[order].T.astype(np.float64)
        total += logits[rows]
    first.set_matrices((total / len(paths)).astype(np.float32), np.eye(len(labels), dtype=np.float32))
    first.save_model(str(output))


def _fit_in_fresh_process(train_file: Path, model_path: Path, config: TrainConfig) -> None:
    """Train (and quantize) on ``train_file`` and save the model, in a new Python process.

    fasttext-numpy2 0.10.4 keeps state between training calls in one process: on identical input,
    seed and ``thread=1``, the first call gives the same model in every fresh process, while
    later calls in the same process give a different model each time and "Encountered NaN" in
    about one call in four (seen on 174 examples at lr 0.5, and at 0.1). A new interpreter per
    model (not a fork, which would inherit that state; not multiprocessing's spawn, which would
    re-import the caller's main module) makes the model file a function of the examples and the
    config. A NaN there is real divergence (the learning rate is too high), reported as such.
    """
    done = subprocess.run([sys.executable, "-m", __name__, str(train_file), str(model_path),
                           json.dumps(asdict(config))], capture_output=True, text=True)
    if done.returncode == _DIVERGED:
        raise ConfigError(f"fastText training diverged (NaN) at learning rate {config.lr:g}: give a smaller --lr")
    if done.returncode != 0:
        raise RuntimeError(f"fastText training failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


_DIVERGED = 3


def _fit_main(train_file: str, model_path: str, config_json: str) -> int:
    import fasttext

    config = TrainConfig(**json.loads(config_json))
    try:
        model = fasttext.train_supervised(
            input=train_file, epoch=config.epochs, lr=config.lr, dim=config.dim,
            wordNgrams=config.word_ngrams, minCount=config.min_count, bucket=config.bucket,
            minn=config.minn, maxn=config.maxn, loss="softmax", thread=1, seed=config.seed, verbose=0)
        if config.quantize:
            model.quantize(input=train_file, qnorm=True, retrain=True, cutoff=config.cutoff, dsub=config.dsub,
                           thread=1, epoch=config.epochs, lr=config.lr, verbose=0)
    except RuntimeError as exc:
        if "NaN" in str(exc):
            return _DIVERGED
        raise
    model.save_model(model_path)
    return 0


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b.parent).st_dev
    except OSError:
        return False


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(src.read_bytes())
    os.replace(tmp, dst)


if __name__ == "__main__":
    sys.exit(_fit_main(*sys.argv[1:4]))

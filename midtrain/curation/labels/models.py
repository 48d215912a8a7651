"""Loading fastText models (shipped or user-trained) and predicting a whole batch in one call.

The shipped models live next to this file as package data (``models/``), so labelling never
downloads anything: ``lid.176.ftz`` (fastText language ID, CC-BY-SA-3.0, see ``models/NOTICE``),
``domain.bin`` (unquantized), ``quality-{prose,code,math}.ftz`` and the spam model
``quality-spam.ftz`` (trained by ``scripts/train_default_classifiers.py``),
``code_language.ftz`` (trained by ``scripts/train_code_language.py``).
A model reference is either one of those names (``"lid.176"``, ``"domain"``, ``"quality-prose"``,
``"code_language"``, ...) or a path to any ``.ftz``/``.bin`` fastText model. Loaded models are cached per process, so a datatrove
worker loads each model once however many steps or batches use it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.curation.labels import fasttext_predict
from midtrain.curation.labels.fasttext_predict import read_weights
from midtrain.errors import ConfigError

MODELS_DIR = Path(__file__).parent / "models"
SHIPPED_MODELS = {"lid.176": "lid.176.ftz", "domain": "domain.bin", "quality-prose": "quality-prose.ftz",
                  "quality-code": "quality-code.ftz", "quality-math": "quality-math.ftz",
                  "quality-spam": "quality-spam.ftz", "code_language": "code_language.ftz"}
LABEL_PREFIX = "__label__"


def model_path(ref: str | os.PathLike, shipped: dict[str, str] | None = None, what: str = "fastText model",
               files: str = "a .ftz/.bin file") -> Path:
    """The file behind a model reference (a name in ``shipped``, default ``SHIPPED_MODELS``, or a path);
    ``ConfigError`` naming it if there is none."""
    shipped = SHIPPED_MODELS if shipped is None else shipped
    name = str(ref)
    if name in shipped:
        path = MODELS_DIR / shipped[name]
        if not path.is_file():
            script = "train_code_language.py" if name == "code_language" else "train_default_classifiers.py"
            raise ConfigError(f"shipped model {name!r} is missing at {path}: reinstall midtrain, or rebuild it "
                              f"with `python scripts/{script}`")
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(f"{what} {name!r} not found: give a path to {files} or one of {sorted(shipped)}")
    return path


@dataclass(frozen=True)
class Predictions:
    """Top label (prefix stripped) and its probability, one per input line."""

    labels: np.ndarray  # object array of str
    scores: np.ndarray  # float32


class FastTextClassifier:
    """A loaded fastText supervised model; ``predict`` takes the whole batch to one compiled loop.

    That loop is ``fasttext_predict``'s numba kernel on the model file's weights (equal scores, faster)
    when the file is one it reads (softmax or hierarchical softmax, output not quantized), else fastText's
    own C++ prediction. ``native=False`` always uses fastText's."""

    def __init__(self, ref: str | os.PathLike, native: bool = True):
        import fasttext  # heavy; imported only when a model is actually used

        self.path = model_path(ref)
        try:
            self.model = fasttext.load_model(str(self.path))
        except ValueError as exc:
            raise ConfigError(f"{self.path}: not a fastText model ({exc})") from exc
        self.labels = tuple(lab[len(LABEL_PREFIX):] if lab.startswith(LABEL_PREFIX) else lab
                            for lab in self.model.get_labels())
        self.weights = None
        if native:
            try:
                self.weights = read_weights(self.path)
            except ValueError:
                self.weights = None
            if self.weights is not None and self.weights.labels != self.labels:
                raise ConfigError(f"{self.path}: labels read from the file differ from fastText's")

    def predict(self, lines: list[str] | pa.Array) -> Predictions:
        """Top-1 label and probability for each single-line string (no ``\\n`` inside)."""
        return self.predict_ranked(lines, 1)[0]

    def predict_ranked(self, lines: list[str] | pa.Array, k: int = 2) -> list[Predictions]:
        """The ``k`` most likely labels, best first: one ``Predictions`` per rank (label ``""``, score 0
        where the model has fewer labels). ``lines``: Python strings or an Arrow string array."""
        if not len(lines):
            return [Predictions(np.zeros(0, object), np.zeros(0, np.float32)) for _ in range(k)]
        if self.weights is not None:
            best, scores = fasttext_predict.predict_ranked(self.weights, lines, k)
            names = np.array(self.labels + ("",), dtype=object)
            return [Predictions(names[best[:, r]], np.clip(scores[:, r], 0.0, 1.0)) for r in range(k)]
        all_labels, all_probs = self.model.f.multilinePredict([line + "\n" for line in _strings(lines)], k, 0.0,
                                                              "replace")
        out = []
        for r in range(k):
            labels = np.array([lab[r][len(LABEL_PREFIX):] if len(lab) > r else "" for lab in all_labels],
                              dtype=object)
            scores = np.array([p[r] if len(p) > r else 0.0 for p in all_probs], dtype=np.float32)
            # fastText's softmax can round to a hair above 1 (it adds 1e-5 before the log).
            out.append(Predictions(labels, np.clip(scores, 0.0, 1.0)))
        return out

    def knows(self, word: str) -> bool:
        """Whether ``word`` is in the model's vocabulary (e.g. the domain model's feature tokens)."""
        return self.model.get_word_id(word) >= 0

    @functools.cached_property
    def word_hashes(self) -> np.ndarray:
        """Sorted hashes of the model's words (``rare_words.word_hashes``), computed once per model."""
        from midtrain.curation.labels.rare_words import word_hashes

        return word_hashes(self.model.get_words())

    @functools.cached_property
    def word_set(self) -> np.ndarray:
        """The model's words as a ``rare_words.hash_set`` (for ``known_fractions``), built once per model."""
        from midtrain.curation.labels.rare_words import hash_set

        return hash_set(self.word_hashes)

    def predict_all(self, lines: list[str] | pa.Array) -> tuple[np.ndarray, tuple[str, ...]]:
        """Probabilities of every label, ``(len(lines), len(labels))``, columns in ``self.labels`` order."""
        k = len(self.labels)
        out = np.zeros((len(lines), k), np.float64)
        if not len(lines):
            return out, self.labels
        if self.weights is not None and self.weights.loss == fasttext_predict.LOSS_SOFTMAX:
            scores, _ = fasttext_predict.predict_all(self.weights, lines)
            return np.clip(scores.astype(np.float64), 0.0, 1.0), self.labels
        all_labels, all_probs = self.model.f.multilinePredict([line + "\n" for line in _strings(lines)], k, 0.0,
                                                              "replace")
        if all(len(labs) == k for labs in all_labels):  # every label on every row: map them in numpy
            names = np.array([LABEL_PREFIX + lab for lab in self.labels])
            order = np.argsort(names)
            columns = order[np.searchsorted(names[order], np.array(all_labels))]
            out[np.arange(len(lines))[:, None], columns] = np.array(all_probs)
        else:
            column = {LABEL_PREFIX + lab: j for j, lab in enumerate(self.labels)}
            for i, (labs, probs) in enumerate(zip(all_labels, all_probs)):
                for lab, p in zip(labs, probs):
                    out[i, column[lab]] = p
        return np.clip(out, 0.0, 1.0), self.labels


def _strings(lines: list[str] | pa.Array) -> list[str]:
    """Python strings for fastText's own C++ prediction, which takes nothing else."""
    return lines.to_pylist() if isinstance(lines, (pa.Array, pa.ChunkedArray)) else lines


@functools.lru_cache(maxsize=16)
def load_classifier(ref: str) -> FastTextClassifier:
    """The process-wide cached classifier for ``ref`` (a shipped name or a path)."""
    return FastTextClassifier(ref)

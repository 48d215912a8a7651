"""Which programming language a code document is written in: a fastText model, and Google's Magika
where that model is unsure.

``detect_code_language(texts)`` (``model="hybrid"``, the default) runs two models over a batch:

1. the shipped fastText model (``models/code_language.ftz``, 1.2 MB, trained here by
   ``scripts/train_code_language.py`` on 9 to 14 real packages per language plus an ``other`` class
   of data and markup formats and an ``unknown`` class of prose) on each document's window (its
   first 1 KB and 1 KB from its middle, normalised as for the domain model): about 0.2 ms per
   document;
2. Magika (below), about 2 ms per document in midtrain's int8 copy of its model (8-12 ms in Magika's
   own), only for the documents fastText cannot settle: its probability is below the threshold of
   ``models/code_language.json`` (chosen on validation packages of the training side, never on the
   held-out ones: the smallest probability at which the hybrid's accuracy there is within 0.02 of
   Magika's own; 0.7 since stop 67), or its label is ``unknown`` (prose) or ``other`` (JSON, YAML,
   XML, HTML, CSS, Markdown, Makefile, CSV: Magika names those), or its window has under
   ``MIN_WORDS`` tokens, mostly blank lines, or over ``MAX_BINARY_FRACTION`` control or replacement
   bytes.

Magika is imported (about 0.6 s) and loaded (0.2 s) only when a document needs it.
``model="magika"`` runs Magika on every document, the path before the hybrid (``DomainConfig``'s
``code_language_model: magika``); ``detect_code_language_per_document`` is its slow reference.

Measured on packages no model here trained on (``benchmarks/bench_code_language.py``: 2,206 files of
16 held-out packages, one per language; figures of one run on a shared 2-core machine, before Magika's
int8 copy and before stop 40 retrained the fastText model on today's corpus and stop 41 added six
training packages, after which the hybrid has 0.945 and the fastText model alone 0.826; see the README):
the hybrid 0.958 accuracy (macro 0.969) at 2.6 ms of CPU per document, Magika deciding 18.3% of the
files; Magika alone 0.976 (macro 0.970) at 16.8 ms; the fastText model alone 0.849 (macro 0.894) at
0.19 ms. On the validation packages the hybrid had 0.970 with Magika on 7.4%: on the held-out ones
fastText is unsure more often, and sure and wrong more often. Weak spots there: SQL 0.78 (29 of 200
PostgreSQL schema files of one package called Python by a sure fastText, so Magika never saw them)
and TypeScript 0.81 (32 of 200 files called JavaScript); Magika's own weak spot, C++ headers with
little C++-only syntax read as C (23 of 75 held-out C++ files), is mostly gone (0.973). In
``benchmarks/bench_labels.py``'s speed part (1,500 documents, half code) labelling and quality
scoring take 43% of the time per document instead of 69% with Magika on every code document.

Magika (PyPI ``magika``, Apache-2.0; its ONNX model ``standard_v3_3`` ships inside the wheel and runs
on ``onnxruntime``, nothing is downloaded) reads the first and last 1 KB of a document (whitespace
stripped), so its cost per document is bounded. Here those 2,048 model inputs are cut for every
document of the batch by one numba kernel straight from the Arrow buffer, the model runs on
``MAGIKA_BATCH`` documents per call in a one-thread session created once per process, and Magika's
own rules turn each model answer into its output label (per-label confidence thresholds,
``txt``/``unknown`` when unsure). With Magika's own model (``magika="original"``) the labels equal its
public ``identify_bytes`` called one
document at a time (``detect_code_language_per_document``, the slow reference; checked on the
2,206 held-out files of ``benchmarks/bench_code_language.py`` and in the tests).

Where Magika's time goes (held-out code files, 2 shared cores): the model itself, about 12 ms of
CPU per document whatever the batch size (1 to 256 documents per call), 45% of it one convolution
(256 -> 512 channels, width 5, over 512 positions: 333 M multiply-adds per document), most of the
rest element-wise activations and the one-hot input layer. Magika's per-document Python (feature
lists of ints, list input to onnxruntime, result objects) adds about 1.3 ms; cutting the inputs
here costs under 0.01 ms. So batching saves 10-35% of the CPU (14-20 -> 13 ms per document in
three runs of ``benchmarks/bench_code_language.py`` on a shared machine), not more: exact Magika
stays near 80 documents per CPU-second; hence the fastText model in front of it.

One thread, not onnxruntime's default of one per core: about the same CPU per document, and
curation runs one worker process per core, where more threads only compete with the other workers
(``threads=0`` gives a lone process every core back: 76 -> 150 documents/s of wall time on 2).
Dependency: ``magika`` (3.4 MB installed) pulls ``onnxruntime`` (78 MB) and ``click``. The
batched path calls Magika internals (its model config, model path and output-label rule), so
``pyproject`` pins ``magika`` to the 1.0 series it was checked with.

midtrain's int8 copy (``models/magika-int8.onnx``, 0.9 MB, built by ``scripts/quantize_magika.py``;
``magika="int8"``, the default, or ``DomainConfig.magika_model``) removes most of the model's work. The
byte embedding and its GELU become a lookup table (bit-identical), the GELU before the max-pool moves
after it (the pool keeps each channel's max and min, and the tanh GELU, falling to one minimum and
rising after it, is largest at one of the two: bit-identical on 1,024 files), and onnxruntime's static
quantization makes the convolution and the last dense layer int8 (calibrated on code-language
training packages only). On the 2,697 validation files (``bench_code_language.py --packages
validation``): 2.1 instead of 8.2 ms of CPU per document, 99.81% of the labels equal to Magika's own,
accuracy 0.9886 against 0.9874, the hybrid's labels all equal. Since stop 42 the quantized graph is
also rewritten in ways that keep every output bit (the pools run on the convolution's uint8 codes,
broadcasts are no longer materialised; ``scripts/quantize_magika.py``): 2.03 -> 1.68 ms in one run of
the same benchmark, outputs bit-equal on all 19,300 code-language files. ``magika="original"`` runs Magika's
own file, whose labels equal ``identify_bytes``. The copy records the SHA-256 of the file it was built
from (``models/magika-int8.json``) and is refused, with a ``ConfigError``, next to another Magika model.

Columns (``CODE_LANGUAGE_SIGNAL_SCHEMA``), whichever model decided a document:

- ``code_language``: fastText's label, one of the 16 measured ``CODE_LANGUAGES``; or Magika's label
  when its group is ``code``, renamed to midtrain's names (``cpp``/``hpp`` -> ``c++``, ``h`` -> ``c``,
  ``cs`` -> ``c#``, ``objectivec`` -> ``objective-c``, ``jsx`` -> ``javascript``, ``tsx`` ->
  ``typescript``): Magika also names languages the fastText model does not know (``kotlin``,
  ``swift``, ``c#``, ...) and data and markup formats it files under code (``json``, ``yaml``,
  ``xml``, ``html``, ``css``, ``csv``, ``makefile``, ``dockerfile``, ...). ``"unknown"`` (never null)
  for everything else: empty or whitespace-only text, prose (Magika says ``txt``, ``markdown``,
  ``rst``...), binary data, documents Magika is not sure of (in its default high-confidence mode it
  then answers ``txt`` or ``unknown`` itself), and any label whose score is below ``min_score``.
- ``code_language_score``: the deciding model's probability of its label (fastText's, at least the
  threshold; or Magika's of its model label); 0 for empty or whitespace-only text, 1 for text too
  short for Magika's model (under 8 bytes once stripped; Magika's own answer).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.models import MODELS_DIR, load_classifier
from midtrain.curation.labels.text_windows import (NEWLINE_TOKEN, as_string_array, fasttext_line_array,
                                                   string_buffers, text_windows)
from midtrain.errors import ConfigError

CODE_LANGUAGES = ("c", "c++", "go", "java", "javascript", "lua", "ocaml", "perl", "php", "python", "r", "ruby",
                  "rust", "shell", "sql", "typescript")
"""Languages measured on held-out packages; Magika names more (``kotlin``, ``swift``, ``c#``, ...)."""
UNKNOWN = "unknown"
DEFAULT_MIN_SCORE = 0.0
"""Magika's high-confidence mode already turns unsure answers into ``txt``/``unknown``."""
MAGIKA_THREADS = 1
"""onnxruntime threads per process: one suits one curation worker per core (see above); 0 lets
onnxruntime take every core, for a single process on an otherwise idle machine."""
MAGIKA_BATCH = 16
"""Documents per model call: CPU time per document is flat from 1 to 256 (measured), and 16 keeps
the largest activation (16 x 512 x 508 floats) at 17 MB."""
MAGIKA_INT8_FILE = MODELS_DIR / "magika-int8.onnx"
"""midtrain's int8 copy of Magika's model (``scripts/quantize_magika.py``)."""
MAGIKA_INT8_INFO = MODELS_DIR / "magika-int8.json"
"""What the copy was built from (Magika version, model name, SHA-256 of its file), checked on load."""
MAGIKA_VARIANTS = ("int8", "original")
"""``int8``: midtrain's rewritten, quantized copy of Magika's model (default, about 4x less CPU);
``original``: Magika's own file, whose labels equal Magika's ``identify_bytes``."""

CODE_LANGUAGE_MODELS = ("hybrid", "magika", "fasttext")
"""``hybrid`` (default): the shipped fastText model, Magika where it is unsure; ``magika``: Magika alone;
``fasttext``: the shipped fastText model alone, never Magika (the documents the hybrid would send to
Magika keep fastText's language when it names one, else ``unknown``): the fast, less accurate choice."""
FASTTEXT_MODEL = "code_language"
"""The shipped fastText model (``models/code_language.ftz``; its settings in ``code_language.json``)."""
OTHER = "other"
"""fastText's class for data and markup formats (JSON, YAML, XML, HTML, CSS, Markdown, Makefile,
CSV): such documents go to Magika, which names them."""
MAX_BINARY_FRACTION = 0.1
"""Above this share of control bytes and U+FFFD bytes in fastText's window, Magika decides."""
MIN_WORDS = 20
"""Fewer tokens than this (newline tokens aside) in fastText's window, and Magika decides."""
MAX_NEWLINE_SHARE = 0.5
"""More newline tokens than this share of fastText's window, and Magika decides (no code document
of the validation sources comes near either limit: the most newline-heavy is at 0.3)."""

RENAME = {"cpp": "c++", "hpp": "c++", "h": "c", "cs": "c#", "objectivec": "objective-c", "jsx": "javascript",
          "tsx": "typescript"}

CODE_LANGUAGE_SIGNAL_SCHEMA: dict[str, pa.DataType] = {
    "code_language": pa.string(),         # see the module docstring; "unknown" when not code or unsure
    "code_language_score": pa.float32(),  # Magika's probability of its label
}


@dataclass(frozen=True)
class _MagikaModel:
    """Magika (for its config and output rule) plus a one-thread session over its ONNX model."""

    magika: object   # magika.Magika
    session: object  # onnxruntime.InferenceSession
    labels: tuple[str, ...]  # the model's output classes, in column order
    beg: int     # bytes read from the stripped head
    end: int     # bytes read from the stripped tail
    block: int   # bytes read at each end before stripping
    pad: int     # the padding input
    min_bytes: int  # fewer stripped bytes than this: no model (Magika answers txt/unknown, score 1)


def _magika():
    """A ``magika.Magika``, with a clear error if the package is missing."""
    try:
        from magika import Magika
    except ImportError as exc:  # pragma: no cover - magika is a dependency
        raise ImportError("detect_code_language needs `pip install magika` (ships its model)") from exc
    return Magika()


def magika_model_file() -> Path:
    """The ONNX file of the installed Magika's model."""
    return Path(_magika()._model_path)


@functools.lru_cache(maxsize=4)
def _model(threads: int = MAGIKA_THREADS, variant: str = "int8") -> _MagikaModel:
    """The process-wide model (about 0.6 s to import magika and onnxruntime, 0.2 s to load)."""
    import onnxruntime as rt

    if variant not in MAGIKA_VARIANTS:
        raise ConfigError(f"Magika model {variant!r}: expected one of {list(MAGIKA_VARIANTS)}")
    m = _magika()
    cfg = m._model_config
    if cfg.mid_size or cfg.use_inputs_at_offsets or cfg.beg_size >= cfg.block_size or cfg.end_size >= cfg.block_size:
        raise RuntimeError(f"magika's model {m.get_model_name()} reads a layout midtrain's batched path does not "
                           "cut (middle bytes or fixed offsets): install magika 1.0.x, as pyproject.toml pins")
    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    path = Path(m._model_path) if variant == "original" else _int8_file(m.get_model_name(), Path(m._model_path))
    session = rt.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _MagikaModel(magika=m, session=session, labels=tuple(map(str, cfg.target_labels_space)),
                        beg=cfg.beg_size, end=cfg.end_size, block=cfg.block_size, pad=cfg.padding_token,
                        min_bytes=cfg.min_file_size_for_dl)


def _int8_file(model_name: str, source: Path) -> Path:
    """``MAGIKA_INT8_FILE``, after checking that it was built from the installed Magika's model file."""
    try:
        record = json.loads(MAGIKA_INT8_INFO.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{MAGIKA_INT8_INFO}: missing or unreadable ({exc}): reinstall midtrain, or set the "
                          "domain labeller's magika_model: original") from exc
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if record.get("model") != model_name or record.get("source_sha256") != digest:
        raise ConfigError(f"{MAGIKA_INT8_FILE} was built from Magika's {record.get('model')} "
                          f"(sha256 {str(record.get('source_sha256'))[:12]}...), but the installed Magika's model is "
                          f"{model_name} (sha256 {digest[:12]}...): install magika=={record.get('magika')}, rebuild "
                          "it with `python scripts/quantize_magika.py`, or set magika_model: original")
    if not MAGIKA_INT8_FILE.is_file():
        raise ConfigError(f"{MAGIKA_INT8_FILE} is missing: reinstall midtrain, or set magika_model: original")
    return MAGIKA_INT8_FILE


@numba.njit(cache=True)
def _is_space(b: int) -> bool:
    """``bytes.strip()``'s whitespace: space, \\t, \\n, \\v, \\f, \\r."""
    return b == 32 or 9 <= b <= 13


@numba.njit(cache=True)
def _is_blank_space(b: int) -> bool:
    """What blank text may hold: ``\\s`` of the regular expressions Arrow runs (no \\v, unlike ``strip()``)."""
    return b == 32 or b == 9 or b == 10 or b == 12 or b == 13


@numba.njit(cache=True)
def magika_inputs(data: np.ndarray, offsets: np.ndarray, beg: int, end: int, block: int, pad: int,
                  out: np.ndarray, head_bytes: np.ndarray, blank: np.ndarray) -> None:
    """Magika's model inputs for each document ``data[offsets[i]:offsets[i+1]]``, into ``out[i]``.

    At most ``block`` bytes are read at each end; the head is left-stripped and its first ``beg``
    bytes are kept (padded after with ``pad``), the tail right-stripped and its last ``end`` bytes
    kept (padded before). ``head_bytes[i]`` is the stripped head's length (decides whether the model
    runs at all); ``blank[i]`` whether the whole document is empty or whitespace.
    """
    for i in range(len(offsets) - 1):
        lo, hi = offsets[i], offsets[i + 1]
        s = lo
        while s < hi and _is_blank_space(data[s]):
            s += 1
        blank[i] = s == hi
        read = min(block, hi - lo)
        s, e = lo, lo + read
        while s < e and _is_space(data[s]):
            s += 1
        head_bytes[i] = e - s
        k = min(beg, e - s)
        out[i, :k] = data[s:s + k]
        out[i, k:beg] = pad
        s, e = hi - read, hi
        while e > s and _is_space(data[e - 1]):
            e -= 1
        k = min(end, e - s)
        out[i, beg:beg + end - k] = pad
        out[i, beg + end - k:beg + end] = data[e - k:e]


def _output_labels(model: _MagikaModel, idx: np.ndarray, probs: np.ndarray) -> list[tuple[str, str]]:
    """``(Magika output label, its group)`` per model answer, by Magika's own high-confidence rule."""
    from magika.types import ContentTypeLabel

    m = model.magika
    out = []
    for j, p in zip(idx.tolist(), probs.tolist()):
        label, _ = m._get_output_label_from_dl_label_and_score(ContentTypeLabel(model.labels[j]), p)
        out.append((str(label), m._get_ct_info(label).group))
    return out


def _midtrain_label(label: str, group: str) -> str:
    """Magika's output label in midtrain's names, ``unknown`` outside Magika's ``code`` group."""
    return RENAME.get(label, label) if group == "code" else UNKNOWN


def _result_table(labels: np.ndarray, scores: np.ndarray, blank: np.ndarray, min_score: float) -> pa.Table:
    labels[scores < min_score] = UNKNOWN
    labels[blank] = UNKNOWN
    scores[blank] = 0.0
    return pa.table({
        "code_language": pa.array(labels.tolist(), pa.string()),
        "code_language_score": pa.array(scores, pa.float32()),
    })


def detect_code_language(texts: pa.Array | pa.ChunkedArray | list[str], *, min_score: float = DEFAULT_MIN_SCORE,
                         threads: int = MAGIKA_THREADS, model: str = "hybrid",
                         threshold: float | None = None, magika: str = "int8") -> pa.Table:
    """One row per text with the ``CODE_LANGUAGE_SIGNAL_SCHEMA`` columns (null text counts as empty).

    ``model``: ``"hybrid"`` (fastText, Magika for the documents it is unsure of; see the module
    docstring), ``"magika"`` (Magika for every document) or ``"fasttext"`` (fastText alone).
    ``threshold``: the hybrid's fastText probability below which Magika decides (default: the one
    chosen on the validation sources, ``hybrid_settings()["threshold"]``; 0 never runs Magika on a
    language fastText names, above 1 always does). ``threads``: onnxruntime threads for Magika
    (``MAGIKA_THREADS``); labels do not depend on it. ``magika``: which copy of Magika's model runs
    (``MAGIKA_VARIANTS``: ``int8``, midtrain's faster one, or ``original``, Magika's own).
    """
    if model not in CODE_LANGUAGE_MODELS:
        raise ConfigError(f"code-language model {model!r}: expected one of {list(CODE_LANGUAGE_MODELS)}")
    if magika not in MAGIKA_VARIANTS:
        raise ConfigError(f"Magika model {magika!r}: expected one of {list(MAGIKA_VARIANTS)}")
    arr = pc.fill_null(as_string_array(texts), "")
    if len(arr) == 0:
        return pa.table({k: pa.array([], t) for k, t in CODE_LANGUAGE_SIGNAL_SCHEMA.items()})
    if model == "magika":
        return _detect_magika(arr, min_score, threads, magika)
    labels, scores, unsure, blank = _fasttext_first(arr, threshold)
    if model == "fasttext":
        unnamed = unsure & ~np.isin(labels, CODE_LANGUAGES)
        labels[unnamed], scores[unnamed] = UNKNOWN, 0.0
        return _result_table(labels, scores, blank, min_score)
    rows = np.flatnonzero(unsure)
    if len(rows):  # Magika's own rules (txt/unknown when unsure, formats by name); min_score comes last
        decided = _detect_magika(arr.take(pa.array(rows)), 0.0, threads, magika)
        labels[rows] = np.asarray(decided["code_language"].to_pylist(), dtype=object)
        scores[rows] = decided["code_language_score"].to_numpy()
    return _result_table(labels, scores, blank, min_score)


def fasttext_code_language(texts: pa.Array | pa.ChunkedArray | list[str], threshold: float | None = None
                           ) -> pa.Table:
    """The hybrid's first step alone: fastText's ``code_language``/``code_language_score`` (``unknown``
    and 0 for blank text) and whether Magika would decide (``needs_magika``). For the benchmark and
    the tests; never runs Magika."""
    arr = pc.fill_null(as_string_array(texts), "")
    labels, scores, unsure, blank = _fasttext_first(arr, threshold)
    labels[blank], scores[blank] = UNKNOWN, 0.0
    return pa.table({"code_language": pa.array(labels.tolist(), pa.string()),
                     "code_language_score": pa.array(scores, pa.float32()),
                     "needs_magika": pa.array(unsure, pa.bool_())})


@functools.lru_cache(maxsize=1)
def hybrid_settings() -> dict:
    """The shipped fastText model's settings (``models/code_language.json``, written by
    ``scripts/train_code_language.py`` with the model): ``threshold``, ``head``, ``middle``."""
    path = MODELS_DIR / "code_language.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: the code-language model's settings are missing or unreadable ({exc}): "
                          "reinstall midtrain, or rebuild it with `python scripts/train_code_language.py`") from exc
    return {"threshold": float(info["threshold"]), "head": int(info["config"]["head"]),
            "middle": int(info["config"]["middle"])}


def _fasttext_first(arr: pa.LargeStringArray, threshold: float | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """fastText's ``(labels, scores)`` on each document's window, which documents Magika must decide,
    and which are blank (empty or whitespace: ``unknown``, score 0, no model)."""
    settings = hybrid_settings()
    threshold = settings["threshold"] if threshold is None else threshold
    windows = text_windows(arr, settings["head"], settings["middle"])
    lines = fasttext_line_array(windows)
    pred = load_classifier(FASTTEXT_MODEL).predict(lines)
    data, offsets = string_buffers(arr)
    blank = np.empty(len(arr), np.bool_)
    _blank_documents(data, offsets, blank)
    wdata, woffsets = string_buffers(windows)
    binary = np.empty(len(arr), np.float64)
    _binary_fractions(wdata, woffsets, binary)
    labels, scores = pred.labels.copy(), pred.scores.copy()
    little = _too_little_text(lines)
    unsure = ~blank & ((scores < threshold) | (labels == UNKNOWN) | (labels == OTHER)
                       | (binary > MAX_BINARY_FRACTION) | little)
    return labels, scores, unsure, blank


def _too_little_text(lines: pa.LargeStringArray) -> np.ndarray:
    """Which of fastText's lines have too few words, or mostly newline tokens, to be judged (a few
    characters of code, a window of blank lines or of one long unknown word: fastText would still
    name a language, often with a probability near 1). Counted in one numba pass (``_line_tokens``)."""
    data, offsets = string_buffers(lines)
    tokens = np.empty(len(lines), np.int64)
    newlines = np.empty(len(lines), np.int64)
    _line_tokens(data, offsets, np.frombuffer(NEWLINE_TOKEN.encode(), np.uint8), tokens, newlines)
    empty = np.diff(offsets) == 0
    return empty | (tokens - newlines < MIN_WORDS) | (newlines > MAX_NEWLINE_SHARE * tokens)


@numba.njit(cache=True)
def _line_tokens(data: np.ndarray, offsets: np.ndarray, newline: np.ndarray, tokens: np.ndarray,
                 newlines: np.ndarray) -> None:
    """Per line: its spaces plus one (fastText's tokens on a line of single-space-separated tokens), and
    how many times ``newline`` occurs, not overlapping, left to right (what Arrow's ``count_substring``
    counts; ``bench_label_kernels.py``: two Arrow calls took 9.4-9.7 µs per document, this pass 2.0-2.1)."""
    m = len(newline)
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        spaces = 0
        for c in data[a:b]:  # a slice's loop vectorises; data[j] with j from a signed range is wrapped per read
            spaces += c == 32
        found = 0
        j = a
        while j + m <= b:
            k = 0
            while k < m and data[j + k] == newline[k]:
                k += 1
            if k == m:
                found += 1
                j += m
            else:
                j += 1
        tokens[i] = spaces + 1
        newlines[i] = found


@numba.njit(cache=True)
def _blank_documents(data: np.ndarray, offsets: np.ndarray, blank: np.ndarray) -> None:
    """Whether each document is empty or whitespace only (``magika_inputs``'s ``blank``)."""
    for i in range(len(offsets) - 1):
        s, hi = offsets[i], offsets[i + 1]
        while s < hi and _is_blank_space(data[s]):
            s += 1
        blank[i] = s == hi


@numba.njit(cache=True)
def _binary_fractions(data: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """Share of each window's bytes that are control bytes (not whitespace) or part of U+FFFD."""
    for i in range(len(offsets) - 1):
        lo, hi = offsets[i], offsets[i + 1]
        bad = 0
        for j in range(lo, hi):
            b = data[j]
            if (b < 32 and not 9 <= b <= 13) or b == 127:
                bad += 1
            elif b == 0xEF and j + 2 < hi and data[j + 1] == 0xBF and data[j + 2] == 0xBD:
                bad += 3
        out[i] = bad / (hi - lo) if hi > lo else 0.0


def _detect_magika(arr: pa.LargeStringArray, min_score: float, threads: int, variant: str) -> pa.Table:
    """Magika (``variant`` of its model), batched, on every document of ``arr`` (no nulls, at least one)."""
    n = len(arr)
    model = _model(threads, variant)
    data, offsets = string_buffers(arr)
    inputs = np.empty((n, model.beg + model.end), np.int32)
    head_bytes = np.empty(n, np.int64)
    blank = np.empty(n, np.bool_)
    magika_inputs(data, offsets, model.beg, model.end, model.block, model.pad, inputs, head_bytes, blank)
    sizes = np.diff(offsets)
    use_model = np.flatnonzero((sizes >= model.min_bytes) & (head_bytes >= model.min_bytes))
    # Too short for the model: Magika answers txt or unknown with score 1; neither is code.
    labels = np.full(n, UNKNOWN, dtype=object)
    scores = np.ones(n, np.float32)
    for start in range(0, len(use_model), MAGIKA_BATCH):
        rows = use_model[start:start + MAGIKA_BATCH]
        # onnxruntime runs a batch of one on other kernels, whose probabilities differ (by up to 0.012 on real code,
        # more on degenerate input) from the same row's in any larger batch: a lone row goes in twice, so that a
        # document's answer does not depend on how many others needed Magika with it.
        batch = inputs[np.concatenate([rows, rows])] if len(rows) == 1 else inputs[rows]
        probs = model.session.run(["target_label"], {"bytes": batch})[0][:len(rows)]
        best = probs.argmax(axis=1)
        scores[rows] = probs[np.arange(len(rows)), best]
        outputs = _output_labels(model, best, probs[np.arange(len(rows)), best])
        labels[rows] = [_midtrain_label(label, group) for label, group in outputs]
    return _result_table(labels, scores, blank, min_score)


def detect_code_language_per_document(texts: pa.Array | pa.ChunkedArray | list[str], *,
                                      min_score: float = DEFAULT_MIN_SCORE) -> pa.Table:
    """The same columns from Magika's public ``identify_bytes``, one document at a time.

    The slow reference ``detect_code_language`` is checked against (benchmark and tests); about
    1.5 ms more per document, and onnxruntime's default threads.
    """
    arr = pc.fill_null(as_string_array(texts), "")
    m = _magika_reference()
    labels, scores = np.full(len(arr), UNKNOWN, dtype=object), np.zeros(len(arr), np.float32)
    for i, text in enumerate(arr.to_pylist()):
        result = m.identify_bytes(text.encode("utf-8"))
        if result.ok:
            labels[i] = _midtrain_label(str(result.prediction.output.label), result.prediction.output.group)
            scores[i] = result.prediction.score
    blank = pc.match_substring_regex(arr, r"^\s*$").to_numpy(zero_copy_only=False)
    return _result_table(labels, scores, blank, min_score)


@functools.lru_cache(maxsize=1)
def _magika_reference():
    """The process-wide ``magika.Magika`` of the per-document reference."""
    return _magika()

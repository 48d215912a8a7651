"""Domain labels (web, math, code, reasoning, or user-defined): rules combined with fastText.

Decided per document, in this order (the column ``domain_rule`` records which one decided):

1. ``hint``       the input's ``domain_hint`` (``INPUT=DOMAIN``), when ``hint_wins`` (default);
2. ``empty`` / ``binary`` / ``unknown_script``  -> ``unknown``: no text, mostly control bytes or
                  replacement characters, or a script the classifier never saw in training (under 30%
                  Latin letters) without LaTeX or code lines (rule 5): the classifier is not asked there,
                  since it is sure of such text only because it knows none of its words (stop 61);
3. ``extension``  the reader's ``path`` has a known extension (``.py`` -> code, ``.tex`` -> math);
4. ``classifier`` fastText on the document's window, its probabilities mixed with those of a word model
                  of pretrained word vectors (``word_vectors.py``; ``word_model``; fastText's share
                  shrinks with the share of the window's words it does not know), when the mix is at
                  least ``min_confidence`` sure. The word model runs only where fastText's top probability
                  is under ``word_model_gate`` (0.99); elsewhere fastText's own probabilities are the scores.
                  Opt-in (``encoder``): where a sentence encoder's top label is reasoning, its vote joins
                  the mix (``encoder.py``);
5. ``latex`` / ``code_lines``  otherwise, and in a script the classifier never saw, the content signals
                  break the tie: LaTeX commands per KB -> math, a majority of code-shaped lines -> code;
                  else the classifier's label (``unknown`` in an unseen script). Where the classifier was
                  not asked (an unseen script, another language), code lines come first when most of the
                  LaTeX marks are ``$``: there they are shell, Perl or PHP variables (stop 63).

Length is a property, not a topic: every document keeps its topical domain and gets
``length_chars``; a schedule's ``long`` selects documents above a token length across domains
(see the schedule reference). ``long_min_bytes`` brings back the old rule (``length`` -> ``long``,
after ``hint``) for users who want a folder of long documents.

All of it is vectorised over a batch: signals with Arrow regex kernels, the decision with numpy.
The classifier can be any fastText model (``midtrain train-classifier``), so its labels are the
user's; the rules only ever produce ``unknown``, ``long``, the extension map's labels, math and code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.code_language import CODE_LANGUAGE_MODELS, MAGIKA_VARIANTS, detect_code_language
from midtrain.curation.labels.encoder import ENCODER_DTYPES, encoder_mixed, start_embedding
from midtrain.curation.labels.line_shapes import line_shape_counts
from midtrain.curation.labels.models import Predictions, load_classifier
from midtrain.curation.labels.rare_words import known_fractions, model_lines
from midtrain.curation.labels.text_windows import (PUNCT_RUN_CAP, PUNCT_RUN_JOIN, as_string_array,
                                                   capped_punct_runs, fasttext_line_array, windows_and_lines)
from midtrain.curation.labels.unicode_counts import COLUMNS, class_counts
from midtrain.curation.labels.word_vectors import SHIPPED_WORD_MODEL, WordModel, load_word_model
from midtrain.errors import ConfigError

DOMAINS = ("web", "math", "code", "reasoning")
"""Topical domains of the shipped classifier; ``unknown`` is the label of text it cannot judge."""
UNKNOWN = "unknown"

# Extensions of source files (The Stack's language list, abridged) and of math markup.
CODE_EXTENSIONS = (
    "py", "pyi", "ipynb", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "cu", "cuh", "java", "kt", "kts", "scala",
    "go", "rs", "js", "mjs", "cjs", "jsx", "ts", "tsx", "rb", "php", "pl", "pm", "lua", "r", "jl", "swift", "m",
    "mm", "cs", "fs", "hs", "ml", "mli", "clj", "ex", "exs", "erl", "dart", "zig", "nim", "sh", "bash", "zsh",
    "ps1", "sql", "asm", "s", "f", "f90", "f95", "v", "sv", "vhd", "cmake", "mk", "proto", "gradle", "groovy",
)
MATH_EXTENSIONS = ("tex", "lyx", "bib", "sty", "cls")

# Line shapes that are code in almost every language: statements ending in ; { } ) : or
# opening with a declaration keyword, a comment marker or a preprocessor directive.
_CODE_LINE = (r"(?m)^[ \t]*(?:(?:def|class|import|from|return|if|for|while|fn|func|let|var|const|pub|"
              r"use|package|struct|impl|#include|#define|//|/\*|\*|#)\b.*|.*[;{}):,][ \t]*)$")
_NONEMPTY_LINE = r"(?m)^[ \t]*\S.*$"
_DIGIT = r"[0-9]"
_MATH_SYMBOL = r"\p{Sm}|[∀∃∈∉⊂⊆∪∩∑∏∫√∞≈≠≤≥≡λ]"
_LATEX = r"\\[A-Za-z]+|\$|\.\. math::|:math:`"
_BINARY = "[\x00-\x08\x0e-\x1f\x7f\ufffd]"


@dataclass(frozen=True)
class DomainConfig:
    """How ``label_domains`` decides; every field has a default that works on real mixes."""

    model: str = "domain"
    """fastText model: ``"domain"`` (shipped) or a path to your own ``.ftz``."""
    hint_wins: bool = True
    """A ``domain_hint`` from the input is the label (the user knows the source)."""
    long_min_bytes: int | None = None
    """If set, documents this long are ``long`` whatever their topic (the pre-0.2 rule; 131072 was
    its default). Off by default: length is the ``length_chars`` column, and a schedule's ``long``
    selects by length inside every domain."""
    min_latin_fraction: float = 0.3
    """Below this share of Latin letters among the window's letters, the classifier is not asked: the document is
    ``unknown`` unless LaTeX or code lines decide (the shipped classifier learnt English text only, and is sure of
    Russian or Chinese text because it knows none of its words; stop 61's E67). Set 0 for a classifier of your own
    that learnt other scripts."""
    code_language: bool = True
    """Detect the language of every document labelled ``code`` from its content (see
    ``code_language.py``): columns ``code_language`` and ``code_language_score``, null elsewhere."""
    code_language_model: str = "hybrid"
    """``hybrid``: the shipped fastText model, Magika only where it is unsure (about 0.2 ms per
    code document plus Magika's ~2 ms, int8, on the unsure ones); ``magika``: Magika on every code document;
    ``fasttext``: the fastText model alone (no Magika: faster, less accurate; see ``code_language.py``)."""
    magika_model: str = "int8"
    """Which copy of Magika's model runs: ``int8``, midtrain's rewritten and quantized one (about a quarter
    of the CPU; 99.7-99.8% of its labels equal Magika's on the code-language benchmark's packages), or
    ``original``, Magika's own (labels equal to
    Magika's ``identify_bytes``)."""
    max_binary_fraction: float = 0.1
    """Above this share of control bytes and U+FFFD in the window, a document is ``unknown``."""
    other_language_min_score: float | None = 0.5
    """Where the pipeline's language ID (``languages``, ``language_scores`` of ``label_domains``; the
    ``LanguageID`` step's columns) names a language outside ``classifier_languages`` at least this sure, the
    classifier is not asked: LaTeX or code lines decide (code lines first where most LaTeX marks are ``$``), else
    the document is ``web`` (rule ``other_language``):
    prose in a language the classifier never learnt, which the web policy's language check then judges. None: off.
    A classifier of English text is sure of German prose too (it called 31% of such prose math), and code and math are
    exempt from the English keep-list, so such text was kept. 0.5: the lowest of 0.5-0.95 at which the training
    sources' English code, math and reasoning lose at most 0.3 points (stop 62's E72; they lose 0.0-0.1).
    Without language columns (no ``LanguageID`` before the labeller) nothing changes."""
    classifier_languages: tuple[str, ...] = ("en",)
    """The lid.176 languages the classifier learnt (the shipped one: English)."""
    extension_domains: dict[str, str] = field(default_factory=lambda: {
        **{e: "code" for e in CODE_EXTENSIONS}, **{e: "math" for e in MATH_EXTENSIONS}})
    """File extension (no dot, lower case) -> domain, for documents whose reader set ``path``."""
    min_confidence: float = 0.6
    """Below this classifier probability, the LaTeX and code-line signals decide."""
    latex_per_kb: float = 6.0
    """LaTeX commands (and ``$``) per KB of window that make an unsure document math."""
    code_line_fraction: float = 0.5
    """Fraction of code-shaped non-empty lines that makes an unsure document code."""
    head_bytes: int = 512  # window = head + a slice from the middle: fastText's cost is per word
    middle_bytes: int = 512
    tail_bytes: int = 0
    """Also read the document's last N bytes (a third window; 0: head and middle only)."""
    features_min_chars: int = 0
    """Windows shorter than this (characters) are classified from their words alone, without the
    shape-feature tokens: on a short text those few tokens are a large share of fastText's average
    and read as math whatever the words say. 0: every window gets them."""
    punct_run_cap: int = PUNCT_RUN_CAP
    """With the feature tokens, every run of more than this many equal one-byte punctuation tokens is cut to this
    many before the classifier reads the window (``text_windows.cap_punct_runs``): a ``=====`` underline reads
    ``= = =``. It must equal the ``TrainConfig.punct_run_cap`` the model was trained with (3 for the shipped
    model); 0: every token is read, as models trained before stop 65 need."""
    punct_run_join: bool = PUNCT_RUN_JOIN
    """With ``punct_run_cap``: such a run is read as one token (``===``) instead of ``punct_run_cap`` tokens. It
    must equal the ``TrainConfig.punct_run_join`` the model was trained with (true for the shipped model, stop
    65's E80)."""
    word_model: str | None = "auto"
    """Pretrained word vectors mixed with the classifier (``word_vectors.py``): ``"auto"`` uses the
    shipped ``"domain-words"`` with the shipped ``model`` and none with your own; a path to a model
    written by ``word_vectors.train_word_model`` (same labels as ``model``); or null for the classifier
    alone."""
    word_model_gate: float = 0.99
    """Where fastText's top probability is at least this, it decides alone: the word model is not run,
    and ``domain_score`` and the runner-up columns are fastText's own probabilities. Chosen on
    leave-one-source-out probabilities (stop 50, E42; benchmarks/README.md): macro-F1 0.8750 with the
    word model everywhere, 0.8751 at 0.99, the word model skipped on 59% of the left-out documents;
    documents cut to 300 characters 0.8279 -> 0.8280. Lower gates screen as well (0.95: 0.8755, 0.9:
    0.8748; E43) but were not faster on the speed benchmark, whose documents fastText mostly knows.
    Above 1: the word model on every document (the labeller before stop 50)."""
    encoder: str | None = None
    """Opt-in: a sentence encoder's vote on reasoning (``encoder.py``): ``"reasoning-encoder"`` (shipped head,
    needs ``pip install 'midtrain[encoder]'``) or a path to a head written by ``EncoderHead.save``, with the
    same labels as ``model``. Where the encoder's own top label is reasoning, the mix becomes
    ``softmax(0.3 log p_mix + 0.7 log p_encoder)``. Screened leave-one-source-out (stop 55, E54; fastText at
    three seeds): macro-F1 0.877 -> 0.895 on average; on stop 65's model 0.889 -> 0.904 (stop 66; real runs
    at seeds 0 and 1, stop 67: 0.905 and 0.904). About 40 ms per document on 2 cores, so off by default."""
    encoder_device: str = "auto"
    """Where the encoder runs: ``auto`` (CUDA when torch sees it), ``cpu``, ``cuda``, ``cuda:1``, ..."""
    encoder_dtype: str = "float32"
    """The encoder's precision: ``float32``, ``float16`` (a GPU) or ``bfloat16`` (a GPU, or a CPU with bfloat16
    instructions). Half precision is faster and changes a few labels (benchmarks/README.md, stop 56)."""
    encoder_batch_size: int = 64
    """Windows per forward pass of the encoder (at most the labelling step's batch of documents). On a GPU, float16
    needs 512 or more to be faster than float32 (stop 56)."""

    def __post_init__(self) -> None:
        """Check the values (a curation config builds this class without ``from_dict``); a message starts with the
        field's name, so that the config loader can put the key path in front."""
        ext = self.extension_domains
        if not isinstance(ext, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in ext.items()):
            raise ConfigError("extension_domains: expected a mapping of extension to domain")
        # ".PY" and "py" name the same extension, however the config was built (frozen: set it directly)
        object.__setattr__(self, "extension_domains", {k.lower().lstrip("."): v for k, v in ext.items()})
        if self.code_language_model not in CODE_LANGUAGE_MODELS:
            raise ConfigError(f"code_language_model: expected one of {list(CODE_LANGUAGE_MODELS)}, "
                              f"got {self.code_language_model!r}")
        if self.magika_model not in MAGIKA_VARIANTS:
            raise ConfigError(f"magika_model: expected one of {list(MAGIKA_VARIANTS)}, got {self.magika_model!r}")
        for name in ("min_confidence", "latex_per_kb", "code_line_fraction", "min_latin_fraction",
                     "max_binary_fraction", "word_model_gate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}: expected a number, got {value!r}")
        if self.word_model is not None and not isinstance(self.word_model, str):
            raise ConfigError(f"word_model: expected \"auto\", \"{SHIPPED_WORD_MODEL}\", a path or null, "
                              f"got {self.word_model!r}")
        for name in ("encoder", "encoder_device"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name}: expected a name or path (a string), got {value!r}")
        if self.encoder_dtype not in ENCODER_DTYPES:
            raise ConfigError(f"encoder_dtype: expected one of {list(ENCODER_DTYPES)}, got {self.encoder_dtype!r}")
        size = self.encoder_batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"encoder_batch_size: expected a whole number, 1 or more, got {size!r}")
        for name in ("head_bytes", "middle_bytes", "tail_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name}: expected a whole number of bytes, 0 or more, got {value!r}")
        for name in ("features_min_chars", "punct_run_cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name}: expected a whole number, 0 or more, got {value!r}")
        if not isinstance(self.punct_run_join, bool):
            raise ConfigError(f"punct_run_join: expected true or false, got {self.punct_run_join!r}")
        score = self.other_language_min_score
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                  or not 0 <= score <= 1):
            raise ConfigError(f"other_language_min_score: expected a probability 0..1 or null, got {score!r}")
        langs = self.classifier_languages
        if isinstance(langs, str) or not all(isinstance(x, str) for x in langs):
            raise ConfigError(f"classifier_languages: expected a list of language codes, got {langs!r}")
        object.__setattr__(self, "classifier_languages", tuple(langs))

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None, key: str = "domain") -> DomainConfig:
        """Build from a config mapping; ``ConfigError`` names an unknown or mistyped key."""
        cfg = dict(cfg or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"{key}: unknown key(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**cfg)
        except ConfigError as exc:
            raise ConfigError(f"{key}.{exc}") from None


DOMAIN_SIGNAL_SCHEMA: dict[str, pa.DataType] = {
    "domain_score": pa.float32(),          # probability of the label (1.0 for hint/length/extension)
    "domain_rule": pa.string(),            # which rule decided (see module docstring)
    "domain_classifier": pa.string(),      # the classifier's own top label
    "domain_runner_up": pa.string(),       # its likeliest other label (null unless the classifier decided)
    "domain_runner_up_score": pa.float32(),  # that label's probability
    "domain_latex_per_kb": pa.float32(),
    "domain_code_line_fraction": pa.float32(),
    "length_chars": pa.int64(),            # characters (code points) of the whole document
    "code_language": pa.string(),          # code only: c, c++, java, python, ... or unknown; null otherwise
    "code_language_score": pa.float32(),
}


WINDOW_COUNTS = (*COLUMNS, "code_lines", "step_lines")
"""The columns of :func:`window_counts`."""


def window_counts(windows: pa.Array) -> np.ndarray:
    """``[n, 11]`` int64, the ``WINDOW_COUNTS`` of each window: ``unicode_counts.class_counts`` (characters,
    letters, ..., question marks), then ``line_shapes.line_shape_counts`` (the lines that match ``_CODE_LINE``
    and ``_STEP_LINE``). Two numba passes, equal to Arrow's regex counts of the same patterns."""
    return np.hstack([class_counts(windows), line_shape_counts(windows)])


def content_signals(windows: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(latex commands per KB, fraction of code-shaped lines)`` of each window.

    ``counts``: the windows' :func:`window_counts` when the caller has them already (its non-empty lines,
    LaTeX marks and code-shaped lines are counted there, equal to counting ``_NONEMPTY_LINE``, ``_LATEX``
    and ``_CODE_LINE``)."""
    counts = window_counts(windows) if counts is None else counts
    size = pc.binary_length(windows).to_numpy(zero_copy_only=False).astype(np.float64)
    latex = counts[:, WINDOW_COUNTS.index("latex")].astype(np.float64)
    code = counts[:, WINDOW_COUNTS.index("code_lines")].astype(np.float64)
    lines = counts[:, WINDOW_COUNTS.index("nonempty_lines")].astype(np.float64)
    latex_per_kb = np.divide(latex * 1024.0, size, out=np.zeros_like(size), where=size > 0)
    code_fraction = np.divide(np.minimum(code, lines), lines, out=np.zeros_like(lines), where=lines > 0)
    return latex_per_kb.astype(np.float32), code_fraction.astype(np.float32)


# Content features as extra tokens on the classifier's line ("fxlatex2", "fxcode3", ...): fastText
# learns a weight per token like for any word, but these measure the *shape* of a document (markup
# density, code-shaped lines, digits, math symbols, numbered steps, questions, line length), which
# carries over to sources whose vocabulary the model never saw. Bucket edges are round numbers.
_FEATURES: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("latex", "latex_per_kb", (0.5, 2.0, 6.0, 15.0)),
    ("code", "code_line_fraction", (0.2, 0.5, 0.8)),
    ("digit", "digits_per_kb", (20.0, 60.0, 150.0)),
    ("msym", "math_symbols_per_kb", (0.5, 3.0, 10.0)),
    ("step", "step_lines_fraction", (0.05, 0.2, 0.5)),
    ("quest", "questions_per_kb", (0.5, 2.0)),
    ("line", "mean_line_bytes", (30.0, 60.0, 120.0)),
)
FEATURE_PREFIX = "fx"
_STEP_LINE = r"(?mi)^[ \t]*(?:step[ \t]*\d+|\d{1,2}[.)][ \t]|\(\d{1,2}\)|[-*•][ \t]|first,|then,|therefore|thus|hence|so[ ,])"


def shape_signals(windows: pa.Array, content: tuple[np.ndarray, np.ndarray] | None = None,
                  counts: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per window: the measures behind the feature tokens (the numba passes of :func:`window_counts` for
    digits, math symbols, lines, question marks and numbered steps, equal to counting ``_DIGIT``,
    ``_MATH_SYMBOL``, ``_NONEMPTY_LINE``, ``\\?`` and ``_STEP_LINE``; numpy arithmetic).

    ``content`` and ``counts``: the windows' ``content_signals`` and :func:`window_counts` when the caller
    has them already.
    """
    counts = window_counts(windows) if counts is None else counts
    size = pc.binary_length(windows).to_numpy(zero_copy_only=False).astype(np.float64)
    kb = np.maximum(size, 1.0) / 1024.0
    lines = np.maximum(counts[:, WINDOW_COUNTS.index("nonempty_lines")].astype(np.float64), 1.0)
    steps = counts[:, WINDOW_COUNTS.index("step_lines")].astype(np.float64)
    latex, code_frac = content if content is not None else content_signals(windows, counts)
    return {
        "latex_per_kb": latex.astype(np.float64),
        "code_line_fraction": code_frac.astype(np.float64),
        "digits_per_kb": counts[:, WINDOW_COUNTS.index("digits")] / kb,
        "math_symbols_per_kb": counts[:, WINDOW_COUNTS.index("math_symbols")] / kb,
        "step_lines_fraction": np.minimum(steps, lines) / lines,
        "questions_per_kb": counts[:, WINDOW_COUNTS.index("questions")] / kb,
        "mean_line_bytes": size / lines,
    }


@functools.lru_cache(maxsize=1)
def _space() -> pa.Scalar:
    """The separator of Arrow's joins of ``large_string`` columns (made on first use: a pyarrow scalar made
    at import would load pandas into every process that imports this module)."""
    return pa.scalar(" ", pa.large_string())


def feature_token_array(windows: pa.Array, content: tuple[np.ndarray, np.ndarray] | None = None,
                        counts: np.ndarray | None = None) -> pa.LargeStringArray:
    """The feature tokens of each window, e.g. ``"fxlatex0 fxcode3 fxdigit1 ..."`` (Arrow: a ``take`` of each
    feature's token per bucket, then one element-wise join)."""
    signals = shape_signals(windows, content, counts)
    columns = []
    for name, key, edges in _FEATURES:
        bucket = np.searchsorted(np.asarray(edges), signals[key], side="right")
        tokens = pa.array([f"{FEATURE_PREFIX}{name}{b}" for b in range(len(edges) + 1)], pa.large_string())
        columns.append(tokens.take(pa.array(bucket)))
    return pc.binary_join_element_wise(*columns, _space())


def classifier_line_array(windows: pa.Array, with_features: bool,
                          content: tuple[np.ndarray, np.ndarray] | None = None, features_min_chars: int = 0,
                          counts: np.ndarray | None = None, lines: pa.Array | None = None,
                          punct_run_cap: int = PUNCT_RUN_CAP, punct_run_join: bool = PUNCT_RUN_JOIN
                          ) -> pa.LargeStringArray:
    """What the domain classifier reads: the normalised window, plus the feature tokens if its model knows them
    and the window has at least ``features_min_chars`` characters (see ``DomainConfig.features_min_chars``).
    With the feature tokens and ``punct_run_cap`` > 0, punctuation runs are cut to that many tokens first
    (``DomainConfig.punct_run_cap``), or joined into one token with ``punct_run_join``. ``lines``: the windows'
    ``fasttext_line_array`` when the caller has it already."""
    lines = fasttext_line_array(windows) if lines is None else lines
    if not with_features or not len(lines):
        return lines
    if punct_run_cap > 0:
        lines = capped_punct_runs(lines, punct_run_cap, punct_run_join)
    joined = pc.binary_join_element_wise(lines, feature_token_array(windows, content, counts), _space())
    if features_min_chars <= 0:
        return joined
    long_enough = pc.greater_equal(pc.utf8_length(pc.fill_null(windows, "")), features_min_chars)
    return pc.if_else(long_enough, joined, lines)


def classifier_lines(windows: pa.Array, with_features: bool,
                     content: tuple[np.ndarray, np.ndarray] | None = None, features_min_chars: int = 0,
                     counts: np.ndarray | None = None, punct_run_cap: int = PUNCT_RUN_CAP,
                     punct_run_join: bool = PUNCT_RUN_JOIN) -> list[str]:
    """:func:`classifier_line_array` as Python strings (training, tests)."""
    return classifier_line_array(windows, with_features, content, features_min_chars, counts,
                                 punct_run_cap=punct_run_cap, punct_run_join=punct_run_join).to_pylist()


def extensions(paths: list[str | None] | pa.Array) -> np.ndarray:
    """Lower-case extension (no dot) of each path, ``""`` for none."""
    arr = pa.array(paths, pa.string()) if not isinstance(paths, (pa.Array, pa.ChunkedArray)) else paths
    ext = pc.extract_regex(pc.utf8_lower(pc.fill_null(arr.cast(pa.string()), "")), r"\.(?P<ext>[a-z0-9+]+)$")
    return np.asarray(pc.fill_null(pc.struct_field(ext, "ext"), "").to_numpy(zero_copy_only=False), dtype=object)


def mostly_dollars(windows: pa.Array, counts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Whether more of the LaTeX marks of each window in ``rows`` are ``$`` than anything else (backslash
    commands, ``.. math::``, ``:math:``). Counted only on the rows asked about, with Arrow."""
    if not len(rows):
        return np.zeros(0, dtype=bool)
    dollars = pc.count_substring(windows.take(pa.array(rows)), "$").to_numpy(zero_copy_only=False)
    marks = counts[rows, WINDOW_COUNTS.index("latex")]
    return dollars > marks - dollars


def script_signals(windows: pa.Array, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(share of control bytes and U+FFFD among characters, share of Latin letters among letters)``.

    One numba pass per window (``unicode_counts``); equal to counting ``_BINARY``, ``\\p{L}`` and
    ``\\p{Latin}`` with Arrow's regex kernels, which cost a quarter of the labeller's time.
    """
    counts = (class_counts(windows) if counts is None else counts).astype(np.float64)
    chars, letters, latin, binary = counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3]
    binary_fraction = np.divide(binary, chars, out=np.zeros_like(chars), where=chars > 0)
    latin_fraction = np.divide(latin, letters, out=np.ones_like(letters), where=letters > 0)
    return binary_fraction, latin_fraction


def word_model(config: DomainConfig) -> WordModel | None:
    """The word model ``config.word_model`` names (``"auto"``: the shipped one with the shipped classifier)."""
    ref = config.word_model
    if ref == "auto":
        ref = SHIPPED_WORD_MODEL if config.model == "domain" else None
    return load_word_model(ref) if ref is not None else None


def ranked(probs: np.ndarray, labels: tuple[str, ...]) -> tuple[Predictions, Predictions]:
    """The likeliest and the second likeliest label of each row of ``probs`` (columns ``labels``)."""
    names = np.array(labels, dtype=object)
    order = np.argsort(-probs, axis=1, kind="stable")
    rows = np.arange(len(probs))
    first = Predictions(names[order[:, 0]], probs[rows, order[:, 0]].astype(np.float32))
    if probs.shape[1] < 2:
        return first, Predictions(np.full(len(probs), "", dtype=object), np.zeros(len(probs), np.float32))
    return first, Predictions(names[order[:, 1]], probs[rows, order[:, 1]].astype(np.float32))


def _mixed(words: WordModel, probs: np.ndarray, labels: tuple[str, ...], windows: pa.Array,
           plain_lines: pa.Array, word_set: np.ndarray, gate: float) -> np.ndarray:
    """fastText's probabilities mixed with the word model's on the rows where fastText's top probability is
    under ``gate``; elsewhere fastText's own. The share of known words (``word_set``, fastText's) is counted on
    those rows only: the word model and that share are about a quarter of the labeller's time."""
    rows = np.flatnonzero(probs.max(axis=1, initial=0.0) < gate)  # initial: an empty batch has no max
    out = probs.astype(np.float64)
    if len(rows):
        take = pa.array(rows)
        known = known_fractions(plain_lines.take(take), word_set) if words.known_power else None
        out[rows] = words.mixed(probs[rows], labels, windows.take(take), known)
    return out


def _number(value: object) -> float:
    """``value`` as a float, NaN where it is none (None, a string, a list, a bool)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def other_language(languages: list[str | None] | None, scores: list[float | None] | None, config: DomainConfig,
                   n: int) -> np.ndarray:
    """Where language ID names a language outside ``config.classifier_languages`` at least
    ``config.other_language_min_score`` sure (all False when either is missing or the setting is off). A score that
    is not a number (a reader's own metadata) or a language that is not a string counts as no answer: the rule does
    not fire there."""
    if config.other_language_min_score is None or languages is None or scores is None:
        return np.zeros(n, bool)
    if len(languages) != n or len(scores) != n:
        raise ConfigError(f"label_domains: {len(languages)} languages and {len(scores)} scores for {n} texts")
    lang = np.array([x if isinstance(x, str) else "" for x in languages], dtype=object)
    score = np.array([_number(x) for x in scores], dtype=np.float64)
    known = np.isin(lang, list(config.classifier_languages)) | (lang == "")
    return ~known & (score >= config.other_language_min_score)


def label_domains(texts: pa.Array | list[str], hints: list[str | None] | None = None,
                  paths: list[str | None] | None = None, config: DomainConfig = DomainConfig(),
                  languages: list[str | None] | None = None,
                  language_scores: list[float | None] | None = None) -> pa.Table:
    """One row per text: ``domain`` plus the ``DOMAIN_SIGNAL_SCHEMA`` columns. ``languages`` and
    ``language_scores`` (lid.176's, e.g. the ``LanguageID`` step's) are read by
    ``config.other_language_min_score``."""
    texts_arr = pc.fill_null(as_string_array(texts), "")
    n = len(texts_arr)
    windows, plain_lines = windows_and_lines(texts_arr, config.head_bytes, config.middle_bytes, config.tail_bytes)
    embeddings = None if config.encoder is None or n == 0 else start_embedding(
        windows, config.encoder_device, config.encoder_batch_size, config.encoder_dtype)  # on a GPU, meanwhile
    counts = window_counts(windows)  # the script, line, digit, symbol, code-line and step counts
    latex, code_frac = content_signals(windows, counts)
    binary_frac, latin_frac = script_signals(windows, counts)
    classifier = load_classifier(config.model)
    with_features = classifier.knows(f"{FEATURE_PREFIX}code0")
    lines = model_lines(classifier, classifier_line_array(windows, with_features, (latex, code_frac),
                                                          config.features_min_chars, counts, plain_lines,
                                                          config.punct_run_cap, config.punct_run_join))
    words = word_model(config)
    if words is None and config.encoder is None:
        pred, second = classifier.predict_ranked(lines, 2)
    else:
        probs, labels = classifier.predict_all(lines)
        if words is not None:
            probs = _mixed(words, probs, labels, windows, plain_lines, classifier.word_set, config.word_model_gate)
        if embeddings is not None:
            probs = encoder_mixed(probs, labels, config.encoder, embeddings)
        pred, second = ranked(probs, labels)

    domain = pred.labels.copy()
    score = pred.scores.copy()
    rule = np.full(n, "classifier", dtype=object)
    unsure = pred.scores < config.min_confidence
    # a script the classifier never learnt: it is sure of such text only because it knows none of its words
    # (stop 61's E67), so it is not asked; the script-free content signals decide, else the label is unknown
    unseen_script = latin_frac < config.min_latin_fraction
    # likewise prose in a language it never learnt, where language ID is sure (stop 61's E69, default at stop 62)
    other = other_language(languages, language_scores, config, n) & ~unseen_script
    not_asked = unseen_script | other
    by_latex = (unsure | not_asked) & (latex >= config.latex_per_kb)
    # where no classifier was asked, `$` that begins shell, Perl or PHP variables is not TeX (stop 63's E74)
    code_shaped = code_frac >= config.code_line_fraction
    variables = np.flatnonzero(not_asked & by_latex & code_shaped)
    by_latex[variables] = ~mostly_dollars(windows, counts, variables)
    by_code = (unsure | not_asked) & ~by_latex & code_shaped
    domain[by_latex], rule[by_latex] = "math", "latex"
    domain[by_code], rule[by_code] = "code", "code_lines"

    if paths is not None:
        ext = extensions(paths)
        mapped = np.array([config.extension_domains.get(e, "") for e in ext], dtype=object)
        by_ext = mapped != ""
        domain[by_ext], rule[by_ext], score[by_ext] = mapped[by_ext], "extension", 1.0
    chars = pc.utf8_length(texts_arr).to_numpy(zero_copy_only=False).astype(np.int64)
    by_language = other & (rule == "classifier")
    domain[by_language], rule[by_language] = "web", "other_language"
    unknown_script = unseen_script & (rule == "classifier")
    binary = binary_frac > config.max_binary_fraction
    for mask, reason in ((unknown_script, "unknown_script"), (binary, "binary"), (chars == 0, "empty")):
        domain[mask], rule[mask], score[mask] = UNKNOWN, reason, 0.0
    if config.long_min_bytes is not None:
        size = pc.binary_length(texts_arr).to_numpy(zero_copy_only=False)
        by_len = size >= config.long_min_bytes
        domain[by_len], rule[by_len], score[by_len] = "long", "length", 1.0
    if hints is not None and config.hint_wins:
        hint = np.array([h or "" for h in hints], dtype=object)
        by_hint = hint != ""
        domain[by_hint], rule[by_hint], score[by_hint] = hint[by_hint], "hint", 1.0

    # the classifier's likeliest label other than the domain, where the classifier (or a tie-break) decided
    by_model = np.isin(rule, ("classifier", "latex", "code_lines")) & ~not_asked
    top_is_domain = pred.labels == domain
    runner_up = np.where(top_is_domain, second.labels, pred.labels)
    runner_up_score = np.where(top_is_domain, second.scores, pred.scores).astype(np.float32)
    runner_up[~by_model | (runner_up == "")] = None
    runner_up_score[~by_model] = np.nan

    code_lang = np.full(n, None, dtype=object)
    code_score = np.full(n, np.nan, dtype=np.float32)
    is_code = np.flatnonzero(domain == "code")
    if config.code_language and len(is_code):
        detected = detect_code_language(texts_arr.take(pa.array(is_code)), model=config.code_language_model,
                                        magika=config.magika_model)
        code_lang[is_code] = np.asarray(detected.column("code_language").to_pylist(), dtype=object)
        code_score[is_code] = detected.column("code_language_score").to_numpy()
    return pa.table({
        "domain": pa.array(domain.tolist(), pa.string()),
        "domain_score": pa.array(score, pa.float32()),
        "domain_rule": pa.array(rule.tolist(), pa.string()),
        "domain_classifier": pa.array(pred.labels.tolist(), pa.string()),
        "domain_runner_up": pa.array(runner_up.tolist(), pa.string()),
        "domain_runner_up_score": pa.array(runner_up_score, pa.float32(), from_pandas=True),
        "domain_latex_per_kb": pa.array(latex, pa.float32()),
        "domain_code_line_fraction": pa.array(code_frac, pa.float32()),
        "length_chars": pa.array(chars, pa.int64()),
        "code_language": pa.array(code_lang.tolist(), pa.string()),
        "code_language_score": pa.array(code_score, pa.float32(), from_pandas=True),
    })

"""Out-of-source probabilities of a *genre* model for every leave-one-source-out fold (issue 14, E38).

    python benchmarks/genre_folds.py --out genre.npz [--workers 2]
    python benchmarks/screen_word_model.py --probs loso.npz --variants mean --genre genre.npz --genre-share 0.15 0.3

The domain models fail on six training sources by genre, not vocabulary (stop 48: the share of a window's words
fastText knows does not tell wrong labels from right ones). A genre model sees no topic words: per fold, a fastText
model with the domain model's recipe (``DOMAIN_TRAIN_CONFIG``) on the fold's own domain examples, every text
*delexicalized* first (``delexicalize``):

- a maximal run of letters is kept, ASCII lower-cased, if that run occurs in at least half of the fold's training
  sources (counted over every document of each source; ``run_hashes``); otherwise it becomes ``zqc``
  (the run starts with an ASCII capital) or ``zqw``;
- a maximal run of ASCII digits becomes ``zqd``;
- every other character (whitespace, punctuation, symbols) stays.

``delexicalize`` is one numba pass over the UTF-8 bytes (letters are ``\\p{L}`` from ``unicode_counts``' table),
tested against the plain-Python ``delexicalize_reference`` in ``tests/test_genre.py``.

So a model learns from function words, punctuation, layout and the shapes of words. It predicts on the labeller's
own windows (512 + 512 bytes), delexicalized the same way, of each left-out document whole and cut to 300
characters. The file holds, per left-out document in ``sources`` order with ``index`` into the corpus table,
``genre_probs`` and ``crop_genre_probs`` (columns web, code, math, reasoning); ``screen_word_model.py --genre``
mixes them into the saved run's probabilities.

Stop 49 (benchmarks/README.md): E38, not shipped. Mixed in at 0.15 / 0.3 / 0.45 the genre model lowered
leave-one-source-out macro-F1 0.875 -> 0.867 / 0.857 / 0.847; alone it scores 0.812 and fails on the same
sources. It stays a benchmark, not a labeller part.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.training_sets import DOMAIN_TRAIN_CONFIG, crop_text, domain_examples  # noqa: E402
from midtrain.curation.labels.domain import classifier_lines  # noqa: E402
from midtrain.curation.labels.models import load_classifier  # noqa: E402
from midtrain.curation.labels.rare_words import _in_set, fnv1a, hash_set  # noqa: E402
from midtrain.curation.labels.text_windows import as_string_array, string_buffers, text_windows  # noqa: E402
from midtrain.curation.labels.unicode_counts import LETTER, code_point_classes  # noqa: E402
from midtrain.curation.rules.textbatch import _decode_one  # noqa: E402
from midtrain.curation.labels.training import train_classifier  # noqa: E402

TOPICAL = ("web", "code", "math", "reasoning")
CROP = 300

CAPITAL_RUN, WORD_RUN, DIGIT_RUN = "zqc", "zqw", "zqd"
_PLACEHOLDERS = np.frombuffer((CAPITAL_RUN + WORD_RUN + DIGIT_RUN).encode(), np.uint8).reshape(3, 3)


@numba.njit(cache=True, inline="always")
def _letter_run_end(data: np.ndarray, j: int, hi: int, classes: np.ndarray) -> int:
    """The end of the run of letters starting at ``data[j]`` (``j`` itself when no letter starts there)."""
    while j < hi:
        cp, size = _decode_one(data, j, hi)
        if cp >= len(classes) or not (classes[cp] & LETTER):
            break
        j += size
    return j


@numba.njit(cache=True, inline="always")
def _lower_run(data: np.ndarray, j: int, e: int, scratch: np.ndarray) -> int:
    n = e - j
    for k in range(n):
        b = data[j + k]
        scratch[k] = b + 32 if 65 <= b <= 90 else b
    return n


@numba.njit(cache=True)
def _delexicalize(data: np.ndarray, offsets: np.ndarray, classes: np.ndarray, shared: np.ndarray,
                  placeholders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(offsets) - 1
    out = np.empty(3 * (offsets[n] - offsets[0]) + 1, np.uint8)  # a 1-byte digit run grows to 3 bytes at most
    out_offsets = np.zeros(n + 1, np.int64)
    longest = 1
    for i in range(n):
        longest = max(longest, offsets[i + 1] - offsets[i])
    scratch = np.empty(longest, np.uint8)
    o = 0
    for i in range(n):
        j, hi = offsets[i], offsets[i + 1]
        while j < hi:
            b = data[j]
            if 48 <= b <= 57:
                while j < hi and 48 <= data[j] <= 57:
                    j += 1
                out[o:o + 3] = placeholders[2]
                o += 3
                continue
            e = _letter_run_end(data, j, hi, classes)
            if e == j:
                out[o] = b
                o += 1
                j += 1
                continue
            size = _lower_run(data, j, e, scratch)
            if _in_set(shared, fnv1a(scratch, 0, size)):
                out[o:o + size] = scratch[:size]
                o += size
            else:
                out[o:o + 3] = placeholders[0] if 65 <= b <= 90 else placeholders[1]
                o += 3
            j = e
        out_offsets[i + 1] = o
    return out[:o], out_offsets


def delexicalize(texts: pa.Array | pa.ChunkedArray | list[str], shared: np.ndarray) -> pa.LargeStringArray:
    """Each text with its letter runs outside ``shared`` (a ``rare_words.hash_set`` of ``run_hash``es) and its
    digit runs replaced by their shapes (module docstring); nulls read as empty text."""
    arr = pc.fill_null(as_string_array(texts), "")
    if len(arr) == 0:
        return arr
    data, offsets = string_buffers(arr)
    out, out_offsets = _delexicalize(data, offsets, code_point_classes(), shared, _PLACEHOLDERS)
    return pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(out_offsets), pa.py_buffer(out))


@numba.njit(cache=True)
def _run_hashes(data: np.ndarray, offsets: np.ndarray, classes: np.ndarray) -> np.ndarray:
    hashes = np.empty(offsets[-1] - offsets[0] + 1, np.uint64)  # at most one run per byte
    longest = 1
    for i in range(len(offsets) - 1):
        longest = max(longest, offsets[i + 1] - offsets[i])
    scratch = np.empty(longest, np.uint8)
    count = 0
    for i in range(len(offsets) - 1):
        j, hi = offsets[i], offsets[i + 1]
        while j < hi:
            e = _letter_run_end(data, j, hi, classes)
            if e == j:
                j += 1
                continue
            hashes[count] = fnv1a(scratch, 0, _lower_run(data, j, e, scratch))
            count += 1
            j = e
    return hashes[:count]


def run_hashes(texts: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
    """The distinct hashes of the texts' letter runs, ASCII lower-cased (the keys ``delexicalize`` looks up)."""
    arr = pc.fill_null(as_string_array(texts), "")
    if len(arr) == 0:
        return np.zeros(0, np.uint64)
    data, offsets = string_buffers(arr)
    return np.unique(_run_hashes(data, offsets, code_point_classes()))


def shared_runs(per_source: list[np.ndarray], min_share: float = 0.5) -> np.ndarray:
    """The run hashes found in at least ``min_share`` of the sources, given each source's ``run_hashes``."""
    if not per_source:
        return np.zeros(0, np.uint64)
    values, counts = np.unique(np.concatenate(per_source), return_counts=True)
    return values[counts >= int(np.ceil(min_share * len(per_source)))]


def run_hash(run: str) -> int:
    """The key of one letter run (ASCII lower-cased), as ``run_hashes`` computes it."""
    data = np.frombuffer(run.encode(), np.uint8)
    lowered = np.where((data >= 65) & (data <= 90), data + 32, data).astype(np.uint8)
    return int(fnv1a(lowered, 0, len(lowered)))


def delexicalize_reference(text: str, shared: set[str]) -> str:
    """Plain-Python ``delexicalize`` (tests): ``shared`` holds the kept runs, ASCII lower-cased."""
    classes = code_point_classes()
    lower = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    out, j = [], 0
    while j < len(text):
        c = text[j]
        if "0" <= c <= "9":
            while j < len(text) and "0" <= text[j] <= "9":
                j += 1
            out.append(DIGIT_RUN)
            continue
        e = j
        while e < len(text) and classes[ord(text[e])] & LETTER:
            e += 1
        if e == j:
            out.append(c)
            j += 1
            continue
        run = text[j:e].translate(lower)
        out.append(run if run in shared else CAPITAL_RUN if "A" <= c <= "Z" else WORD_RUN)
        j = e
    return "".join(out)


_TABLE: pa.Table | None = None
_TEXTS: list[str] = []
_SOURCES: np.ndarray = np.zeros(0, dtype=object)
_RUNS: dict[str, np.ndarray] = {}


def _load() -> None:
    """Each process's corpus table (training then held-out sources, as ``bench_labels.py`` builds it) and each
    training source's letter-run hashes."""
    global _TABLE, _TEXTS, _SOURCES, _RUNS
    train = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name not in registry.HELDOUT]
    heldout = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name in registry.HELDOUT]
    _TABLE = registry.corpus_table(train + heldout)
    _SOURCES = np.asarray(_TABLE.column("source").to_pylist(), dtype=object)
    _TEXTS = _TABLE.column("text").to_pylist()
    _RUNS = {s.name: run_hashes([_TEXTS[i] for i in np.flatnonzero(_SOURCES == s.name)]) for s in train}


def fold(name: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, int]:
    """(name, corpus rows of the left-out source, genre probabilities whole and cut, shared-set size)."""
    index = np.flatnonzero(_SOURCES == name)
    kept = shared_runs([h for s, h in _RUNS.items() if s != name])  # in at least half of the fold's sources
    shared = hash_set(kept)
    labels, examples, _ = domain_examples(_TABLE, exclude=set(registry.HELDOUT) | {name})
    probs = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "genre.bin"
        train_classifier(labels, delexicalize(examples, shared).to_pylist(), model, DOMAIN_TRAIN_CONFIG)
        classifier = load_classifier(str(model))
        for key, docs in (("whole", [_TEXTS[i] for i in index]),
                          ("crop", [crop_text(_TEXTS[i], CROP) for i in index])):
            windows = text_windows(pa.array(docs, pa.large_string()), DOMAIN_TRAIN_CONFIG.head,
                                   DOMAIN_TRAIN_CONFIG.middle)
            delexed = delexicalize(windows, shared)
            p, labs = classifier.predict_all(classifier_lines(delexed, with_features=True))
            probs[key] = p[:, [labs.index(d) for d in TOPICAL]]
    return name, index, probs["whole"], probs["crop"], len(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sources", nargs="+", help="only these left-out sources (a quick look)")
    args = parser.parse_args()
    _load()
    names = [n for n in _RUNS if not args.sources or n in args.sources]
    unknown = sorted(set(args.sources or ()) - set(_RUNS))
    if unknown:
        parser.error(f"--sources: not training sources: {unknown}")
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_load) as pool:
        rows = list(pool.map(fold, names))
    sizes = [r[4] for r in rows]
    print(f"{len(rows)} folds in {time.perf_counter() - start:.0f} s; shared letter runs per fold "
          f"{min(sizes)}-{max(sizes)}")
    np.savez_compressed(args.out, sources=np.array([n for n, idx, *_ in rows for _ in idx]),
                        index=np.concatenate([r[1] for r in rows]),
                        genre_probs=np.concatenate([r[2] for r in rows]),
                        crop_genre_probs=np.concatenate([r[3] for r in rows]), columns=np.array(TOPICAL))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

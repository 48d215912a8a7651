"""Which programming language a code document is written in: Google's Magika model, batched.

``detect_code_language(texts)`` gives each document to Magika (PyPI ``magika``, Apache-2.0; its
ONNX model ``standard_v3_3`` ships inside the wheel and runs on ``onnxruntime``, nothing is
downloaded). Magika reads the first and last 1 KB of a document (whitespace stripped), so its
cost per document is bounded. Features are cut per document (Magika's own code, a Python loop),
then the model runs once over the whole batch.

It was chosen over a fastText model trained on the same sources by measurement on packages
neither had trained on (``benchmarks/bench_code_language.py``, 2,206 files of 16 held-out
packages, 16 languages): Magika 0.976 accuracy (macro 0.970) at about 68 documents/s on 2 CPU
cores, the fastText model 0.761 (macro 0.826) at about 7,000/s. Magika's cost is its ONNX model
(about 15 ms of CPU per document; feature cutting is under 2% of it), so run it on documents
already labelled code, not on a whole web crawl. Its known weak spot here: C++ headers (``.h``)
with little C++-only syntax come out as ``c`` (23 of 75 held-out C++ files).
Dependency: ``magika`` (3.4 MB installed) pulls ``onnxruntime`` (78 MB) and ``click``; importing
it takes about 0.6 s, loading the model 0.1 s (both once per process, on first use).

Columns (``CODE_LANGUAGE_SIGNAL_SCHEMA``):

- ``code_language``: Magika's label when its group is ``code``, renamed to midtrain's names
  (``cpp``/``hpp`` -> ``c++``, ``h`` -> ``c``, ``cs`` -> ``c#``, ``objectivec`` -> ``objective-c``,
  ``jsx`` -> ``javascript``, ``tsx`` -> ``typescript``); the 16 measured languages are
  ``CODE_LANGUAGES``; data and markup formats Magika files under code (``json``, ``yaml``,
  ``xml``, ``html``, ``css``, ``csv``, ``makefile``, ``dockerfile``, ...) keep Magika's label.
  ``"unknown"`` (never null) for everything else: empty or whitespace-only text, prose (Magika
  says ``txt``, ``markdown``, ``rst``...), binary data, and documents Magika is not sure of (in
  its default high-confidence mode it then answers ``txt`` or ``unknown`` itself), and any
  label whose score is below ``min_score``.
- ``code_language_score``: Magika's probability of its model label (0 for empty text).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.curation.labels.text_windows import as_string_array

CODE_LANGUAGES = ("c", "c++", "go", "java", "javascript", "lua", "ocaml", "perl", "php", "python", "r", "ruby",
                  "rust", "shell", "sql", "typescript")
"""Languages measured on held-out packages; Magika names more (``kotlin``, ``swift``, ``c#``, ...)."""
UNKNOWN = "unknown"
DEFAULT_MIN_SCORE = 0.0
"""Magika's high-confidence mode already turns unsure answers into ``txt``/``unknown``."""

RENAME = {"cpp": "c++", "hpp": "c++", "h": "c", "cs": "c#", "objectivec": "objective-c", "jsx": "javascript",
          "tsx": "typescript"}

CODE_LANGUAGE_SIGNAL_SCHEMA: dict[str, pa.DataType] = {
    "code_language": pa.string(),         # see the module docstring; "unknown" when not code or unsure
    "code_language_score": pa.float32(),  # Magika's probability of its label
}


@functools.lru_cache(maxsize=1)
def _magika():
    """The process-wide Magika (about 0.6 s to import with onnxruntime, 0.1 s to load the model)."""
    try:
        from magika import Magika
    except ImportError as exc:  # pragma: no cover - magika is a dependency
        raise ImportError("detect_code_language needs `pip install magika` (ships its model)") from exc
    return Magika()


def _magika_batch(docs: list[bytes]) -> tuple[list[str], list[str], np.ndarray]:
    """``(output labels, groups, scores)`` for raw documents, the model run once for the batch."""
    from magika.types import Seekable

    m = _magika()
    results: dict[str, object] = {}
    features = []
    for i, data in enumerate(docs):
        key = Path(str(i))
        result, feat = m._get_result_or_features_from_seekable(Seekable(io.BytesIO(data)), key)
        if result is not None:
            results[str(key)] = result
        else:
            features.append((key, feat))
    results.update(m._get_results_from_features(features))
    labels, groups, scores = [], [], np.zeros(len(docs), np.float32)
    for i in range(len(docs)):
        res = results[str(i)]
        if not res.ok:
            labels.append(UNKNOWN)
            groups.append("")
            continue
        out = res.prediction.output
        labels.append(str(out.label))
        groups.append(out.group)
        scores[i] = res.prediction.score
    return labels, groups, scores


def detect_code_language(texts: pa.Array | pa.ChunkedArray | list[str], *,
                         min_score: float = DEFAULT_MIN_SCORE) -> pa.Table:
    """One row per text with the ``CODE_LANGUAGE_SIGNAL_SCHEMA`` columns (null text counts as empty)."""
    arr = pc.fill_null(as_string_array(texts), "")
    n = len(arr)
    if n == 0:
        return pa.table({k: pa.array([], t) for k, t in CODE_LANGUAGE_SIGNAL_SCHEMA.items()})
    blank = pc.match_substring_regex(arr, r"^\s*$").to_numpy(zero_copy_only=False)
    offsets = np.frombuffer(arr.buffers()[1], np.int64, n + 1, arr.offset * 8)
    data = arr.buffers()[2].to_pybytes() if arr.buffers()[2] is not None else b""
    docs = [b"" if blank[i] else data[offsets[i]:offsets[i + 1]] for i in range(n)]
    labels, groups, scores = _magika_batch(docs)
    out = np.array([RENAME.get(lab, lab) if grp == "code" else UNKNOWN for lab, grp in zip(labels, groups)],
                   dtype=object)
    out[scores < min_score] = UNKNOWN
    out[blank] = UNKNOWN
    scores[blank] = 0.0
    return pa.table({
        "code_language": pa.array(out.tolist(), pa.string()),
        "code_language_score": pa.array(scores, pa.float32()),
    })

"""A batch of documents as one array of Unicode code points, decoded once from Arrow's UTF-8.

Every rule counts characters the way Python does (``len(str)``, ``str.splitlines()``), so the kernels
work on code points, not bytes. ``TextBatch.from_texts`` takes an Arrow string array (zero-copy
access to its UTF-8 buffer) or a list of ``str`` and decodes all documents in one numba pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import pyarrow as pa

from midtrain.errors import MidtrainError

REPLACEMENT = 0xFFFD  # what an invalid UTF-8 byte decodes to, as Python's errors="replace" does


@dataclass(frozen=True)
class TextBatch:
    """Code points of a batch: document ``i`` is ``codepoints[offsets[i]:offsets[i + 1]]``."""

    codepoints: np.ndarray  # uint32
    offsets: np.ndarray  # int64, len = documents + 1

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_texts(cls, texts: pa.Array | pa.ChunkedArray | list[str]) -> "TextBatch":
        """Decode a batch of texts; nulls count as empty documents."""
        arr = _as_large_string(texts)
        _validity, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        if arr.null_count:
            lengths = np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, np.diff(offsets))
            starts = offsets[:-1]
        else:
            lengths = np.diff(offsets)
            starts = offsets[:-1]
        codepoints, cp_offsets = _decode_utf8(data, starts.astype(np.int64), lengths.astype(np.int64))
        return cls(codepoints, cp_offsets)


def _as_large_string(texts) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        try:
            texts = pa.array(texts, type=pa.large_string())
        except UnicodeEncodeError:
            texts = _with_lone_surrogates(texts)
    if pa.types.is_string(texts.type):
        texts = texts.cast(pa.large_string())
    elif not pa.types.is_large_string(texts.type):
        raise MidtrainError(f"rules: expected a string array of document texts, got Arrow type {texts.type}")
    return texts


def _with_lone_surrogates(texts: list) -> pa.Array:
    """Strings holding lone surrogates (JSON's "\\ud800" escapes decode to them) have no UTF-8 form;
    keep each surrogate as its own code point (Python's view: one character), as "surrogatepass"
    encodes it, so that every count still matches ``len(str)``."""
    chunks = [b"" if t is None else t.encode("utf-8", "surrogatepass") for t in texts]
    offsets = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum([len(c) for c in chunks], out=offsets[1:])
    data = pa.py_buffer(b"".join(chunks))
    return pa.Array.from_buffers(pa.large_string(), len(chunks), [None, pa.py_buffer(offsets.tobytes()), data])


@nb.njit(cache=True, nogil=True, inline="always")
def _decode_one(data, i, end):
    """(code point, bytes used) of the UTF-8 sequence at ``data[i]``; a truncated or invalid sequence
    decodes one byte to U+FFFD."""
    b = np.uint32(data[i])
    if b < 0x80:
        return b, 1
    if b >= 0xF0 and i + 3 < end:
        cp = ((b & 0x07) << 18) | ((np.uint32(data[i + 1]) & 0x3F) << 12) | ((np.uint32(data[i + 2]) & 0x3F) << 6) \
            | (np.uint32(data[i + 3]) & 0x3F)
        size = 4
    elif b >= 0xE0 and i + 2 < end:
        cp = ((b & 0x0F) << 12) | ((np.uint32(data[i + 1]) & 0x3F) << 6) | (np.uint32(data[i + 2]) & 0x3F)
        size = 3
    elif b >= 0xC0 and i + 1 < end:
        cp = ((b & 0x1F) << 6) | (np.uint32(data[i + 1]) & 0x3F)
        size = 2
    else:
        return np.uint32(REPLACEMENT), 1
    return (cp if cp < 0x110000 else np.uint32(REPLACEMENT)), size


@nb.njit(cache=True, nogil=True)
def _decode_utf8(data, starts, lengths):
    """UTF-8 bytes of each document -> one uint32 code-point array plus per-document offsets."""
    n = len(starts)
    out = np.empty(lengths.sum(), dtype=np.uint32)  # never more code points than bytes
    offsets = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for d in range(n):
        i = starts[d]
        end = i + lengths[d]
        while i < end:
            cp, size = _decode_one(data, i, end)
            out[k] = cp
            k += 1
            i += size
        offsets[d + 1] = k
    return out[:k], offsets

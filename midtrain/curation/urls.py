"""Curation inputs behind URLs (``s3://bucket/raw/*.jsonl.gz`` and anything else fsspec knows).

Listing happens once, on the driver, when the job is planned (sorted, so the units and the job
fingerprint are the same on every rerun); reading happens inside the datatrove tasks, on
whichever machine runs them (a Ray worker included), through :func:`open_url`: a seekable file
object whose every read is one ranged request with retries
(:func:`midtrain.storage.objects.read_range`), so a dropped connection is retried rather than
taken for the end of the file. Credentials come from the environment as for every URL midtrain
reads (:mod:`midtrain.storage.objects`) and never appear in a message: errors name the URL.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from midtrain.corpus.errors import CorpusError
from midtrain.errors import ConfigError
from midtrain.storage.objects import filesystem, is_url, object_size, read_range, with_retries

T = TypeVar("T")

READ_BUFFER = 8 << 20
"""Bytes one ranged request asks for while a task streams an input object (fewer, larger GETs)."""
_MAGIC = "*?["

__all__ = ["RemoteFile", "is_url", "join", "list_url", "open_url", "remote_call"]


@dataclass(frozen=True)
class RemoteFile:
    """One object found under an input URL: its full URL, its path relative to the listed folder, its size."""

    url: str
    rel: str
    size: int


def remote_call(where: str, url: str, what: str, call: Callable[[], T]) -> T:
    """``call()`` with :func:`~midtrain.storage.objects.with_retries`; a failure is a :class:`ConfigError`
    whose one line names the config key (``where``), the URL and what failed (a denied bucket, a missing
    object, a timeout after the last try), never a traceback or a credential."""
    try:
        return with_retries(url, what, call)
    except CorpusError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def join(root: str, rel: str) -> str:
    """``root/rel`` for a URL folder."""
    return root.rstrip("/") + "/" + rel.lstrip("/")


def has_magic(url: str) -> bool:
    """Whether ``url`` is a glob (``*``, ``?`` or ``[`` after the scheme)."""
    return any(c in url.split("://", 1)[-1] for c in _MAGIC)


def glob_root(url: str) -> str:
    """The folder part of a glob URL before its first wildcard: ``s3://b/raw/*.gz`` -> ``s3://b/raw``."""
    scheme, _, rest = url.partition("://")
    parts = rest.split("/")
    fixed = []
    for part in parts:
        if any(c in part for c in _MAGIC):
            break
        fixed.append(part)
    return f"{scheme}://" + "/".join(fixed)


def url_kind(where: str, url: str) -> str:
    """``"file"``, ``"dir"`` or ``"glob"`` for an input URL (one request); a URL with nothing there is a
    :class:`ConfigError` saying so, a denied one says access was denied (both name the URL)."""
    if has_magic(url):
        return "glob"
    fs = filesystem(url)

    def info() -> dict | None:
        try:
            return fs.info(url)
        except FileNotFoundError:
            return None

    found = remote_call(where, url, "look up", info)
    if found is None:
        raise ConfigError(f"{where}: {url} does not exist (no object and no folder at that URL; check the bucket "
                          "and the key)")
    return "dir" if found.get("type") == "directory" else "file"


def list_url(where: str, url: str, pattern: str | None = None) -> tuple[str, str, list[RemoteFile]]:
    """What an input URL is (``file``, ``dir``, ``glob``), the folder the ``rel`` of its objects is
    relative to, and the objects, sorted by URL.

    A file is itself (relative to its folder); a folder is every object under it (recursively,
    skipping hidden names, filtered by ``pattern`` on the relative path as for local folders); a glob
    is every object it matches, relative to the folder before its first wildcard.
    """
    import pathlib

    fs = filesystem(url)
    kind = url_kind(where, url)
    if kind == "file":
        size = remote_call(where, url, "size", lambda: fs.size(url))
        folder = url.rstrip("/").rsplit("/", 1)[0]
        return kind, folder, [RemoteFile(url, url.rstrip("/").rsplit("/", 1)[1], int(size))]
    if kind == "glob":
        folder = glob_root(url)
        found = remote_call(where, url, "list", lambda: fs.glob(url, detail=True))
    else:
        folder = url.rstrip("/")
        found = remote_call(where, url, "list", lambda: fs.find(url, detail=True))
    base = fs._strip_protocol(folder).rstrip("/")
    files = []
    for path, info in sorted(found.items()):
        if info.get("type") not in ("file", None):
            continue
        rel = posixpath.relpath(fs._strip_protocol(path), base) if base else path
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if pattern and not pathlib.PurePosixPath(rel).match(pattern):
            continue
        files.append(RemoteFile(join(folder, rel), rel, int(info.get("size") or 0)))
    return kind, folder, sorted(files, key=lambda f: f.url)


class _RangeReader(io.RawIOBase):
    """A seekable, read-only raw file over an object: each read is one ranged GET with retries."""

    def __init__(self, url: str, size: int) -> None:
        super().__init__()
        self.url = url
        self.size = size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(base + offset, 0)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        data = read_range(self.url, self.pos, n)
        buffer[:n] = data
        self.pos += n
        return n


def open_url(url: str, *, decompress: bool = False) -> io.BufferedIOBase:
    """The object at ``url`` as a seekable binary file (reads of :data:`READ_BUFFER`, each retried).

    ``decompress``: undo ``.gz``/``.zst``/``.bz2``/``.xz`` by the name's suffix, as local inputs are.
    Errors (missing object, denied, timeouts after the last try) are :class:`CorpusError` naming the URL.
    """
    raw = io.BufferedReader(_RangeReader(url, object_size(url)), buffer_size=READ_BUFFER)
    if not decompress:
        return raw
    from fsspec.compression import compr
    from fsspec.utils import infer_compression

    name = url.lower()
    codec = "zstd" if name.endswith(".zstd") else infer_compression(name)
    if codec is None:
        return raw
    return compr[codec](raw, mode="rb")

"""Objects behind URLs (``s3://bucket/key`` and whatever else fsspec knows): size, ranged reads
with retries, whole-object writes.

Credentials and the endpoint are never passed through midtrain: s3fs (through botocore) finds them
where the AWS tools do — ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), ``AWS_PROFILE`` and ``~/.aws``, instance roles —
and no message here ever includes them: errors name the URL and the status only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Callable, TypeVar

import fsspec

from midtrain.corpus.errors import CorpusError

ATTEMPTS = 5
"""Tries of one request before giving up (the first, then four retries)."""
BACKOFF_S = 0.1
"""First wait between tries; doubled after each (0.1, 0.2, 0.4, 0.8 s: 1.5 s in all)."""
TIMEOUT_S = 30.0
"""Connect and read timeout of one S3 request (botocore's default read timeout is 60 s)."""

T = TypeVar("T")


def is_url(path: object) -> bool:
    """Whether ``path`` names an object store location (``scheme://...``) rather than a local path.

    ``file://`` URLs count as URLs too (fsspec's local filesystem), so tests can exercise the
    remote code paths without a server.
    """
    return isinstance(path, str) and "://" in path and not path.startswith("/")


def filesystem(url: str) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem for ``url``'s scheme, configured from the environment only.

    For ``s3://``, s3fs/botocore resolve credentials, region, profile and ``AWS_ENDPOINT_URL``
    themselves; midtrain only sets timeouts and leaves retries to :func:`with_retries` (botocore's
    own retries and s3fs's are off, so none multiply). Instances are cached per process
    by fsspec and rebuilt after a fork.
    """
    protocol = fsspec.utils.get_protocol(url)
    if protocol in ("s3", "s3a"):
        fs = fsspec.filesystem("s3", config_kwargs={"connect_timeout": TIMEOUT_S, "read_timeout": TIMEOUT_S,
                                                  "retries": {"max_attempts": 1}})
        fs.retries = 1  # s3fs's own retry loop (5 by default) would multiply with with_retries' tries
        return fs
    return fsspec.filesystem(protocol)


def retryable(exc: BaseException) -> bool:
    """Timeouts, dropped connections and 5xx answers are worth another try; a missing object (404),
    a denied request (403) or a bad request are not."""
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError)):
        return False
    if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EINVAL):
        return False
    return isinstance(exc, (OSError, TimeoutError, ConnectionError)) or "botocore" in type(exc).__module__ \
        or "aiohttp" in type(exc).__module__


def with_retries(url: str, what: str, call: Callable[[], T], *, attempts: int = ATTEMPTS,
                 backoff_s: float | None = None) -> T:
    """``call()``, tried up to ``attempts`` times with exponential backoff on retryable errors.

    Raises :class:`CorpusError` naming ``url`` and ``what`` was attempted: at once for a missing
    object or a denied request, after the last try for anything transient.
    """
    if backoff_s is None:
        backoff_s = BACKOFF_S  # read at call time, so a test (or a caller) can change the module default
    for attempt in range(attempts):
        try:
            return call()
        except FileNotFoundError:
            raise CorpusError(f"{url}: {what}: no such object (404); the corpus is missing or incomplete") from None
        except PermissionError:
            raise CorpusError(f"{url}: {what}: access denied (403); check the credentials and the bucket "
                              "policy") from None
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as CorpusError
            if not retryable(exc):
                raise CorpusError(f"{url}: {what} failed ({type(exc).__name__}: {exc})") from None
            if attempt == attempts - 1:
                raise CorpusError(f"{url}: {what} failed after {attempts} tries "
                                  f"({type(exc).__name__}: {exc})") from None
            time.sleep(backoff_s * 2 ** attempt)
    raise AssertionError("unreachable")


def object_size(url: str) -> int:
    """Size in bytes of the object at ``url``."""
    fs = filesystem(url)
    return int(with_retries(url, "size", lambda: fs.size(url)))


def read_range(url: str, start: int, length: int) -> bytes:
    """Bytes ``[start, start + length)`` of the object at ``url`` (one ranged GET), with retries.

    A short answer (the object is smaller than asked) is an error naming the URL.
    """
    fs = filesystem(url)
    data = with_retries(url, f"read bytes {start}-{start + length - 1}",
                        lambda: fs.cat_file(url, start=start, end=start + length))
    if len(data) != length:
        raise CorpusError(f"{url}: asked for {length} bytes at {start}, got {len(data)}; the object is truncated")
    return data


def read_ranges(urls: list[str], starts: list[int], lengths: list[int]) -> list[bytes]:
    """Ranges ``[starts[i], starts[i] + lengths[i])`` of the objects ``urls[i]``, requested concurrently
    (fsspec's ``cat_ranges``); a range that fails or comes back short is retried alone, as :func:`read_range`."""
    if not urls:
        return []
    fs = filesystem(urls[0])
    ends = [s + n for s, n in zip(starts, lengths)]
    try:
        out = fs.cat_ranges(list(urls), list(starts), ends, on_error="return")
    except Exception:  # noqa: BLE001 - the whole call failed; retry range by range, which names the URL
        out = [None] * len(urls)
    return [got if isinstance(got, bytes) and len(got) == n else read_range(url, s, n)
            for got, url, s, n in zip(out, urls, starts, lengths)]


def read_object(url: str) -> bytes:
    """The whole object at ``url``, with retries."""
    fs = filesystem(url)
    return with_retries(url, "read", lambda: fs.cat_file(url))


def exists(url: str) -> bool:
    """Whether an object exists at ``url``."""
    fs = filesystem(url)
    return bool(with_retries(url, "look up", lambda: fs.exists(url)))


def put_atomic(url: str, data: bytes) -> None:
    """Upload ``data`` as the object at ``url``; the object becomes visible only complete.

    An S3 PUT (or a multipart upload, which s3fs uses above its block size) is atomic: readers see
    the previous object or the new one, never a part. (fsspec's local filesystem, for ``file://``
    URLs in tests, writes in place and has no such guarantee.)
    """
    fs = filesystem(url)
    with_retries(url, "upload", lambda: fs.pipe_file(url, data))


def put_file_atomic(local_path: str, url: str) -> None:
    """Upload a local file as the object at ``url`` (multipart for large files), visible only complete."""
    fs = filesystem(url)
    with_retries(url, "upload", lambda: fs.put_file(local_path, url))


WORK_DIR_ENV = "MIDTRAIN_WORK_DIR"
"""Environment variable naming the folder under which jobs with a URL output keep their local work."""


def work_dir_for(url: str, work_dir: str | os.PathLike | None = None) -> Path:
    """The local folder where a job writing to ``url`` works before publishing: ``work_dir`` if given,
    else ``$MIDTRAIN_WORK_DIR/<key>`` or ``~/.cache/midtrain/work/<key>``, where ``<key>`` is the
    URL's last component and a hash of the whole URL (so a rerun of the same command finds its work
    and two outputs never share a folder). Credentials never appear in a URL midtrain builds, and
    the hash does not reveal the URL's other components.
    """
    if work_dir is not None:
        return Path(work_dir).expanduser()
    root = Path(os.environ.get(WORK_DIR_ENV) or Path.home() / ".cache" / "midtrain" / "work").expanduser()
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", url.rstrip("/").rsplit("/", 1)[-1])[:64] or "root"
    return root / f"{tail}-{hashlib.sha256(url.encode()).hexdigest()[:16]}"

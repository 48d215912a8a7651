"""Object storage: corpora at URLs (``s3://bucket/prefix`` and whatever fsspec supports).

- :mod:`~midtrain.storage.objects`: is a path a URL, the filesystem for it (credentials and
  endpoint from the environment, never logged), ranged reads with retries, whole-object writes;
- :mod:`~midtrain.storage.upload`: :func:`upload_corpus`, shards first and the manifest last;
- :mod:`~midtrain.storage.stage`: :func:`download_corpus` (verified, resumable) and :func:`url_job`,
  which lets a corpus -> corpus stage take URLs (download, work locally, publish manifest last).

Reading a token corpus at a URL is :func:`midtrain.corpus.remote.open_remote_corpus`. Names load
their module on first use (the corpus layer reads through ``objects``; ``upload`` writes through
the corpus layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.storage.objects import (exists, filesystem, is_url, object_size, put_atomic, put_file_atomic,
                                          read_object, read_range, read_ranges, work_dir_for)
    from midtrain.storage.stage import check_output_url, download_corpus, url_job
    from midtrain.storage.upload import upload_corpus

_EXPORTS = {
    **dict.fromkeys(["exists", "filesystem", "is_url", "object_size", "put_atomic", "put_file_atomic", "read_object",
                     "read_range", "read_ranges", "work_dir_for"], "midtrain.storage.objects"),
    "upload_corpus": "midtrain.storage.upload",
    **dict.fromkeys(["check_output_url", "download_corpus", "url_job"], "midtrain.storage.stage"),
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

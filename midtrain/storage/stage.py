"""Corpus -> corpus commands with a URL on either side: download the input, work locally, publish the output.

The stages (``tokenize``, ``dedup``, ``decontaminate``, ``group``) read and write local folders
(memory maps, datatrove, atomic renames). :func:`url_job` lets them take URLs anyway:

- a URL input is downloaded whole into ``<work>/input`` by :func:`download_corpus` — every file
  verified against the manifest's checksum before it counts, the manifest written last, files
  already there with the right checksum kept, so a rerun downloads only what is missing;
- a URL output is produced in ``<work>/output`` and, once the stage has returned, published with
  :func:`midtrain.storage.upload_corpus`: shards first, ``manifest.json`` last. A stage that fails
  (or a publish that fails) leaves no manifest at the URL, so readers see an incomplete corpus
  and refuse it; rerunning the same command resumes from the work folder.

``<work>`` is :func:`midtrain.storage.objects.work_dir_for` of the output URL (of the input URL
when only the input is one). It is removed after a successful publish and kept after a failure.
Local paths pass through unchanged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from midtrain.corpus.errors import CorpusError
from midtrain.corpus.manifest import MANIFEST_NAME, Manifest, ShardInfo, atomic_write_bytes, file_checksum, \
    resolve_inside
from midtrain.corpus.remote import join_url
from midtrain.errors import ConfigError
from midtrain.storage.objects import exists, filesystem, is_url, read_object, with_retries, work_dir_for

DOWNLOAD_THREADS = 8
"""Objects downloaded at the same time by :func:`download_corpus`."""


def download_corpus(url: str, local_dir: str | os.PathLike) -> Manifest:
    """Download the corpus at ``url`` (text or token) into the folder ``local_dir``; return its manifest.

    Reads ``manifest.json`` first (absent: :class:`CorpusError`, the corpus is incomplete), then
    every shard and rejected shard it lists, each with whole-object reads into a temporary name,
    checked against the manifest's size and ``xxh3_128`` checksum before it is renamed into place
    (a mismatch is a :class:`CorpusError` naming the object's URL). A file already in
    ``local_dir`` with the right checksum is not downloaded again. ``manifest.json`` is written
    last, so an interrupted download leaves an incomplete local corpus, as an interrupted job does.
    """
    root = Path(local_dir)
    manifest_url = join_url(url, MANIFEST_NAME)
    if not exists(manifest_url):
        raise CorpusError(f"{manifest_url}: no manifest.json; the corpus is missing or incomplete")
    body = read_object(manifest_url)
    manifest = Manifest.parse(body, manifest_url)
    local_manifest = root / MANIFEST_NAME
    if local_manifest.is_file() and local_manifest.read_bytes() != body:
        local_manifest.unlink()  # another version of the corpus: incomplete until every file checks out
    root.mkdir(parents=True, exist_ok=True)
    infos = [*manifest.shards, *manifest.rejected]
    targets = [resolve_inside(root, info.path) for info in infos]  # refuses paths escaping the folder
    with ThreadPoolExecutor(DOWNLOAD_THREADS, thread_name_prefix="midtrain-download") as pool:
        for _ in pool.map(lambda pair: _download_file(url, *pair), zip(infos, targets)):
            pass
    atomic_write_bytes(local_manifest, body)
    return manifest


def _download_file(url: str, info: ShardInfo, target: Path) -> None:
    """One listed file: kept if already there with the right checksum, else downloaded and verified."""
    if target.is_file() and target.stat().st_size == info.bytes and file_checksum(target) == info.checksum:
        return
    source = join_url(url, info.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.download-{os.getpid()}")
    fs = filesystem(source)
    try:
        with_retries(source, "download", lambda: fs.get_file(source, str(tmp)))
        size = tmp.stat().st_size
        if size != info.bytes:
            raise CorpusError(f"{source}: {size} bytes, the manifest says {info.bytes}; the object is truncated "
                              "or was rewritten")
        actual = file_checksum(tmp)
        if actual != info.checksum:
            raise CorpusError(f"{source}: checksum mismatch ({actual} != manifest {info.checksum}); "
                              "the object is corrupted")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def check_output_url(url: str, *, overwrite: bool = False) -> None:
    """Refuse to publish over a corpus already at ``url`` (its ``manifest.json`` exists) unless ``overwrite``."""
    manifest_url = join_url(url, MANIFEST_NAME)
    if not overwrite and exists(manifest_url):
        raise ConfigError(f"{manifest_url}: a corpus is already published there; pass --overwrite "
                          "(overwrite=True) to replace it, or choose another --output")


def _unpublish(url: str) -> None:
    """Delete ``url``'s manifest, so that while a replacement uploads readers see an incomplete corpus,
    never old shards mixed with new ones."""
    manifest_url = join_url(url, MANIFEST_NAME)
    if exists(manifest_url):
        fs = filesystem(manifest_url)
        with_retries(manifest_url, "delete", lambda: fs.rm_file(manifest_url))


@contextlib.contextmanager
def url_job(input: str | os.PathLike, output: str | os.PathLike, work_dir: str | os.PathLike | None = None, *,
            overwrite: bool = False, extra_files: Sequence[str] = ()) -> Iterator[tuple[Path, Path]]:
    """Run a corpus -> corpus stage on local folders standing for ``input`` and ``output``, which may be URLs.

    Yields ``(input_path, output_path)``. A URL input is first downloaded to ``<work>/input``
    (:func:`download_corpus`); a URL output is written in ``<work>/output`` and, when the block
    exits normally, published with :func:`~midtrain.storage.upload_corpus` (shards, the
    ``extra_files`` the stage wrote such as ``report.json``, ``block_checksums.json`` for token
    corpora, ``manifest.json`` last). ``<work>`` is ``work_dir``, or a folder derived from the URL
    (:func:`~midtrain.storage.objects.work_dir_for`). Before any work, a corpus already at the
    output URL is refused unless ``overwrite``; with ``overwrite`` its manifest is deleted just
    before the upload starts. An exception in the block publishes nothing and keeps the work folder,
    so rerunning the command resumes; after a successful publish the work folder is removed.
    """
    in_url, out_url = is_url(input), is_url(output)
    if not (in_url or out_url):
        yield Path(input), Path(output)
        return
    if in_url and out_url and str(input).rstrip("/") == str(output).rstrip("/"):
        raise CorpusError(f"{output}: the output is the input corpus; choose another --output")
    work = work_dir_for(str(output) if out_url else str(input), work_dir)
    if out_url:
        check_output_url(str(output), overwrite=overwrite)
    local_in = work / "input" if in_url else Path(input)
    local_out = work / "output" if out_url else Path(output)
    if in_url:
        download_corpus(str(input), local_in)
    yield local_in, local_out
    if out_url:
        if overwrite:
            _unpublish(str(output))
        from midtrain.storage.upload import upload_corpus

        upload_corpus(local_out, str(output), extra_files=extra_files)
    for created in ([local_in] if in_url else []) + ([local_out] if out_url else []):
        shutil.rmtree(created, ignore_errors=True)
    with contextlib.suppress(OSError):
        work.rmdir()  # only if nothing else is in it

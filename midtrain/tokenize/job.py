"""The tokenize job: a text corpus in, a token corpus out, resumable shard by shard.

Every input shard ``data/<domain>/<stem>.arrow`` becomes output shards
``data/<domain>/<stem>-<k>.arrow`` (whole documents packed under ``shard_tokens``), then a
completion record ``.progress/<domain>/<stem>.json``; the manifest is written last from the
records. A rerun skips every input shard whose record matches (same input checksum, same
tokenizer and policy, output files in place), so an interrupted job resumes where it stopped and
produces the same bytes as an uninterrupted one. ``.progress/tokenizer.json`` pins the output
folder to one tokenizer: a rerun with another one is refused, naming both fingerprints.

Parallelism: a worker process streams its input shards through the tokenizer's Rust batch API
on ``threads`` cores (:mod:`midtrain.tokenize.stream`: large batches, several in flight, so the
Rust threads never wait for Python's reading, flattening and writing). The default is one
process, whose Rust threads use every core. One Python thread keeps about 20 cores of encoding
busy (25 ns of Python vs 1 µs of encoding per token per core, measured with the Llama-3
vocabulary), so on a machine with more than 32 cores about one process per 16 cores is faster;
within a process, uneven shards balance by themselves.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from midtrain.corpus import CorpusError, CorpusWriter, Manifest, ShardInfo, file_checksum
from midtrain.corpus.manifest import MANIFEST_NAME, atomic_write_bytes, resolve_inside
from midtrain.errors import ConfigError
from midtrain.tokenize.stream import ENCODE_DEPTH, tokenize_input_shards
from midtrain.tokenize.tokenizer import BatchEncoder, TokenizerInfo, load_tokenizer

PROGRESS_DIR = ".progress"
# 2**27 tokens: 256 MiB shards with uint16 ids, 512 MiB with uint32; big enough that opening and
# checksumming per shard is negligible, small enough that a worker holds one in memory.
DEFAULT_SHARD_TOKENS = 1 << 27


@dataclass(frozen=True)
class TokenCorpusReport:
    """What a tokenize (or import) run wrote: the token corpus folder and its manifest."""

    output: Path | str
    """The output folder, or the URL it was published to."""
    manifest: Manifest
    """The written ``manifest.json``: per-domain documents, tokens and shards, the tokenizer, provenance."""
    resumed_shards: int = 0
    """Input shards that an earlier run had finished, so this one skipped them."""

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "tokenizer": self.manifest.tokenizer, "domains": self.manifest.domains,
                "extra": self.manifest.extra, "resumed_shards": self.resumed_shards}


def tokenize_corpus(text_corpus: str | os.PathLike, output: str | os.PathLike, tokenizer: str, *,
                    eos: bool = True, bos: bool = False, eos_token: str | None = None,
                    bos_token: str | None = None, workers: int = 1,
                    shard_tokens: int = DEFAULT_SHARD_TOKENS, progress: bool = True,
                    work_dir: str | os.PathLike | None = None, overwrite: bool = False) -> TokenCorpusReport:
    """Tokenize every document of ``text_corpus`` into a token corpus at ``output``.

    ``tokenizer`` is a ``tokenizer.json`` path or ``tiktoken:<encoding>``. By default EOS follows
    every document and no BOS precedes it. Empty documents (no tokens) are skipped and counted in
    the manifest's ``extra``; no document is ever truncated or split. ``workers`` processes share
    the cores (see the module docstring for when more than one pays). A rerun skips finished input
    shards; ``progress`` shows a bar of input bytes on stderr.

    ``text_corpus`` and ``output`` may be URLs (``s3://bucket/prefix``): the input is downloaded
    and verified, the job runs in a local work folder (``work_dir``, else one derived from the URL),
    and the token corpus is published shards first, manifest last
    (:func:`midtrain.storage.stage.url_job`). A corpus already at the output URL is refused unless
    ``overwrite``; rerunning after a failure resumes from the work folder.
    """
    from midtrain.storage.objects import is_url
    from midtrain.storage.stage import url_job

    if shard_tokens < 1:
        raise ConfigError(f"shard_tokens must be at least 1, got {shard_tokens}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    policy = {"add_eos": eos, "add_bos": bos, "eos_token": eos_token, "bos_token": bos_token}
    info, encoder = load_tokenizer(tokenizer, add_eos=eos, add_bos=bos, eos_token=eos_token, bos_token=bos_token)
    name = str(text_corpus).rstrip("/").rsplit("/", 1)[-1]
    with url_job(text_corpus, output, work_dir, overwrite=overwrite) as (src, out):
        manifest, resumed = _tokenize_folder(src, out, info, encoder, policy, workers, shard_tokens,
                                             progress, name)
    return TokenCorpusReport(str(output) if is_url(output) else Path(output), manifest, resumed_shards=resumed)


def _tokenize_folder(src: Path, out: Path, info: TokenizerInfo, encoder: BatchEncoder, policy: dict[str, Any],
                     workers: int, shard_tokens: int, progress: bool, name: str) -> tuple[Manifest, int]:
    """The job on local folders: the written manifest and how many input shards an earlier run had done."""
    source = Manifest.read(src)
    if source.kind != "text":
        raise CorpusError(f"{src}: is a {source.kind} corpus; tokenize takes a text corpus")
    _claim_output(out, info, shard_tokens)

    tasks = _plan(src, out, source, info, shard_tokens)
    todo = [t for t in tasks if _finished_record(out, t) is None]
    total_bytes = sum(t["text_bytes"] for t in todo)
    records = {}
    with _progress_bar(total_bytes, progress, f"tokenize {name}") as advance:
        for record in _run(todo, info, encoder, policy, workers, advance):
            records[record["input"]] = record
    for t in tasks:
        records.setdefault(t["input"], _finished_record(out, t))

    writer = CorpusWriter(out, "token", tokenizer=info.manifest_entry())
    counts: dict[str, dict[str, int]] = {}
    for t in tasks:
        record = records[t["input"]]
        writer.shards.extend(ShardInfo(**s) for s in record["shards"])
        c = counts.setdefault(t["domain"], {"input_documents": 0, "documents": 0, "empty_skipped": 0})
        c["input_documents"] += record["input_documents"]
        c["documents"] += record["documents"]
        c["empty_skipped"] += record["empty_skipped"]
    extra = {"source_manifest": file_checksum(src / MANIFEST_NAME), "shard_tokens": shard_tokens,
             "documents": counts, "empty_documents_skipped": sum(c["empty_skipped"] for c in counts.values())}
    return writer.finish(extra), len(tasks) - len(todo)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _claim_output(out: Path, info: TokenizerInfo, shard_tokens: int) -> None:
    """Pin ``out`` to this tokenizer and policy, or refuse if it already holds another's tokens."""
    lock = out / PROGRESS_DIR / "tokenizer.json"
    wanted = {**info.manifest_entry(), "shard_tokens": shard_tokens}
    previous = None
    if lock.is_file():
        previous = json.loads(lock.read_text())
    elif (out / MANIFEST_NAME).is_file():
        manifest = Manifest.read(out)
        if manifest.kind != "token":
            raise ConfigError(f"{out}: holds a {manifest.kind} corpus; choose another output folder")
        previous = manifest.tokenizer or {}
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not a token corpus from `midtrain tokenize`; "
                          "choose an empty or new output folder")
    if previous is not None:
        if previous.get("fingerprint") != info.fingerprint:
            raise ConfigError(f"{out}: was tokenized with another tokenizer (fingerprint {previous.get('fingerprint')}, "
                              f"{previous.get('name')}) than {info.name} (fingerprint {info.fingerprint}); "
                              "use a new output folder or the same tokenizer")
        for key in ("add_eos", "add_bos", "bos_id", "eos_id", "shard_tokens"):
            if key in previous and previous[key] != wanted[key]:
                raise ConfigError(f"{out}: was tokenized with {key}={previous[key]!r}, this run asks for "
                                  f"{key}={wanted[key]!r}; use a new output folder or the same settings")
    atomic_write_bytes(lock, (json.dumps(wanted, indent=2, sort_keys=True) + "\n").encode())


def _plan(src: Path, out: Path, source: Manifest, info: TokenizerInfo, shard_tokens: int) -> list[dict[str, Any]]:
    """One task per input shard, with its deterministic output names; biggest first (balances workers)."""
    tasks, stems = [], set()
    for shard in source.shards:
        stem = Path(shard.path).stem
        if (shard.domain, stem) in stems:
            raise CorpusError(f"{src / MANIFEST_NAME}: two shards of domain {shard.domain!r} are named {stem!r}; "
                              "output shard names derive from input names, so they must be unique per domain")
        stems.add((shard.domain, stem))
        tasks.append({"input": shard.path, "input_path": str(resolve_inside(src, shard.path)),
                      "input_checksum": shard.checksum, "domain": shard.domain, "stem": stem,
                      "text_bytes": shard.text_bytes, "out": str(out), "shard_tokens": shard_tokens,
                      "fingerprint": info.fingerprint,
                      "record": str(out / PROGRESS_DIR / shard.domain / f"{stem}.json")})
    return sorted(tasks, key=lambda t: -t["text_bytes"])


def _finished_record(out: Path, task: dict[str, Any]) -> dict[str, Any] | None:
    """The completion record of ``task`` if it is current and its shards are all in place."""
    path = Path(task["record"])
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if (record.get("input_checksum") != task["input_checksum"] or record.get("fingerprint") != task["fingerprint"]
            or record.get("shard_tokens") != task["shard_tokens"]):
        return None
    for s in record["shards"]:
        f = out / s["path"]
        if not f.is_file() or f.stat().st_size != s["bytes"]:
            return None
    return record


# ---- running tasks: in this process, or in worker processes ------------------------------------

_WORKER: dict[str, Any] = {}


def _run(tasks: list[dict], info: TokenizerInfo, encoder: BatchEncoder, policy: dict, workers: int,
         advance: Callable[[int], None]):
    """Yield the completion record of every task as it finishes: here, or in ``workers`` processes."""
    if not tasks:
        return
    if workers == 1 or len(tasks) == 1:
        with ThreadPoolExecutor(ENCODE_DEPTH, thread_name_prefix="midtrain-encode") as pool:
            yield from tokenize_input_shards(tasks, info, encoder, pool, advance)
        return
    ctx = mp.get_context("spawn")  # fork after the Rust thread pool started would disable it
    queue = ctx.SimpleQueue()
    threads = max(1, _cpu_count() // workers)
    drain = threading.Thread(target=_drain, args=(queue, advance), daemon=True)
    drain.start()
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(info.spec, policy, threads, queue)) as pool:
            futures = [pool.submit(_worker_task, task) for task in tasks]
            for future in futures:
                yield future.result()
    finally:
        queue.put(None)
        drain.join()


def _drain(queue, advance: Callable[[int], None]) -> None:
    while (n := queue.get()) is not None:
        advance(n)


def _init_worker(tokenizer: str, policy: dict, threads: int, queue) -> None:
    os.environ["RAYON_NUM_THREADS"] = str(threads)  # read when the Rust pool first starts
    info, encoder = load_tokenizer(tokenizer, add_eos=policy["add_eos"], add_bos=policy["add_bos"],
                                   eos_token=policy["eos_token"], bos_token=policy["bos_token"], threads=threads)
    _WORKER.update(info=info, encoder=encoder, queue=queue, pool=ThreadPoolExecutor(ENCODE_DEPTH))


def _worker_task(task: dict) -> dict:
    (record,) = tokenize_input_shards([task], _WORKER["info"], _WORKER["encoder"], _WORKER["pool"],
                                      _WORKER["queue"].put)
    return record


class _progress_bar:
    """A tqdm bar on stderr counting input text bytes; yields an ``advance(n)`` callable."""

    def __init__(self, total: int, enabled: bool, desc: str) -> None:
        self.total, self.enabled, self.desc, self.bar = total, enabled, desc, None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit="B", unit_scale=True, desc=self.desc, dynamic_ncols=True)
        return self.bar.update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

"""The tokenize job: a text corpus in, a token corpus out, resumable shard by shard.

Every input shard ``data/<domain>/<stem>.arrow`` becomes output shards
``data/<domain>/<stem>-<k>.arrow`` (whole documents packed under ``shard_tokens``), then a
completion record ``.progress/<domain>/<stem>.json``; the manifest is written last from the
records. A rerun skips every input shard whose record matches (same input checksum, same
tokenizer and policy, output files in place), so an interrupted job resumes where it stopped and
produces the same bytes as an uninterrupted one. ``.progress/tokenizer.json`` pins the output
folder to one tokenizer: a rerun with another one is refused, naming both fingerprints.

Parallelism: each worker process reads a shard, encodes it in large batches through the
tokenizer's Rust batch API on ``threads`` cores (GIL released; two batches in flight so the Rust
threads never wait for Python), and writes. The one piece of per-batch Python is flattening the
ids (:mod:`midtrain.tokenize.tokenizer`). One process per 16 cores is the default: one Python
thread keeps about 20 cores of encoding busy (25 ns of Python vs 1 µs of encoding per token per
core, measured with the Llama-3 vocabulary), and a single process balances uneven shards.
"""

from __future__ import annotations

import glob
import json
import os
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import multiprocessing as mp

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import CorpusError, CorpusWriter, Manifest, ShardInfo, file_checksum, read_text_shard
from midtrain.corpus.manifest import MANIFEST_NAME, atomic_write_bytes, resolve_inside
from midtrain.corpus.shards import token_table
from midtrain.errors import ConfigError
from midtrain.tokenize.documents import add_special_tokens, shard_cuts
from midtrain.tokenize.tokenizer import BatchEncoder, TokenizerInfo, load_tokenizer

PROGRESS_DIR = ".progress"
# 2**27 tokens: 256 MiB shards with uint16 ids, 512 MiB with uint32; big enough that opening and
# checksumming per shard is negligible, small enough that a worker holds one in memory.
DEFAULT_SHARD_TOKENS = 1 << 27
# Text per encode call. The ceiling benchmark loses ~10% at 64 documents a batch (rayon idles at
# the tail of each batch); at 4 MB (~1M tokens) the loss is under 1%.
BATCH_BYTES = 4 << 20


def default_workers() -> int:
    """One worker process per 16 cores (see the module docstring), at least one."""
    return max(1, _cpu_count() // 16)


def tokenize_corpus(text_corpus: str | os.PathLike, out_dir: str | os.PathLike, tokenizer: str, *,
                    eos: bool = True, bos: bool = False, eos_token: str | None = None,
                    bos_token: str | None = None, workers: int | None = None,
                    shard_tokens: int = DEFAULT_SHARD_TOKENS, progress: bool = True) -> Manifest:
    """Tokenize every document of ``text_corpus`` into a token corpus at ``out_dir``; return its manifest.

    ``tokenizer`` is a ``tokenizer.json`` path or ``tiktoken:<encoding>``. By default EOS follows
    every document and no BOS precedes it. Empty documents (no tokens) are skipped and counted in
    the manifest's ``extra``; no document is ever truncated or split. ``workers`` processes share
    the cores (default :func:`default_workers`). A rerun skips finished input shards.
    """
    src, out = Path(text_corpus), Path(out_dir)
    source = Manifest.read(src)
    if source.kind != "text":
        raise CorpusError(f"{src}: is a {source.kind} corpus; tokenize takes a text corpus")
    if shard_tokens < 1:
        raise ConfigError(f"shard_tokens must be at least 1, got {shard_tokens}")
    workers = workers or default_workers()
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    policy = {"add_eos": eos, "add_bos": bos, "eos_token": eos_token, "bos_token": bos_token}
    info, encoder = load_tokenizer(tokenizer, add_eos=eos, add_bos=bos, eos_token=eos_token, bos_token=bos_token)
    _claim_output(out, info, shard_tokens)

    tasks = _plan(src, out, source, info, shard_tokens)
    todo = [t for t in tasks if _finished_record(out, t) is None]
    total_bytes = sum(t["text_bytes"] for t in todo)
    records = {}
    with _progress_bar(total_bytes, progress, f"tokenize {src.name}") as advance:
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
    return writer.finish(extra)


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
        with ThreadPoolExecutor(2, thread_name_prefix="midtrain-encode") as pool:
            for task in tasks:
                yield tokenize_input_shard(task, info, encoder, pool, advance)
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
    _WORKER.update(info=info, encoder=encoder, queue=queue, pool=ThreadPoolExecutor(2))


def _worker_task(task: dict) -> dict:
    return tokenize_input_shard(task, _WORKER["info"], _WORKER["encoder"], _WORKER["pool"], _WORKER["queue"].put)


# ---- one input shard ----------------------------------------------------------------------------

def tokenize_input_shard(task: dict[str, Any], info: TokenizerInfo, encoder: BatchEncoder, pool: ThreadPoolExecutor,
                         advance: Callable[[int], None]) -> dict[str, Any]:
    """Tokenize one input shard into its output shards, then write its completion record."""
    out, domain, stem, budget = Path(task["out"]), task["domain"], task["stem"], task["shard_tokens"]
    for stale in glob.glob(str(out / "data" / glob.escape(domain) / f"{glob.escape(stem)}-*.arrow")):
        os.unlink(stale)  # from an earlier run over a different input; names are rewritten below
    table = read_text_shard(task["input_path"], columns=["id", "text"])
    text = pc.fill_null(table.column("text").combine_chunks(), "")
    ids = table.column("id").combine_chunks().cast(pa.string())
    writer = CorpusWriter(out, "token", tokenizer=info.manifest_entry())
    names = (f"data/{domain}/{stem}-{k:05d}.arrow" for k in range(1 << 30))
    pending: list[tuple[np.ndarray, np.ndarray, pa.Array]] = []  # (tokens, doc lengths, ids)
    pending_tokens = kept = 0

    def flush(final: bool) -> None:
        nonlocal pending, pending_tokens
        tokens = np.concatenate([p[0] for p in pending])
        lengths = np.concatenate([p[1] for p in pending])
        doc_ids = pa.concat_arrays([p[2] for p in pending])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        cuts = list(shard_cuts(lengths, budget)) + [len(lengths)]
        # Every shard but the last is closed (the next document did not fit); the last stays
        # open for the next batch unless this is the end of the input.
        done = len(cuts) - 1 if final else len(cuts) - 2
        for a, b in zip(cuts[:done], cuts[1:done + 1]):
            writer.write_table(domain, token_table(doc_ids.slice(a, b - a), tokens[offsets[a]:offsets[b]],
                                                   offsets[a:b + 1] - offsets[a]), next(names))
        rest = cuts[done]
        pending = [] if final else [(tokens[offsets[rest]:], lengths[rest:], doc_ids.slice(rest))]
        pending_tokens = 0 if final else int(offsets[-1] - offsets[rest])

    for (flat, lengths), (a, b), batch_bytes in _encode_batches(encoder, text, pool):
        keep = lengths > 0
        tokens, offsets = add_special_tokens(flat, lengths[keep], bos_id=info.bos_id if info.add_bos else None,
                                             eos_id=info.eos_id if info.add_eos else None, dtype=info.dtype)
        pending.append((tokens, np.diff(offsets), ids.slice(a, b - a).filter(pa.array(keep))))
        pending_tokens += len(tokens)
        kept += int(keep.sum())
        if pending_tokens > budget:
            flush(final=False)
        advance(batch_bytes)
    if pending_tokens:
        flush(final=True)
    record = {"input": task["input"], "input_checksum": task["input_checksum"], "fingerprint": task["fingerprint"],
              "shard_tokens": budget, "input_documents": len(text), "documents": kept,
              "empty_skipped": len(text) - kept, "shards": [asdict(s) for s in writer.shards]}
    atomic_write_bytes(Path(task["record"]), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return record


def _encode_batches(encoder: BatchEncoder, text: pa.Array, pool: ThreadPoolExecutor):
    """Yield ``((flat, lengths), (start, stop), text_bytes)`` per batch, in order, two batches in flight.

    Encoding runs in ``pool`` with the GIL released, so while the Rust threads encode the next
    batch, this thread flattens and writes the previous one.
    """
    sizes = np.cumsum(pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64))
    bounds, start = [], 0
    while start < len(text):
        stop = max(int(np.searchsorted(sizes, (sizes[start - 1] if start else 0) + BATCH_BYTES, "right")), start + 1)
        bounds.append((start, stop))
        start = stop
    in_flight: deque[tuple[Future, tuple[int, int]]] = deque()
    for a, b in bounds:
        in_flight.append((pool.submit(encoder.encode_batch, text.slice(a, b - a).to_pylist()), (a, b)))
        if len(in_flight) == 2:
            yield _done(in_flight.popleft(), sizes)
    while in_flight:
        yield _done(in_flight.popleft(), sizes)


def _done(item: tuple[Future, tuple[int, int]], sizes: np.ndarray):
    future, (a, b) = item
    return future.result(), (a, b), int(sizes[b - 1] - (sizes[a - 1] if a else 0))


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

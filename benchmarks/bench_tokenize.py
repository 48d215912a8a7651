"""Tokenize throughput: midtrain end to end vs datatrove's DocumentTokenizer vs the bare Rust ceiling.

One run, same texts, same vocabulary (Llama-3, 128,256 ids, so uint32 output), interleaved
repeats so that load from other processes on the machine hits every contender alike:

- ``ceiling``: ``tokenizers.Tokenizer.encode_batch_fast`` over every text already in memory, one
  call, Rust parallelism on all cores; ids are not even read back into Python.
- ``midtrain``: :func:`midtrain.tokenize.tokenize_corpus` from the text corpus on disk to a token
  corpus on disk (read, encode, flatten, EOS, write + fsync + checksum, manifest), with the
  default single worker process (Rust threads on all cores) and with 2 worker processes.
- ``datatrove``: ``DocumentTokenizer`` (EOS added, no shuffling, so it does less than its default)
  on datatrove's local executor with 2 tasks, reading the same shards.

Throughput is the ceiling's token count (text tokens, no EOS) over wall time, so every row is
the same work. Medians over ``--repeats`` (default 3); "vs ceiling" is the median of the
per-round ratios (contenders of one round run back to back, so they see similar load). The
machine's cores may be shared with other jobs, so the table also gives CPU seconds (this process
and all its descendants): tokens per CPU-second is what a contender costs, whatever else ran. Corpus and vocabulary are fetched and
cached by ``benchmarks/tokenize_data.py``.

    python benchmarks/bench_tokenize.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tokenize_data  # noqa: E402  (the fetch/cache helper beside this script)

from midtrain.corpus import Manifest, read_text_shard  # noqa: E402
from midtrain.corpus.manifest import resolve_inside  # noqa: E402
from midtrain.tokenize import tokenize_corpus  # noqa: E402

EOS = "<|end_of_text|>"


def load_texts(corpus: Path) -> list[str]:
    manifest = Manifest.read(corpus)
    texts = []
    for shard in manifest.shards:
        texts += read_text_shard(resolve_inside(corpus, shard.path), columns=["text"]).column("text").to_pylist()
    return texts


def run_ceiling(tokenizer_path: Path, texts: list[str]) -> tuple[float, int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    t = time.perf_counter()
    encodings = tok.encode_batch_fast(texts, add_special_tokens=False)
    seconds = time.perf_counter() - t
    return seconds, sum(len(e) for e in encodings)


def run_midtrain(corpus: Path, tokenizer_path: Path, workers: int, scratch: Path) -> float:
    out = scratch / f"midtrain-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    tokenize_corpus(corpus, out, str(tokenizer_path), workers=workers, progress=False)
    return time.perf_counter() - t


def run_datatrove(corpus: Path, tokenizer_path: Path, scratch: Path) -> float:
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.tokens import DocumentTokenizer

    shard_paths = [str(resolve_inside(corpus, s.path)) for s in Manifest.read(corpus).shards]

    def read_shards(data, rank: int = 0, world_size: int = 1):
        for path in shard_paths[rank::world_size]:
            table = read_text_shard(path, columns=["id", "text"])
            for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist()):
                yield Document(text=text, id=doc_id)

    out = scratch / "datatrove"
    shutil.rmtree(out, ignore_errors=True)
    executor = LocalPipelineExecutor(
        pipeline=[read_shards, DocumentTokenizer(str(out / "tokens"), str(tokenizer_path), eos_token=EOS,
                                                 shuffle_documents=False)],
        tasks=2, workers=2, logging_dir=str(out / "logs"), skip_completed=False)
    t = time.perf_counter()
    executor.run()
    return time.perf_counter() - t


def _descendant_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of every live descendant of ``root``, from ``/proc`` (Linux)."""
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    result = {}
    for pid in cpu:
        p = parent.get(pid)
        while p and p != root:
            p = parent.get(p)
        if p == root:
            result[pid] = cpu[pid]
    return result


def measure(run) -> tuple[object, float]:
    """``(run(), CPU seconds)``: this process's own time plus that of every descendant process.

    Worker processes (midtrain's spawn pool, datatrove's executor pool) are polled in ``/proc``
    every 50 ms while ``run`` works in a thread, since not every pool's children are waited for
    (and so counted by ``getrusage(RUSAGE_CHILDREN)``).
    """
    seen: dict[int, float] = {}
    result: list = []
    worker = threading.Thread(target=lambda: result.append(run()))
    start = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    worker.start()
    while worker.is_alive():
        seen.update(_descendant_cpu(os.getpid()))
        worker.join(0.05)
    own, waited = (resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime - r.ru_utime - r.ru_stime
                   for who, r in zip((resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN), start))
    if not result:
        raise RuntimeError("a contender failed; see the traceback above")
    # Waited-for children are counted exactly by getrusage; the poll sees the others (less their
    # last 50 ms). The larger of the two is the better estimate of the children's time.
    return result[0], own + max(waited, sum(seen.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tokenizer_path = tokenize_data.llama3_tokenizer()
    corpus = tokenize_data.text_corpus()
    texts = load_texts(corpus)
    text_mb = sum(len(t.encode()) for t in texts) / 1e6
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    tokens = 0
    with tempfile.TemporaryDirectory(dir=tokenize_data.CACHE) as tmp:
        scratch = Path(tmp)
        contenders = {
            "ceiling: encode_batch_fast, in memory": None,
            "midtrain tokenize, 1 process x 2 threads": lambda: run_midtrain(corpus, tokenizer_path, 1, scratch),
            "midtrain tokenize, 2 processes x 1 thread": lambda: run_midtrain(corpus, tokenizer_path, 2, scratch),
            "datatrove DocumentTokenizer, 2 tasks": lambda: run_datatrove(corpus, tokenizer_path, scratch),
        }
        for r in range(args.repeats):
            for name, run in contenders.items():
                if run is None:
                    (seconds, tokens), c = measure(lambda: run_ceiling(tokenizer_path, texts))
                else:
                    seconds, c = measure(run)
                cpu.setdefault(name, []).append(c)
                times.setdefault(name, []).append(seconds)
            print(f"repeat {r + 1}/{args.repeats}: " + ", ".join(f"{v[-1]:.2f}s" for v in times.values()),
                  file=sys.stderr)
    names = list(contenders)
    datatrove = statistics.median(times[names[-1]])
    ceiling_cpu = statistics.median(cpu[names[0]])
    print(f"\ncorpus: {len(texts):,} documents, {text_mb:.1f} MB (Python stdlib + Python docs), "
          f"{tokens:,} Llama-3 tokens; {os.cpu_count()} cores; median of {args.repeats}; "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    head = (f"{'contender':<44} {'seconds':>8} {'M tokens/s':>11} {'vs ceiling':>11} {'vs datatrove':>13} "
            f"{'CPU s':>7} {'M tok/CPU-s':>12} {'CPU vs ceiling':>15}")
    print(head)
    print("-" * len(head))
    for name in names:
        m, c = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"{name:<44} {m:>8.2f} {tokens / m / 1e6:>11.2f} {statistics.median(a / b for a, b in zip(times[names[0]], times[name])):>10.0%} {datatrove / m:>12.2f}x "
              f"{c:>7.2f} {tokens / c / 1e6:>12.2f} {ceiling_cpu / c:>14.0%}")

if __name__ == "__main__":
    main()

"""Deduplicating ≥ 1 GB of real text on this machine: wall time and peak memory.

Data: the Linux 6.1 kernel source (Debian ``linux-source-6.1``, a 139 MB .deb holding a tar.xz of
~1.2 GB of C, headers, docs, scripts), fetched with ``apt-get download`` and cached under
``benchmarks/.cache/``; every text file of the tree becomes one document of a midtrain text
corpus (domain ``code``, 64 MB shards). The corpus is built once and cached.

midtrain: ``dedup_corpus`` (exact + MinHash 16 × 8, verification at 0.8) with ``--workers`` local
workers. Peak memory is the largest sum of RSS over this process and its children, sampled every
0.2 s. Anchor: datatrove's ``MinhashDedupSignature`` (stage 1 only, spaCy words, sha1) on a random
``--anchor-sample`` of the documents, projected to the whole corpus from its documents/s with the
same number of workers; its stages 2-4 are not run (so the projection flatters it).

Run: ``python benchmarks/bench_dedup_scale.py [--workers 2] [--anchor-sample 0.005]``. Heavy:
run it alone, once. Target (issue 5): peak memory < 4 GB.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa

CACHE = Path(__file__).resolve().parent / ".cache" / "linux-6.1"
SHARD_BYTES = 64 << 20


def fetch_tarball() -> Path:
    deb_dir = CACHE / "deb"
    found = sorted(deb_dir.glob("usr/src/linux-source-6.1*.tar.xz"))
    if found:
        return found[0]
    deb_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", "linux-source-6.1"], cwd=deb_dir, check=True)
    deb = next(deb_dir.glob("linux-source-6.1_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(deb_dir)], check=True)
    deb.unlink()
    return sorted(deb_dir.glob("usr/src/linux-source-6.1*.tar.xz"))[0]


def build_corpus(tarball: Path) -> Path:
    """Every UTF-8 text file of the tarball as one document; shards of ~64 MB; cached."""
    from midtrain.corpus import CorpusWriter

    corpus = CACHE / "corpus"
    if (corpus / "manifest.json").is_file():
        return corpus
    shutil.rmtree(corpus, ignore_errors=True)
    writer = CorpusWriter(corpus, "text")
    ids, texts, size = [], [], 0

    def flush():
        nonlocal ids, texts, size
        if ids:
            writer.write_table("code", pa.table({"id": ids, "text": texts, "domain": ["code"] * len(ids),
                                                 "source": ["linux-6.1"] * len(ids)}))
        ids, texts, size = [], [], 0

    with tarfile.open(tarball, "r:xz") as tar:
        for member in tar:
            if not member.isfile() or member.size == 0:
                continue
            raw = tar.extractfile(member).read()
            if b"\0" in raw[:8192]:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            ids.append(member.name)
            texts.append(text)
            size += len(raw)
            if size >= SHARD_BYTES:
                flush()
    flush()
    writer.finish()
    return corpus


class PeakMemory:
    """Largest RSS sum of this process and all its children, sampled every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            parents, rss = {}, {}
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                pid = int(stat.parent.name)
                parents[pid], rss[pid] = int(fields[1]), int(fields[21]) * page  # ppid, rss (pages)
            tree, frontier = {os.getpid()}, [os.getpid()]
            while frontier:
                kids = [p for p, pp in parents.items() if pp in frontier and p not in tree]
                tree.update(kids)
                frontier = kids
            self.peak = max(self.peak, sum(rss.get(p, 0) for p in tree))
            time.sleep(0.2)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def anchor_rate(corpus: Path, fraction: float) -> tuple[float, int]:
    """datatrove stage-1 documents/s on one core, on a random sample of the corpus."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    from midtrain.corpus import Manifest, read_text_shard

    rng = random.Random(0)
    docs = []
    for s in Manifest.read(corpus).shards:
        t = read_text_shard(corpus / s.path, ["id", "text"])
        for i in sorted(rng.sample(range(t.num_rows), max(1, int(t.num_rows * fraction)))):
            docs.append(Document(text=t.column("text")[i].as_py(), id=t.column("id")[i].as_py()))
    with tempfile.TemporaryDirectory() as out:
        step = MinhashDedupSignature(output_folder=out, config=MinhashConfig(
            num_buckets=16, hashes_per_bucket=8, hash_config=HashConfig(hash_fc="sha1")))
        step.run(iter(docs[:5]), 0, 1)
        start = time.perf_counter()
        step.run(iter(docs), 0, 1)
        return len(docs) / (time.perf_counter() - start), len(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--anchor-sample", type=float, default=0.005, help="0 skips the anchor")
    args = parser.parse_args()
    from loguru import logger

    from midtrain.corpus import Manifest
    from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus

    logger.remove()
    logger.add(lambda m: None, level="WARNING")
    t = time.perf_counter()
    corpus = build_corpus(fetch_tarball())
    manifest = Manifest.read(corpus)
    docs = sum(s.rows for s in manifest.shards)
    text_gb = sum(s.text_bytes for s in manifest.shards) / 1e9
    print(f"corpus: {docs:,} documents, {text_gb:.2f} GB of text, {len(manifest.shards)} shards "
          f"(ready in {time.perf_counter() - t:.0f} s)")
    out = CACHE / "dedup-out"
    shutil.rmtree(out, ignore_errors=True)
    with PeakMemory() as mem:
        t = time.perf_counter()
        report = dedup_corpus(corpus, out, DedupConfig(), workers=args.workers)
        wall = time.perf_counter() - t
    removed = report.input - report.kept
    print(f"\n{'':<34} {'docs/s':>9} {'wall (s)':>9} {'peak RSS':>9}")
    print(f"{'midtrain dedup_corpus (all stages)':<34} {docs / wall:>9.0f} {wall:>9.0f} {mem.peak / 2**30:>8.2f}G")
    if args.anchor_sample > 0:
        rate, n = anchor_rate(corpus, args.anchor_sample)
        projected = docs / (rate * args.workers)
        print(f"{'datatrove stage 1 only (projected)':<34} {rate * args.workers:>9.0f} {projected:>9.0f} {'-':>9}"
              f"   (measured on {n} sampled documents, one core, × {args.workers} workers)")
    print(f"\nremoved {removed:,} of {docs:,}: {report.rejected}; LSH {report.lsh}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (shared with other jobs)")
    print("target: peak memory < 4 GB (issue 5)")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

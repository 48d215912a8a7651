"""From raw text to MinHash signature, one core: midtrain vs datasketch vs datatrove.

Same documents (the first 800 Python source files of the standard library, outside ``test/``), same
number of permutations (128; ``--num-perm 256`` for midtrain's default), word 5-gram shingles, one
process pinned to one core. Timed per implementation: normalising, shingling, hashing and permuting
every document.

- midtrain: Arrow array -> Unicode normalisation (Arrow compute) -> numba kernel
  (:func:`midtrain.curation.stages.dedup.minhash.minhash_signatures`).
- datasketch: ``MinHash(num_perm=...).update_batch`` over shingles from a plain Python shingler
  (lowercase, split on whitespace, join 5 words).
- datatrove: ``MinhashDedupSignature.run`` (16 buckets × 8 hashes) on ``Document``s, which
  tokenises words with spaCy (``pip install spacy``, or ``pip install -e '.[bench]'``) and hashes
  shingles with sha1 (FineWeb's setting; its xxhash path breaks with xxhash 4).

Run: ``python benchmarks/bench_dedup_speed.py [--docs 800] [--repeats 3] [--num-perm 128]``. The ratio rows are
the issue's targets (≥ 10× datasketch, ≥ 50× datatrove).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path


def stdlib_sources(n: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "site-packages", "__pycache__"}  # the test suite and installed packages
    files = sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))
    return [p.read_text(encoding="utf-8", errors="replace") for p in files[:n]]


def run_midtrain(texts: list[str], num_perm: int) -> None:
    import pyarrow as pa

    from midtrain.curation.stages.dedup.minhash import minhash_signatures, permutations
    from midtrain.curation.stages.dedup.normalize import normalize_unicode

    a, b = permutations(num_perm, 1)
    minhash_signatures(normalize_unicode(pa.array(texts, pa.large_string())), ngram=5, a=a, b=b)


def run_datasketch(texts: list[str], num_perm: int) -> None:
    from datasketch import MinHash

    for text in texts:
        words = text.lower().split()
        shingles = {" ".join(words[i:i + 5]) for i in range(max(len(words) - 4, 1))}
        m = MinHash(num_perm=num_perm)
        m.update_batch([s.encode("utf-8") for s in shingles])


def run_datatrove(texts: list[str], num_perm: int) -> None:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    # sha1 as FineWeb uses; datatrove's xxhash path fails with xxhash 4 ("Strings must be encoded")
    config = MinhashConfig(num_buckets=num_perm // 8, hashes_per_bucket=8, hash_config=HashConfig(hash_fc="sha1"))
    with tempfile.TemporaryDirectory() as out:
        step = MinhashDedupSignature(output_folder=out, config=config)
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        step.run(iter(docs), rank=0, world_size=1)  # writes the signature files, yields nothing


def timed(fn, texts, num_perm, repeats) -> float:
    fn(texts[:20], num_perm)  # warm-up: numba cache, imports, spaCy model
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(texts, num_perm)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=800)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    texts = stdlib_sources(args.docs)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} Python source files ({mb:.1f} MB), {args.num_perm} permutations, word 5-grams, one core, "
          f"median of {args.repeats}")
    results = {}
    for name, fn in (("midtrain", run_midtrain), ("datasketch", run_datasketch), ("datatrove", run_datatrove)):
        try:
            repeats = args.repeats if name != "datatrove" else 1
            results[name] = len(texts) / timed(fn, texts, args.num_perm, repeats)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
    print(f"\n{'implementation':<14} {'docs/s':>10} {'MB/s':>8} {'midtrain ×':>11}")
    for name, rate in results.items():
        ratio = results["midtrain"] / rate
        print(f"{name:<14} {rate:>10.0f} {rate * mb / len(texts):>8.2f} {ratio:>10.1f}×")
    print("\ntargets: ≥ 10× datasketch, ≥ 50× datatrove (issue 5)")


if __name__ == "__main__":
    main()

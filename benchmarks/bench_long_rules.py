"""Long documents under the keep policies: whole-document signals against chunk medians (rules/chunks.py).

    python benchmarks/bench_long_rules.py [--repeats 5] [--json F]

From one run, on the *training* sources only (registry.py; the held-out ones are read by ``bench_quality.py
--parts policy``):

1. good long documents: each training source's books and files rebuilt whole (>= 128 KiB, ``bench_quality``'s
   ``whole_groups``), kept by the whole default decision with ``long_chunk_chars=None`` and with the default;
2. long junk: each training junk source's documents joined in order into documents of >= 128 KiB (spam, SEO pages,
   word salad, boilerplate, generated code), and repeated content (each good long document's first 40 KiB, cut at
   a line end, four times); dropped under both;
3. every document whose decision differs, with both reasons;
4. cost: ``compute_signals`` on ``--time-docs`` of the long good documents (every k-th) and on ``bench_labels.py``'s
   speed set (3,000 documents of the training and held-out sources, a few of them long; timed, not decided), both
   ways, median of ``--repeats`` runs taken in turn.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_quality as bq  # noqa: E402
from bench_labels import speed_order, topical_sources  # noqa: E402
from scripts.labeldata import registry  # noqa: E402
from scripts.labeldata.source import every_kth  # noqa: E402
from scripts.labeldata.training_sets import translated_rows  # noqa: E402
from midtrain.curation import rules  # noqa: E402
from midtrain.curation.rules.chunks import LONG_CHUNK_CHARS  # noqa: E402

REPEAT_HEAD = 40_960
SETTINGS = {"whole": None, "chunks": LONG_CHUNK_CHARS}


def long_junk(junk_sources: list, junk_table: pa.Table) -> list[tuple[str, str, str]]:
    """``(kind, source, text)``: each junk source's documents joined in order until a document reaches 128 KiB."""
    names = junk_table.column("source").to_pylist()
    texts = junk_table.column("text").to_pylist()
    out = []
    for s in junk_sources:
        part: list[str] = []
        size = 0
        for name, text in zip(names, texts):
            if name != s.name:
                continue
            part.append(text)
            size += len(text.encode())
            if size >= bq.LONG_BYTES:
                out.append((s.kind, s.name, "\n\n".join(part)))
                part, size = [], 0
    return out


def repeated_content(good: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Each good long document's first ``REPEAT_HEAD`` characters, cut at a line end, four times."""
    out = []
    for name, text in good:
        head = text[:REPEAT_HEAD]
        cut = head.rfind("\n")
        out.append(("repeated-content", name, (head[:cut + 1] if cut > 0 else head) * 4))
    return out


def decide_with(chunk_chars: int | None, texts: list[str]) -> dict[str, list]:
    """``bench_quality.decide_all`` with the rule signals computed at ``chunk_chars``."""
    original = rules.compute_signals
    rules.compute_signals = functools.partial(original, long_chunk_chars=chunk_chars)
    try:
        return bq.decide_all(texts)
    finally:
        rules.compute_signals = original


def timed(texts: list[str], repeats: int) -> dict[str, float]:
    """Median seconds of ``compute_signals`` per setting, the settings taken in turn."""
    times: dict[str, list[float]] = defaultdict(list)
    rules.compute_signals(texts[:2])  # compile
    for _ in range(repeats):
        for name, chunk in SETTINGS.items():
            start = time.perf_counter()
            rules.compute_signals(texts, long_chunk_chars=chunk)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--time-docs", type=int, default=12, help="long documents timed (every k-th of them)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sources = registry.all_sources()
    train = [s for s in sources if s.name not in registry.HELDOUT]
    junk_sources = [s for s in train if s.domain == "bad"]
    junk_table = registry.corpus_table(junk_sources)
    table = registry.corpus_table([s for s in train if s.domain != "bad"])
    table = table.filter(pa.array(~translated_rows(table)))
    good = [(s.name, t) for s in train if s.domain != "bad" for t in bq.whole_groups(table, s.name)]
    junk = long_junk(junk_sources, junk_table) + repeated_content(good)
    out: dict = {"chunk_chars": LONG_CHUNK_CHARS, "good_documents": len(good),
                 "junk_documents": dict(Counter(k for k, _, _ in junk)), "kept_good": {}, "dropped_junk": {}}
    results = {}
    for name, chunk in SETTINGS.items():
        res_good = decide_with(chunk, [t for _, t in good])
        res_junk = decide_with(chunk, [t for _, _, t in junk])
        results[name] = (res_good, res_junk)
        kept = [s is None for s in res_good["step"]]
        out["kept_good"][name] = sum(kept) / len(kept)
        by_kind: dict[str, list[bool]] = defaultdict(list)
        for (kind, _, _), step in zip(junk, res_junk["step"]):
            by_kind[kind].append(step is not None)
        out["dropped_junk"][name] = {k: sum(v) / len(v) for k, v in sorted(by_kind.items())}
        why = Counter(f"{s}:{r}" for s, r in zip(res_good["step"], res_good["reason"]) if s is not None)
        print(f"\n[{name}] long good documents kept {out['kept_good'][name]:.1%} of {len(good)}; dropped by "
              f"{dict(why.most_common(4))}")
        for kind, rate in out["dropped_junk"][name].items():
            print(f"  long junk {kind:<18} {len(by_kind[kind]):>4} dropped {rate:6.1%}")
    print("\ndecisions that differ (whole -> chunks)")
    for label, docs, index in (("good", [(n, n) for n, _ in good], 0), ("junk", [(k, n) for k, n, _ in junk], 1)):
        before, after = results["whole"][index], results["chunks"][index]
        for (kind, name), *row in zip(docs, before["step"], before["reason"], after["step"], after["reason"]):
            if row[0] != row[2] or row[1] != row[3]:
                print(f"  {label} {kind}/{name}: {row[0]}:{row[1]} -> {row[2]}:{row[3]}")
    speed_train, speed_held = topical_sources()
    speed_texts = registry.corpus_table(speed_train + speed_held).column("text").to_pylist()
    short = [speed_texts[i] for i in speed_order(len(speed_texts), 3000)]
    print(f"\ncompute_signals, median of {args.repeats} runs in turn")
    out["seconds"] = {}
    timed_long = every_kth([t for _, t in good], args.time_docs)
    n_long = sum(len(t) >= 2 * LONG_CHUNK_CHARS for t in short)
    for label, texts in ((f"{len(timed_long)} long good documents", timed_long),
                         (f"the speed set, {len(short):,} ({n_long} long)", short)):
        t = timed(texts, args.repeats)
        mb = sum(len(x.encode()) for x in texts) / 1e6
        out["seconds"][label] = t
        print(f"  {label:<32} {mb:7.1f} MB  whole {t['whole']:.3f} s  chunks {t['chunks']:.3f} s  "
              f"ratio {t['chunks'] / t['whole']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

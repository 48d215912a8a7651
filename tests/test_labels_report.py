"""Labels in reports: `midtrain stats` summarising the score columns."""

from __future__ import annotations

import json

import pyarrow as pa

from midtrain.corpus import CorpusWriter
from midtrain.corpus.stats import corpus_stats
from midtrain.curation.labels import identify_language, label_domains, score_quality


def _labelled_corpus(sample_raw, out):
    writer = CorpusWriter(out, "text")
    for name in ("python_docs", "champ"):
        recs = [json.loads(line) for line in (sample_raw / f"{name}.jsonl").read_text().splitlines()[:30]]
        texts = [r["text"] for r in recs]
        domains = label_domains(texts)
        table = pa.table({"id": [r["id"] for r in recs], "text": texts, "domain": domains["domain"],
                          "source": [r["source"] for r in recs], "quality_score": score_quality(texts, domains["domain"])["quality_score"],
                          "domain_score": domains["domain_score"],
                          "language_score": identify_language(texts)["language_score"]})
        for domain in sorted(set(domains["domain"].to_pylist())):
            part = table.filter(pa.compute.equal(table["domain"], domain))
            writer.write_table(domain, part)
    writer.finish()
    return out


def test_stats_summarise_label_scores_per_domain(sample_raw, tmp_path):
    stats = corpus_stats(_labelled_corpus(sample_raw, tmp_path / "c"))
    for entry in stats["domains"].values():
        assert 0.0 <= entry["signal_means"]["quality_score"] <= 5.0
        assert 0.0 <= entry["signal_means"]["language_score"] <= 1.0

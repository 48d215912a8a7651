"""Labels in reports: `midtrain stats` summarising the score columns."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from midtrain.corpus import CorpusWriter
from midtrain.corpus.stats import corpus_stats
from midtrain.curation.labels import identify_language, label_domains, score_quality


def _labelled_corpus(sample_raw, out):
    """Two real sources labelled and written by domain; returns the corpus folder and every row written."""
    writer = CorpusWriter(out, "text")
    written = []
    for name in ("python_docs", "champ"):
        recs = [json.loads(line) for line in (sample_raw / f"{name}.jsonl").read_text().splitlines()[:30]]
        texts = [r["text"] for r in recs]
        domains = label_domains(texts)
        table = pa.table({"id": [r["id"] for r in recs], "text": texts, "domain": domains["domain"],
                          "source": [r["source"] for r in recs],
                          "quality_score": score_quality(texts, domains["domain"])["quality_score"],
                          "domain_score": domains["domain_score"],
                          "language_score": identify_language(texts)["language_score"]})
        for domain in sorted(set(domains["domain"].to_pylist())):
            part = table.filter(pa.compute.equal(table["domain"], domain))
            writer.write_table(domain, part)
        written.append(table)
    writer.finish()
    return out, pa.concat_tables(written)


def test_stats_summarise_label_scores_per_domain(sample_raw, tmp_path):
    """Each domain's mean of each score column is the mean of that column over the domain's documents."""
    corpus, rows = _labelled_corpus(sample_raw, tmp_path / "c")
    stats = corpus_stats(corpus)
    labelled = sorted(set(rows["domain"].to_pylist()))
    assert sorted(stats["domains"]) == labelled and len(labelled) >= 2  # python docs and CHAMP differ
    for domain in labelled:
        part = rows.filter(pa.compute.equal(rows["domain"], domain))
        means = stats["domains"][domain]["signal_means"]
        assert stats["domains"][domain]["documents"] == part.num_rows
        for column in ("quality_score", "domain_score", "language_score"):
            expected = float(np.mean(part[column].to_numpy().astype(np.float64)))
            assert means[column] == pytest.approx(expected, rel=1e-6, abs=1e-6), (domain, column)

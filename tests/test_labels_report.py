"""Labels in reports: score histograms (PNG) and `midtrain stats` summarising the score columns."""

from __future__ import annotations

import json

import pyarrow as pa

from midtrain.corpus import CorpusWriter
from midtrain.corpus.stats import corpus_stats
from midtrain.curation.labels import identify_language, label_domains, score_quality
from midtrain.curation.labels.histograms import plot_score_histograms, score_histograms


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


def test_histograms_count_every_document_per_domain(sample_raw, tmp_path):
    corpus = _labelled_corpus(sample_raw, tmp_path / "c")
    hists = score_histograms(corpus, bins=10)
    assert set(hists) == {"quality_score", "language_score", "domain_score"}
    assert sum(sum(c) for c in hists["quality_score"].values()) == 60
    png = plot_score_histograms(corpus, tmp_path / "scores.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_summarise_label_scores_per_domain(sample_raw, tmp_path):
    stats = corpus_stats(_labelled_corpus(sample_raw, tmp_path / "c"))
    for entry in stats["domains"].values():
        assert 0.0 <= entry["signal_means"]["quality_score"] <= 5.0
        assert 0.0 <= entry["signal_means"]["language_score"] <= 1.0

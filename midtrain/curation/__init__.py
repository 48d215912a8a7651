"""Curation: raw documents -> a text corpus, on datatrove's local, Ray or Slurm executors.

``curate(inputs, output)`` reads JSONL / Parquet / Arrow / Hugging Face datasets / folders of
plain files (``readers/``), runs the taggers (``taggers/``: normalise -> language, domain and
quality labels -> rule signals) and the keep decision (``filters/``: thresholds), and the writer
(``writers/``) puts kept documents in ``data/<domain>/`` and every rejected one in
``rejected/<domain>/`` with its step and reason, then the manifest and a report.
``refilter(corpus, output, thresholds)`` re-decides the thresholds from the stored signals.

Importing this package stays light: datatrove, Ray and the rules load when a job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.curation.config import CurateConfig, load_config
    from midtrain.curation.inputs import InputSpec
    from midtrain.curation.job import curate
    from midtrain.curation.refiltering import refilter
    from midtrain.curation.report import CurationReport, build_report

_EXPORTS = {
    "curate": "midtrain.curation.job",
    "refilter": "midtrain.curation.refiltering",
    "CurationReport": "midtrain.curation.report",
    "build_report": "midtrain.curation.report",
    "CurateConfig": "midtrain.curation.config",
    "load_config": "midtrain.curation.config",
    "InputSpec": "midtrain.curation.inputs",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)

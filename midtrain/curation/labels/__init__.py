"""Labels: language ID, domain labels and quality scores, the library under the curation taggers.

- ``identify_language``, ``label_domains``, ``score_quality``: the batch functions the taggers
  (:mod:`midtrain.curation.taggers`) call;
- ``language_reject_reasons``, ``quality_reject_reasons``: the keep decisions, for the
  ``thresholds`` filter (tag first, filter later);
- ``train_classifier`` (``midtrain train-classifier``) and the shipped models in ``models/``.

Importing this package loads neither fastText nor a model; the first prediction does.

The per-byte and per-token loops are numba kernels over a batch's Arrow buffers, each tested against a
reference (fastText's own prediction, the tokenizer, Arrow's regexes, a plain-Python twin). What was
measured to matter in them (benchmarks/README.md, stops 41-43):

- numba wraps a negative signed index around on every read, so a loop over ``data[j]`` with ``j`` from
  ``range(a, b)`` does not vectorise; a loop over the slice ``data[a:b]`` (or a copy by slice) does, 5x
  faster for a byte count;
- a sum whose width is known only at run time goes through memory; a fixed-size local array stays in
  registers (``fasttext_predict._average_rows``);
- a helper that tests per byte where it is (``<`` + token + ``>``) cost lid.176 half its time; write the
  bytes into a scratch buffer once (``fasttext_predict._subwords``);
- look-up tables that fit in cache: 16-byte rows holding what one probe needs, a rank table instead of an
  array per bucket;
- a branch on something that changes every few bytes costs more than a mask: skipping blanks in a line's
  hash by a mask took ``quality.structure_signals`` from 11.0 to 7.7 µs a document (stop 51); where the
  branch is mostly one way (brackets in prose), the arithmetic version was twice as slow;
- read each item once: cohesion compared each unit with each of its six neighbours' words; keeping each
  word's recent units as bits reads the words once (``quality._cohesion``, 8.4 -> 4.5 µs).
"""

from midtrain.lazy import lazy_getattr

_EXPORTS = {
    "DOMAIN_SIGNAL_SCHEMA": "midtrain.curation.labels.domain",
    "DOMAINS": "midtrain.curation.labels.domain",
    "DomainConfig": "midtrain.curation.labels.domain",
    "label_domains": "midtrain.curation.labels.domain",
    "DEFAULT_KEEP_LANGUAGES": "midtrain.curation.labels.language",
    "DEFAULT_MIN_LANGUAGE_SCORE": "midtrain.curation.labels.language",
    "LANGUAGE_SIGNAL_SCHEMA": "midtrain.curation.labels.language",
    "identify_language": "midtrain.curation.labels.language",
    "language_reject_reasons": "midtrain.curation.labels.language",
    "DEFAULT_QUALITY_THRESHOLDS": "midtrain.curation.labels.quality",
    "QUALITY_SIGNAL_SCHEMA": "midtrain.curation.labels.quality",
    "QUALITY_TYPES": "midtrain.curation.labels.quality",
    "quality_reject_reasons": "midtrain.curation.labels.quality",
    "quality_tier_reject_reasons": "midtrain.curation.labels.quality",
    "score_quality": "midtrain.curation.labels.quality",
    "TrainConfig": "midtrain.curation.labels.training",
    "read_examples": "midtrain.curation.labels.training",
    "read_sourced_examples": "midtrain.curation.labels.training",
    "score_by_source": "midtrain.curation.labels.source_folds",
    "train_classifier": "midtrain.curation.labels.training",
    "LABEL_SIGNAL_SCHEMA": "midtrain.curation.labels.schema",
}
__all__ = sorted([*_EXPORTS])


__getattr__ = lazy_getattr(__name__, _EXPORTS)

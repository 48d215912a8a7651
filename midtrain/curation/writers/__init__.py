"""Writers: the last step of a curation job, turning the document stream into a text corpus.

:class:`WriteCorpus` writes kept documents to ``data/<domain>/`` and rejected ones, with their
step and reason, to ``rejected/<domain>/``.
"""

from midtrain.curation.writers.write_corpus import WriteCorpus

__all__ = ["WriteCorpus"]

"""Readers: the job's first step, turning each task's input unit into documents.

One datatrove step, :class:`ReadInputs` (``read_inputs.py``), picks the reader function of the
unit's format from :data:`READERS`: ``jsonl.py``, ``columnar.py`` (Parquet, Arrow, corpus shards),
``hf.py`` (Hugging Face datasets) and ``files.py`` (folders of plain files). Every record is
accounted for (``log.py``). File access goes through datatrove's fsspec ``DataFolder``.
"""

from midtrain.curation.readers.read_inputs import READERS, ReadInputs

__all__ = ["READERS", "ReadInputs"]

"""midtrain: the data side of LLM mid-training.

Stages, each usable on its own: ``midtrain.curation`` (raw documents -> text corpus),
``midtrain.tokenize`` (text corpus -> token corpus), ``midtrain.mixers`` (domain schedules and
the budget planner) and ``midtrain.loaders`` (packed, resumable batches for PyTorch).
``midtrain.corpus`` holds the on-disk formats they share.
"""

__version__ = "0.1.0"

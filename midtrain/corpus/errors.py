"""The one exception type the corpus layer raises for bad data on disk."""

from midtrain.errors import MidtrainError


class CorpusError(MidtrainError):
    """A corpus folder is incomplete, corrupted or malformed; the message names the file and the problem."""

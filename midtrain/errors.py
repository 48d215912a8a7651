"""The user-facing error types. The CLI prints their message as one line and exits non-zero.

Raise these for user mistakes (bad input, bad config, a corrupted corpus) with a message that names
the file, record or config key and says what to do; let genuine bugs raise anything else.
"""


class MidtrainError(Exception):
    """Base of every error that is the user's input, not a bug."""


class ConfigError(MidtrainError):
    """A configuration (YAML/TOML/dict or CLI flags) is invalid; the message names the key."""

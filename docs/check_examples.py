"""Run every example in ``docs/*.md``, so the documentation cannot drift from the code.

    python docs/check_examples.py              # check every doc
    python docs/check_examples.py docs/loader.md
    python docs/check_examples.py --write      # regenerate the generated tables in place

What is checked, per fenced block:

- ``python``: executed in order, one namespace per document, in a fresh temporary folder (so
  later blocks see what earlier ones defined and wrote).
- ``yaml`` in ``schedule-language.md``: loaded with ``midtrain.mixers.load_schedule`` against
  :data:`DOMAIN_TOKENS`; in ``curation.md``: loaded with ``midtrain.curation.load_config``.
  A ``text`` block right after a YAML block whose first line starts with ``ConfigError:`` is the
  expected error: the load must raise exactly that message.
- Tables between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` must equal the
  output of the generator ``NAME`` below (``--write`` rewrites them).

Blocks of any other language (bash, json, text) are not run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

DOCS = Path(__file__).resolve().parent
DOMAIN_TOKENS = {"code": 30_000_000_000, "long": 5_000_000_000, "math": 10_000_000_000,
                 "reasoning": 2_000_000_000, "web": 400_000_000_000}
"""Unique tokens per domain that the schedule examples are resolved against."""
_FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
_GENERATED = re.compile(r"(<!-- generated: (\S+) -->\n)(.*?)(<!-- end generated -->)", re.S)


# --- generated tables ---------------------------------------------------------------------------
def signal_columns_table() -> str:
    """Every column of a text corpus written by the default curation pipeline, with its Arrow type."""
    from midtrain.curation.pipeline import build_steps, default_pipeline
    from midtrain.curation.readers import ReadInputs
    import pyarrow as pa

    from midtrain.curation.writers.write_corpus import BASE_COLUMNS

    rows = [(name, dtype, "reader") for name, dtype in BASE_COLUMNS.items()]
    rows += [(name, dtype, "reader (plain files)") for name, dtype in ReadInputs.signal_schema.items()]
    seen = {name for name, _, _ in rows}
    configs = default_pipeline()
    for config, step in zip(configs, build_steps(configs)):
        for name, dtype in (getattr(step, "signal_schema", None) or {}).items():
            if name in seen:
                continue
            seen.add(name)
            rows.append((name, dtype, config.name))
    rows += [(name, pa.string(), "writer (rejected shards only)") for name in ("step", "reason")]
    lines = ["| column | Arrow type | added by |", "|---|---|---|"]
    lines += [f"| `{name}` | `{dtype}` | {step} |" for name, dtype, step in rows]
    return "\n".join(lines) + "\n"


def rule_checks_table() -> str:
    """Every check of every rule family, in the order it is applied, with the family's default."""
    from midtrain.curation.rules.signals import FAMILIES

    lines = ["| `reject_step` | `reject_reason` | fails when | default |", "|---|---|---|---|"]
    for family in FAMILIES.values():
        for i, check in enumerate(family.checks):
            step = f"`{family.name}`" if i == 0 else ""
            if check.op == "flag":
                when = f"`{check.signal}` is true"
            else:
                bound = check.value if check.param is None else check.param
                when = f"`{check.signal} {check.op} {_number(bound) if check.param is None else bound}`"
            if check.exempt_zero:
                when += f" (a signal of 0 passes when `{check.exempt_zero}`)"
            if check.only_column:
                when += f", where `{check.only_column}` is " + " or ".join(f"`{v}`" for v in check.only_values)
            if check.param is None:
                default = "always on"
            else:
                value = family.params[check.param]
                default = f"on (`{check.param}`)" if value is True else _number(value)
            lines.append(f"| {step} | `{check.reason}` | {when} | {default} |")
    return "\n".join(lines) + "\n"


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


GENERATORS: dict[str, Callable[[], str]] = {"signal-columns": signal_columns_table, "rule-checks": rule_checks_table}


# --- checks -------------------------------------------------------------------------------------
def check_generated(path: Path, text: str, write: bool) -> tuple[str, list[str]]:
    problems = []

    def replace(m: re.Match) -> str:
        name = m.group(2)
        fresh = GENERATORS[name]()
        if m.group(3) != fresh:
            problems.append(f"{path.name}: generated table {name!r} is out of date (run with --write)")
        return m.group(1) + fresh + m.group(4)

    new = _GENERATED.sub(replace, text)
    return new, ([] if write else problems)


def load_yaml_example(doc: str, source: str) -> None:
    import yaml

    body = yaml.safe_load(source)
    if doc == "schedule-language.md":
        from midtrain.mixers import load_schedule

        load_schedule(body, domain_tokens=DOMAIN_TOKENS)
    elif doc == "curation.md":
        from midtrain.curation import load_config
        from midtrain.curation.pipeline import build_steps

        config = load_config(body)
        if config.pipeline is not None:
            build_steps(config.pipeline)  # checks every step's parameters


def check_blocks(path: Path, text: str) -> list[str]:
    from midtrain.errors import ConfigError

    blocks = [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(text)]
    problems: list[str] = []
    namespace: dict = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    with tempfile.TemporaryDirectory() as tmp, _chdir(tmp):
        for i, (lang, source, line) in enumerate(blocks):
            where = f"{path.name}:{line}"
            if lang == "python":
                try:
                    exec(compile(source, where, "exec"), namespace)
                except Exception:
                    problems.append(f"{where}: python example failed\n{traceback.format_exc(limit=3)}")
            elif lang == "yaml":
                nxt = blocks[i + 1] if i + 1 < len(blocks) else None
                expected = None
                if nxt and nxt[0] == "text" and nxt[1].startswith("ConfigError:"):
                    expected = nxt[1].splitlines()[0].removeprefix("ConfigError:").strip()
                try:
                    load_yaml_example(path.name, source)
                except ConfigError as exc:
                    if expected is None:
                        problems.append(f"{where}: yaml example raised ConfigError: {exc}")
                    elif str(exc) != expected:
                        problems.append(f"{where}: expected ConfigError: {expected}\n  got ConfigError: {exc}")
                else:
                    if expected is not None:
                        problems.append(f"{where}: expected ConfigError: {expected}, but the example loaded")
    return problems


@contextlib.contextmanager
def _chdir(path: str):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="*", type=Path, help="markdown files (default: docs/*.md)")
    parser.add_argument("--write", action="store_true", help="regenerate the generated tables in place")
    args = parser.parse_args(argv)
    with contextlib.suppress(ImportError):  # datatrove logs every task at INFO; keep warnings only
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    problems: list[str] = []
    for path in [p.resolve() for p in args.docs] or sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        new, found = check_generated(path, text, args.write)
        if args.write and new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path.name}")
        problems += found + check_blocks(path, new)
        print(f"checked {path.name}")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

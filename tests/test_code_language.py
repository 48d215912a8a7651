"""Code-language detection on real files shipped with the interpreter and the installed packages."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("magika")

from midtrain.curation.labels.code_language import (CODE_LANGUAGE_SIGNAL_SCHEMA, CODE_LANGUAGES, UNKNOWN,  # noqa: E402
                                                    detect_code_language)

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _site_file(module: str, rel: str) -> Path:
    mod = pytest.importorskip(module)
    path = Path(mod.__file__).parent / rel
    if not path.is_file():
        pytest.skip(f"{path} not shipped by this {module}")
    return path


def _real_files() -> list[tuple[str, Path]]:
    return [
        ("python", STDLIB / "json" / "decoder.py"),
        ("python", STDLIB / "sqlite3" / "dump.py"),
        ("c", _site_file("numpy", "_core/include/numpy/npy_math.h")),
        ("c++", _site_file("pyarrow", "src/arrow/python/ipc.cc")),
        ("shell", _site_file("virtualenv", "activation/bash/activate.sh")),
    ]


def test_real_files_get_their_language():
    cases = _real_files()
    table = detect_code_language([p.read_text(errors="replace") for _, p in cases])
    assert table["code_language"].to_pylist() == [lang for lang, _ in cases]
    assert all(s > 0.5 for s in table["code_language_score"].to_pylist())
    assert {lang for lang, _ in cases} <= set(CODE_LANGUAGES)


def test_schema_and_arrow_input():
    texts = pa.chunked_array([[(STDLIB / "json" / "decoder.py").read_text()], [None]], pa.string())
    table = detect_code_language(texts)
    assert {name: table.schema.field(name).type for name in table.column_names} == CODE_LANGUAGE_SIGNAL_SCHEMA
    assert table.num_rows == 2
    assert detect_code_language([]).num_rows == 0


def test_deterministic_and_independent_of_batch():
    texts = [p.read_text(errors="replace") for _, p in _real_files()]
    one = detect_code_language(texts)
    again = detect_code_language(texts)
    assert one.equals(again)
    singles = [detect_code_language([t])["code_language"][0].as_py() for t in texts]
    assert singles == one["code_language"].to_pylist()


def test_empty_binary_and_prose_are_unknown():
    rng = random.Random(0)
    garbage = bytes(rng.randrange(256) for _ in range(4000)).decode("utf-8", "replace")
    licence = (STDLIB / "LICENSE.txt").read_text(errors="replace")
    table = detect_code_language(["", "  \n\t", None, garbage, "\x00" * 500, licence])
    assert table["code_language"].to_pylist() == [UNKNOWN] * 6
    assert table["code_language_score"].to_pylist()[:3] == [0.0, 0.0, 0.0]

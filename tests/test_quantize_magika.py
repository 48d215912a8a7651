"""scripts/quantize_magika.py: the graph rewrite keeps Magika's outputs (up to float rounding), and the
int8 quantization is a function of its inputs (the same calibration rows, the same bytes). Real files
of the interpreter stand in for the code packages the shipped copy was calibrated on."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("magika")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")

from scripts import quantize_magika as qm  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _texts(n: int) -> list[str]:
    files = sorted(p for p in STDLIB.rglob("*") if p.is_file() and p.suffix in (".py", ".c", ".txt", ".sh"))
    return [p.read_text(errors="replace") for p in files[:: max(1, len(files) // n)]][:n]


def _outputs(model, rows: np.ndarray) -> np.ndarray:
    path = model if isinstance(model, Path) else model.SerializeToString()
    session = qm._session(path)
    return session.run(None, {session.get_inputs()[0].name: rows})[0]


def test_rewrite_keeps_magikas_outputs_and_drops_the_element_work():
    original = onnx.load(qm.magika_model_file())
    rewritten = qm.rewrite(original)
    rows = qm.model_inputs(_texts(48) + ["", "x", "\x00\x01" * 600])
    np.testing.assert_allclose(_outputs(rewritten, rows), _outputs(qm.magika_model_file(), rows), atol=1e-5)
    ops = [n.op_type for n in rewritten.graph.node]
    assert "Equal" not in ops and ops.count("MatMul") == 1 and ops.count("Gather") == 1
    assert ops.count("Tanh") == 2 and ops.count("GlobalMaxPool") == 2  # GELU on the pooled max and min


def test_quantization_is_deterministic_and_close(tmp_path):
    rewritten = qm.rewrite(onnx.load(qm.magika_model_file()))
    calibration = qm.model_inputs(_texts(64))
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    qm.quantize(rewritten, calibration, first)
    qm.quantize(rewritten, calibration, second)
    assert first.read_bytes() == second.read_bytes()
    rows = qm.model_inputs(_texts(96))
    exact, fast = _outputs(qm.magika_model_file(), rows), _outputs(first, rows)
    assert (exact.argmax(1) == fast.argmax(1)).mean() >= 0.95
    assert "ConvInteger" not in {n.op_type for n in onnx.load(first).graph.node}  # QDQ, not the slow operator


def test_rewrite_refuses_a_graph_it_does_not_know():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("bytes", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    other = helper.make_model(helper.make_graph([helper.make_node("Relu", ["bytes"], ["y"])], "g", [x], [y]))
    with pytest.raises(ValueError, match="not Magika's"):
        qm.rewrite(other)

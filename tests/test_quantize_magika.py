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


def test_fused_int8_graph_gives_the_same_bits_with_less_work(tmp_path):
    rewritten = qm.rewrite(onnx.load(qm.magika_model_file()))
    quantized = tmp_path / "q.onnx"
    qm.quantize(rewritten, qm.model_inputs(_texts(32)), quantized)
    fused = qm.fuse_quantized(onnx.load(quantized))
    rows = qm.model_inputs(_texts(64) + ["", "x", "\x00\x01" * 600, "{" * 3000])
    assert np.array_equal(_outputs(fused, rows), _outputs(quantized, rows))
    ops = [n.op_type for n in fused.graph.node]
    assert "Expand" not in ops and "GlobalMaxPool" not in ops and "Neg" not in ops
    made = {o: n.op_type for n in fused.graph.node for o in n.output}
    assert made["midtrain_codes_max"] == "ReduceMax" and made["midtrain_codes_min"] == "ReduceMin"  # on uint8 codes
    with pytest.raises(ValueError, match="not the graph rewrite"):
        qm.fuse_quantized(onnx.load(qm.magika_model_file()))


def test_shipped_int8_copy_is_fused():
    from midtrain.curation.labels.code_language import MAGIKA_INT8_FILE

    ops = [n.op_type for n in onnx.load(MAGIKA_INT8_FILE).graph.node]
    assert "ReduceMin" in ops and "GlobalMaxPool" not in ops and "Expand" not in ops

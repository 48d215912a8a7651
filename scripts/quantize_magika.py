"""Build midtrain's int8 copy of Magika's model (``models/magika-int8.onnx``), which the hybrid
code-language detector runs on the documents its fastText model is unsure of.

    pip install onnx==1.17.0 ml_dtypes   # build-time only; the labeller needs onnxruntime alone
    python -m scripts.labeldata.code_sources   # the code-language packages (cached)
    python scripts/quantize_magika.py [--out PATH] [--docs 1024]

Magika 1.0's ``standard_v3_3`` spends about 10 ms of one core per document: a one-hot layer built
element by element (2,048 bytes x 257 classes), a GELU over 2,048 x 64 values, a 5-wide convolution
(256 -> 512 channels over 512 positions, 0.33 G multiply-adds) and a GELU over 512 x 508 values before
a global max-pool. Two rewrites keep the function (up to float rounding) and drop most of the element
work:

1. one-hot x W + b, then GELU, depends on one byte at a time: it becomes a gather from a 257 x 64
   table, computed once by the model's own operators on the 257 byte values;
2. GELU then a global max-pool: the tanh GELU falls to one minimum and rises after it, so its largest
   value over a set of inputs is at the set's least or greatest element. The pool runs on the raw
   values (max and min), and GELU on those two per channel: 2 x 512 values instead of 260,096.

Then onnxruntime's static quantization (QDQ, int8 weights per output channel, uint8 activations,
MinMax calibration) turns the convolution and the last dense layer into int8 kernels, calibrated on
files of the code-language *training* packages only (never ``VALIDATION_SOURCES``, whose accuracy
decides whether this model ships, nor the held-out packages). The calibration set is fixed (every
k-th file), so the same inputs give the same bytes.

Last, three rewrites of the quantized graph that give the same output bits (checked on the
calibration files; the build refuses otherwise), about a quarter of the int8 model's time
(2.4 -> 1.8 ms of CPU per document):

3. the max-pool and min-pool run on the convolution's uint8 output before it is dequantized and its
   bias added (both steps are monotonic, so the largest and smallest values are the same elements):
   2 x 512 values dequantized per document instead of 262,144, and no float negation;
4. ``Expand`` nodes that only feed a broadcasting Add/Sub/Mul/Div are dropped (the operator broadcasts
   anyway): the layer norm's reciprocal square root ran on 131,072 copies of 256 values;
5. a ``Slice`` that keeps everything (starts 0, ends 10**9 or more, steps 1) is dropped.

``models/magika-int8.json`` records what the file was built from; the labeller refuses it if the
installed Magika's model differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from midtrain.curation.labels.code_language import MAGIKA_INT8_FILE, magika_inputs, magika_model_file  # noqa: E402
from midtrain.curation.labels.text_windows import as_string_array, string_buffers  # noqa: E402

CALIBRATION_DOCS = 1024
ADDED_AFTER_CALIBRATION = ("cpp-fmt", "cpp-yaml-cpp", "javascript-underscore", "javascript-ramda", "sql-unit",
                           "sql-pglogical")
"""Code-language training packages added (stop 41, E15) after the shipped copy was calibrated (stop 37).
Every k-th file shifts with each package added, so they stay out of the calibration set: with them out,
the quantization step gives the shipped file's bytes (checked at stop 42)."""
CALIBRATION_BATCH = 32
_GELU_OPS = ("Add", "Mul", "Tanh")
_BROADCASTING_OPS = ("Add", "Sub", "Mul", "Div")


def _producers(graph) -> dict:
    return {out: node for node in graph.node for out in node.output}


def _constant_inputs(graph) -> set[str]:
    """Tensors that are initializers or outputs of ``Constant`` nodes."""
    return {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}


def _elementwise_chain(graph, start: str, end: str) -> list:
    """The nodes that compute ``end`` from ``start`` with ``Add``/``Mul``/``Tanh`` and constants only,
    in graph order; ``ValueError`` if ``end`` depends on anything else."""
    producers, constants = _producers(graph), _constant_inputs(graph)
    chain, todo, seen = [], [end], set()
    while todo:
        name = todo.pop()
        if name == start or name in constants or name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is None or node.op_type not in _GELU_OPS:
            raise ValueError(f"{name}: made by {node.op_type if node else 'nothing'}, not part of an "
                             f"element-wise function of {start}")
        chain.append(node)
        todo.extend(node.input)
    order = {id(n): k for k, n in enumerate(graph.node)}
    return sorted(chain, key=lambda n: order[id(n)])


def _prune(graph) -> None:
    """Drop the nodes no graph output depends on."""
    producers = _producers(graph)
    needed, todo = set(), [o.name for o in graph.output]
    while todo:
        node = producers.get(todo.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            todo.extend(node.input)
    kept = [n for n in graph.node if id(n) in needed]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in kept for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _splice(model, old: list, new: list):
    """``model`` with the ``old`` nodes replaced by ``new`` ones (where the first old one stood), the nodes
    no output needs dropped, checked by onnx."""
    import onnx

    graph = model.graph
    at = list(graph.node).index(old[0])
    for node in old:
        graph.node.remove(node)
    for k, node in enumerate(new):
        graph.node.insert(at + k, node)
    _prune(graph)
    onnx.checker.check_model(model)
    return model


def _run(model, inputs: np.ndarray, output: str) -> np.ndarray:
    import onnx
    import onnxruntime as rt

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(output))
    options = rt.SessionOptions()
    options.intra_op_num_threads = 1
    session = rt.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run([output], {model.graph.input[0].name: inputs})[0]


def rewrite(model):
    """Magika's graph with the byte embedding and its GELU as one gather, and GELU after the max-pool
    (see the module docstring); the same outputs up to float rounding."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    producers = _producers(graph)
    source = graph.input[0].name
    width = graph.input[0].type.tensor_type.shape.dim[1].dim_value

    # 1. Cast(Equal(bytes, 0..256)) @ W -> + b -> GELU, up to the first Reshape: a gather.
    onehot = next((n for n in graph.node if n.op_type == "MatMul" and n.input[0] in producers
                   and producers[n.input[0]].op_type == "Cast"), None)
    pool = next((n for n in graph.node if n.op_type == "GlobalMaxPool"), None)
    if onehot is None or pool is None:
        raise ValueError("not Magika's standard_v3 graph (no one-hot MatMul or no GlobalMaxPool): install the "
                         "magika version pyproject.toml pins")
    reshape = next(n for n in graph.node[list(graph.node).index(onehot):] if n.op_type == "Reshape")
    embedded = reshape.input[0]
    _elementwise_chain(graph, onehot.output[0], embedded)
    values = np.full((1, width), 256, np.int32)
    values[0, :257] = np.arange(257)
    table = _run(model, values, embedded)[0, :257].astype(np.float32)
    graph.initializer.append(numpy_helper.from_array(table, "midtrain_byte_table"))
    gathered = "midtrain_byte_embedding"
    graph.node.insert(list(graph.node).index(reshape),
                      helper.make_node("Gather", ["midtrain_byte_table", source], [gathered], axis=0))
    reshape.input[0] = gathered

    # 2. GELU -> GlobalMaxPool: pool first (max and min), GELU on both, keep the larger.
    activated = pool.input[0]
    raw, chain = None, []
    for candidate in producers[activated].input:  # GELU(x) = x * h(x): x is the operand the chain starts from
        try:
            chain = _elementwise_chain(graph, candidate, activated)
        except ValueError:
            continue
        raw = candidate
        break
    if raw is None:
        raise ValueError(f"{activated}: not an element-wise function of one tensor (expected Magika's GELU)")
    new = [helper.make_node("GlobalMaxPool", [raw], ["midtrain_pool_max"]),
           helper.make_node("Neg", [raw], ["midtrain_neg"]),
           helper.make_node("GlobalMaxPool", ["midtrain_neg"], ["midtrain_neg_max"]),
           helper.make_node("Neg", ["midtrain_neg_max"], ["midtrain_pool_min"])]
    ends = []
    for side in ("max", "min"):
        names = {raw: f"midtrain_pool_{side}"}
        for node in chain:
            outs = [f"{o}_{side}" for o in node.output]
            names.update(zip(node.output, outs))
            new.append(helper.make_node(node.op_type, [names.get(i, i) for i in node.input], outs))
        ends.append(names[activated])
    new.append(helper.make_node("Max", ends, list(pool.output)))
    return _splice(model, [pool], new)


def _consumers(graph) -> dict:
    out: dict = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _bypass(graph, node, consumers: dict) -> None:
    """Let ``node``'s consumers read its first input instead of its output (``_prune`` drops it)."""
    for consumer in consumers.get(node.output[0], []):
        consumer.input[:] = [node.input[0] if name == node.output[0] else name for name in consumer.input]


def fuse_quantized(model):
    """The quantized graph with rewrites 3-5 of the module docstring: the same output bits, less work."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    producers, consumers, constants = _producers(graph), _consumers(graph), _constant_inputs(graph)
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    # 4. Expand before a broadcasting operator; 5. a Slice that keeps everything.
    for node in list(graph.node):
        if node.op_type == "Expand" and all(c.op_type in _BROADCASTING_OPS for c in consumers.get(node.output[0], [])):
            _bypass(graph, node, consumers)
        elif node.op_type == "Slice" and len(node.input) >= 3 and all(i in initializers for i in node.input[1:]):
            starts, ends = initializers[node.input[1]], initializers[node.input[2]]
            steps = initializers[node.input[4]] if len(node.input) > 4 else np.ones_like(starts)
            if (starts == 0).all() and (ends >= 10**9).all() and (steps == 1).all():
                _bypass(graph, node, consumers)

    # 3. Add(bias) <- Squeeze/Slice <- DequantizeLinear(codes): pool the codes, then dequantize and add.
    pools = [n for n in graph.node if set(n.output) & {"midtrain_pool_max", "midtrain_pool_min"}]
    first = next((n for n in pools if n.op_type == "GlobalMaxPool" and n.output[0] == "midtrain_pool_max"), None)
    add = producers.get(first.input[0]) if first is not None else None
    if add is None or add.op_type != "Add" or sum(i in constants for i in add.input) != 1:
        raise ValueError("not the graph rewrite() makes (no GlobalMaxPool after a bias Add): rebuild from Magika's")
    bias = next(i for i in add.input if i in constants)
    name, shape_ops = next(i for i in add.input if i not in constants), []
    while producers[name].op_type in ("Squeeze", "Slice"):
        shape_ops.append(producers[name])
        name = producers[name].input[0]
    dequantize = producers[name]
    if dequantize.op_type != "DequantizeLinear" or initializers[dequantize.input[1]].size != 1:
        raise ValueError(f"{name}: made by {dequantize.op_type}, not a per-tensor DequantizeLinear of the convolution")
    codes, new = dequantize.input[0], []
    for op in reversed(shape_ops):
        new.append(helper.make_node(op.op_type, [codes, *op.input[1:]], [f"{op.output[0]}_codes"]))
        codes = new[-1].output[0]
    for side, reduce in (("max", "ReduceMax"), ("min", "ReduceMin")):
        new += [helper.make_node(reduce, [codes], [f"midtrain_codes_{side}"], axes=[2], keepdims=1),
                helper.make_node("DequantizeLinear", [f"midtrain_codes_{side}", *dequantize.input[1:]],
                                 [f"midtrain_conv_{side}"]),
                helper.make_node("Add", [f"midtrain_conv_{side}", bias], [f"midtrain_pool_{side}"])]
    return _splice(model, pools, new)


def calibration_texts(limit: int = CALIBRATION_DOCS) -> list[str]:
    """Every k-th file of the code-language training packages (validation and held-out ones excluded, and
    those added after the shipped copy was calibrated: ``ADDED_AFTER_CALIBRATION``)."""
    from scripts.labeldata.code_sources import (CODE_LANGUAGE_SOURCES, HELDOUT_GROUPS, VALIDATION_OTHER_SOURCES,
                                                VALIDATION_SOURCES)

    excluded = set(VALIDATION_SOURCES) | set(VALIDATION_OTHER_SOURCES) | set(ADDED_AFTER_CALIBRATION)
    texts = [d.text for s in CODE_LANGUAGE_SOURCES if s.name not in excluded for d in s.docs()
             if d.group not in HELDOUT_GROUPS]
    if not texts:
        raise SystemExit("no code-language training files: run `python -m scripts.labeldata.code_sources` first")
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def model_inputs(texts: list[str]) -> np.ndarray:
    """Magika's input rows for ``texts`` (the labeller's own kernel)."""
    from midtrain.curation.labels.code_language import _model

    m = _model()
    data, offsets = string_buffers(as_string_array(texts))
    out = np.empty((len(texts), m.beg + m.end), np.int32)
    magika_inputs(data, offsets, m.beg, m.end, m.block, m.pad, out, np.empty(len(texts), np.int64),
                  np.empty(len(texts), np.bool_))
    return out


def quantize(model, calibration: np.ndarray, out: Path) -> None:
    """Static int8 quantization of the Conv and MatMul nodes, calibrated on ``calibration`` rows."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration[k:k + CALIBRATION_BATCH] for k in range(0, len(calibration),
                                                                                     CALIBRATION_BATCH))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {model.graph.input[0].name: batch}

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "rewritten.onnx"
        onnx.save(model, source)
        quantize_static(str(source), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv", "MatMul"])


def _session(path: Path | bytes):
    import onnxruntime as rt

    options = rt.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return rt.InferenceSession(str(path) if isinstance(path, Path) else path, options,
                               providers=["CPUExecutionProvider"])


def _ms_per_doc(session, inputs: np.ndarray) -> float:
    name = session.get_inputs()[0].name
    session.run(None, {name: inputs[:8]})
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for k in range(0, len(inputs), 64):
            session.run(None, {name: inputs[k:k + 64]})
        best = min(best, time.process_time() - t)
    return best / len(inputs) * 1e3


def build(out: Path, docs: int = CALIBRATION_DOCS) -> dict:
    """Write the int8 model to ``out`` (atomically) and its record beside it; return the record."""
    import magika
    import onnx
    import onnxruntime

    original_path = magika_model_file()
    original = onnx.load(original_path)
    calibration = model_inputs(calibration_texts(docs))
    rewritten = rewrite(original)
    before = _session(original_path).run(None, {original.graph.input[0].name: calibration})[0]
    after = _session(rewritten.SerializeToString()).run(None, {original.graph.input[0].name: calibration})[0]
    rewrite_gap = float(np.abs(before - after).max())
    if rewrite_gap > 1e-4:
        raise SystemExit(f"the rewritten float graph differs from Magika's by {rewrite_gap:.2g}: not written")
    tmp = out.with_name(out.name + ".tmp")
    quantize(rewritten, calibration, tmp)
    quantized = _session(tmp).run(None, {original.graph.input[0].name: calibration})[0]
    fused = fuse_quantized(onnx.load(tmp))
    name = original.graph.input[0].name
    if not np.array_equal(_session(fused.SerializeToString()).run(None, {name: calibration})[0], quantized):
        os.unlink(tmp)
        raise SystemExit("the fused int8 graph's outputs differ from the quantized graph's: not written")
    onnx.save(fused, tmp)
    record = {
        "magika": magika.__version__, "model": original_path.parent.name,
        "source_sha256": hashlib.sha256(original_path.read_bytes()).hexdigest(),
        "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
        "calibration_files": len(calibration), "rewrite_max_probability_gap": rewrite_gap,
        "calibration_top_label_agreement": float((quantized.argmax(1) == before.argmax(1)).mean()),
        "calibration_max_probability_gap": float(np.abs(quantized - before).max()),
        "fused_outputs_equal": True,
    }
    os.replace(tmp, out)
    info = out.with_suffix(".json")  # beside the model, as MAGIKA_INT8_INFO is beside MAGIKA_INT8_FILE
    info_tmp = info.with_name(info.name + ".tmp")
    info_tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(info_tmp, info)
    record["cpu_ms_per_doc"] = {"float32": _ms_per_doc(_session(original_path), calibration),
                                "int8": _ms_per_doc(_session(out), calibration)}
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MAGIKA_INT8_FILE)
    parser.add_argument("--docs", type=int, default=CALIBRATION_DOCS, help="calibration files")
    args = parser.parse_args()
    try:
        import ml_dtypes  # noqa: F401  (onnxruntime's quantization tool imports it)
        import onnx  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"{exc}: this script needs `pip install -e '.[models]'` (onnx, ml_dtypes)") from None
    print(json.dumps(build(args.out, args.docs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

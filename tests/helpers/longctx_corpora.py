"""Real-text corpora for the long-context tests: Python's reference topics (prose) and stdlib files (code).

The nine ``encodings/cp125x.py`` codec tables are real near neighbours of each other (estimated
Jaccard of word 2-grams 0.5-0.97), so the interleave task finds MinHash neighbours for them; most
other documents have none and fall back to random distractors.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pyarrow as pa

from midtrain.corpus import CorpusWriter

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_FILES = ([f"encodings/cp125{k}.py" for k in range(9)] +
              ["textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "bisect.py", "heapq.py", "colorsys.py",
               "keyword.py", "copy.py", "difflib.py", "calendar.py", "argparse.py"])


def stdlib_documents(topics: int = 40) -> dict[str, list[tuple[str, str]]]:
    """``{"code": [(id, text)], "web": [(id, text)]}``: stdlib files and the first reference topics."""
    from pydoc_data.topics import topics as reference

    prose = [(f"topic/{name}", reference[name]) for name in sorted(reference)[:topics]]
    code = [(f"stdlib/{rel}", (STDLIB / rel).read_text(encoding="utf-8")) for rel in CODE_FILES]
    return {"code": code, "web": prose}


def write_text_corpus(out: Path, documents: dict[str, list[tuple[str, str]]], *, rows_per_shard: int = 16) -> Path:
    """A text corpus with the given ``(id, text)`` documents per domain, several shards each."""
    writer = CorpusWriter(out, "text")
    for domain, docs in documents.items():
        for a in range(0, len(docs), rows_per_shard):
            part = docs[a:a + rows_per_shard]
            writer.write_table(domain, pa.table({"id": [i for i, _ in part], "text": [t for _, t in part],
                                                 "domain": [domain] * len(part), "source": ["stdlib"] * len(part)}))
    writer.finish()
    return out

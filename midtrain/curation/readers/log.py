"""What a reader saw: every record read, and every record it could not turn into a document.

Nothing is lost silently: a record that is not a document -- a malformed JSON line,
invalid UTF-8, a missing or non-string text field, a domain hint that is not a valid
domain name, a binary file, the unreadable rest of a
truncated file -- is *invalid*: counted by kind, and logged with its file, line (or row) and the
parse error in ``job/invalid/<task>.jsonl``. ``job/reads/<task>.json`` holds the task's counts, so
the report can prove ``input records = kept + rejected + invalid``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from midtrain.corpus.manifest import atomic_write_bytes

# The kinds of invalid record, in the order the report lists them.
INVALID_KINDS = ("malformed_json", "invalid_utf8", "missing_text", "not_text", "bad_domain", "binary_file",
                 "unreadable")


class ReadLog:
    """Counts records per source and logs invalid ones; written once when the task's unit is read."""

    def __init__(self) -> None:
        self.records: Counter[str] = Counter()
        self.invalid: Counter[tuple[str, str]] = Counter()
        self.entries: list[dict] = []

    def record(self, source: str, n: int = 1) -> None:
        """``n`` records of ``source`` were read (valid or not)."""
        self.records[source] += n

    def add_invalid(self, source: str, kind: str, file: str, where: int | str, error: str, *, count: int = 1) -> None:
        """``count`` records at ``file``:``where`` are invalid; count them as read with :meth:`record` too."""
        if kind not in INVALID_KINDS:
            raise ValueError(f"unknown invalid-record kind {kind!r}")
        self.invalid[(source, kind)] += count
        self.entries.append({"source": source, "kind": kind, "file": file, "line": where, "error": error[:500],
                             "count": count})

    def summary(self) -> dict:
        by_source: dict[str, dict] = {}
        for source, n in sorted(self.records.items()):
            by_source[source] = {"records": n, "invalid": {}}
        for (source, kind), n in sorted(self.invalid.items()):
            by_source.setdefault(source, {"records": 0, "invalid": {}})["invalid"][kind] = n
        return {"sources": by_source}

    def write(self, job_dir: str | os.PathLike, rank: int) -> None:
        """Write ``reads/<rank>.json`` and ``invalid/<rank>.jsonl`` atomically (a rerun overwrites)."""
        job = Path(job_dir)
        lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self.entries)
        atomic_write_bytes(job / "invalid" / f"{rank:05d}.jsonl", lines.encode())
        atomic_write_bytes(job / "reads" / f"{rank:05d}.json", (json.dumps(self.summary(), indent=1) + "\n").encode())

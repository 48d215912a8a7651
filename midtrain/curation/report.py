"""The curation report: what came in, what was kept, what was rejected by which step and why.

It is computed from the finished corpus itself (the manifest, the ``source`` column of the data
shards and the ``step``/``reason`` columns of the rejected shards) plus the readers' counts
stored in the manifest, so it holds for any corpus a curate, dedup or refilter run produced, and
its central check is a real one: ``input records = kept + rejected + invalid``, per source and in
total. ``report.json`` is the machine-readable form; ``report.md`` and ``funnel.png`` are for people.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from midtrain.corpus import Manifest
from midtrain.corpus.manifest import atomic_write_bytes, resolve_inside
from midtrain.curation.readers.log import INVALID_KINDS

MAX_EXAMPLES = 20


@dataclass
class CurationReport:
    """Counts of a curated corpus. Documents are counted once, by their final domain."""

    output: str
    input_records: int
    invalid: dict[str, int]
    """Invalid records by kind (malformed_json, invalid_utf8, missing_text, ...)."""
    kept: dict[str, dict[str, int]]
    """domain -> {"documents", "bytes"} (UTF-8 bytes of text)."""
    rejected: dict[str, dict[str, dict[str, int]]]
    """domain -> step -> reason (up to its first ``=``) -> documents."""
    rejected_bytes: dict[str, dict[str, int]]
    """domain -> step -> bytes."""
    sources: dict[str, dict[str, int]]
    """source -> {"records", "kept", "rejected", "invalid"}."""
    reject_order: list[str] = field(default_factory=list)
    invalid_examples: list[dict] = field(default_factory=list)

    @property
    def kept_documents(self) -> int:
        return sum(d["documents"] for d in self.kept.values())

    @property
    def rejected_documents(self) -> int:
        return sum(n for steps in self.rejected.values() for reasons in steps.values() for n in reasons.values())

    @property
    def invalid_records(self) -> int:
        return sum(self.invalid.values())

    @property
    def balanced(self) -> bool:
        """input = kept + rejected + invalid, in total and for every source."""
        total = self.kept_documents + self.rejected_documents + self.invalid_records
        return total == self.input_records and all(
            s["records"] == s["kept"] + s["rejected"] + s["invalid"] for s in self.sources.values())

    @property
    def domains(self) -> list[str]:
        return sorted(set(self.kept) | set(self.rejected))

    def steps(self) -> list[str]:
        """Steps that rejected something, in pipeline order (unknown ones last, sorted)."""
        seen = {s for steps in self.rejected.values() for s in steps}
        return [s for s in self.reject_order if s in seen] + sorted(seen - set(self.reject_order))

    def funnel(self) -> list[dict[str, Any]]:
        """Documents and bytes left after each rejecting step, per domain (first row: all documents)."""
        remaining = {}
        for d in self.domains:
            kept = self.kept.get(d, {"documents": 0, "bytes": 0})
            rej_docs = sum(n for reasons in self.rejected.get(d, {}).values() for n in reasons.values())
            rej_bytes = sum(self.rejected_bytes.get(d, {}).values())
            remaining[d] = {"documents": kept["documents"] + rej_docs, "bytes": kept["bytes"] + rej_bytes}
        rows = [{"step": "input", "domains": {d: dict(v) for d, v in remaining.items()}}]
        for step in self.steps():
            for d in self.domains:
                remaining[d]["documents"] -= sum(self.rejected.get(d, {}).get(step, {}).values())
                remaining[d]["bytes"] -= self.rejected_bytes.get(d, {}).get(step, 0)
            rows.append({"step": step, "domains": {d: dict(v) for d, v in remaining.items()}})
        return rows

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["totals"] = {"input_records": self.input_records, "kept": self.kept_documents,
                          "rejected": self.rejected_documents, "invalid": self.invalid_records,
                          "balanced": self.balanced}
        body["funnel"] = self.funnel()
        return body

    def one_line(self) -> str:
        check = "adds up" if self.balanced else "DOES NOT ADD UP"
        return (f"{self.input_records:,} records in: {self.kept_documents:,} kept, {self.rejected_documents:,} "
                f"rejected, {self.invalid_records:,} invalid ({check}); corpus in {self.output}")

    def to_markdown(self) -> str:
        from midtrain.curation.report_markdown import report_markdown

        return report_markdown(self)


def merge_reads(job_dir: Path, tasks: int) -> dict[str, Any]:
    """Sum every task's read counts and keep the first invalid records as examples."""
    sources: dict[str, dict[str, Any]] = {}
    examples: list[dict] = []
    for rank in range(tasks):
        body = json.loads((job_dir / "reads" / f"{rank:05d}.json").read_text())
        for name, s in body["sources"].items():
            into = sources.setdefault(name, {"records": 0, "invalid": Counter()})
            into["records"] += s["records"]
            into["invalid"].update(s["invalid"])
        if len(examples) < MAX_EXAMPLES:
            with open(job_dir / "invalid" / f"{rank:05d}.jsonl", encoding="utf-8") as f:
                for line in f:
                    examples.append(json.loads(line))
                    if len(examples) >= MAX_EXAMPLES:
                        break
    return {"sources": {k: {"records": v["records"], "invalid": dict(sorted(v["invalid"].items()))}
                        for k, v in sorted(sources.items())},
            "examples": examples}


def build_report(corpus_dir: str | Path) -> CurationReport:
    """The report of a finished text corpus (its manifest must carry the readers' counts)."""
    corpus_dir = Path(corpus_dir)
    manifest = Manifest.read(corpus_dir)
    curation = manifest.extra.get("curation", {})
    reads = curation.get("reads", {"sources": {}, "examples": []})
    invalid: Counter[str] = Counter()
    sources: dict[str, dict[str, int]] = {}
    for name, s in reads["sources"].items():
        inv = sum(s["invalid"].values())
        invalid.update(s["invalid"])
        sources[name] = {"records": s["records"], "kept": 0, "rejected": 0, "invalid": inv}

    kept: dict[str, dict[str, int]] = {}
    for shard in manifest.shards:
        k = kept.setdefault(shard.domain, {"documents": 0, "bytes": 0})
        k["documents"] += shard.rows
        k["bytes"] += shard.text_bytes
        for name, n in _value_counts(_read_columns(corpus_dir, shard.path, ["source"]), "source").items():
            sources.setdefault(name, {"records": 0, "kept": 0, "rejected": 0, "invalid": 0})["kept"] += n

    rejected: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    rejected_bytes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for shard in manifest.rejected:
        table = _read_columns(corpus_dir, shard.path, ["source", "step", "reason", "text"])
        # reason class: "duplicate_of=<id>" counts as "duplicate_of"
        reason_class = pc.replace_substring_regex(table.column("reason"), "=.*$", "", max_replacements=1)
        small = pa.table({"step": table.column("step"), "reason": reason_class,
                          "bytes": pc.binary_length(table.column("text")), "source": table.column("source")})
        grouped = small.group_by(["step", "reason"]).aggregate([("bytes", "count"), ("bytes", "sum")])
        for row in grouped.to_pylist():
            step, reason = row["step"] or "unknown", row["reason"] or "unknown"
            by_step = rejected[shard.domain][step]
            by_step[reason] = by_step.get(reason, 0) + row["bytes_count"]
            rejected_bytes[shard.domain][step] += int(row["bytes_sum"] or 0)
        for name, n in _value_counts(small, "source").items():
            sources.setdefault(name, {"records": 0, "kept": 0, "rejected": 0, "invalid": 0})["rejected"] += n

    return CurationReport(
        output=str(corpus_dir),
        input_records=sum(s["records"] for s in reads["sources"].values()),
        invalid={k: invalid[k] for k in INVALID_KINDS if invalid.get(k)},
        kept=dict(sorted(kept.items())),
        rejected={d: {s: dict(sorted(r.items())) for s, r in sorted(steps.items())} for d, steps in sorted(rejected.items())},
        rejected_bytes={d: dict(sorted(b.items())) for d, b in sorted(rejected_bytes.items())},
        sources=dict(sorted(sources.items())),
        reject_order=list(curation.get("reject_order", [])),
        invalid_examples=list(reads.get("examples", [])),
    )


def write_report(report: CurationReport, out_dir: str | Path) -> None:
    """``report.json``, ``funnel.png``, ``label_audit.json`` and ``report.md`` (chart and audit) in ``out_dir``."""
    from midtrain.curation.funnel import plot_funnel

    out = Path(out_dir)
    atomic_write_bytes(out / "report.json", (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    plot_funnel(report, out / "funnel.png")
    from midtrain.curation.labels.audit import audit_markdown, label_audit

    audit = label_audit(out)
    if audit is not None:
        atomic_write_bytes(out / "label_audit.json", (json.dumps(audit, indent=2) + "\n").encode())
    markdown = report.to_markdown() + "\n".join(audit_markdown(audit)) + ("\n" if audit else "")
    atomic_write_bytes(out / "report.md", markdown.encode())


def _read_columns(corpus_dir: Path, rel: str, columns: list[str]) -> pa.Table:
    """Only ``columns`` of a shard: Arrow IPC skips decoding the others (no text for ``source``)."""
    path = resolve_inside(corpus_dir, rel)
    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_file(source).schema
        indices = [schema.get_field_index(c) for c in columns]
        reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(included_fields=indices))
        return reader.read_all()


def _value_counts(table: pa.Table, column: str) -> dict[str, int]:
    counts = pc.value_counts(table.column(column).combine_chunks())
    return {v["values"]: v["counts"] for v in counts.to_pylist()}

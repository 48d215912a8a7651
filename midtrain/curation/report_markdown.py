"""``report.md``: the curation report as tables a person reads, with the funnel chart."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from midtrain.curation.report import CurationReport


def report_markdown(r: CurationReport) -> str:
    lines = ["# Curation report", "", f"Corpus: `{r.output}`", ""]
    check = "yes" if r.balanced else "**NO**"
    lines += ["| input records | kept | rejected | invalid | kept + rejected + invalid = input |",
              "|---:|---:|---:|---:|:---:|",
              f"| {r.input_records:,} | {r.kept_documents:,} | {r.rejected_documents:,} | {r.invalid_records:,} "
              f"| {check} |", ""]
    lines += ["## Per domain", "", "| domain | documents | kept | kept % | MB in | MB kept |",
              "|---|---:|---:|---:|---:|---:|"]
    first = r.funnel()[0]["domains"]
    for d in r.domains:
        kept = r.kept.get(d, {"documents": 0, "bytes": 0})
        n = first[d]["documents"]
        pct = 100 * kept["documents"] / n if n else 0.0
        lines.append(f"| {d} | {n:,} | {kept['documents']:,} | {pct:.1f} | {first[d]['bytes'] / 1e6:.2f} "
                     f"| {kept['bytes'] / 1e6:.2f} |")
    lines += ["", "## Funnel", "", "Documents (and MB) left after each step that rejected something.", "",
              "![funnel](funnel.png)", ""]
    lines += ["| after | " + " | ".join(r.domains) + " |", "|---|" + "---:|" * len(r.domains)]
    for row in r.funnel():
        cells = [f"{row['domains'][d]['documents']:,} ({row['domains'][d]['bytes'] / 1e6:.2f})" for d in r.domains]
        lines.append(f"| {row['step']} | " + " | ".join(cells) + " |")
    lines += ["", "## Rejected, by step and reason", "", "| domain | step | reason | documents |", "|---|---|---|---:|"]
    order = r.steps()
    for d in r.domains:
        steps = r.rejected.get(d, {})
        for step in sorted(steps, key=order.index):
            for reason, n in steps[step].items():
                lines.append(f"| {d} | {step} | {reason} | {n:,} |")
    lines += ["", "## Invalid records", ""]
    if not r.invalid:
        lines.append("None: every record was a document.")
    else:
        lines += ["| kind | records |", "|---|---:|"] + [f"| {k} | {n:,} |" for k, n in r.invalid.items()]
        lines += ["", "First examples (every one is in `job/invalid/`):", ""]
        for e in r.invalid_examples:
            lines.append(f"- `{e['file']}` {e['line']}: {e['kind']}: {e['error']}")
    lines += ["", "## Per source", "", "| source | records | kept | rejected | invalid |", "|---|---:|---:|---:|---:|"]
    for name, s in r.sources.items():
        lines.append(f"| {name} | {s['records']:,} | {s['kept']:,} | {s['rejected']:,} | {s['invalid']:,} |")
    return "\n".join(lines) + "\n"

"""Property: for any mix of good and broken JSONL lines, input = kept + rejected + invalid."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import deque
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.curation.inputs import InputSpec, plan_units, resolve_spec
from midtrain.curation.job import finish_corpus
from midtrain.curation.pipeline import signal_columns
from midtrain.curation.readers import ReadInputs
from midtrain.curation.report import build_report, merge_reads
from midtrain.curation.taggers import Normalise
from midtrain.curation.writers import WriteCorpus
from midtrain.quickstart.sample import champ_problems

REAL = [json.dumps(p) for p in list(champ_problems())[:30]]
# (line, what it must become): a document, a rejected document, an invalid record, or nothing
BROKEN = [
    ('{"text": "no end', "invalid"), (b'{"text": "\xc3\x28"}', "invalid"), ('{"id": "x"}', "invalid"),
    ('{"text": null}', "invalid"), ('{"text": ["a"]}', "invalid"), ("[1, 2]", "invalid"), ("42", "invalid"),
    ('{"text": "a"}{"text": "b"}', "invalid"), ('{"text": "\\udc00"}', "invalid"),
    ('{"text": ""}', "rejected"), ('{"text": "  \\r\\n\\t"}', "rejected"), ("", "blank"), ("   \t", "blank"),
]
lines = st.lists(st.one_of(st.sampled_from([(r, "kept") for r in REAL]), st.sampled_from(BROKEN)), max_size=60)


def curate_in_process(path: Path, out: Path):
    """The curate job's steps run directly (no executor): reader -> normalise -> writer, then merge."""
    spec = resolve_spec(InputSpec(path=str(path), domain="math"), 0)
    units = plan_units([spec])
    job = out / "job"
    reader, normalise = ReadInputs([spec], units, str(job)), Normalise()
    writer = WriteCorpus(str(out), str(job), signal_columns([reader, normalise]), shard_chars=20_000)
    for rank in range(len(units)):
        deque(writer(normalise(reader(None, rank, len(units)), rank, len(units)), rank, len(units)), maxlen=0)
    finish_corpus(out, job, len(units), {"curation": {"reads": merge_reads(job, len(units)),
                                                      "reject_order": ["normalise"]}})
    return build_report(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mix=lines)
def test_every_record_is_kept_rejected_or_invalid(mix):
    tmp = Path(tempfile.mkdtemp())
    try:
        data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line, _ in mix)
        (tmp / "mix.jsonl").write_bytes(data)
        report = curate_in_process(tmp / "mix.jsonl", tmp / "out")
        expect = {k: sum(1 for _, kind in mix if kind == k) for k in ("kept", "rejected", "invalid")}
        assert report.input_records == sum(expect.values())
        assert (report.kept_documents, report.rejected_documents, report.invalid_records) == (
            expect["kept"], expect["rejected"], expect["invalid"])
        assert report.balanced
    finally:
        shutil.rmtree(tmp)

"""The runner-up second chance (on by default since stop 58) as a property: it only ever keeps more, and only
where its three conditions hold and web's quality minimum passes."""

from __future__ import annotations

import functools
import json

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation import rules
from midtrain.curation.decide import DEFAULT_RUNNER_UP_MIN_SCORE, decide, load_decisions, signals_of
from midtrain.curation.labels import identify_language, score_quality
from midtrain.quickstart.sample import build_sample

DOMAINS = ["web", "math", "code", "reasoning"]


@functools.lru_cache(maxsize=1)
def _signals() -> pa.Table:
    """Language, rule and quality columns of real texts (the quickstart sample's four sources), as web."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        build_sample(Path(tmp), code_bytes=100_000)
        texts = []
        sources = (("champ.jsonl", 24), ("python_docs.jsonl", 16), ("python_stdlib.jsonl", 8), ("mpmath_docs.jsonl", 8))
        for name, count in sources:
            lines = (Path(tmp) / name).read_text().splitlines()[:count]
            texts += [json.loads(line)["text"] for line in lines]
    n = len(texts)
    parts = (identify_language(texts), rules.compute_signals(texts, ["web"] * n), score_quality(texts, ["web"] * n))
    return pa.table({c: t.column(c) for t in parts for c in t.column_names})


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_second_chance_only_keeps_more(data):
    base = _signals()
    n = base.num_rows
    domains = data.draw(st.lists(st.sampled_from(DOMAINS), min_size=n, max_size=n))
    runner = data.draw(st.lists(st.sampled_from(DOMAINS), min_size=n, max_size=n))
    scores = data.draw(st.lists(st.floats(0.0, 1.0, width=32), min_size=n, max_size=n))
    quality = data.draw(st.lists(st.floats(0.0, 5.0, width=32), min_size=n, max_size=n))
    table = base.drop_columns(["quality_score"]).append_column("quality_score", pa.array(quality, pa.float32()))
    table = table.append_column("domain_runner_up", pa.array(runner, pa.string()))
    table = table.append_column("domain_runner_up_score", pa.array(scores, pa.float32()))
    signals, doms = signals_of(table), pa.array(domains, pa.string())
    off, off_reasons = decide(signals, doms, load_decisions({"runner_up": False}))
    on, on_reasons = decide(signals, doms, load_decisions(None))
    off_kept = np.asarray(off.is_null().to_numpy(zero_copy_only=False))
    on_kept = np.asarray(on.is_null().to_numpy(zero_copy_only=False))
    assert (on_kept | ~off_kept).all()  # nothing kept without it is dropped with it
    rescued = on_kept & ~off_kept
    eligible = ((np.array(domains) == "web") & np.isin(runner, ["math", "reasoning"])
                & (np.array(scores, np.float32) >= np.float32(DEFAULT_RUNNER_UP_MIN_SCORE)))
    assert not (rescued & ~eligible).any()
    assert (np.array(quality, np.float32)[rescued] >= 2.5).all()  # web's quality minimum still applies
    same = ~rescued  # everywhere else the step and reason are those without the second chance
    assert [s for s, k in zip(on.to_pylist(), same) if k] == [s for s, k in zip(off.to_pylist(), same) if k]
    assert [r for r, k in zip(on_reasons.to_pylist(), same) if k] == \
        [r for r, k in zip(off_reasons.to_pylist(), same) if k]

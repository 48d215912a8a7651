"""The sweep folder contract: run ids, sweep.json round trips, strict reading, and results.jsonl problems."""

from __future__ import annotations

import json
import math

import pytest

from midtrain.errors import ConfigError
from midtrain.mixers import load_schedule, plan_budget
from midtrain.sweep.spec import (RunResult, SweepSpec, add_runs, append_result, make_run, read_results, read_sweep,
                                 run_id, run_schedule, write_sweep)

DOMAINS = ("code", "math", "web")


def _spec(**over) -> SweepSpec:
    runs = (make_run(role="fit", name="fit-000", weights={"code": 0.2, "math": 0.3, "web": 0.5}, seed=0, proxy="s14m"),
            make_run(role="anchor", name="prior", weights={"code": 0.3, "math": 0.2, "web": 0.5}, seed=0, proxy="s14m"),
            make_run(role="heldout", name="heldout-000", weights={"code": 0.5, "math": 0.5, "web": 0.0}, seed=0,
                     proxy="s14m"))
    body = dict(version=1, corpus="/data/train", heldout="/data/heldout", mode="anneal", domains=DOMAINS,
                prior={"code": 0.3, "math": 0.2, "web": 0.5}, domain_tokens=dict.fromkeys(DOMAINS, 10**6),
                tokens=400_000, base_tokens=800_000, max_epochs=4.0, seed=0, runs=runs)
    body.update(over)
    return SweepSpec(**body)


def _result(run, **over) -> dict:
    body = {"run_id": run.run_id, "seed": run.seed, "proxy": run.proxy, "weights": run.weights,
            "heldout_loss": {"code": 2.0, "math": 1.5, "web": 3.0}, "train_loss": 2.5, "tokens": 400_000,
            "seconds": 1.0, "step_time_ms": 12.0}
    body.update(over)
    return body


def test_run_id_hashes_weights_seed_and_proxy():
    w = {"web": 0.5, "code": 0.2, "math": 0.3}
    assert run_id(w, 0, "s14m") == run_id({"code": 0.2, "math": 0.3, "web": 0.5}, 0, "s14m")  # order-free
    assert run_id(w, 0, "s14m") == run_id({**w, "web": 0.5 + 1e-9}, 0, "s14m")  # rounded to 6 dp
    assert len({run_id(w, 0, "s14m"), run_id(w, 1, "s14m"), run_id(w, 0, "s42m"),
                run_id({**w, "web": 0.4, "code": 0.3}, 0, "s14m")}) == 4
    assert run_id(w, 0, "s14m").startswith("r") and len(run_id(w, 0, "s14m")) == 11


def test_write_then_read_is_the_same_spec_and_every_schedule_loads(tmp_path):
    spec = _spec()
    write_sweep(tmp_path, spec)
    assert read_sweep(tmp_path) == spec
    for run in spec.runs:
        schedule = load_schedule(tmp_path / "schedules" / f"{run.run_id}.yaml", domain_tokens=spec.domain_tokens)
        assert schedule.total_tokens == spec.tokens and len(schedule.phases) == 1
        assert schedule.weights_at(0) == pytest.approx(run.weights)
        assert load_schedule(run_schedule(spec, run)) == schedule
        assert plan_budget(schedule, spec.domain_tokens).total_tokens == spec.tokens


@pytest.mark.parametrize("edit, message", [
    (lambda b: b.pop("tokens"), "sweep.json: tokens: missing"),
    (lambda b: b.update(mode="finetune"), "sweep.json: mode: must be one of"),
    (lambda b: b["runs"][0].update(run_id="r0000000000"), "sweep.json: runs[0].run_id: 'r0000000000' does not match"),
    (lambda b: b["runs"][1]["weights"].update(web=0.9), "sweep.json: runs[1].weights: weights sum to 1.4"),
    (lambda b: b["runs"][2].update(role="extra"), "sweep.json: runs[2].role: must be one of"),
    (lambda b: b["runs"][0].update(seed="0"), "sweep.json: runs[0].seed: expected an integer"),
    (lambda b: b.update(version=2), "sweep.json: version: 2 is not supported"),
])
def test_read_sweep_names_the_file_and_key(tmp_path, edit, message):
    write_sweep(tmp_path, _spec())
    body = json.loads((tmp_path / "sweep.json").read_text())
    edit(body)
    (tmp_path / "sweep.json").write_text(json.dumps(body))
    with pytest.raises(ConfigError, match="sweep.json") as err:
        read_sweep(tmp_path)
    assert message in str(err.value)


def test_read_sweep_without_a_sweep_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="midtrain sweep plan"):
        read_sweep(tmp_path)


def test_append_then_read_results(tmp_path):
    spec = _spec()
    write_sweep(tmp_path, spec)
    result = RunResult(**_result(spec.runs[0]))
    append_result(tmp_path, result)
    assert read_results(tmp_path, spec) == ([result], [])
    assert read_results(tmp_path / "nowhere") == ([], [])


def test_bad_result_lines_are_named_and_skipped(tmp_path):
    spec = _spec()
    write_sweep(tmp_path, spec)
    fit, prior, held = spec.runs
    lines = [json.dumps(_result(fit)),
             '{"run_id": "broken',
             json.dumps(_result(prior, heldout_loss={"code": 2.0, "math": None, "web": 3.0})),
             json.dumps(_result(prior, heldout_loss={"code": 2.0, "web": 3.0})),
             json.dumps(_result(held, train_loss=math.nan)),
             json.dumps(_result(held, run_id="rffffffffff")),
             json.dumps(_result(fit)),
             "NaN",
             json.dumps(_result(held)).replace('"web": 3.0', '"web": Infinity')]
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    results, problems = read_results(tmp_path, spec)
    assert [r.run_id for r in results] == [fit.run_id]
    assert problems[0].startswith("results.jsonl:2: line: not valid JSON (Unterminated string")
    assert problems[1:] == [
        "results.jsonl:3: heldout_loss.math: missing (null)",
        "results.jsonl:4: heldout_loss.math: missing",
        "results.jsonl:5: train_loss: nan is not a finite loss",
        "results.jsonl:6: run_id: 'rffffffffff' is not a run of this sweep",
        f"results.jsonl:7: run_id: {fit.run_id} already has a result on line 1; kept the first",
        "results.jsonl:8: line: expected a JSON object",
        "results.jsonl:9: heldout_loss.web: inf is not a finite loss",
    ]


def test_add_runs_appends_once_and_keeps_existing_ids(tmp_path):
    spec = _spec()
    write_sweep(tmp_path, spec)
    confirm = [make_run(role="confirm", name="confirm:optimized", weights={"code": 0.1, "math": 0.6, "web": 0.3},
                        seed=s, proxy="s14m") for s in range(2)]
    add_runs(tmp_path, confirm)
    again = add_runs(tmp_path, confirm)
    assert again.runs == spec.runs + tuple(confirm)
    assert (tmp_path / "schedules" / f"{confirm[1].run_id}.yaml").is_file()

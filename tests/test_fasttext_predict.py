"""``fasttext_predict`` (numba) gives fastText's own predictions: the same labels and the same float32 scores.

Compared against fastText's C++ (``multilinePredict``, what ``FastTextClassifier(native=False)`` calls) on
every shipped model (hierarchical softmax with character n-grams and pruning: lid.176; softmax dense,
quantized, pruned, word bigrams: the others), on models trained here with the options no shipped model
uses, on real lines and on generated ones (hypothesis).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numba
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midtrain.curation.labels import fasttext_predict
from midtrain.curation.labels.models import SHIPPED_MODELS, FastTextClassifier, model_path
from midtrain.curation.labels.text_windows import fasttext_lines, lid_lines, text_windows

EDGE_LINES = ["", " ", "\t\x0b\x0c\r", "one", "</s>", "a </s> b c", "x</s> y", "__label__web words after",
              "__label__ __label__x", "naïve café crème — “quoted” 42", "日本語 のテキスト 한국어",
              "\x00nul\x00 byte",
              "a" * 700, "é" * 300, "<< >> <s> </s", "_nl_ _nl_ ( ) { } ;", "ab " * 400,
              "before a newline\nafter it", "\nfirst", "x \n"]


@functools.lru_cache(maxsize=None)
def cpp_and_native(ref: str) -> tuple[FastTextClassifier, FastTextClassifier]:
    return FastTextClassifier(ref, native=False), FastTextClassifier(ref)


def assert_same(cpp: FastTextClassifier, native: FastTextClassifier, lines: list[str]) -> None:
    assert native.weights is not None
    for k in (1, 2):
        for a, b in zip(cpp.predict_ranked(lines, k), native.predict_ranked(lines, k)):
            assert a.labels.tolist() == b.labels.tolist()
            assert np.array_equal(a.scores, b.scores)
    if native.weights.loss == fasttext_predict.LOSS_SOFTMAX:
        a, _ = cpp.predict_all(lines)
        b, _ = native.predict_all(lines)
        assert np.array_equal(a, b)


@pytest.fixture(scope="module")
def real_docs(sample_raw) -> list[str]:
    docs = []
    for name in ("python_docs", "python_stdlib", "champ", "mpmath_docs"):
        lines = (sample_raw / f"{name}.jsonl").read_text().splitlines()
        docs += [json.loads(line)["text"] for line in lines[:40]]
    return docs


@pytest.mark.parametrize("ref", sorted(SHIPPED_MODELS))
def test_shipped_models_predict_as_fasttext(ref, real_docs):
    cpp, native = cpp_and_native(ref)
    if ref == "lid.176":
        lines = lid_lines(real_docs, 512)
    else:
        lines = fasttext_lines(text_windows(real_docs, 1024, 1024))
    assert_same(cpp, native, lines + EDGE_LINES)


TRAIN_LINES = [("web", "the cat sat on the mat and looked at the dog"), ("web", "news of the day was good for all"),
               ("code", "def f ( x ) : return x + 1"), ("code", "int main ( void ) { return 0 ; }"),
               ("math", "let x = 2 then x ^ 2 = 4 so the root"), ("math", "integral of x dx equals x ^ 2 / 2")]


TRAIN_SCRIPT = """
import json, sys, fasttext
args = json.loads(sys.argv[1])
quantize = args.pop("quantize", None)
out = args.pop("out")
model = fasttext.train_supervised(**args)
if quantize:
    model.quantize(input=args["input"], retrain=False, **quantize)
model.save_model(out)
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Small models with the options no shipped model uses, each trained in a fresh process (as
    ``training.train_classifier`` does: in a process that has already trained or quantized a model this
    fastText build can train the next one to NaN)."""
    folder = tmp_path_factory.mktemp("ft")
    data = folder / "train.txt"
    data.write_text("".join(f"__label__{lab} {text} extra{i % 7}\n" for i in range(60)
                            for lab, text in [TRAIN_LINES[i % len(TRAIN_LINES)]]))
    common = dict(input=str(data), epoch=5, lr=0.05, thread=1, seed=1, verbose=0, bucket=5000, dim=12)
    runs = {"softmax-subwords-trigrams.bin": dict(loss="softmax", minn=2, maxn=5, wordNgrams=3),
            "hs-bigrams.bin": dict(loss="hs", minn=3, maxn=3, wordNgrams=2),
            "softmax-bigrams.bin": dict(loss="softmax", minn=0, maxn=0, wordNgrams=2),
            "ova.bin": dict(loss="ova", wordNgrams=2),
            "quantized-qnorm-pruned.ftz": dict(loss="softmax", minn=2, maxn=5, wordNgrams=3,
                                               quantize=dict(qnorm=True, cutoff=300, dsub=4))}
    out = {}
    for file, kwargs in runs.items():
        out[file.rsplit(".", 1)[0]] = folder / file
        spec = json.dumps({**common, **kwargs, "out": str(folder / file)})
        subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, spec], check=True)
    return out


@pytest.mark.parametrize("name", ["softmax-subwords-trigrams", "hs-bigrams", "softmax-bigrams",
                                  "quantized-qnorm-pruned"])
def test_trained_models_predict_as_fasttext(trained, name, real_docs):
    cpp, native = cpp_and_native(str(trained[name]))
    lines = [text for _, text in TRAIN_LINES] + fasttext_lines(text_windows(real_docs[:30], 256, 256))
    assert_same(cpp, native, lines + EDGE_LINES)


@pytest.mark.parametrize("ref", ["lid.176", "code_language"])
def test_a_long_line_and_one_long_token_predict_as_fasttext(ref, real_docs):
    """The kernels' buffers grow with the longest line (fastText has no line limit for prediction)."""
    prose = " ".join(real_docs)[:1_500_000]
    token = "".join(doc.replace(" ", "_").replace("\n", "_") for doc in real_docs)[:300_000]
    assert_same(*cpp_and_native(ref), [prose, token, "short line"])


def test_other_losses_fall_back_to_fasttext(trained):
    with pytest.raises(ValueError, match="ova.bin: loss 4"):
        fasttext_predict.read_weights(trained["ova"])
    native = FastTextClassifier(str(trained["ova"]))
    assert native.weights is None  # fastText's own prediction, still there
    assert native.predict(["the cat sat on the mat"]).labels.tolist() == ["web"]
    lines = ["the cat sat on the mat", "def f ( x ) :"]  # the labellers pass Arrow arrays: the fallback takes them
    arrow = pa.array(lines, pa.large_string())
    assert native.predict(arrow).labels.tolist() == native.predict(lines).labels.tolist()
    assert np.array_equal(native.predict_all(arrow)[0], native.predict_all(lines)[0])


def test_truncated_file_names_it(tmp_path):
    path = tmp_path / "cut.ftz"
    path.write_bytes(model_path("code_language").read_bytes()[:5000])
    with pytest.raises(ValueError, match="cut.ftz"):
        fasttext_predict.read_weights(path)


@given(st.text(max_size=30))
def test_kernel_hash_equals_reference(word):
    assert fasttext_predict.fasttext_hash(word.encode()) == _python_hash(word.encode())


def _python_hash(word: bytes) -> int:
    """fastText's Dictionary::hash written out: FNV-1a, each byte a signed char."""
    h = 2166136261
    for b in word:
        h ^= (b - 256 if b >= 128 else b) & 0xFFFFFFFF
        h = (h * 16777619) % 2**32
    return h


LINE_CHARS = st.sampled_from(list("abcdeé日 \t_<>/s\n") + ["</s>", "__label__", "the ", "(", "é\u0301", "\x00"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(LINE_CHARS, max_size=40).map("".join), min_size=1, max_size=8))
def test_generated_lines_predict_as_fasttext(lines):
    for ref in ("lid.176", "code_language", "domain"):
        cpp, native = cpp_and_native(ref)
        assert_same(cpp, native, lines)


@numba.njit
def _bucket_rows(nwords, ids, bucket, prune):
    return np.array([fasttext_predict._bucket_row(nwords, b, bucket, 1, prune) for b in ids])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 3000).flatmap(lambda bucket: st.tuples(
    st.just(bucket), st.sets(st.integers(0, bucket - 1), max_size=200), st.randoms(use_true_random=False))))
def test_ranked_buckets_give_each_kept_bucket_its_row(case):
    """The rank table sends each kept bucket to the row fastText's map gave it, after the rows are put in
    bucket order, and every other bucket to -1."""
    bucket, kept, rng = case
    kept = sorted(kept)
    rows_given = list(range(len(kept)))
    rng.shuffle(rows_given)  # fastText's order: chosen by quantization, not by bucket
    pairs = np.array([kept, rows_given], np.int32).T.reshape(-1, 2)
    nwords = 5
    matrix = np.arange((nwords + len(kept)) * 2, dtype=np.float32).reshape(-1, 2)
    inp = (matrix, np.zeros((0, 1), np.uint8), np.zeros((1, 256, 1), np.float32), np.ones(0, np.float32), 1, 1)
    prune, (ranked, *_) = fasttext_predict._ranked_buckets(pairs, bucket, nwords, inp, "m.ftz")
    got = _bucket_rows(nwords, np.arange(bucket), bucket, prune)
    given_row = dict(zip(kept, rows_given))
    for b in range(bucket):
        if b in given_row:  # the same row's values as fastText's map finds
            assert np.array_equal(ranked[got[b]], matrix[nwords + given_row[b]])
        else:
            assert got[b] == -1
    assert np.array_equal(ranked[:nwords], matrix[:nwords])


def test_ranked_buckets_refuse_a_map_that_is_not_one_to_one():
    inp = (np.zeros((8, 2), np.float32), np.zeros((0, 1), np.uint8), np.zeros((1, 256, 1), np.float32),
           np.ones(0, np.float32), 1, 1)
    with pytest.raises(ValueError, match="bad.ftz"):
        fasttext_predict._ranked_buckets(np.array([[3, 0], [7, 0]], np.int32), 10, 5, inp, "bad.ftz")
    with pytest.raises(ValueError, match="bad.ftz"):
        fasttext_predict._ranked_buckets(np.array([[3, 0], [3, 1]], np.int32), 10, 5, inp, "bad.ftz")

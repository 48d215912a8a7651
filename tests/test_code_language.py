"""Code-language detection: the batched Magika path against Magika's own per-document answer, and
the shipped hybrid (fastText first, Magika where it is unsure) against its two parts, on real files
shipped with the interpreter and the installed packages and on hand-written snippets. Nothing here
needs the label-data cache or the network: the fastText model ships in ``models/``."""

from __future__ import annotations

import io
import random
import sysconfig
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("magika")

from midtrain.curation.labels.code_language import (CODE_LANGUAGE_SIGNAL_SCHEMA, CODE_LANGUAGES,  # noqa: E402
                                                    MAGIKA_VARIANTS, OTHER, UNKNOWN, _model, detect_code_language,
                                                    detect_code_language_per_document, fasttext_code_language,
                                                    hybrid_settings, magika_inputs)
from midtrain.curation.labels import code_language  # noqa: E402
from midtrain.curation.labels.text_windows import as_string_array, string_buffers  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SCORE_TOLERANCE = 1e-3
"""onnxruntime rounds a one-document call a little differently from a batch (largest difference
seen on 2,206 held-out files: 2e-4); labels must match exactly."""

# Small programs written for these tests, one per language, each labelled correctly by Magika.
SNIPPETS = {
    "python": '''import json
from pathlib import Path


def load_settings(path: Path) -> dict:
    """Read a JSON settings file, falling back to defaults."""
    defaults = {"workers": 4, "verbose": False}
    if not path.exists():
        return defaults
    with path.open() as fh:
        data = json.load(fh)
    return {**defaults, **data}


class Counter:
    def __init__(self):
        self.counts = {}

    def add(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]
''',
    "c": '''#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buffer {
    char *data;
    size_t len;
    size_t cap;
};

static int buffer_grow(struct buffer *b, size_t need)
{
    if (b->len + need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->len + need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int main(int argc, char **argv)
{
    struct buffer b = {0};
    for (int i = 1; i < argc; i++) {
        if (buffer_grow(&b, strlen(argv[i])) < 0) {
            fprintf(stderr, "out of memory\\n");
            return 1;
        }
        memcpy(b.data + b.len, argv[i], strlen(argv[i]));
        b.len += strlen(argv[i]);
    }
    printf("%zu bytes\\n", b.len);
    free(b.data);
    return 0;
}
''',
    "c++": '''#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace text {

class WordCounter {
 public:
  void Add(const std::string& word) { ++counts_[word]; }

  std::vector<std::pair<std::string, int>> Top(size_t k) const {
    std::vector<std::pair<std::string, int>> out(counts_.begin(), counts_.end());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (out.size() > k) out.resize(k);
    return out;
  }

 private:
  std::map<std::string, int> counts_;
};

}  // namespace text

int main() {
  text::WordCounter wc;
  std::string w;
  while (std::cin >> w) wc.Add(w);
  for (const auto& [word, n] : wc.Top(10)) std::cout << word << " " << n << std::endl;
  return 0;
}
''',
    "java": '''package org.example.cache;

import java.util.LinkedHashMap;
import java.util.Map;

public class LruCache<K, V> extends LinkedHashMap<K, V> {
    private final int capacity;

    public LruCache(int capacity) {
        super(16, 0.75f, true);
        this.capacity = capacity;
    }

    @Override
    protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
        return size() > capacity;
    }

    public static void main(String[] args) {
        LruCache<String, Integer> cache = new LruCache<>(2);
        cache.put("a", 1);
        cache.put("b", 2);
        cache.get("a");
        cache.put("c", 3);
        System.out.println(cache.keySet());
    }
}
''',
    "javascript": '''const fs = require('fs');
const path = require('path');

function walk(dir, out = []) {
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    const stat = fs.statSync(full);
    if (stat.isDirectory()) {
      walk(full, out);
    } else if (name.endsWith('.js')) {
      out.push(full);
    }
  }
  return out;
}

module.exports = async function countLines(root) {
  const files = walk(root);
  let total = 0;
  for (const file of files) {
    const text = await fs.promises.readFile(file, 'utf8');
    total += text.split('\\n').length;
  }
  return { files: files.length, lines: total };
};
''',
    "go": '''package store

import (
	"errors"
	"sync"
)

var ErrNotFound = errors.New("store: key not found")

type Store struct {
	mu   sync.RWMutex
	data map[string][]byte
}

func New() *Store {
	return &Store{data: make(map[string][]byte)}
}

func (s *Store) Get(key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

func (s *Store) Put(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = value
}
''',
    "rust": '''use std::collections::HashMap;
use std::io::{self, BufRead};

#[derive(Debug, Default)]
struct Stats {
    lines: usize,
    words: HashMap<String, usize>,
}

impl Stats {
    fn add_line(&mut self, line: &str) {
        self.lines += 1;
        for word in line.split_whitespace() {
            *self.words.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut stats = Stats::default();
    for line in stdin.lock().lines() {
        stats.add_line(&line?);
    }
    let mut top: Vec<_> = stats.words.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    for (word, n) in top.into_iter().take(5) {
        println!("{word}: {n}");
    }
    Ok(())
}
''',
    "ruby": '''require 'json'

module Inventory
  class Item
    attr_reader :name, :quantity

    def initialize(name, quantity = 0)
      @name = name
      @quantity = quantity
    end

    def restock(amount)
      raise ArgumentError, 'amount must be positive' unless amount.positive?
      @quantity += amount
      self
    end

    def to_h
      { name: @name, quantity: @quantity }
    end
  end

  def self.load(path)
    JSON.parse(File.read(path)).map { |row| Item.new(row['name'], row['quantity']) }
  end
end
''',
    "php": '''<?php

namespace App\\Http\\Controllers;

use App\\Models\\Post;
use Illuminate\\Http\\Request;

class PostController extends Controller
{
    public function index()
    {
        $posts = Post::orderBy('created_at', 'desc')->paginate(20);
        return view('posts.index', ['posts' => $posts]);
    }

    public function store(Request $request)
    {
        $data = $request->validate([
            'title' => 'required|max:255',
            'body' => 'required',
        ]);
        $post = Post::create($data);
        return redirect()->route('posts.show', $post);
    }
}
''',
    "shell": '''#!/bin/sh
set -eu

usage() {
    echo "usage: $0 [-n COUNT] DIR" >&2
    exit 2
}

count=10
while getopts n: opt; do
    case "$opt" in
        n) count="$OPTARG" ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage

dir="$1"
if [ ! -d "$dir" ]; then
    echo "$dir: not a directory" >&2
    exit 1
fi

find "$dir" -type f -printf '%s %p\\n' | sort -rn | head -n "$count"
''',
    "sql": '''CREATE TABLE customers (
    id SERIAL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    email VARCHAR(320) UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id SERIAL PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    total NUMERIC(12, 2) NOT NULL,
    placed_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE INDEX orders_customer_idx ON orders (customer_id);

SELECT c.name, COUNT(o.id) AS orders, SUM(o.total) AS spent
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
WHERE o.placed_at >= now() - INTERVAL '30 days'
GROUP BY c.name
ORDER BY spent DESC
LIMIT 10;
''',
    "lua": '''local Queue = {}
Queue.__index = Queue

function Queue.new()
  return setmetatable({ first = 1, last = 0, items = {} }, Queue)
end

function Queue:push(value)
  self.last = self.last + 1
  self.items[self.last] = value
end

function Queue:pop()
  if self.first > self.last then
    return nil
  end
  local value = self.items[self.first]
  self.items[self.first] = nil
  self.first = self.first + 1
  return value
end

local q = Queue.new()
for i = 1, 3 do
  q:push(i * 10)
end
print(q:pop(), q:pop())
return Queue
''',
    "perl": '''#!/usr/bin/perl
use strict;
use warnings;

my %count;
my $file = shift @ARGV or die "usage: $0 FILE\\n";
open(my $fh, '<', $file) or die "cannot open $file: $!";
while (my $line = <$fh>) {
    chomp $line;
    next if $line =~ /^\\s*#/;
    for my $word (split /\\s+/, $line) {
        $count{lc $word}++;
    }
}
close $fh;

foreach my $word (sort { $count{$b} <=> $count{$a} } keys %count) {
    printf "%-20s %d\\n", $word, $count{$word};
}
''',
}


def _site_file(module: str, rel: str) -> Path:
    mod = pytest.importorskip(module)
    path = Path(mod.__file__).parent / rel
    if not path.is_file():
        pytest.skip(f"{path} not shipped by this {module}")
    return path


def _real_files() -> list[tuple[str, Path]]:
    return [
        ("python", STDLIB / "json" / "decoder.py"),
        ("python", STDLIB / "sqlite3" / "dump.py"),
        ("c", _site_file("numpy", "_core/include/numpy/npy_math.h")),
        ("c++", _site_file("pyarrow", "src/arrow/python/ipc.cc")),
        ("shell", _site_file("virtualenv", "activation/bash/activate.sh")),
    ]


def _edge_texts() -> list[str | None]:
    """Empty, blank, too short for the model, binary-looking, huge margins of whitespace, non-ASCII."""
    rng = random.Random(0)
    garbage = bytes(rng.randrange(256) for _ in range(4000)).decode("utf-8", "replace")
    code = SNIPPETS["python"]
    return ["", "  \n\t", None, "\x0b" * 20, "x = 1", "  \n x = 1\n", "\x00" * 500, garbage,
            " " * 5000 + code, code + "\n" * 5000, "é" * 3000 + code, code[:4096], code * 40,
            (STDLIB / "LICENSE.txt").read_text(errors="replace")]


def _assert_same(batched: pa.Table, reference: pa.Table) -> None:
    assert batched.schema == reference.schema
    assert batched["code_language"].to_pylist() == reference["code_language"].to_pylist()
    np.testing.assert_allclose(batched["code_language_score"].to_numpy(),
                               reference["code_language_score"].to_numpy(), atol=SCORE_TOLERANCE)


def test_snippets_get_their_language_as_magika_gives_it_one_by_one():
    texts = list(SNIPPETS.values())
    batched = detect_code_language(texts, model="magika", magika="original")
    assert batched["code_language"].to_pylist() == list(SNIPPETS)
    _assert_same(batched, detect_code_language_per_document(texts))


def test_real_files_get_their_language():
    cases = _real_files()
    texts = [p.read_text(errors="replace") for _, p in cases]
    for variant in MAGIKA_VARIANTS:
        table = detect_code_language(texts, model="magika", magika=variant)
        assert table["code_language"].to_pylist() == [lang for lang, _ in cases], variant
        assert all(s > 0.5 for s in table["code_language_score"].to_pylist())
    assert {lang for lang, _ in cases} <= set(CODE_LANGUAGES)
    _assert_same(detect_code_language(texts, model="magika", magika="original"),
                 detect_code_language_per_document(texts))


def test_model_inputs_equal_magikas_own_features():
    from magika import Magika
    from magika.types import Seekable

    model = _model()
    texts = [t or "" for t in _edge_texts()] + list(SNIPPETS.values())
    data, offsets = string_buffers(as_string_array(texts))
    inputs = np.empty((len(texts), model.beg + model.end), np.int32)
    head_bytes, blank = np.empty(len(texts), np.int64), np.empty(len(texts), np.bool_)
    magika_inputs(data, offsets, model.beg, model.end, model.block, model.pad, inputs, head_bytes, blank)
    for i, text in enumerate(texts):
        raw = text.encode("utf-8")
        if not raw:
            continue
        f = Magika._extract_features_from_seekable(Seekable(io.BytesIO(raw)), model.beg, 0, model.end, model.pad,
                                                   model.block, False)
        assert inputs[i].tolist() == f.beg + f.end, i
        assert head_bytes[i] == len(raw[:model.block].lstrip())


def test_empty_binary_and_prose_are_unknown():
    texts = _edge_texts()
    table = detect_code_language(texts, model="magika", magika="original")
    labels = table["code_language"].to_pylist()
    # Magika reads 4 KB at each end: 5,000 leading spaces leave its head empty, so "too short" (score 1).
    assert [labels[i] for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 13)] == [UNKNOWN] * 10
    assert table["code_language_score"].to_pylist()[:3] == [0.0, 0.0, 0.0]
    assert [table["code_language_score"][i].as_py() for i in (3, 4, 5, 8)] == [1.0] * 4
    assert labels[9:13] == ["python"] * 4
    _assert_same(table, detect_code_language_per_document(texts))
    assert detect_code_language(texts, model="magika")["code_language"].to_pylist() == labels  # int8 too


def test_huge_document_reads_only_its_ends():
    code = SNIPPETS["go"]
    huge = code + "x" * (50 << 20) + code
    table = detect_code_language([huge], model="magika")
    assert table["code_language"].to_pylist() == ["go"]


def test_schema_arrow_slices_and_min_score():
    texts = pa.chunked_array([[(STDLIB / "json" / "decoder.py").read_text()], [None]], pa.string())
    table = detect_code_language(texts, model="magika")
    assert {name: table.schema.field(name).type for name in table.column_names} == CODE_LANGUAGE_SIGNAL_SCHEMA
    assert table.num_rows == 2
    assert detect_code_language([], model="magika").num_rows == 0
    snippets = list(SNIPPETS.values())
    sliced = pa.array(["", "no", *snippets], pa.large_string()).slice(2)
    assert detect_code_language(sliced, model="magika").equals(detect_code_language(snippets, model="magika"))
    strict = detect_code_language(snippets, min_score=0.995, model="magika")
    scores = detect_code_language(snippets, model="magika")["code_language_score"].to_pylist()
    assert strict["code_language"].to_pylist() == [lang if s >= 0.995 else UNKNOWN for lang, s in zip(SNIPPETS, scores)]


def test_deterministic_and_independent_of_batch():
    texts = [p.read_text(errors="replace") for _, p in _real_files()] + list(SNIPPETS.values()) + _edge_texts()
    for model in ("magika", "hybrid"):
        one = detect_code_language(texts, model=model)
        assert one.equals(detect_code_language(texts, model=model))
        assert detect_code_language(texts, threads=2, model=model).equals(one)
        # Another order or batch: the same labels; Magika's score may move in the last float bit
        # (the hybrid hands Magika a different batch of documents).
        _assert_same(detect_code_language(texts[::-1], model=model).take(list(range(len(texts)))[::-1]), one)
        singles = [detect_code_language([t], model=model)["code_language"][0].as_py() for t in texts]
        assert singles == one["code_language"].to_pylist()


# The shipped hybrid: fastText (models/code_language.ftz) first, Magika for what it is unsure of.

def _mixed_texts() -> list[str | None]:
    return [p.read_text(errors="replace") for _, p in _real_files()] + list(SNIPPETS.values()) + _edge_texts()


def test_shipped_fasttext_model_loads_with_its_settings():
    from midtrain.curation.labels.models import load_classifier

    model = load_classifier("code_language")
    assert set(CODE_LANGUAGES) | {OTHER, UNKNOWN} == set(model.labels)
    settings = hybrid_settings()
    assert 0.0 < settings["threshold"] <= 1.0
    assert settings["head"] > 0 and settings["middle"] > 0


def test_hybrid_is_fasttext_where_confident_and_magika_where_not():
    texts = _mixed_texts()
    first = fasttext_code_language(texts)
    hybrid = detect_code_language(texts)
    magika = detect_code_language(texts, model="magika")
    unsure = first["needs_magika"].to_pylist()
    assert any(unsure) and not all(unsure)
    threshold = hybrid_settings()["threshold"]
    for i, text in enumerate(texts):
        got = (hybrid["code_language"][i].as_py(), hybrid["code_language_score"][i].as_py())
        if not (text or "").strip(" \t\n\r\f"):  # blank: no model at all
            assert got == (UNKNOWN, 0.0) and not unsure[i]
        elif unsure[i]:
            assert got[0] == magika["code_language"][i].as_py(), i
            assert got[1] == pytest.approx(magika["code_language_score"][i].as_py(), abs=SCORE_TOLERANCE)
        else:
            assert got == (first["code_language"][i].as_py(), first["code_language_score"][i].as_py()), i
            assert got[1] >= threshold and got[0] in CODE_LANGUAGES
    # Every document to Magika (a threshold above 1): exactly the Magika-only path.
    assert detect_code_language(texts, threshold=1.01).equals(magika)


def test_hybrid_gets_the_snippets_and_real_files_right():
    cases = [(lang, p.read_text(errors="replace")) for lang, p in _real_files()] + list(SNIPPETS.items())
    table = detect_code_language([t for _, t in cases])
    assert table["code_language"].to_pylist() == [lang for lang, _ in cases]


def test_hybrid_empty_binary_and_prose_are_unknown():
    texts = _edge_texts()
    table = detect_code_language(texts)
    labels = table["code_language"].to_pylist()
    assert [labels[i] for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 13)] == [UNKNOWN] * 10
    assert labels[9:13] == ["python"] * 4
    assert table["code_language_score"].to_pylist()[:3] == [0.0, 0.0, 0.0]
    # Binary bytes, a few characters, windows of blank lines or of one unknown word: Magika decides.
    assert fasttext_code_language(texts)["needs_magika"].to_pylist()[3:11] == [True] * 8
    assert labels == detect_code_language(texts, model="magika")["code_language"].to_pylist()


def test_fasttext_mode_is_the_hybrid_without_magika(monkeypatch):
    from midtrain.curation.labels import code_language

    texts = _mixed_texts() + _edge_texts()
    first = fasttext_code_language(texts)
    hybrid = detect_code_language(texts)

    def no_magika(*args, **kwargs):
        raise AssertionError("the fasttext mode must never run Magika")

    monkeypatch.setattr(code_language, "_detect_magika", no_magika)
    fast = detect_code_language(texts, model="fasttext")
    for i in range(len(texts)):
        label, score = fast["code_language"][i].as_py(), fast["code_language_score"][i].as_py()
        ft_label = first["code_language"][i].as_py()
        if not first["needs_magika"][i].as_py():  # sure: the hybrid's own answer
            assert (label, score) == (hybrid["code_language"][i].as_py(), hybrid["code_language_score"][i].as_py())
        elif ft_label in CODE_LANGUAGES:  # unsure but names a language: fastText's
            assert (label, score) == (ft_label, pytest.approx(first["code_language_score"][i].as_py()))
        else:  # other, unknown, blank: no language
            assert label == UNKNOWN
    assert fast["code_language"][0].as_py() is not None and set(fast.column_names) == set(CODE_LANGUAGE_SIGNAL_SCHEMA)


def test_data_formats_go_to_magika_which_names_them():
    json_text = '{\n  "name": "demo",\n  "version": "1.0.0",\n  "dependencies": {\n' + ",\n".join(
        f'    "package-{i}": "^{i}.{i % 7}.0"' for i in range(40)) + "\n  }\n}\n"
    first = fasttext_code_language([json_text])
    assert first["needs_magika"][0].as_py()
    assert detect_code_language([json_text])["code_language"][0].as_py() == "json"


def test_magika_is_imported_only_when_a_document_needs_it():
    import subprocess
    import sys

    code = ("import sys; from midtrain.curation.labels.code_language import detect_code_language as d; "
            f"t = d([{SNIPPETS['go']!r}]); assert t['code_language'][0].as_py() == 'go'; "
            "print('magika' in sys.modules, 'onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_unknown_model_name_is_a_config_error():
    from midtrain.curation.labels import DomainConfig
    from midtrain.errors import ConfigError

    with pytest.raises(ConfigError):
        detect_code_language(["x = 1"], model="bogus")
    with pytest.raises(ConfigError):
        DomainConfig.from_dict({"code_language_model": "magic"})
    assert DomainConfig.from_dict({"code_language_model": "magika"}).code_language_model == "magika"


# midtrain's int8 copy of Magika's model (scripts/quantize_magika.py), the default Magika path.

def test_int8_magika_mostly_agrees_with_magikas_own_model():
    """On real files of the interpreter (C, Python, shell, ... and prose), the int8 copy gives Magika's
    own label to at least 97% (99.8% on its 1,024 calibration files) and a close probability."""
    files = sorted(p for p in STDLIB.rglob("*") if p.is_file() and p.suffix in (".py", ".c", ".h", ".txt", ".sh"))
    texts = [p.read_text(errors="replace") for p in files[:: max(1, len(files) // 300)]]
    fast = detect_code_language(texts, model="magika")
    exact = detect_code_language(texts, model="magika", magika="original")
    same = np.mean(np.array(fast["code_language"].to_pylist()) == np.array(exact["code_language"].to_pylist()))
    assert same >= 0.97, same
    gap = np.abs(fast["code_language_score"].to_numpy() - exact["code_language_score"].to_numpy())
    assert np.median(gap) < 0.01 and gap.max() < 0.5


def test_int8_magika_is_refused_if_built_from_another_magika_model(tmp_path, monkeypatch):
    import json

    from midtrain.curation.labels import code_language
    from midtrain.errors import ConfigError

    record = json.loads(code_language.MAGIKA_INT8_INFO.read_text())
    other = tmp_path / "magika-int8.json"
    other.write_text(json.dumps({**record, "source_sha256": "0" * 64}))
    monkeypatch.setattr(code_language, "MAGIKA_INT8_INFO", other)
    with pytest.raises(ConfigError, match="magika_model: original"):
        code_language._int8_file(record["model"], code_language.magika_model_file())
    with pytest.raises(ConfigError, match="Magika model 'fp16'"):
        detect_code_language([SNIPPETS["go"]], model="magika", magika="fp16")


def test_magika_model_in_domain_config():
    from midtrain.curation.labels import DomainConfig
    from midtrain.errors import ConfigError

    assert DomainConfig().magika_model == "int8"
    assert DomainConfig.from_dict({"magika_model": "original"}).magika_model == "original"
    with pytest.raises(ConfigError, match="domain.magika_model"):
        DomainConfig.from_dict({"magika_model": "float16"})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["_nl_", "_nl", "nl_", "_", "x", " ", "  ", "é", "_nl_nl_"]),
                         max_size=40).map("".join), max_size=12))
def test_line_tokens_count_as_arrow_does(lines):
    """The numba token and newline-token counts equal Arrow's count_substring (non-overlapping), which
    _too_little_text used before."""
    arr = pa.array(lines, pa.large_string())
    data, offsets = string_buffers(arr)
    tokens = np.empty(len(lines), np.int64)
    newlines = np.empty(len(lines), np.int64)
    code_language._line_tokens(data, offsets, np.frombuffer(b"_nl_", np.uint8), tokens, newlines)
    assert tokens.tolist() == (pc.count_substring(arr, " ").to_numpy(zero_copy_only=False) + 1).tolist()
    assert newlines.tolist() == pc.count_substring(arr, "_nl_").to_numpy(zero_copy_only=False).tolist()

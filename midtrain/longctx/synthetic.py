"""The synthetic long-context domain: retrieval, copy and distractor tasks built from a corpus's own text.

``build_synthetic(TEXT_CORPUS, OUT, SyntheticConfig(lengths=(4096, 16384), count=100))`` writes a
text corpus of one domain (``synthetic``) whose rows are long examples whose answer sits at the end:

- ``passkey``: a secret-number sentence hidden at a seeded depth inside filler of real documents, the
  question and the key at the end (Mohtashami & Jaggi 2023; RULER's NIAH single);
- ``kv_retrieval``: a table of random key = value pairs hidden the same way, one key asked for;
- ``copy_back``: real text, then ``Repeat the passage that began with "…":`` and the passage
  (a span at a seeded depth; its opening words are unique in the example);
- ``interleave``: a document cut into chunks interleaved with chunks of its MinHash near
  neighbours (NExtLong's hard negatives; seeded random documents when it has none, counted), then
  ``which words follow "<quote from the document>"?`` and the words of the document.

Lengths are *approximate tokens*: an example has ``round(length × chars_per_token)`` characters
(4 by default, English BPE; code and other scripts give more tokens per character). Every row has
``answer_start``/``answer_end``, offsets into the row's Python string (code points, not UTF-8
bytes), so an evaluation can score only the answer: ``text[answer_start:answer_end]`` is the answer
and it ends the text. Documents of any ``exclude`` corpus (same id, or the same text up to
whitespace) are never used, neither as source nor as filler. The same inputs and seed give the same
bytes: each example draws from its own generator seeded by (seed, task, length, index).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from midtrain.errors import ConfigError
from midtrain.longctx.neighbours import NeighbourConfig, Neighbours

TASKS = ("passkey", "kv_retrieval", "copy_back", "interleave")
"""Task kinds, also the ``source`` column of the rows."""
MIN_LENGTH = 128
"""Shortest example, in approximate tokens: below it the filler would be shorter than the question."""
_WORD = re.compile(r"\S+")
_SNAP = 200
"""How far back (characters) a cut looks for whitespace before cutting inside a word."""

# The passkey wording differs on purpose from the evaluation's (midtrain.longctx.evalset, the usual
# "pass key" prompt of Mohtashami & Jaggi 2023): training on the exact evaluation template would
# inflate its accuracy.
SECRET_INTRO = "Somewhere in the text below is a secret number. Remember it: you will be asked for it at the end.\n\n"
KV_INTRO = "A table of keys and values is hidden inside the following text. Remember the table.\n\n"


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """What :func:`build_synthetic` writes: tasks × lengths × ``count`` examples."""

    lengths: tuple[int, ...]
    """Target length of each example in approximate tokens (characters = length × chars_per_token)."""
    count: int = 100
    """Examples per task and per length."""
    seed: int = 0
    domain: str = "synthetic"
    """Domain (folder) of every row."""
    tasks: tuple[str, ...] = TASKS
    chars_per_token: float = 4.0
    """Characters per token of the target tokenizer: ~4 for English BPE (GPT-2/Llama 3), fewer for code."""
    kv_pairs: int = 16
    """Pairs in the key-value table."""
    copy_span_tokens: int = 64
    """Length of the copied passage, in approximate tokens."""
    chunk_tokens: int = 256
    """Chunk size of the interleave task, in approximate tokens."""
    quote_words: int = 8
    """Words quoted to name a passage (copy_back) or a position in the document (interleave)."""
    answer_words: int = 24
    """Words the interleave task asks for."""
    max_pool_documents: int = 200_000
    """At most this many documents (a seeded sample of the corpus) are read into memory."""
    rows_per_shard: int = 1000
    neighbours: NeighbourConfig = field(default_factory=NeighbourConfig)

    def __post_init__(self) -> None:
        if not self.lengths or any(not isinstance(n, int) or n < MIN_LENGTH for n in self.lengths):
            raise ConfigError(f"lengths: need integers of at least {MIN_LENGTH} (approximate tokens), "
                              f"got {self.lengths!r}")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ConfigError(f"tasks: {unknown or 'none'} not among {list(TASKS)}")
        for key in ("count", "kv_pairs", "copy_span_tokens", "chunk_tokens", "quote_words", "answer_words",
                    "max_pool_documents", "rows_per_shard"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key}: must be a positive integer, got {value!r}")
        if not self.chars_per_token > 0:
            raise ConfigError(f"chars_per_token: must be positive, got {self.chars_per_token!r}")
        from midtrain.corpus.shards import check_domain_name

        try:
            check_domain_name(self.domain)
        except ValueError as exc:
            raise ConfigError(f"domain: {exc}") from None

    def chars(self, tokens: int) -> int:
        return int(round(tokens * self.chars_per_token))


@dataclass(frozen=True)
class Example:
    """One row before it is written: the answer is ``text[answer_start:answer_end]``."""

    text: str
    answer_start: int
    answer_end: int
    depth: float
    """Where the needed information starts, as a fraction of the text before the question."""
    source_ids: tuple[str, ...]
    """Ids of the corpus documents the example is made of."""


@dataclass
class SyntheticReport:
    """What :func:`build_synthetic` wrote and from what."""

    output: Path
    rows: dict[str, int]
    """Rows per task."""
    pool_documents: int
    """Documents the examples were drawn from (after exclusion)."""
    excluded_by_id: int
    excluded_by_text: int
    interleave: dict[str, int]
    """``neighbour`` (distractors from MinHash neighbours only), ``topped_up`` (neighbours ran short,
    random documents added), ``random_fallback`` (no neighbour: random documents), ``neighbour_pairs``."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["output"] = str(self.output)
        return out


@dataclass(frozen=True)
class HeldoutKeys:
    """Ids and whitespace-folded text hashes of held-out documents; a match is never used."""

    ids: frozenset[str]
    hashes: frozenset[int]


def heldout_keys(corpora: Sequence[str | os.PathLike]) -> HeldoutKeys:
    """Every document id (text and token corpora) and text hash (text corpora) of ``corpora``."""
    from midtrain.corpus import Manifest, TokenShard, read_text_shard
    from midtrain.corpus.manifest import resolve_inside

    ids: set[str] = set()
    hashes: set[int] = set()
    for corpus in corpora:
        path = Path(corpus)
        manifest = Manifest.read(path)
        for shard in manifest.shards:
            file = resolve_inside(path, shard.path)
            if manifest.kind == "token":
                ids.update(TokenShard(file).ids())
                continue
            table = read_text_shard(file, columns=["id", "text"])
            ids.update(table.column("id").to_pylist())
            hashes.update(text_hashes(table.column("text")))
    return HeldoutKeys(frozenset(ids), frozenset(hashes))


def text_hashes(texts: pa.Array | pa.ChunkedArray | list[str]) -> list[int]:
    """128-bit hash of each text with whitespace folded (dedup's exact-duplicate key)."""
    from midtrain.curation.stages.shingles import arrow_buffers, whitespace_text_hashes

    if isinstance(texts, list):
        texts = pa.array(texts, pa.large_string())
    h = whitespace_text_hashes(*arrow_buffers(texts))
    return [(int(hi) << 64) | int(lo) for hi, lo in h]


@dataclass(frozen=True)
class DocumentPool:
    """The documents examples are built from: ids and texts, in corpus (manifest) order."""

    ids: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def read_pool(corpus: str | os.PathLike, config: SyntheticConfig,
              heldout: HeldoutKeys | None = None) -> tuple[DocumentPool, dict[str, int]]:
    """The non-empty, non-held-out documents of ``corpus`` (a seeded sample of at most
    ``max_pool_documents`` when it has more), and how many were excluded by id and by text."""
    from midtrain.corpus import Manifest, read_text_shard
    from midtrain.corpus.manifest import resolve_inside

    path = Path(corpus)
    manifest = Manifest.read(path)
    if manifest.kind != "text":
        raise ConfigError(f"{path}: is a {manifest.kind} corpus; longctx-synth needs a text corpus")
    shards = sorted(manifest.shards, key=lambda s: s.path)
    total = sum(s.rows for s in shards)
    if total > config.max_pool_documents:
        rng = np.random.default_rng([config.seed, 0x9001])
        chosen = np.sort(rng.choice(total, config.max_pool_documents, replace=False))
    else:
        chosen = np.arange(total)
    ids: list[str] = []
    texts: list[str] = []
    first = 0
    for shard in shards:
        lo, hi = np.searchsorted(chosen, [first, first + shard.rows])
        if hi > lo:
            table = read_text_shard(resolve_inside(path, shard.path), columns=["id", "text"])
            table = table.take(pa.array(chosen[lo:hi] - first))
            ids.extend(table.column("id").to_pylist())
            texts.extend(t or "" for t in table.column("text").to_pylist())
        first += shard.rows
    counts = {"excluded_by_id": 0, "excluded_by_text": 0}
    keep = [bool(t.strip()) for t in texts]
    if heldout is not None:
        hashes = text_hashes(texts) if heldout.hashes else [0] * len(texts)
        for k, (i, h) in enumerate(zip(ids, hashes)):
            if not keep[k]:
                continue
            if i in heldout.ids:
                keep[k] = False
                counts["excluded_by_id"] += 1
            elif h in heldout.hashes:
                keep[k] = False
                counts["excluded_by_text"] += 1
    pool = DocumentPool([i for i, k in zip(ids, keep) if k], [t for t, k in zip(texts, keep) if k])
    if not len(pool):
        raise ConfigError(f"{path}: no usable document (empty or all held out)")
    return pool, counts


def build_synthetic(corpus: str | os.PathLike, output: str | os.PathLike, config: SyntheticConfig, *,
                    exclude: Sequence[str | os.PathLike] = (), force: bool = False) -> SyntheticReport:
    """Build the synthetic domain from the text corpus ``corpus`` into the text corpus ``output``."""
    from midtrain.corpus import CorpusWriter, file_checksum
    from midtrain.corpus.manifest import MANIFEST_NAME

    out = Path(output)
    if (out / MANIFEST_NAME).exists() and not force:
        raise ConfigError(f"{out}: already holds a corpus; choose a new folder or pass force=True (--force)")
    pool, counts = read_pool(corpus, config, heldout_keys(exclude) if exclude else None)
    builder = _Builder(pool, config)
    writer = CorpusWriter(out, "text")
    rows: list[dict[str, Any]] = []
    per_task = dict.fromkeys(config.tasks, 0)
    for length in config.lengths:
        for task in config.tasks:
            for i in range(config.count):
                rng = np.random.default_rng([config.seed, TASKS.index(task), length, i])
                ex = builder.build(task, rng, config.chars(length))
                rows.append({"id": f"{config.domain}/{task}/{length}/{i:06d}", "text": ex.text,
                             "domain": config.domain, "source": task, "answer_start": ex.answer_start,
                             "answer_end": ex.answer_end, "target_tokens": length, "depth": ex.depth,
                             "source_ids": list(ex.source_ids)})
                per_task[task] += 1
                if len(rows) == config.rows_per_shard:
                    writer.write_table(config.domain, _table(rows))
                    rows = []
    if rows:
        writer.write_table(config.domain, _table(rows))
    interleave = {**builder.interleave_counts, "neighbour_pairs": builder.neighbour_pairs}
    extra = {"longctx_synthetic": {
        "config": {**asdict(config), "lengths": list(config.lengths), "tasks": list(config.tasks)},
        "source_manifest": file_checksum(Path(corpus) / MANIFEST_NAME),
        "exclude_manifests": [file_checksum(Path(e) / MANIFEST_NAME) for e in exclude],
        "pool_documents": len(pool), **counts, "rows": per_task, "interleave": interleave,
        "length_unit": f"approximate tokens ({config.chars_per_token:g} characters each)"}}
    writer.finish(extra)
    return SyntheticReport(out, per_task, len(pool), counts["excluded_by_id"], counts["excluded_by_text"], interleave)


_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.large_string()), ("domain", pa.string()),
                     ("source", pa.string()), ("answer_start", pa.int64()), ("answer_end", pa.int64()),
                     ("target_tokens", pa.int64()), ("depth", pa.float64()), ("source_ids", pa.list_(pa.string()))])


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=_SCHEMA)


class _Builder:
    """Builds one example of a task from the pool with the generator it is given."""

    def __init__(self, pool: DocumentPool, config: SyntheticConfig) -> None:
        self.pool = pool
        self.config = config
        self._neighbours: Neighbours | None = None
        self.neighbour_pairs = 0
        self.interleave_counts = {"neighbour": 0, "topped_up": 0, "random_fallback": 0}
        need = config.quote_words + config.answer_words
        self._interleave_docs = np.array([k for k, t in enumerate(pool.texts) if _word_count(t, need) >= need],
                                         np.int64)

    def build(self, task: str, rng: np.random.Generator, chars: int) -> Example:
        return getattr(self, "_" + task)(rng, chars)

    # --- filler -----------------------------------------------------------------------------------
    def filler(self, rng: np.random.Generator, chars: int,
               avoid: frozenset[int] = frozenset()) -> tuple[str, list[str]]:
        """Real documents, drawn with replacement and joined by blank lines, cut to ``chars``."""
        parts: list[str] = []
        used: list[str] = []
        total = 0
        n = len(self.pool)
        tries = 0
        while total < chars:
            k = int(rng.integers(n))
            tries += 1
            if k in avoid and tries < 100:
                continue
            text = self.pool.texts[k][:chars - total + _SNAP]
            parts.append(text)
            used.append(self.pool.ids[k])
            total += len(text) + 2
        return _cut("\n\n".join(parts), chars), used

    # --- tasks ------------------------------------------------------------------------------------
    def _passkey(self, rng: np.random.Generator, chars: int) -> Example:
        key = str(int(rng.integers(10_000, 100_000)))
        needle = f"\n\nThe secret number is {key}. Keep it in mind: {key}.\n\n"
        question = "\n\nWhat is the secret number? The secret number is "
        return self._hidden(rng, chars, SECRET_INTRO, needle, question, key)

    def _kv_retrieval(self, rng: np.random.Generator, chars: int) -> Example:
        keys = _distinct_hex(rng, self.config.kv_pairs)
        values = _distinct_hex(rng, self.config.kv_pairs)
        table = "\n".join(f"{k} = {v}" for k, v in zip(keys, values))
        needle = f"\n\nKEY-VALUE TABLE\n{table}\nEND OF TABLE\n\n"
        asked = int(rng.integers(len(keys)))
        question = f"\n\nIn the key-value table above, the value of key {keys[asked]} is "
        return self._hidden(rng, chars, KV_INTRO, needle, question, values[asked])

    def _hidden(self, rng, chars, intro, needle, question, answer) -> Example:
        depth = float(rng.random())
        filler, used = self.filler(rng, max(chars - len(intro) - len(needle) - len(question) - len(answer), 0))
        at = _snap(filler, int(round(depth * len(filler))))
        text = intro + filler[:at] + needle + filler[at:] + question
        return Example(text + answer, len(text), len(text) + len(answer),
                       (len(intro) + at) / max(len(text) - len(question), 1), tuple(used))

    def _copy_back(self, rng: np.random.Generator, chars: int) -> Example:
        cfg = self.config
        span_chars = cfg.chars(cfg.copy_span_tokens)
        head_chars = 48 + 12 * cfg.quote_words
        filler, used = self.filler(rng, max(chars - span_chars - head_chars, span_chars + 1))
        depth = float(rng.random())
        for attempt in range(32):
            start = _snap(filler, int(depth * max(len(filler) - span_chars, 0)))
            span = _cut(filler[start:start + span_chars], span_chars).rstrip()
            words = list(_WORD.finditer(span))
            if len(words) > cfg.quote_words:
                quote = span[:words[cfg.quote_words - 1].end()]
                if filler.count(quote) == 1:
                    break
            depth = float(rng.random())
        else:
            # no passage with a unique opening: quote the whole span (it repeats, but stays correct)
            if not span:
                start, span = 0, filler[:span_chars].rstrip()
            quote = span
        text = f'{filler}\n\nRepeat the passage that began with "{quote}":\n'
        return Example(text + span, len(text), len(text) + len(span), start / max(len(filler), 1), tuple(used))

    def _interleave(self, rng: np.random.Generator, chars: int) -> Example:
        for _ in range(32):
            example = self._try_interleave(rng, chars)
            if example is not None:
                return example
        raise ConfigError(f"interleave: no document of the pool has a quote of {self.config.quote_words} words "
                          f"that is unique among its distractors; lower quote_words or leave the task out")

    def _try_interleave(self, rng: np.random.Generator, chars: int) -> Example | None:
        cfg = self.config
        if not len(self._interleave_docs):
            raise ConfigError(f"interleave: no document has {cfg.quote_words + cfg.answer_words} words")
        doc = int(self._interleave_docs[int(rng.integers(len(self._interleave_docs)))])
        chunk_chars = min(cfg.chars(cfg.chunk_tokens), max(chars // 4, 1))
        own = _chunks(_cut(self.pool.texts[doc], chars // 2), chunk_chars)
        need_words = cfg.quote_words + cfg.answer_words
        candidates = [g for g, c in enumerate(own) if _word_count(c, need_words) >= need_words]
        if not candidates:
            return None
        for _ in range(8):
            # a quote inside one chunk of the document, followed there by answer_words words
            g = candidates[int(rng.integers(len(candidates)))]
            words = list(_WORD.finditer(own[g]))
            w = int(rng.integers(len(words) - need_words + 1))
            quote = own[g][words[w].start():words[w + cfg.quote_words - 1].end()]
            answer = own[g][words[w + cfg.quote_words].start():words[w + need_words - 1].end()]
            question = f'\n\nQuestion: in the text above, which words follow "{quote}"?\nAnswer: '
            need = max(chars - len(question) - len(answer) - sum(len(c) + 2 for c in own), 0)
            distractors, used, kind = self._distractor_chunks(doc, rng, need, chunk_chars)
            # the document's chunks in order, distractor chunks spread evenly over the gaps before them
            pieces: list[str] = []
            d = 0
            for k, chunk in enumerate(own):
                take = (k + 1) * len(distractors) // len(own) - d
                pieces.extend(distractors[d:d + take])
                d += take
                pieces.append(chunk)
            body = "\n\n".join(pieces)
            if body.count(quote) == 1:  # the answer must lie in the document, not in a distractor
                self.interleave_counts[kind] += 1
                text = body + question
                return Example(text + answer, len(text), len(text) + len(answer),
                               body.index(quote) / max(len(body), 1), (self.pool.ids[doc], *used))
        return None

    def _distractor_chunks(self, doc: int, rng: np.random.Generator, need: int,
                           chunk_chars: int) -> tuple[list[str], list[str], str]:
        """Chunks of the document's neighbours, round robin from the most similar, then random documents."""
        neighbours = [int(k) for k in self.neighbours.of(doc)]
        per_doc = [_chunks(_cut(self.pool.texts[k], need + chunk_chars), chunk_chars) for k in neighbours]
        chunks: list[str] = []
        used: list[str] = []
        total = 0
        depth = 0
        while total < need and any(depth < len(c) for c in per_doc):
            for k, c in zip(neighbours, per_doc):
                if depth < len(c) and total < need:
                    piece = _cut(c[depth], need - total)
                    chunks.append(piece)
                    total += len(piece) + 2
                    if self.pool.ids[k] not in used:
                        used.append(self.pool.ids[k])
            depth += 1
        kind = "neighbour" if total >= need else ("topped_up" if neighbours else "random_fallback")
        if total < need:
            filler, more = self.filler(rng, need - total, avoid=frozenset([doc, *neighbours]))
            chunks.extend(_chunks(filler, chunk_chars))
            used.extend(more)
        return chunks, used, kind

    @property
    def neighbours(self) -> Neighbours:
        if self._neighbours is None:
            from midtrain.longctx.neighbours import near_neighbours

            self._neighbours = near_neighbours(self.pool.texts, self.config.neighbours)
            self.neighbour_pairs = self._neighbours.verified_pairs
        return self._neighbours


def _cut(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters, at whitespace when there is some near the end."""
    if len(text) <= chars:
        return text
    at = max(text.rfind(" ", max(chars - _SNAP, 0), chars + 1), text.rfind("\n", max(chars - _SNAP, 0), chars + 1))
    return text[:at if at > 0 else chars]


def _snap(text: str, pos: int) -> int:
    """The start of the word at or before ``pos`` (``pos`` itself when no whitespace is near)."""
    if pos <= 0 or pos >= len(text):
        return max(0, min(pos, len(text)))
    lo = max(pos - _SNAP, 0)
    at = max(text.rfind(" ", lo, pos), text.rfind("\n", lo, pos))
    return at + 1 if at >= 0 else pos


def _chunks(text: str, chars: int) -> list[str]:
    """``text`` cut into pieces of about ``chars`` characters at whitespace, none empty."""
    out = []
    while text:
        piece = _cut(text, chars)
        out.append(piece)
        text = text[len(piece):].lstrip()
    return [p for p in out if p.strip()]


def _word_count(text: str, enough: int) -> int:
    """Words of ``text``, counting no further than ``enough``."""
    n = 0
    for _ in _WORD.finditer(text):
        n += 1
        if n >= enough:
            break
    return n


def _distinct_hex(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 8-digit hexadecimal strings."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        value = f"{int(rng.integers(16 ** 8)):08x}"
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out

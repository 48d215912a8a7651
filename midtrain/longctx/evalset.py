"""A long-context evaluation set: fixed token sequences of exactly ``seq_len`` built from a token corpus.

``build_eval_set(TOKENS, EVALDIR, EvalSetConfig(seq_len=16384))`` writes three kinds of sequences:

- **documents**, per domain: up to ``per_domain`` documents of at least ``seq_len`` tokens, chosen
  without replacement by a seeded generator; the sequence is the document's *first* ``seq_len``
  tokens (``window="start"``, so position p is position p of the document) or a window at a seeded
  start (``window="random"``). A domain without any document that long is reported in ``missing``
  with its longest document, never dropped silently;
- **copy probes**: filler of real corpus tokens (random documents, concatenated) with a span of
  ``copy_span`` tokens from a real document placed twice, the repeat ending the sequence and the
  first occurrence ``distance`` tokens before it (distance = start of repeat − start of the first
  occurrence), so every probe scores the same positions and only the distance varies;
- **passkey probes** (need the tokenizer): intro, filler with the pass-key sentence at a seeded
  depth, question, and the key's tokens ending the sequence. Each piece is encoded on its own with
  the tokenizer's batch API (no special tokens) and the ids are concatenated.

Layout (``EVALDIR/``): ``evalset.json`` (written last: settings, per-domain document ids and starts,
probe positions, the files with their checksums) and int32 ``.npy`` arrays ``[N, seq_len]``:
``sequences/<domain>.npy``, ``copy.npy``, ``passkey.npy``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from midtrain.errors import ConfigError

EVALSET_NAME = "evalset.json"
EVALSET_FORMAT = "midtrain-longctx-eval/1"
DEFAULT_COPY_DISTANCES = (512, 2048, 8192)
"""Plus ``seq_len - copy_span`` (the first occurrence at position 0); those that fit are kept."""
PASSKEY_INTRO = ("There is a pass key hidden inside a lot of irrelevant text. Find it and memorize it. "
                 "I will quiz you about the pass key.\n\n")
PASSKEY_QUESTION = "\n\nWhat is the pass key? The pass key is"


@dataclass(frozen=True, kw_only=True)
class EvalSetConfig:
    """What :func:`build_eval_set` takes from the corpus."""

    seq_len: int
    per_domain: int = 16
    """Document sequences per domain (fewer when fewer documents are long enough; reported)."""
    seed: int = 0
    window: Literal["start", "random"] = "start"
    """``start``: a document's first ``seq_len`` tokens; ``random``: a window at a seeded start."""
    domains: tuple[str, ...] | None = None
    """Domains to take document sequences from (default: all)."""
    copy_span: int = 64
    copy_distances: tuple[int, ...] | None = None
    """Default: :data:`DEFAULT_COPY_DISTANCES` and ``seq_len - copy_span``, those that fit."""
    copy_per_distance: int = 8
    passkeys: int = 16
    """Passkey probes; 0 builds none (and needs no tokenizer)."""

    def __post_init__(self) -> None:
        for key in ("seq_len", "per_domain", "copy_span", "copy_per_distance"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key}: must be a positive integer, got {value!r}")
        if self.passkeys < 0:
            raise ConfigError(f"passkeys: must be ≥ 0, got {self.passkeys!r}")
        if self.window not in ("start", "random"):
            raise ConfigError(f"window: must be 'start' or 'random', got {self.window!r}")
        if 2 * self.copy_span > self.seq_len:
            raise ConfigError(f"copy_span: {self.copy_span} twice does not fit in seq_len {self.seq_len}")
        for d in self.copy_distances or ():
            if not self.copy_span <= d <= self.seq_len - self.copy_span:
                raise ConfigError(f"copy_distances: {d} must be between copy_span ({self.copy_span}) and "
                                  f"seq_len - copy_span ({self.seq_len - self.copy_span})")

    def distances(self) -> list[int]:
        if self.copy_distances:
            return sorted(set(self.copy_distances))
        top = self.seq_len - self.copy_span
        return sorted({d for d in DEFAULT_COPY_DISTANCES if self.copy_span <= d <= top} | {top})


@dataclass
class EvalSet:
    """An evaluation folder as written: its ``evalset.json`` and lazy access to the arrays."""

    path: Path
    meta: dict[str, Any] = field(repr=False)

    @property
    def seq_len(self) -> int:
        return int(self.meta["seq_len"])

    @property
    def domains(self) -> list[str]:
        return sorted(self.meta["domains"])

    def array(self, rel: str) -> np.ndarray:
        """The ``[N, seq_len]`` int32 array of file ``rel``, checked against the manifest."""
        from midtrain.corpus import file_checksum

        entry = self.meta["files"].get(rel)
        file = self.path / rel
        if entry is None:
            raise ConfigError(f"{self.path / EVALSET_NAME}: lists no file {rel!r}")
        if not file.is_file() or file_checksum(file) != entry["checksum"]:
            raise ConfigError(f"{file}: missing or changed since {EVALSET_NAME} was written; rebuild the eval set")
        return np.load(file)

    def sequences(self, domain: str) -> np.ndarray:
        return self.array(self.meta["domains"][domain]["file"])


def load_eval_set(path: str | os.PathLike) -> EvalSet:
    """Read ``EVALDIR/evalset.json``; errors name the file."""
    path = Path(path)
    file = path / EVALSET_NAME
    if not file.is_file():
        raise ConfigError(f"{path}: no {EVALSET_NAME}; build it with `midtrain longctx-eval build`")
    try:
        meta = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON ({exc})") from None
    if meta.get("format") != EVALSET_FORMAT:
        raise ConfigError(f"{file}: format {meta.get('format')!r} is not {EVALSET_FORMAT!r}")
    return EvalSet(path, meta)


def build_eval_set(corpus: str | os.PathLike, output: str | os.PathLike, config: EvalSetConfig, *,
                   tokenizer: str | None = None) -> EvalSet:
    """Build the evaluation folder ``output`` from the token corpus ``corpus`` (see the module doc).

    ``tokenizer`` (a ``tokenizer.json`` path or ``tiktoken:<encoding>``) is needed for passkey
    probes unless the corpus manifest names one; its fingerprint must equal the manifest's.
    """
    from midtrain.corpus import file_checksum, open_token_corpus
    from midtrain.corpus.manifest import MANIFEST_NAME, atomic_write_bytes

    corpus_path = Path(corpus)
    tokens = open_token_corpus(corpus_path)
    L = config.seq_len
    domains = list(config.domains) if config.domains else tokens.domains
    unknown = [d for d in domains if d not in tokens.shards]
    if unknown:
        raise ConfigError(f"domains: {unknown} not in {corpus_path} (it has {tokens.domains})")
    out = Path(output)
    files: dict[str, dict[str, Any]] = {}

    def save(rel: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array, dtype=np.int32))
        atomic_write_bytes(out / rel, buf.getvalue())
        files[rel] = {"checksum": file_checksum(out / rel), "shape": list(array.shape)}

    docs = _Documents(tokens)
    meta_domains: dict[str, Any] = {}
    missing: dict[str, Any] = {}
    for d in domains:
        rng = np.random.default_rng([config.seed, 1, *d.encode()])
        lengths = tokens.doc_lengths(d)
        eligible = np.flatnonzero(lengths >= L)
        if not len(eligible):
            missing[d] = {"documents": int(len(lengths)), "longest": int(lengths.max(initial=0))}
            continue
        chosen = np.sort(rng.choice(eligible, min(config.per_domain, len(eligible)), replace=False))
        starts = [0 if config.window == "start" else int(rng.integers(0, lengths[k] - L + 1)) for k in chosen]
        rows = np.stack([docs.doc(d, int(k))[s:s + L] for k, s in zip(chosen, starts)])
        rel = f"sequences/{d}.npy"
        save(rel, rows)
        meta_domains[d] = {"file": rel, "sequences": int(len(chosen)), "requested": config.per_domain,
                           "eligible_documents": int(len(eligible)), "ids": [docs.id(d, int(k)) for k in chosen],
                           "starts": starts}

    copy_rows, copy_meta = _copy_probes(docs, config)
    save("copy.npy", copy_rows)
    passkey = None
    if config.passkeys:
        encoder = _encoder(tokens.manifest.tokenizer or {}, tokenizer, corpus_path)
        passkey_rows, passkey_meta = _passkey_probes(docs, config, encoder)
        save("passkey.npy", passkey_rows)
        passkey = {"file": "passkey.npy", "probes": passkey_meta}
    meta = {"format": EVALSET_FORMAT, "seq_len": L, "config": {**asdict(config), "copy_distances": config.distances()},
            "corpus": {"manifest": file_checksum(corpus_path / MANIFEST_NAME), "tokenizer": tokens.manifest.tokenizer},
            "domains": meta_domains, "missing": missing,
            "copy": {"file": "copy.npy", "span": config.copy_span, "probes": copy_meta},
            "passkey": passkey, "files": files}
    atomic_write_bytes(out / EVALSET_NAME, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return EvalSet(out, meta)


class _Documents:
    """Random access to the documents of a token corpus by (domain, index over its shards)."""

    def __init__(self, corpus) -> None:
        self.corpus = corpus
        self.first = {d: np.concatenate([[0], np.cumsum([s.num_docs for s in corpus.shards[d]])])
                      for d in corpus.domains}
        self.lengths = {d: corpus.doc_lengths(d) for d in corpus.domains}

    def _locate(self, domain: str, k: int):
        s = int(np.searchsorted(self.first[domain], k, side="right") - 1)
        return self.corpus.shards[domain][s], k - int(self.first[domain][s])

    def doc(self, domain: str, k: int) -> np.ndarray:
        shard, i = self._locate(domain, k)
        return np.asarray(shard.doc(i), dtype=np.int64)

    def id(self, domain: str, k: int) -> str:
        shard, i = self._locate(domain, k)
        return shard.ids()[i]

    def random_doc(self, rng: np.random.Generator, min_len: int = 1) -> np.ndarray:
        """A document of at least ``min_len`` tokens: domain uniform among those that have one, then document."""
        domains = [d for d in self.corpus.domains if self.lengths[d].max(initial=0) >= min_len]
        if not domains:
            raise ConfigError(f"{self.corpus.path}: no document has {min_len} tokens")
        d = domains[int(rng.integers(len(domains)))]
        eligible = np.flatnonzero(self.lengths[d] >= min_len)
        return self.doc(d, int(eligible[int(rng.integers(len(eligible)))]))

    def filler(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` tokens of random whole documents, concatenated (the last one cut)."""
        parts, total = [], 0
        while total < n:
            doc = self.random_doc(rng)[:n - total]
            parts.append(doc)
            total += len(doc)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _copy_probes(docs: _Documents, config: EvalSetConfig) -> tuple[np.ndarray, list[dict[str, int]]]:
    L, span_len = config.seq_len, config.copy_span
    rows, meta = [], []
    for distance in config.distances():
        for i in range(config.copy_per_distance):
            rng = np.random.default_rng([config.seed, 2, distance, i])
            source = docs.random_doc(rng, span_len)
            at = int(rng.integers(0, len(source) - span_len + 1))
            span = source[at:at + span_len]
            row = docs.filler(rng, L)
            repeat = L - span_len
            first = repeat - distance
            row[first:first + span_len] = span
            row[repeat:] = span
            rows.append(row)
            meta.append({"distance": distance, "first_start": first, "repeat_start": repeat})
    return np.stack(rows), meta


def _passkey_probes(docs: _Documents, config: EvalSetConfig, encoder) -> tuple[np.ndarray, list[dict[str, Any]]]:
    L = config.seq_len
    keys, depths = [], []
    for i in range(config.passkeys):
        rng = np.random.default_rng([config.seed, 3, i])
        keys.append(str(int(rng.integers(10_000, 100_000))))
        depths.append(float(rng.random()))
    texts = [PASSKEY_INTRO, PASSKEY_QUESTION]
    texts += [f"\n\nThe pass key is {k}. Remember it. {k} is the pass key.\n\n" for k in keys]
    texts += [f" {k}" for k in keys]
    flat, lengths = encoder.encode_batch(texts)
    pieces = np.split(flat.astype(np.int64), np.cumsum(lengths)[:-1])
    intro, question = pieces[0], pieces[1]
    needles, answers = pieces[2:2 + len(keys)], pieces[2 + len(keys):]
    rows, meta = [], []
    for i, (key, depth, needle, answer) in enumerate(zip(keys, depths, needles, answers)):
        rng = np.random.default_rng([config.seed, 4, i])
        n_filler = L - len(intro) - len(needle) - len(question) - len(answer)
        if n_filler < 0:
            raise ConfigError(f"seq_len: {L} tokens cannot hold the passkey prompt "
                              f"({L - n_filler} tokens); use a longer seq_len or passkeys=0")
        filler = docs.filler(rng, n_filler)
        at = int(round(depth * n_filler))
        row = np.concatenate([intro, filler[:at], needle, filler[at:], question, answer])
        rows.append(row)
        meta.append({"key": key, "depth": depth, "needle_start": len(intro) + at,
                     "answer_start": L - len(answer), "answer_len": int(len(answer))})
    return np.stack(rows), meta


def _encoder(entry: dict[str, Any], tokenizer: str | None, corpus: Path):
    """The batch encoder of ``tokenizer`` or of the tokenizer the manifest names; fingerprints must agree."""
    from midtrain.tokenize.tokenizer import TIKTOKEN_PREFIX, load_tokenizer

    spec = tokenizer
    if spec is None:
        for key in ("path", "spec"):
            if entry.get(key):
                spec = str(entry[key])
                break
        else:
            name = str(entry.get("name") or "")
            spec = name if name.startswith(TIKTOKEN_PREFIX) else None
    if spec is None:
        raise ConfigError(f"{corpus / 'manifest.json'}: the tokenizer entry names no tokenizer file "
                          f"(name {entry.get('name')!r}); pass --tokenizer PATH (the corpus's tokenizer.json) "
                          "or build without passkey probes (--passkeys 0)")
    info, encoder = load_tokenizer(spec, add_eos=False, add_bos=False)
    expected = entry.get("fingerprint")
    if expected and info.fingerprint != expected:
        raise ConfigError(f"tokenizer {spec}: fingerprint {info.fingerprint} differs from the corpus's "
                          f"{expected} ({corpus / 'manifest.json'}); pass the tokenizer the corpus was made with")
    return encoder

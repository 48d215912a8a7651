"""Import datatrove's tokenized output (``.ds`` + ``.ds.index``) as a midtrain token corpus.

datatrove's ``DocumentTokenizer`` writes, per task, ``<name>.ds`` (little-endian token ids,
documents back to back; 2 bytes a token for vocabularies up to 65,536, else 4), ``<name>.ds.index``
(``uint64`` cumulative document *end* offsets, in tokens) and ``<name>.ds.metadata`` (first line
``<tokenizer>|<token size>``); see ``TokenizedFile`` in ``datatrove/pipeline/tokens/tokenizer.py``. The
token stream and document boundaries carry over unchanged: each ``.ds`` file becomes shards
``data/<domain>/<file stem>-<k>.arrow`` whose documents have ids ``<file name>/<i>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from midtrain.corpus import CorpusError, CorpusWriter
from midtrain.corpus.shards import check_domain_name
from midtrain.errors import ConfigError
from midtrain.tokenize.documents import shard_cuts
from midtrain.tokenize.job import DEFAULT_SHARD_TOKENS, TokenCorpusReport


def import_datatrove(folder: str | os.PathLike, output: str | os.PathLike, *, domain: str | None = None,
                     tokenizer: str | None = None, shard_tokens: int = DEFAULT_SHARD_TOKENS) -> TokenCorpusReport:
    """Convert every ``*.ds`` file under ``folder`` (sorted by path) into one domain of a token corpus at ``output``.

    ``domain`` defaults to the folder's name. ``tokenizer`` (the same spec ``tokenize`` takes)
    gives the manifest a real fingerprint and vocabulary size; without it the manifest records
    datatrove's tokenizer name and the fingerprint ``datatrove:<name>``.
    """
    folder, out = Path(folder), Path(output)
    files = sorted(folder.rglob("*.ds"))
    if not files:
        raise ConfigError(f"{folder}: no datatrove .ds files found")
    domain = domain or folder.resolve().name
    try:
        check_domain_name(domain)
    except ValueError as exc:
        raise ConfigError(f"{exc}; pass --domain") from None
    token_sizes, names = set(), set()
    for f in files:
        name, size = _metadata(f)
        token_sizes.add(size)
        names.add(name)
    if None in token_sizes and tokenizer is None:
        raise ConfigError(f"{folder}: a .ds file has no .ds.metadata, so its token size is unknown; pass --tokenizer")
    entry = _tokenizer_entry(tokenizer, names, token_sizes - {None}, folder)
    dtype = np.dtype(entry["dtype"])
    writer = CorpusWriter(out, "token", tokenizer=entry)
    documents = 0
    for f in files:
        tokens = np.memmap(f, dtype=dtype.newbyteorder("<"), mode="r") if f.stat().st_size else np.zeros(0, dtype)
        index = f.with_name(f.name + ".index")
        if not index.is_file():
            raise CorpusError(f"{index}: missing; datatrove writes it beside {f.name} (save_index=True)")
        ends = np.fromfile(index, dtype="<u8").astype(np.int64)
        if f.stat().st_size % dtype.itemsize:
            raise CorpusError(f"{f}: size {f.stat().st_size} is not a multiple of the token size {dtype.itemsize}")
        if len(ends) and (ends[-1] != len(tokens) or np.any(np.diff(ends) < 0) or ends[0] < 0):
            raise CorpusError(f"{index}: document ends are not increasing up to the {len(tokens)} tokens of {f.name}")
        offsets = np.concatenate([[0], ends]).astype(np.int64)
        lengths = np.diff(offsets)
        cuts = list(shard_cuts(lengths, shard_tokens)) + [len(lengths)]
        rel = f.relative_to(folder).as_posix()
        stem = rel[:-len(".ds")].replace("/", "_")
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
            ids = [f"{rel}/{i}" for i in range(a, b)]
            writer.write_table(domain, _table(ids, tokens, offsets, a, b, dtype), f"data/{domain}/{stem}-{k:05d}.arrow")
        documents += len(lengths)
    manifest = writer.finish({"imported_from": "datatrove", "datatrove_tokenizer": sorted(n for n in names if n),
                              "files": [f.relative_to(folder).as_posix() for f in files], "documents": documents})
    return TokenCorpusReport(out, manifest)


def _table(ids, tokens, offsets, a, b, dtype):
    from midtrain.corpus import token_table

    chunk = np.asarray(tokens[offsets[a]:offsets[b]]).astype(dtype.newbyteorder("="), copy=False)
    return token_table(ids, chunk, offsets[a:b + 1] - offsets[a])


def _metadata(ds: Path) -> tuple[str | None, int | None]:
    """(tokenizer name, token size in bytes) from ``<file>.ds.metadata``, or ``(None, None)``."""
    meta = ds.with_name(ds.name + ".metadata")
    if not meta.is_file():
        return None, None
    first = meta.read_text().splitlines()[0] if meta.read_text().strip() else ""
    name, _, size = first.rpartition("|")
    if size not in ("2", "4"):
        raise CorpusError(f"{meta}: first line should be '<tokenizer>|<2 or 4>', got {first!r}")
    return name, int(size)


def _tokenizer_entry(tokenizer: str | None, names: set, sizes: set, folder: Path) -> dict:
    if len(sizes) > 1:
        raise CorpusError(f"{folder}: .ds files disagree on the token size ({sorted(sizes)} bytes)")
    if tokenizer is not None:
        from midtrain.tokenize.tokenizer import load_tokenizer

        info, _ = load_tokenizer(tokenizer, add_eos=False)
        entry = info.manifest_entry()
        entry.update(add_eos=None, add_bos=None)  # whatever the datatrove run did; not recorded in .ds
        expected = 2 if entry["dtype"] == "uint16" else 4
        if sizes and sizes != {expected}:
            raise ConfigError(f"{folder}: .ds files hold {sizes.pop()}-byte tokens but {tokenizer} needs "
                              f"{entry['dtype']}; pass the tokenizer datatrove used")
        return entry
    size = sizes.pop()
    name = "|".join(sorted(n for n in names if n)) or "unknown"
    return {"fingerprint": f"datatrove:{name}", "name": name, "vocab_size": None, "bos_id": None, "eos_id": None,
            "dtype": "uint16" if size == 2 else "uint32", "add_eos": None, "add_bos": None}

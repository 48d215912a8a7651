"""The second code-language held-out set shares no package with any list the models train, tune or test on."""

from __future__ import annotations

from scripts.labeldata import code_sources, registry


def _package(origin: str) -> str:
    """``pypi:name==1.0`` -> ``pypi:name``, ``npm:@scope/name@1.0`` -> ``npm:@scope/name``, Debian as it is."""
    if origin.startswith("pypi:"):
        return origin.rsplit("==", 1)[0]
    return origin.rsplit("@", 1)[0] if origin.startswith("npm:") else origin


def test_fresh_held_out_packages_are_in_no_other_list():
    fresh = code_sources.FRESH_HELDOUT_SOURCES
    groups = {_package(s.origin) for s in fresh}
    assert len(fresh) == len(code_sources.LANGUAGES) == len({s.kind for s in fresh})
    others = [*code_sources.CODE_LANGUAGE_SOURCES, *registry.all_sources()]
    other_groups = {_package(s.origin) for s in others}
    assert not groups & other_groups
    assert not groups & set(code_sources.HELDOUT_GROUPS)
    assert not {s.name for s in fresh} & {s.name for s in others}

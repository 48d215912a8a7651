"""The second code-language held-out set shares no package with any list the models train, tune or test on."""

from __future__ import annotations

from scripts.labeldata import code_sources, registry


def test_fresh_held_out_packages_are_in_no_other_list():
    fresh = code_sources.FRESH_HELDOUT_SOURCES
    groups = {s.origin.rsplit("==", 1)[0].rsplit("@", 1)[0] if s.origin.startswith(("pypi:", "npm:")) else s.origin
              for s in fresh}
    assert len(fresh) == len(code_sources.LANGUAGES) == len({s.kind for s in fresh})
    others = [*code_sources.CODE_LANGUAGE_SOURCES, *registry.all_sources()]
    other_origins = {s.origin for s in others}
    other_groups = {o.rsplit("==", 1)[0] if o.startswith("pypi:") else (o.rsplit("@", 1)[0] if o.startswith("npm:")
                    else o) for o in other_origins}
    assert not groups & other_groups
    assert not groups & set(code_sources.HELDOUT_GROUPS)
    assert not {s.name for s in fresh} & {s.name for s in others}

"""The text builders of the other-script sources: troff reduced to running text, fortune cookies joined."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scripts.labeldata.script_sources import LATIN_SOURCES, SOURCES, man_to_text
from scripts.labeldata.source import joined_cookies

PAGE = r""".\" -*- coding: UTF-8 -*-
.de URL
\\$2 <\\$1>\\$3
..
.TH DIFF 1 "2021" "diffutils 3.8"
.SH ΟΝΟΜΑ
diff \- σύγκριση αρχείων
.SH "ΣΦΑΙΡΙΚΗ ΕΙΚΟΝΑ"
\fBdiff\fP [\fIΕΠΙΛΟΓΗ\fP]... \fIΑΡΧΕΙΑ\fP
.PP
Σύγκριση αρχείων γραμμή προς γραμμή.
.TP
\fB\-q\fP, \fB\-\-brief\fP
.B only differences
.ig
ignored text
..
"""


def test_man_to_text_keeps_running_text_and_drops_requests_and_definitions():
    assert man_to_text(PAGE).split("\n") == [
        "ΟΝΟΜΑ", "diff - σύγκριση αρχείων", "ΣΦΑΙΡΙΚΗ ΕΙΚΟΝΑ", "diff [ΕΠΙΛΟΓΗ]... ΑΡΧΕΙΑ", "",
        "Σύγκριση αρχείων γραμμή προς γραμμή.", "", "-q, --brief", "only differences"]


@given(st.lists(st.text(st.characters(blacklist_characters="\n"), min_size=1, max_size=400), max_size=40),
       st.integers(1, 2000))
def test_joined_cookies_keep_every_cookie_in_order_in_pieces_of_at_least_size(cookies, size):
    pieces = joined_cookies("f", cookies, size)
    parts = [text.split("\n\n") for _, text, _ in pieces]  # cookies hold no newline here, so this splits them back
    assert [c for part in parts for c in part] == cookies
    assert [pid for pid, _, _ in pieces] == [f"f#{k}" for k in range(len(pieces))]
    assert all(group == "f" for _, _, group in pieces)
    for k, part in enumerate(parts):
        assert sum(map(len, part[:-1])) < size  # a piece closes at the first cookie that reaches `size`
        assert k == len(parts) - 1 or sum(map(len, part)) >= size  # every piece but the last reaches it


def test_the_sources_are_evaluation_only_and_named_once():
    from scripts.labeldata import registry

    names = [s.name for s in SOURCES + LATIN_SOURCES]
    assert len(names) == len(set(names)) == 14
    assert not set(names) & {s.name for s in registry.all_sources() + registry.experiment_sources()}
    assert all(s.domain == "bad" and s.origin == f"debian:{s.name}" for s in SOURCES + LATIN_SOURCES)

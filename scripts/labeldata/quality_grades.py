"""Graded quality labels (0-5) made from real documents by known damage, deterministic by seed.

A model-based quality filter that learns "edited prose against web text" learns the *type* of a
document as much as its quality (it ranks every math or code file low). Graded labels inside one
type avoid that: the same real document, intact and with damage of known severity, so the only
thing that differs between grades is quality. Grades, from the intact original down:

5  the original (a human-edited source)
4  truncated: cut at a random point in its second half, mid-sentence
3  boilerplate: navigation, cookie and footer lines from real page templates mixed in (a third of the lines)
2  duplicated lines: a third of the lines repeated (scraped pages, templated spam)
1  shuffled: lines in random order (coherence gone, vocabulary intact)
0  salad / keyword stuffing: the document's own words in random order, or a few of its words repeated

Each function takes the text and a ``numpy.random.Generator`` and never invents a word: damage
only moves, repeats or cuts the document's own text or mixes in real boilerplate lines.
"""

from __future__ import annotations

import re

import numpy as np

BOILERPLATE = (
    # Real strings of this kind appear on most web pages; these are the commonest forms (cookie
    # banners, navigation, footers, share widgets), as in FineWeb's and Dolma's boilerplate lists.
    "Home", "About Us", "Contact", "Privacy Policy", "Terms of Use", "Cookie Policy", "Sitemap",
    "Skip to main content", "Log in", "Sign up", "Subscribe to our newsletter", "Share this:",
    "Click here to read more", "Read more »", "« Previous", "Next »", "All rights reserved.",
    "We use cookies to improve your experience. By continuing to browse you agree to our use of cookies.",
    "Accept all cookies", "Follow us on Facebook", "Tweet", "Pin it", "Related posts", "Leave a comment",
    "Posted in Uncategorized", "Tags:", "Search for:", "Powered by WordPress", "Back to top",
    "Copyright © 2019", "Menu", "Categories", "Archives", "Recent Posts", "Advertisement",
)


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n")]


def truncate(text: str, rng: np.random.Generator) -> str:
    cut = int(len(text) * rng.uniform(0.45, 0.8))
    return text[:cut]


def inject_boilerplate(text: str, rng: np.random.Generator) -> str:
    lines = _lines(text)
    out: list[str] = []
    for line in lines:
        out.append(line)
        if rng.random() < 0.5:
            out.extend(rng.choice(BOILERPLATE, size=int(rng.integers(1, 4))).tolist())
    head = rng.choice(BOILERPLATE, size=6).tolist()
    tail = rng.choice(BOILERPLATE, size=6).tolist()
    return "\n".join(head + out + tail)


def duplicate_lines(text: str, rng: np.random.Generator) -> str:
    lines = [line for line in _lines(text) if line.strip()]
    if not lines:
        return text
    picks = rng.choice(len(lines), size=max(1, len(lines) // 3), replace=True)
    out = list(lines)
    for i in sorted(picks.tolist(), reverse=True):
        pos = int(rng.integers(0, len(out) + 1))
        out.insert(pos, lines[i])
    return "\n".join(out)


def shuffle_lines(text: str, rng: np.random.Generator) -> str:
    # Sentences for prose (lines are often whole paragraphs), lines for code and math.
    parts = re.split(r"(?<=[.!?])\s+", text) if text.count("\n") < 5 else _lines(text)
    order = rng.permutation(len(parts))
    return ("\n" if text.count("\n") >= 5 else " ").join(parts[i] for i in order)


def word_salad(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    if not words:
        return text
    if rng.random() < 0.5:  # keyword stuffing: a few of the document's words, over and over
        vocab = sorted(set(w for w in words if len(w) > 3)) or words
        keys = rng.choice(vocab, size=min(5, len(vocab)), replace=False).tolist()
        picked = [keys[i] for i in rng.integers(0, len(keys), size=len(words) // 2)]
    else:
        picked = [words[i] for i in rng.permutation(len(words))]
    lines, step = [], int(rng.integers(8, 16))
    for i in range(0, len(picked), step):
        lines.append(" ".join(picked[i:i + step]))
    return "\n".join(lines)


DAMAGE = {4: truncate, 3: inject_boilerplate, 2: duplicate_lines, 1: shuffle_lines, 0: word_salad}


def graded_versions(text: str, seed: int) -> list[tuple[int, str]]:
    """``[(5, text), (4, truncated), ..., (0, salad)]`` for one document, reproducible by ``seed``."""
    rng = np.random.default_rng(seed)
    return [(5, text)] + [(grade, damage(text, rng)) for grade, damage in sorted(DAMAGE.items(), reverse=True)]

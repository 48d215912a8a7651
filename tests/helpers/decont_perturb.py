"""The forms an evaluation item takes when it is copied into web text (decontamination tests and
``benchmarks/bench_decont_perturb.py``).

(No tests here; the name keeps it beside the tests it serves.)
"""

from __future__ import annotations

import random
import re

FORMS = ("verbatim", "rewrapped", "buried", "markup", "numbers")
"""Issue 19's perturbations: as is, 8 words a line, inside a 50 KB document, re-typeset in
Markdown/LaTeX, every number changed."""

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def rewrap(text: str, words_per_line: int = 8) -> str:
    words = text.split()
    return "\n".join(" ".join(words[i:i + words_per_line]) for i in range(0, len(words), words_per_line))


def markup(text: str, code: bool) -> str:
    """The item as a Markdown/LaTeX post: a heading, bold lead, numbers in ``$..$``, fractions as
    ``\\frac``, money as ``\\$``; a code prompt goes in a fenced block under a bold title."""
    if code:
        return "### Task\n\n**Complete the function:**\n\n```python\n" + text + "\n```\n"
    text = re.sub(r"\b(\d+)/(\d+)\b", r"$\\frac{\1}{\2}$", text)
    text = re.sub(r"\$(\d[\d,.]*)", r"\\$\1", text)
    text = re.sub(r"(?<![\\{$\d])\b(\d+(?:\.\d+)?)%", r"$\1\\%$", text)
    head, _, rest = text.partition(". ")
    return f"## Problem\n\n**{head}.** {rest}\n\n*Answer:* \\( x \\)\n"


def change_numbers(text: str, rng: random.Random) -> str:
    """Every number replaced by another of about the same size (the same template, new values)."""
    def other(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group())
        new = str(int(digits) + rng.randint(1, 97))
        return new if "." not in m.group() else new[:-1] + "." + new[-1:]
    return _NUMBER.sub(other, text)


def plant(form: str, item: str, hosts: list[str], rng: random.Random, code: bool = False) -> str:
    """A document holding ``item`` in ``form``, built around real text from ``hosts``."""
    if form == "verbatim":
        body = item
    elif form == "rewrapped":
        body = rewrap(item)
    elif form == "markup":
        body = markup(item, code)
    elif form == "numbers":
        body = change_numbers(item, rng)
    elif form == "buried":
        text = ""
        while len(text.encode()) < 50_000:
            text += rng.choice(hosts) + "\n\n"
        cut = len(text) // 2
        return text[:cut] + "\n\n" + item + "\n\n" + text[cut:]
    else:
        raise ValueError(f"unknown form {form!r}; one of {FORMS}")
    host = rng.choice(hosts)
    cut = len(host) // 2
    return host[:cut] + "\n\n" + body + "\n\n" + host[cut:]

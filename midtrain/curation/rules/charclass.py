"""Per-code-point character classes, as one flag table the numba kernels index by code point, and the
named code points the kernels compare against.

The rules need Python's own notion of whitespace and letters (``str.isspace``, ``str.isalpha``,
``str.isalnum``), Unicode punctuation (category ``P*``: what spaCy calls ``is_punct``), and the
punctuation sets datatrove's filters use (``PUNCTUATION_SET`` for Gopher's "symbol words",
``TERMINAL_PUNCTUATION`` for FineWeb's line endings). Computing them once per code point turns every
per-character test in the hot loops into one array lookup. ``WS`` is the one whitespace definition of
every kernel: it is ``str.isspace``, which is also what ``str.strip()`` and ``str.split()`` use.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np

from midtrain.curation.rules.wordlists import AFFIX_CHARS

WS = np.uint32(1 << 0)  # str.isspace
ALPHA = np.uint32(1 << 1)  # str.isalpha
SYMBOL = np.uint32(1 << 2)  # datatrove PUNCTUATION_SET (Gopher's "symbol" characters)
TERMINAL = np.uint32(1 << 3)  # datatrove TERMINAL_PUNCTUATION (FineWeb line endings, sentence ends)
UPUNCT = np.uint32(1 << 4)  # Unicode category P* (spaCy's is_punct)
LOWER = np.uint32(1 << 5)  # str.islower
UPPER = np.uint32(1 << 6)  # str.isupper
DIGIT = np.uint32(1 << 7)  # ASCII 0-9 (the tokenizer's number rules are ASCII-only)
ALNUM = np.uint32(1 << 8)  # str.isalnum
AFFIX = np.uint32(1 << 9)  # split off the start or end of a word (wordlists.AFFIX_CHARS)
ICON = np.uint32(1 << 10)  # other symbols (category So): split off anywhere
LINEBREAK = np.uint32(1 << 11)  # str.splitlines() boundaries
CURRENCY = np.uint32(1 << 12)  # currency symbols (category Sc): split off a word's start

# Code points the kernels test one by one (numba folds these module constants into the code).
LINE_FEED = ord("\n")
CARRIAGE_RETURN = ord("\r")
SPACE = ord(" ")
EXCLAMATION_MARK = ord("!")
QUOTATION_MARK = ord('"')
NUMBER_SIGN = ord("#")
PERCENT_SIGN = ord("%")
APOSTROPHE = ord("'")
RIGHT_SINGLE_QUOTE = 0x2019  # "’", the typographic apostrophe
ASTERISK = ord("*")
PLUS_SIGN = ord("+")
COMMA = ord(",")
HYPHEN_MINUS = ord("-")
FULL_STOP = ord(".")
SOLIDUS = ord("/")
COLON = ord(":")
LESS_THAN = ord("<")
EQUALS_SIGN = ord("=")
GREATER_THAN = ord(">")
QUESTION_MARK = ord("?")
COMMERCIAL_AT = ord("@")
LEFT_SQUARE_BRACKET = ord("[")
RIGHT_SQUARE_BRACKET = ord("]")
CIRCUMFLEX = ord("^")
LOW_LINE = ord("_")
LEFT_CURLY_BRACKET = ord("{")
TILDE = ord("~")
SECTION_SIGN = 0xA7  # "§"
SUPERSCRIPT_TWO = 0xB2  # "²"
EN_DASH = 0x2013  # "–"
EM_DASH = 0x2014  # "—"
BULLET = 0x2022  # "•"
HORIZONTAL_ELLIPSIS = 0x2026  # "…"
DIGIT_ZERO = ord("0")
DIGIT_NINE = ord("9")
CAPITAL_A = ord("A")
CAPITAL_Z = ord("Z")
CAPITAL_S = ord("S")
SMALL_N = ord("n")
SMALL_S = ord("s")
SMALL_T = ord("t")
ASCII_CASE_BIT = 0x20  # "A" | 0x20 == "a"
ASCII_END = 0x80  # code points below are ASCII

# What str.splitlines() splits on.
_LINEBREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
N_CODEPOINTS = 0x110000


@lru_cache(maxsize=1)
def char_flags() -> np.ndarray:
    """The uint32 flag table over all code points (built once per process, about 1 s)."""
    from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

    flags = np.zeros(N_CODEPOINTS, dtype=np.uint32)
    for cp in range(N_CODEPOINTS):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] in "CZ" and cp > 0x7F and not ch.isspace():
            continue  # unassigned, control, format, private use: no flag applies
        f = 0
        if ch.isspace():
            f |= WS
        if ch.isalpha():
            f |= ALPHA
        if ch.isalnum():
            f |= ALNUM
        if ch.islower():
            f |= LOWER
        if ch.isupper():
            f |= UPPER
        if cat[0] == "P":
            f |= UPUNCT
        if cat == "So":
            f |= ICON
        if cat == "Sc":
            f |= CURRENCY
        flags[cp] = f
    for ch in PUNCTUATION_SET:
        flags[ord(ch)] |= SYMBOL
    for ch in TERMINAL_PUNCTUATION:
        flags[ord(ch)] |= TERMINAL
    for ch in AFFIX_CHARS:
        flags[ord(ch)] |= AFFIX
    for ch in _LINEBREAKS:
        flags[ord(ch)] |= LINEBREAK
    flags[DIGIT_ZERO:DIGIT_NINE + 1] |= DIGIT
    return flags


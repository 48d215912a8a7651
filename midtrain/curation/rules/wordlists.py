"""The word tables of the English word splitter and of Gopher's stop-word count: plain strings only.

datatrove's Gopher and FineWeb filters count words from spaCy's English tokenizer
(``spacy.blank("en")``); these tables are the parts of its rules that are lists rather than logic,
written here from its documented behaviour. words.py turns them into hash tables for the kernel; the
tests' reference splitter reads them as they are.
"""

from __future__ import annotations

# Words that keep their final period (abbreviations), as spaCy's English tokenizer keeps them.
ABBREVIATIONS: list[str] = (
    "Mr. Mrs. Ms. Dr. Prof. St. Jr. Rev. Gen. Gov. Sen. Rep. Adm. Bros. Messrs. Mt. Inc. Ltd. Co. co. "
    "Corp. vs. v.s. e.g. E.g. E.G. i.e. I.e. I.E. a.m. p.m. Ph.D. D.C. "
    "Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec. 's 'S ’s ’S 'd 'em and/or ''"
).split() + [c + "." for c in "abcdefghijklmnopqrstuvwxyzäöü"]
# Emoticons are kept whole too, so "):" at the end of "(see f(x)):" is one word, as in spaCy.
EMOTICONS: list[str] = (":) :-) :( :-( ;) ;-) (: ): :] [: :-] :* =) (= 8) :/ :p :P :D :-P :-D :'( <3 ^_^ -_- o.O "
                        "O.o xD XD").split()
# Abbreviations and emoticons: chunks kept whole ("special cases" in spaCy's terms).
SPECIALS: list[str] = ABBREVIATIONS + EMOTICONS
# Punctuation splitting can cut a special into 2-3 words; runs of at most this many characters that
# spell one are joined again (":-)" inside "(:-)", "''").
MERGED_SPECIAL_MAX_CHARS = 4
# Words after which 'm 're 've 'll 'd are split off ("they'll" -> "they", "'ll").
PRONOUNS: list[str] = ("i you he she it we they this who what that there here where when why how could should "
                       "would might must").split()
PRONOUN_SUFFIXES: list[str] = ["m", "re", "ve", "ll", "d"]  # the letters after the apostrophe
# Fused forms written without an apostrophe, split in two: word -> length of the first part.
_AUX = "do does did ca wo is are was were has have had could should would must might need ai".split()
FUSED: dict[str, int] = {
    **{a + "nt": len(a) for a in _AUX},
    "cannot": 3, "gonna": 3, "gotta": 3,
    "im": 1, "ive": 1, "id": 1, "youre": 3, "theyre": 4, "youve": 3, "weve": 2, "theyve": 4, "youd": 3,
    "theyd": 4, "hes": 2, "shes": 3, "whats": 4, "thats": 4, "youll": 3, "theyll": 4, "itll": 2, "hed": 2,
    "wed": 2}
# Unit suffixes split from a number ("5km" -> "5", "km").
UNITS: list[str] = "km m cm mm nm kg g mg t lb lbs oz ml mph kmh kb KB mb MB gb GB tb TB K M G T am pm".split()
# Characters the splitter detaches from a word's start or end (brackets, quotes and clause
# punctuation). "." "-" "/" and "%" follow context rules in words.py instead.
AFFIX_CHARS = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪\"'”“`‘´’‚„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"

# Gopher's stop words (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from
# Training Gopher", appendix A.1.1): a document needs at least two of them.
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")

"""Corpus-to-corpus stages: a text corpus in, a text corpus out (dedup, decontaminate).

A stage reads a finished text corpus and writes a new one next to it: every input shard is
rewritten by a keep-mask (kept rows to ``data/``, removed rows to ``rejected/`` with step and
reason), the input's rejected shards are carried over, and the manifest is written last. The
shared pieces live here: :mod:`.stage` (what a stage's settings and report look like),
:mod:`.step` (the datatrove step base and how a stage's steps run on an executor),
:mod:`.rewrite` (rewriting a corpus shard by shard) and :mod:`.shingles` (word n-gram hashing).
Each stage is a subpackage that imports only these. Importing this package loads nothing heavy.
"""

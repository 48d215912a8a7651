"""Helpers shared by several test files: real-text corpora for dedup/decontamination, token
corpora and batch digests for the loader, and the pure-Python twins of the rule kernels."""

"""Offline tooling run from the repository root: training the shipped label models, and the labelled
data they learn from (``labeldata``). Not part of the installed ``midtrain`` package."""

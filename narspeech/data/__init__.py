"""Kaldi-style data directories, corpus importers, synthetic corpus, batching."""

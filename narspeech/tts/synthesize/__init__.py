"""Batch synthesis, in three steps: the text frontend (`frontend`), batch inference (`inference`: tokens →
mels → waveforms) and the output-dir writer (`writer`: files a later stage can trust)."""

"""Shared neural layers: attention, FFT blocks, positional encodings."""

"""Shared neural layers: attention returning weights, positional encodings, transformer/FFT
blocks, conv prenets/postnets and variance predictors."""

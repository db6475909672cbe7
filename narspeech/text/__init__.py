"""Tokenizers (phonemes, characters, words) and token lists."""

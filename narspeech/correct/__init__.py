"""ASR error correction (FastCorrect, AR baseline)."""

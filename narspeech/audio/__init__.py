"""Audio I/O, features (log-mel, F0, energy), statistics, vocoding."""

"""Scoring: WER/CER, MCD, F0 RMSE, timing/RTF."""

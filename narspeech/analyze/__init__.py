"""Studies across tasks: CoMMA's target-token dependency (mix-attention masked prediction, R(p)) and the AR-vs-NAR trade-off."""

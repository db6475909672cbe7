"""Speech recognition: Mask-CTC (non-autoregressive; CTC + conditional masked LM decoder) and a
joint CTC/attention autoregressive baseline, on a Conformer encoder. See docs/interfaces.md ("ASR")."""

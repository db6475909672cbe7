"""Speech recognition (Mask-CTC, AR baseline)."""

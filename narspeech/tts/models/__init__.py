"""The TTS acoustic models: FastSpeech 2, the AR teachers (Transformer-TTS, Tacotron 2), their losses and stats; `build` makes and loads them."""

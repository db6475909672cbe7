"""Text-to-speech: AR teachers and FastSpeech 2 (`models/`), durations (`durations/`), training, synthesis.

Synthesis is three modules: the text frontend (`frontend`), batch inference (`inference`) and the
output-dir writer (`writer`); `bench` times it. A trained model loads with
:func:`narspeech.tts.models.build.load_tts_model`.
"""

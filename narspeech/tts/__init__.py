"""Text-to-speech: AR teachers and FastSpeech 2 (`models/`), durations (`durations/`), training data and
training (`dataset`, `train`), batch synthesis (`synthesize/`), its speed benchmark (`bench`), figures (`plots`).
A trained model loads with :func:`narspeech.tts.models.build.load_tts_model`."""

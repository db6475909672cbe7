"""Text-to-speech: AR teacher, duration extraction, FastSpeech/FastSpeech 2, synthesis."""

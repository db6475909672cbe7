"""What runs models to judge models: TTS intelligibility (an ASR), synthesis evaluation, copy-synthesis scores,
headline tables, degenerate baselines. The pure scorers they use are in :mod:`narspeech.metrics`."""

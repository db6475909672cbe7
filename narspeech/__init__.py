"""narspeech: non-autoregressive speech toolkit."""
__version__ = "0.1.0"

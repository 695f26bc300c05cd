"""avexplain: the library behind the audio-visual explanations pipeline."""

__version__ = "0.1.0"

"""voicecount: count the keywords a speaker says, live and offline."""

__version__ = "0.1.0"

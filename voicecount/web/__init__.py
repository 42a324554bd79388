"""The browser view of a live run (``voicecount listen --web``): see server.py.

The defaults live here, not in server.py, so the command line can name them without
importing the server library.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

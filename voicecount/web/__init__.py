"""The browser view of a live run (``voicecount listen --web``): see server.py."""

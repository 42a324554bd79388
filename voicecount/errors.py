"""Error types whose messages say what went wrong and how to fix it."""

from __future__ import annotations


class VoicecountError(Exception):
    """A problem the user can fix; the CLI prints it as one line, never a traceback."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem} — {fix}")
        self.problem = problem
        self.fix = fix

    def __reduce__(self):
        # Rebuilt from both parts when it crosses a process boundary (a batch worker's error).
        return (type(self), (self.problem, self.fix))


class AudioError(VoicecountError):
    """Audio that cannot be read or a device that cannot be opened."""


class ModelError(VoicecountError):
    """A model that is missing, incomplete or unknown."""


class ConfigError(VoicecountError):
    """Bad settings: unknown engine, empty keyword, malformed file."""

"""Where voicecount keeps its files; nothing is created at import time.

``VOICECOUNT_HOME`` overrides every location (tests point it at a temp dir).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO


def _home() -> Path | None:
    value = os.environ.get("VOICECOUNT_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Sessions, assembled and downloaded models."""
    home = _home()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir("voicecount", appauthor=False))


def config_dir() -> Path:
    home = _home()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir("voicecount", appauthor=False))


def models_dir() -> Path:
    """Where `voicecount models download` puts models and where Vosk models are looked for."""
    return data_dir() / "models"


def sample_recording() -> Path:
    """The short talk shipped inside the package (it says "AI" four times): count --sample, the CI smoke test."""
    return Path(__file__).resolve().parent / "assets" / "sample-ai-talk.wav"


def private_fd(path: Path | str, flags: int) -> int:
    """``os.open`` of a file only the user may read (0600 where the system has modes), in binary
    mode: on Windows a descriptor opened without O_BINARY turns each "\\n" into "\\r\\n" once more
    below Python's own translation, and TOML readers refuse the "\\r\\r\\n" that makes."""
    return os.open(path, flags | getattr(os, "O_BINARY", 0), 0o600)


def open_private(path: Path | str, append: bool = False) -> TextIO:
    """A UTF-8 text file to write, user-only (see ``private_fd``), with "\\n" line ends on every system."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(private_fd(path, flags), "a" if append else "w", encoding="utf-8", newline="")

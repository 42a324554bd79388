"""Where voicecount keeps its files; nothing is created at import time.

``VOICECOUNT_HOME`` overrides every location (tests point it at a temp dir).
"""

from __future__ import annotations

import os
from pathlib import Path


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

"""Speech engines behind one protocol, created lazily by name so --help stays instant."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Engine, EngineEvent, Final, Partial

ENGINES = ("whisper", "vosk")
DEFAULT_ENGINE = "whisper"


def create_engine(name: str, model: str | None = None, *, recording: bool = False, **options) -> Engine:
    """Load the named engine with a model spec (a catalogue name or a path).

    ``recording``: the file is there whole, nobody waits for partial results — engines
    that stream by re-decoding (Whisper) decode each utterance once instead.
    """
    if name == "whisper":
        from .whisper import WhisperEngine

        return WhisperEngine.load(model, recording=recording, **options)
    if name == "vosk":
        from .vosk import VoskEngine

        return VoskEngine.load(model, **options)
    raise ConfigError(f"unknown engine {name!r}", f"choose one of: {', '.join(ENGINES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "EngineEvent", "Final", "Partial", "create_engine"]

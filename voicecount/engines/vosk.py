"""Vosk (Kaldi) streaming engine: low latency, partials on every chunk, word times.

Runs in the pipeline worker thread. Vosk's own utterance end-pointing decides
when a partial becomes final.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..matcher import Keyword, Word
from ..models import load_failed_fix, native_path, resolve_vosk_model
from .base import EngineEvent, Final, Partial


def _words(items: list[dict], fallback_text: str, at: float) -> tuple[Word, ...]:
    if items:
        return tuple(Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0))) for w in items)
    # Without word times (old Vosk builds give none for partials) the words sit at "now".
    return tuple(Word(t, at, at) for t in fallback_text.split())


@dataclass
class VoskEngine:
    model: Any
    model_name: str
    name: str = "vosk"
    _last_partial: str = ""
    _audio: float = 0.0

    @classmethod
    def load(cls, model: str | None = None, threads: int = 0, **_: Any) -> VoskEngine:
        path = resolve_vosk_model(model)
        import vosk

        vosk.SetLogLevel(-2)  # -1 still lets Kaldi's warnings through onto the user's terminal
        native = native_path(path)
        try:
            m = vosk.Model(native)
            engine = cls(m, Path(path).resolve().name)  # the graph is read here: a half copy fails now
        except Exception as e:  # Vosk raises bare Exceptions ("Failed to create a model/recognizer")
            from ..errors import ModelError

            raise ModelError(
                f"Vosk could not load the model in {path} ({e})",
                load_failed_fix(
                    native, "the folder is incomplete or not a Vosk model; unpack the downloaded zip again"
                ),
            ) from None
        return engine

    def __post_init__(self) -> None:
        import vosk

        self.recognizer = vosk.KaldiRecognizer(self.model, SAMPLE_RATE)
        self.recognizer.SetWords(True)
        if hasattr(self.recognizer, "SetPartialWords"):
            self.recognizer.SetPartialWords(True)

    def fresh(self) -> VoskEngine:
        """A new stream on the same loaded model (no reload)."""
        return VoskEngine(self.model, self.model_name)

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        """Vosk cannot be biased without restricting it to a fixed grammar: nothing to do."""

    def accept(self, chunk: np.ndarray) -> list[EngineEvent]:
        self._audio += chunk.size / SAMPLE_RATE
        if self.recognizer.AcceptWaveform(chunk.astype(np.int16, copy=False).tobytes()):
            self._last_partial = ""
            return self._final(self.recognizer.Result())
        partial = json.loads(self.recognizer.PartialResult())
        text = partial.get("partial", "")
        if text == self._last_partial:
            return []  # identical consecutive partials say nothing new
        self._last_partial = text
        return [Partial(_words(partial.get("partial_result", []), text, self._audio))]

    def _final(self, raw: str) -> list[EngineEvent]:
        res = json.loads(raw)
        text = res.get("text", "")
        if not text.strip():
            return []
        return [Final(_words(res.get("result", []), text, self._audio))]

    def finish(self) -> list[EngineEvent]:
        self._last_partial = ""
        return self._final(self.recognizer.FinalResult())

"""A scripted engine and sources that drive the real Pipeline with no model and no audio device.

``ScriptedEngine`` implements the Engine protocol (voicecount/engines/base.py): it
replays the Partial/Final events a test queues with ``say()`` (or a per-chunk script),
so the pipeline's plumbing — commands, retraction, source switch, fan-out — is tested
in milliseconds. It stands in for no real-model test: those run the bundled models.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence

import numpy as np

from voicecount.audio import CHUNK
from voicecount.engines.base import EngineEvent, Final, Partial
from voicecount.matcher import Keyword, Word

SILENCE = np.zeros(CHUNK, np.int16)


def words(text: str, start: float = 0.0, step: float = 0.3) -> tuple[Word, ...]:
    """Words of ``text`` one after another from ``start`` (seconds), each ``step`` long."""
    return tuple(Word(w, start + i * step, start + i * step + step * 0.8) for i, w in enumerate(text.split()))


def partial(text: str, start: float = 0.0) -> Partial:
    return Partial(words(text, start))


def final(text: str, start: float = 0.0) -> Final:
    return Final(words(text, start))


class ScriptedEngine:
    """Replays queued engine events: each ``accept`` returns what was queued since the last call.

    ``script`` (optional) gives the events for chunk 0, 1, 2… as well; ``fail`` makes the
    next ``accept`` raise it (an engine crash).
    """

    name = "scripted"
    model_name = "script"

    def __init__(self, script: Sequence[Sequence[EngineEvent]] = ()) -> None:
        self.script = list(script)
        self.keywords: tuple[Keyword, ...] = ()
        self.chunks = 0
        self._queued: queue.Queue[EngineEvent | Exception] = queue.Queue()

    def say(self, *events: EngineEvent | Exception) -> None:
        for ev in events:
            self._queued.put(ev)

    def _drain(self) -> list[EngineEvent]:
        out: list[EngineEvent] = []
        while True:
            try:
                ev = self._queued.get_nowait()
            except queue.Empty:
                return out
            if isinstance(ev, Exception):
                raise ev
            out.append(ev)

    def accept(self, chunk: np.ndarray) -> list[EngineEvent]:
        i, self.chunks = self.chunks, self.chunks + 1
        scripted = list(self.script[i]) if i < len(self.script) else []
        return scripted + self._drain()

    def finish(self) -> list[EngineEvent]:
        return self._drain()

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        self.keywords = tuple(keywords)

    def fresh(self) -> ScriptedEngine:
        return ScriptedEngine(self.script)


class GatedSource:
    """A source that yields one chunk of silence per ``feed()`` and ends on ``end()`` or ``stop()``."""

    live = False
    dropped_seconds = 0.0

    def __init__(self, description: str = "gated test source") -> None:
        self.description = description
        self._gate: queue.Queue[np.ndarray | None] = queue.Queue()
        self.released = False  # chunks() ran to its end: a real device would be closed now

    def feed(self, n: int = 1) -> None:
        for _ in range(n):
            self._gate.put(SILENCE)

    def end(self) -> None:
        self._gate.put(None)

    stop = end

    def chunks(self):
        try:
            while (chunk := self._gate.get(timeout=30)) is not None:
                yield chunk
        finally:
            self.released = True


class FastSource:
    """``n`` chunks of silence as fast as the pipeline takes them (like a file at full speed)."""

    live = False
    dropped_seconds = 0.0
    description = "fast test source"

    def __init__(self, n: int) -> None:
        self.n = n
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def chunks(self):
        for _ in range(self.n):
            if self._stopped:
                return
            yield SILENCE


def next_event(view, match: Callable[[object], bool], timeout: float = 5.0, seen: list | None = None):
    """The first event on ``view`` for which ``match`` holds (others are kept in ``seen``)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ev = view.get(timeout=left)
        if ev is None:
            break
        if match(ev):
            return ev
        if seen is not None:
            seen.append(ev)
    raise AssertionError(f"no matching event within {timeout} s (seen: {seen})")

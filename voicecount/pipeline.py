"""The live path: source → engine → matcher, on two threads joined by bounded queues.

A reader thread pulls chunks from the audio source into ``chunk_q`` (bounded:
a file source waits when it is full, a microphone drops in its own callback
queue and counts it). The worker thread is the only one that touches the
engine and the counter; it reports everything as ``PipelineEvent``s on
``events``, which the view (CLI or overlay) drains on its own thread. Commands
(pause, undo, reset, stop) reach the worker through ``commands``.

The live clock: a hit's ``emitted_at`` is how much audio a live microphone would
have delivered when the hit was counted — audio consumed plus the seconds spent
decoding since. With a real-time source that is wall-clock time; with a file
read at full speed it simulates the same thing, so benchmarks measure latency
including compute without waiting in real time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .audio import SAMPLE_RATE, AudioSource, InputNotice
from .engines.base import Engine, Final, Partial
from .errors import VoicecountError
from .matcher import Hit, HitChange, Keyword, KeywordCounter, Word

if TYPE_CHECKING:
    from .session import SessionWriter

_END = object()


@dataclass(frozen=True)
class Progress:
    audio_seconds: float
    clock: float


@dataclass(frozen=True)
class Caption:
    """The latest partial text (replaces the previous caption)."""

    text: str


@dataclass(frozen=True)
class FinalText:
    words: tuple[Word, ...]
    text: str


@dataclass(frozen=True)
class CountChange:
    change: HitChange
    counts: dict[str, int]


@dataclass(frozen=True)
class Status:
    state: str  # "listening", "paused", "dropped", "silent", "lost" (the microphone went away), "keywords"
    detail: str = ""


@dataclass(frozen=True)
class Failed:
    error: Exception


@dataclass
class CountResult:
    counts: dict[str, int]
    hits: list[Hit]
    duration: float
    engine: str
    model: str
    transcript: list[FinalText] = field(default_factory=list)
    dropped_seconds: float = 0.0
    session_id: str = ""

    def as_json(self) -> dict:
        """The documented ``count --json`` contract (retracted hits are left out)."""
        return {
            "counts": self.counts,
            "hits": [h.as_dict() for h in self.hits if not h.retracted],
            "duration": round(self.duration, 2),
            "engine": self.engine,
            "model": self.model,
        }


@dataclass(frozen=True)
class Finished:
    result: CountResult


PipelineEvent = Progress | Caption | FinalText | CountChange | Status | Failed | Finished


SILENCE_CHECK = 3.0  # seconds of pure digital zeros from a microphone that mean "no permission"
DROP_CLEAR = 5.0  # seconds without new drops before the "dropped" status clears
# While audio keeps being dropped, the growing total is reported at most once per this many
# seconds of audio (every chunk would be ten terminal lines a second).
DROP_REPORT = 1.0


class _Health:
    """Watches the input on the worker thread: audio dropped, or a microphone that only gives zeros."""

    def __init__(self, pipeline: Pipeline, live: bool) -> None:
        self.pipeline = pipeline
        self.live = live
        self.heard = not live
        self.warned_silent = False
        self.dropped = 0.0
        self.dropped_at = -1.0
        self.reported_at = -DROP_REPORT

    def update(self, chunk, audio: float, emit: Callable, paused: bool) -> None:
        back = Status("paused" if paused else "listening")
        if not self.heard:
            if chunk.any():
                self.heard = True
                if self.warned_silent:
                    emit(back)
            elif audio >= SILENCE_CHECK and not self.warned_silent:
                self.warned_silent = True
                emit(
                    Status(
                        "silent",
                        "the microphone gives only silence: check it is not muted; on macOS allow "
                        "Terminal/Python in System Settings → Privacy → Microphone",
                    )
                )
        dropped = self.pipeline.dropped_seconds
        if dropped > self.dropped:
            self.dropped = dropped
            self.dropped_at = audio
            # Also true for the first drop, and for one after the status cleared (DROP_CLEAR > DROP_REPORT).
            if audio - self.reported_at >= DROP_REPORT:
                self.reported_at = audio
                emit(Status("dropped", f"{dropped:.1f} s of audio dropped: the engine is slower than speech"))
        elif self.dropped_at >= 0 and audio - self.dropped_at > DROP_CLEAR:
            self.dropped_at = -1.0
            emit(back)


class Pipeline:
    """Runs one source through one engine; start() returns at once, events() yields until the end."""

    def __init__(
        self,
        source: AudioSource,
        engine: Engine,
        keywords: Sequence[Keyword],
        queue_seconds: float = 5.0,
        keep_transcript: bool = True,
        session: SessionWriter | None = None,
    ) -> None:
        self.source = source
        self.engine = engine
        self.counter = KeywordCounter(list(keywords))
        engine.set_keywords(self.counter.keywords)
        self.chunk_q: queue.Queue[object] = queue.Queue(maxsize=max(1, int(queue_seconds * 10)))
        self.events: queue.Queue[PipelineEvent] = queue.Queue()
        self.commands: queue.Queue[tuple] = queue.Queue()
        self.keep_transcript = keep_transcript
        self.session = session
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_sources: queue.Queue[AudioSource] = queue.Queue()
        self._dropped_before = 0.0  # seconds dropped by sources switched away from

    # ------------------------------------------------------------------ control (any thread)
    def start(self) -> Pipeline:
        for target, name in ((self._read, "voicecount-reader"), (self._work, "voicecount-worker")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Ask both threads to end; the worker still finalises what it has and sends Finished."""
        self._stop.set()
        self.source.stop()

    def switch_source(self, source: AudioSource) -> None:
        """Carry on from another source (a different microphone); counts and session go on."""
        self._next_sources.put(source)
        self.source.stop()

    def send(self, command: str, *args) -> None:
        """Queue a command for the worker: "pause", "resume", "undo", "reset", "keywords"."""
        self.commands.put((command, *args))

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def iter_events(self, poll: float = 0.2) -> Iterator[PipelineEvent]:
        """Yield events until Finished or Failed (inclusive)."""
        while True:
            try:
                ev = self.events.get(timeout=poll)
            except queue.Empty:
                continue
            yield ev
            if isinstance(ev, (Finished, Failed)):
                return

    # ------------------------------------------------------------------ reader thread
    def _read(self) -> None:
        while True:
            source = self.source
            try:
                for chunk in source.chunks():
                    while not self._stop.is_set():
                        try:
                            self.chunk_q.put(chunk, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if self._stop.is_set():
                        break
            except Exception as e:  # a device vanishing mid-stream must not kill the worker silently
                self._put_end(e)
                return
            try:
                nxt = self._next_sources.get_nowait()
            except queue.Empty:
                break
            if self._stop.is_set():
                break
            self._dropped_before += source.dropped_seconds
            self.source = nxt
            self.events.put(Status("listening", f"now: {nxt.description}"))
        self._put_end(None)

    @property
    def dropped_seconds(self) -> float:
        return self._dropped_before + self.source.dropped_seconds

    def _put_end(self, error: Exception | None) -> None:
        while True:
            try:
                self.chunk_q.put((_END, error), timeout=0.2)
                return
            except queue.Full:
                if self._stop.is_set():
                    # The worker may be gone; make room so the end marker still arrives.
                    try:
                        self.chunk_q.get_nowait()
                    except queue.Empty:
                        pass

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        audio = 0.0
        clock = 0.0
        paused = False
        transcript: list[FinalText] = []
        error: Exception | None = None
        session = self.session

        def emit(ev: PipelineEvent) -> None:
            # The journal is written before any view hears of it: a crash loses nothing shown.
            if session is not None:
                if isinstance(ev, FinalText):
                    session.final(ev.words)
                elif isinstance(ev, CountChange):
                    session.change(ev.change)
                elif isinstance(ev, Progress):
                    session.clock(ev.audio_seconds)
            self.events.put(ev)

        health = _Health(self, live=getattr(self.source, "live", False))
        try:
            while True:
                paused = self._run_commands(paused, clock, emit)
                try:
                    item = self.chunk_q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(item, tuple) and item and item[0] is _END:
                    error = item[1]
                    t0 = time.perf_counter()
                    events = self.engine.finish()
                    clock = max(clock, audio) + (time.perf_counter() - t0)
                    self._handle(events, clock, transcript, emit, paused)
                    for ch in self.counter.finish():
                        emit(self._count_change(ch))
                    break
                if isinstance(item, InputNotice):
                    if session is not None:
                        session.input(item.state, audio, item.missing)
                    emit(Status("lost" if item.state == "lost" else "listening", item.detail))
                    continue
                audio += item.size / SAMPLE_RATE
                t0 = time.perf_counter()
                events = self.engine.accept(item)
                clock = max(clock, audio) + (time.perf_counter() - t0)
                self._handle(events, clock, transcript, emit, paused)
                emit(Progress(audio, clock))
                health.update(item, audio, emit, paused)
        except Exception as e:  # the engine failed: report it, stop the source, keep what we have
            self.stop()
            error = e
        if session is not None:
            try:
                session.close(self.counter.counts(), audio, self.dropped_seconds, str(error) if error else "")
            except VoicecountError as e:
                error = error or e
        if error is not None:
            self.events.put(Failed(error))
            return
        self.events.put(
            Finished(
                CountResult(
                    counts=self.counter.counts(),
                    hits=[replace(h) for h in self.counter.hits],
                    duration=audio,
                    engine=self.engine.name,
                    model=self.engine.model_name,
                    transcript=transcript,
                    dropped_seconds=self.dropped_seconds,
                    session_id=session.meta.id if session is not None else "",
                )
            )
        )

    def _handle(self, events, clock: float, transcript: list, emit: Callable, paused: bool) -> None:
        for ev in events:
            if isinstance(ev, Partial):
                emit(Caption(ev.text))
                if not paused:
                    for ch in self.counter.on_partial(ev.words, clock):
                        emit(self._count_change(ch))
            elif isinstance(ev, Final):
                if not ev.words:
                    continue  # an empty final is not an utterance
                ft = FinalText(ev.words, ev.text)
                if self.keep_transcript:
                    transcript.append(ft)
                emit(ft)
                if not paused:
                    for ch in self.counter.on_final(ev.words, clock):
                        emit(self._count_change(ch))

    def _count_change(self, change: HitChange) -> CountChange:
        # Views get a copy: the worker keeps mutating its own Hit (provisional → confirmed).
        return CountChange(HitChange(change.kind, replace(change.hit)), self.counter.counts())

    def _run_commands(self, paused: bool, clock: float, emit: Callable) -> bool:
        while True:
            try:
                cmd, *args = self.commands.get_nowait()
            except queue.Empty:
                return paused
            if cmd == "pause":
                paused = True
                emit(Status("paused"))
            elif cmd == "resume":
                paused = False
                emit(Status("listening"))
            elif cmd == "undo":
                ch = self.counter.undo_last()
                if ch:
                    emit(self._count_change(ch))
            elif cmd == "reset":
                for ch in self.counter.reset():
                    emit(self._count_change(ch))
            elif cmd == "keywords":
                self.counter.keywords = list(args[0])
                self.engine.set_keywords(self.counter.keywords)
                if self.session is not None:
                    self.session.keywords(self.counter.keywords)
                emit(Status("keywords", ", ".join(k.name for k in self.counter.keywords)))

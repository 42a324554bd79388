"""The live path: source → engine → matcher → session, and the fan-out of its events to the views.

Threads, and who owns what:

- the worker ("voicecount-worker") loads the engine (a model can take seconds: the
  views are up already and say "loading"), opens the session, starts the reader, then
  is the only thread that touches the engine, the counter and the session. Everything
  it learns it publishes as events (``events.py``) to every subscriber.
- the reader ("voicecount-reader") pulls chunks from the audio source into
  ``chunk_q`` (bounded: a file source waits when it is full; a microphone drops in
  its own callback queue and counts it).
- each view (terminal, overlay, web page) reads its own ``Subscription`` on its own
  thread. Publishing never waits for a view: a subscription's queue is bounded, and a
  view that falls behind loses detail, never the state, never the end (see
  ``Subscription``).

Commands — pause, resume, undo, reset, set_keywords, switch_source, stop — are methods
any thread may call; they are queued for the worker, which runs them between chunks.
Threads talk through queues only.

The live clock: a hit's ``emitted_at`` is how much audio a live microphone would
have delivered when the hit was counted — audio consumed plus the seconds spent
decoding since. With a real-time source that is wall-clock time; with a file
read at full speed it simulates the same thing, so benchmarks measure latency
including compute without waiting in real time.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .audio import SAMPLE_RATE, AudioSource, InputNotice
from .engines.base import Engine, Final, Partial
from .events import (
    LOSSY,
    TERMINAL,
    Caption,
    CountChange,
    CountResult,
    Failed,
    FinalText,
    Finished,
    KeywordsChanged,
    LiveState,
    PipelineEvent,
    Progress,
    Ready,
    Resync,
    Status,
)
from .matcher import HitChange, Keyword, KeywordCounter

if TYPE_CHECKING:
    from .session import SessionWriter


_END = object()
_WAKE = object()  # put into chunk_q with a command, so a worker waiting for audio runs it at once


@dataclass(frozen=True)
class _Switched:
    """From the reader: audio now comes from another source."""

    description: str


SILENCE_CHECK = 3.0  # seconds of pure digital zeros from a microphone that mean "no permission"
DROP_CLEAR = 5.0  # seconds without new drops before the "dropped" status clears
# While audio keeps being dropped, the growing total is reported at most once per this many
# seconds of audio (every chunk would be ten terminal lines a second).
DROP_REPORT = 1.0
SUBSCRIPTION_SIZE = 1000  # events a view may lag behind before it loses any
# A file stopped this close to its probed length was heard to its end (containers round their length).
END_SLACK = 0.5


class Subscription:
    """One view's own bounded queue of events: the worker fills it, the view's thread reads it.

    Publishing never waits. When the queue is full, the oldest ``Progress`` or ``Caption``
    goes first (each is superseded by the next one anyway). When only essential events
    are queued, they are all replaced by one ``Resync`` carrying the worker's state after
    them: the view loses their detail (which hit changed, the final lines) but never the
    counts or the status, and can redraw from the state. ``Finished`` / ``Failed`` always
    arrive (they may pass the bound by one). ``skipped`` counts what this view never saw.
    """

    def __init__(self, maxsize: int, unsubscribe: Callable[[Subscription], None]) -> None:
        self.maxsize = max(1, maxsize)
        self.skipped = 0
        self._items: deque[PipelineEvent] = deque()
        self._ready = threading.Condition()
        self._unsubscribe = unsubscribe
        self.closed = False

    def offer(self, ev: PipelineEvent, state: LiveState) -> None:
        """Queue ``ev`` (worker thread); ``state`` is the worker's state with ``ev`` applied."""
        with self._ready:
            items = self._items
            if len(items) >= self.maxsize and not isinstance(ev, TERMINAL):
                lossy = next((i for i, old in enumerate(items) if isinstance(old, LOSSY)), None)
                if lossy is not None:
                    del items[lossy]
                    self.skipped += 1
                elif isinstance(ev, LOSSY):
                    self.skipped += 1
                    return
                else:
                    replaced = sum(old.skipped if isinstance(old, Resync) else 1 for old in items) + 1
                    self.skipped += sum(not isinstance(old, Resync) for old in items) + 1
                    items.clear()
                    ev = Resync(state, replaced)
            items.append(ev)
            self._ready.notify()

    def get(self, timeout: float | None = None) -> PipelineEvent | None:
        """The next event, or None if none came within ``timeout`` seconds (or the subscription is closed)."""
        with self._ready:
            if not self._items and not self.closed:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None

    def __iter__(self) -> Iterator[PipelineEvent]:
        """Events until Finished or Failed (inclusive), or until closed; waits in short steps so Ctrl-C gets through."""
        while True:
            ev = self.get(timeout=0.2)
            if ev is None:
                if self.closed:
                    return
                continue
            yield ev
            if isinstance(ev, TERMINAL):
                return

    def close(self) -> None:
        """Stop receiving events; a reader waiting in ``get`` returns at once."""
        self._unsubscribe(self)
        with self._ready:
            self.closed = True
            self._ready.notify_all()


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

    def _silence_hint(self) -> str:
        device = getattr(self.pipeline.source, "device", None)
        if device is not None and device.plays_output:
            # A monitor or loopback: silence means nothing plays there, not a muted or forbidden microphone.
            return (
                "nothing is playing on this output: play the talk, or pick the output it plays on "
                "(voicecount devices lists them; --device N)"
            )
        return (
            "the microphone gives only silence: check it is not muted; on macOS allow "
            "Terminal/Python in System Settings → Privacy & Security → Microphone"
        )

    def update(self, chunk, audio: float, emit: Callable, paused: bool) -> None:
        back = Status("paused" if paused else "listening")
        if not self.heard:
            if chunk.any():
                self.heard = True
                if self.warned_silent:
                    emit(back)
            elif audio >= SILENCE_CHECK and not self.warned_silent:
                self.warned_silent = True
                emit(Status("silent", self._silence_hint()))
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
    """Runs one source through one engine; ``start()`` returns at once; views ``subscribe()``.

    ``engine`` is called on the worker thread to get the engine (loading a model, or
    ``engine.fresh`` of a loaded one); ``session``, if given, is called there with it to
    open the session journal. ``outcome`` resolves to the ``CountResult`` or the error.
    """

    def __init__(
        self,
        source: AudioSource,
        engine: Callable[[], Engine],
        keywords: Sequence[Keyword],
        *,
        session: Callable[[Engine], SessionWriter] | None = None,
        queue_seconds: float = 5.0,
        keep_transcript: bool = True,
    ) -> None:
        self.source = source
        self.counter = KeywordCounter(list(keywords))
        self.chunk_q: queue.Queue[object] = queue.Queue(maxsize=max(1, int(queue_seconds * 10)))
        self.keep_transcript = keep_transcript
        self.outcome: Future[CountResult] = Future()
        self._load_engine = engine
        self._open_session = session
        self.engine: Engine | None = None  # set by the worker once loaded
        self.session: SessionWriter | None = None
        self._commands: queue.Queue[tuple[Callable, tuple]] = queue.Queue()
        self._subscribers: tuple[Subscription, ...] = ()
        self._subscribe_lock = threading.Lock()  # subscribe() and publishing: a new view starts from a state
        self._state = LiveState.start(self.counter.keywords)  # the worker's fold of what it published
        self._ended: PipelineEvent | None = None  # Finished or Failed, once published
        self._paused = False  # worker thread only
        self._stop = threading.Event()
        self._next_sources: queue.Queue[AudioSource] = queue.Queue()
        self._reader_done = threading.Event()  # the reader has ended: a later switch is let go at once
        self._dropped_before = 0.0  # seconds dropped by sources switched away from

    # ------------------------------------------------------------------ views (any thread)
    def subscribe(self, maxsize: int = SUBSCRIPTION_SIZE) -> Subscription:
        """A new queue of every event from now on; one that joins late gets the state first (a Resync),
        and one that joins after the end gets the end too, so it never waits for it."""
        sub = Subscription(maxsize, self._unsubscribe)
        with self._subscribe_lock:
            if self._state.events:
                sub.offer(Resync(self._state, 0), self._state)
            if self._ended is not None:
                sub.offer(self._ended, self._state)
            self._subscribers = (*self._subscribers, sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._subscribe_lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not sub)

    # ------------------------------------------------------------------ control (any thread)
    def start(self) -> Pipeline:
        self._spawn(self._work, "voicecount-worker")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        threading.Thread(target=target, name=name, daemon=True).start()

    def stop(self) -> None:
        """Ask both threads to end; the worker still finalises what it has and sends Finished."""
        self._stop.set()
        self.source.stop()
        self._wake()

    def switch_source(self, source: AudioSource) -> None:
        """Carry on from another source (a different microphone); counts and session go on."""
        self._next_sources.put(source)
        self.source.stop()
        if self._reader_done.is_set():
            self._let_go()  # too late: the run has ended, and nothing would ever close it

    def _let_go(self) -> None:
        """Sources a switch queued that no reader will read: each lets its device go."""
        while True:
            try:
                source = self._next_sources.get_nowait()
            except queue.Empty:
                return
            source.stop()
            with contextlib.suppress(Exception):
                for _ in source.chunks():  # a stopped source's chunks() closes its device and ends
                    pass

    def pause(self) -> None:
        """Keep listening, stop counting (the transcript goes on)."""
        self._command(self._do_pause, True)

    def resume(self) -> None:
        self._command(self._do_pause, False)

    def undo(self) -> None:
        """Withdraw the most recently counted hit."""
        self._command(self._do_undo)

    def reset(self) -> None:
        """Withdraw every counted hit."""
        self._command(self._do_reset)

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        """Count these keywords from now on (no restart: the model stays loaded)."""
        self._command(self._do_keywords, tuple(keywords))

    def _command(self, fn: Callable, *args) -> None:
        self._commands.put((fn, args))
        self._wake()

    def _wake(self) -> None:
        try:
            self.chunk_q.put_nowait(_WAKE)
        except queue.Full:
            pass  # the worker has audio to take, so it is not waiting: it runs commands before the next chunk

    @property
    def dropped_seconds(self) -> float:
        return self._dropped_before + self.source.dropped_seconds

    # ------------------------------------------------------------------ reader thread
    def _read(self) -> None:
        source = self.source
        while True:
            try:
                for chunk in source.chunks():
                    if not self._put(chunk):
                        break
            except Exception as e:  # a device vanishing mid-stream must not kill the worker silently
                self._end_reading(e)
                return
            try:
                nxt = self._next_sources.get_nowait()
            except queue.Empty:
                break
            # The worker reads dropped_seconds meanwhile: switching first can only under-count
            # for an instant (a later read catches up), never count the old source twice.
            self.source = nxt
            self._dropped_before += source.dropped_seconds
            # switch_source queues before it stops self.source, so a switch that read the old
            # source (and stopped that one) is seen here, and one that reads nxt stops nxt.
            if self._stop.is_set() or not self._next_sources.empty():
                nxt.stop()  # stopped, or already replaced: read only so it lets its device go
            else:
                self._put(_Switched(nxt.description))
            source = nxt
        self._end_reading(None)

    def _end_reading(self, error: Exception | None) -> None:
        """No source will be read any more: a switch queued meanwhile lets its device go; the worker hears the end."""
        self._reader_done.set()
        self._let_go()
        self._put_end(error)

    def _put(self, item: object) -> bool:
        """Hand an item to the worker, waiting while its queue is full; False once stopped."""
        while not self._stop.is_set():
            try:
                self.chunk_q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

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
    def _publish(self, ev: PipelineEvent) -> None:
        with self._subscribe_lock:
            self._state = self._state.apply(ev)
            if isinstance(ev, TERMINAL):
                self._ended = ev
            for sub in self._subscribers:
                sub.offer(ev, self._state)

    def _emit(self, ev: PipelineEvent) -> None:
        # The journal is written before any view hears of it: a crash loses nothing shown.
        session = self.session
        if session is not None:
            if isinstance(ev, FinalText):
                session.final(ev.words)
            elif isinstance(ev, CountChange):
                session.change(ev.change)
            elif isinstance(ev, Progress):
                session.clock(ev.audio_seconds, self.dropped_seconds)
        self._publish(ev)

    def _work(self) -> None:
        try:
            engine = self._load_engine()
            engine.set_keywords(self.counter.keywords)
            self.engine = engine
            if self._stop.is_set():  # stopped while the model loaded: nothing heard, no session made
                self._end(None, 0.0, [])
                return
            if self._open_session is not None:
                self.session = self._open_session(engine)
        except Exception as e:
            self._end(e, 0.0, [])
            return
        self._publish(Ready(engine.name, engine.model_name, self.source.description, self._session_id()))
        self._spawn(self._read, "voicecount-reader")
        audio = 0.0
        clock = 0.0
        transcript: list[FinalText] = []
        error: Exception | None = None
        health = _Health(self, live=getattr(self.source, "live", False))
        try:
            while True:
                self._run_commands()
                try:
                    item = self.chunk_q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is _WAKE:
                    continue
                if isinstance(item, tuple) and item and item[0] is _END:
                    error = item[1]
                    t0 = time.perf_counter()
                    events = engine.finish()
                    clock = max(clock, audio) + (time.perf_counter() - t0)
                    self._handle(events, clock, transcript)
                    self._retract_unconfirmed()
                    break
                # Back to hearing: still paused if the user paused (the views show the state, not a guess).
                hearing = "paused" if self._paused else "listening"
                if isinstance(item, _Switched):
                    if self.session is not None:
                        self.session.switched(item.description)
                    self._emit(Status(hearing, f"now: {item.description}"))
                    continue
                if isinstance(item, InputNotice):
                    if self.session is not None:
                        self.session.input(item.state, audio, item.missing)
                    self._emit(Status("lost" if item.state == "lost" else hearing, item.detail))
                    continue
                audio += item.size / SAMPLE_RATE
                t0 = time.perf_counter()
                events = engine.accept(item)
                clock = max(clock, audio) + (time.perf_counter() - t0)
                self._handle(events, clock, transcript)
                self._emit(Progress(audio, clock))
                health.update(item, audio, self._emit, self._paused)
        except Exception as e:  # the engine or the journal failed: report it, stop the source, keep what we have
            self.stop()
            error = e
            # What we have is what a final confirmed. A second failure on the way must not keep
            # the first from reaching every view (a waiting `listen` would wait for ever).
            with contextlib.suppress(Exception):
                self._retract_unconfirmed()
        self._end(error, audio, transcript)

    def _retract_unconfirmed(self) -> None:
        """At the end, however it comes: a partial's hit that no final confirmed was never heard for sure."""
        for ch in self.counter.finish():
            self._emit(self._count_change(ch))

    def _session_id(self) -> str:
        return self.session.meta.id if self.session is not None else ""

    def _end(self, error: Exception | None, audio: float, transcript: list[FinalText]) -> None:
        """Close the session, tell every view, resolve ``outcome``."""
        if self.session is not None:
            try:
                damaged = getattr(self.source, "damaged", 0)  # only a file has pieces that would not decode
                length = getattr(self.source, "duration", None)  # only a file has a length; a microphone stops
                skipped = getattr(self.source, "damaged_seconds", 0.0)  # heard to its end, less its damage
                stopped = self._stop.is_set() and bool(length) and audio + skipped < length - END_SLACK
                self.session.close(
                    self.counter.counts(), audio, self.dropped_seconds, str(error) if error else "", damaged, stopped
                )
            except Exception as e:  # any failure here must still reach the views: a waiting run waits for ever
                error = error or e
        if error is not None:
            self._publish(Failed(error))
            self.outcome.set_exception(error)
            return
        engine = self.engine
        result = CountResult(
            counts=self.counter.counts(),
            hits=[replace(h) for h in self.counter.hits],
            duration=audio,
            engine=engine.name if engine else "",
            model=engine.model_name if engine else "",
            transcript=transcript,
            dropped_seconds=self.dropped_seconds,
            session_id=self._session_id(),
        )
        self._publish(Finished(result))
        self.outcome.set_result(result)

    def _handle(self, events, clock: float, transcript: list) -> None:
        for ev in events:
            if isinstance(ev, Partial):
                self._emit(Caption(ev.text))
                if not self._paused:
                    for ch in self.counter.on_partial(ev.words, clock):
                        self._emit(self._count_change(ch))
            elif isinstance(ev, Final):
                if not ev.words:
                    continue  # an empty final is not an utterance
                ft = FinalText(ev.words, ev.text)
                if self.keep_transcript:
                    transcript.append(ft)
                self._emit(ft)
                if not self._paused:
                    for ch in self.counter.on_final(ev.words, clock):
                        self._emit(self._count_change(ch))

    def _count_change(self, change: HitChange) -> CountChange:
        # Views get a copy: the worker keeps mutating its own Hit (provisional → confirmed).
        return CountChange(HitChange(change.kind, replace(change.hit)), self.counter.counts())

    def _run_commands(self) -> None:
        while True:
            try:
                fn, args = self._commands.get_nowait()
            except queue.Empty:
                return
            fn(*args)

    def _do_pause(self, paused: bool) -> None:
        self._paused = paused
        self._emit(Status("paused" if paused else "listening"))

    def _do_undo(self) -> None:
        ch = self.counter.undo_last()
        if ch:
            self._emit(self._count_change(ch))

    def _do_reset(self) -> None:
        for ch in self.counter.reset():
            self._emit(self._count_change(ch))

    def _do_keywords(self, keywords: tuple[Keyword, ...]) -> None:
        self.counter.keywords = list(keywords)
        self.engine.set_keywords(self.counter.keywords)
        if self.session is not None:
            self.session.keywords(self.counter.keywords)
        self._emit(KeywordsChanged(keywords, self.counter.counts()))

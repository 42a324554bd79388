"""One counting run: the source opened, engine + session + pipeline built once, the result at the end.

Every command and script counts through here: ``count``, ``listen`` (terminal, overlay,
web), the benchmark and soak scripts. A ``Run`` is made and driven from the caller's
thread; the work happens on the pipeline's threads (the engine loads on the worker, so
a window can be up while the model loads). Views subscribe to ``run.pipeline`` and send
it commands; ``wait()`` / ``stop()`` give the result or raise the run's error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from .audio import AudioSource, FileSource, MicrophoneSource
from .engines.base import Engine
from .errors import ConfigError
from .escape import path_text
from .events import CountResult
from .matcher import Keyword
from .pipeline import Pipeline
from .session import SessionWriter


@dataclass(frozen=True)
class Record:
    """Keep the run as a session: the command that made it, what was heard, which microphone."""

    command: str
    source: str
    device: str = ""

    @classmethod
    def of_file(cls, command: str, source: FileSource) -> Record:
        """A recording's session: named by its full path, as text any output can hold (and its track)."""
        track = f" (audio track {source.track})" if source.track > 1 else ""
        return cls(command, path_text(str(source.path.resolve())) + track)


def open_file(path: str | Path, realtime: bool = False, track: int = 1) -> FileSource:
    """A recording, checked now — before a model loads — so a bad file fails at once."""
    given = Path(path)
    if given.is_dir():
        raise ConfigError(
            f"{path} is a folder, not a recording", f"give one file in it, or count them all: voicecount count {path}"
        )
    if not given.is_file():  # (before any read: opening a FIFO waits for a writer for ever)
        if given.exists() or given.is_symlink():
            raise ConfigError(f"{path} is not a regular file", "give a recording saved as a file")
        raise ConfigError(f"no such audio file: {path}", "check the path (and quote names with spaces)")
    source = FileSource(given, realtime=realtime, track=track)
    source.check()
    return source


def check_max_backlog(seconds: float) -> None:
    if not seconds >= 1:
        raise ConfigError(f"--max-backlog {seconds:g} is too small", "give at least 1 second (default 30)")


def open_microphone(device: str | None, backend: str, max_backlog: float) -> MicrophoneSource:
    """The microphone, opened now: a device that will not open says so before the model loads."""
    check_max_backlog(max_backlog)
    source = MicrophoneSource(device or None, backend=backend, max_queue_seconds=max_backlog)
    source.open()
    return source


class Run:
    """A source counted by an engine, optionally recorded as a session; built once, started once."""

    def __init__(
        self,
        source: AudioSource,
        engine: Callable[[], Engine],
        keywords: Sequence[Keyword],
        record: Record | None = None,
        *,
        keep_transcript: bool = True,
        queue_seconds: float = 5.0,
    ) -> None:
        self.source = source
        self.keywords = list(keywords)
        self.record = record
        self.pipeline = Pipeline(
            source,
            engine,
            self.keywords,
            session=self._open_session if record is not None else None,
            queue_seconds=queue_seconds,
            keep_transcript=keep_transcript,
        )

    def _open_session(self, engine: Engine) -> SessionWriter:
        r = self.record
        assert r is not None
        return SessionWriter.create(r.command, r.source, engine.name, engine.model_name, self.keywords, r.device)

    def start(self) -> Run:
        """Load the engine and count, on the pipeline's threads; returns at once."""
        self.pipeline.start()
        return self

    def wait(self) -> CountResult:
        """The result once the source has ended; raises the run's error if it failed."""
        while True:
            try:
                return self.pipeline.outcome.result(timeout=0.2)  # short steps: Ctrl-C gets through
            except FutureTimeout:
                continue

    def stop(self) -> CountResult:
        """End now: words still pending are finalised and the session saved; the result as for wait().

        Stopped while the model was still loading, nothing was heard: the result is empty
        and no session was made (``session_id`` is "").
        """
        self.pipeline.stop()
        return self.wait()

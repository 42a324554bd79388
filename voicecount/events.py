"""What a run tells its views: the pipeline's events, and the state every view folds them into.

Pure data, no threads. The pipeline worker publishes these events to each subscriber
(see ``pipeline.Subscription``); a view folds them with ``LiveState.apply`` — the same
fold the worker keeps, so a subscriber that fell behind can be handed the worker's
state (``Resync``) and carry on from it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .errors import VoicecountError
from .matcher import Hit, HitChange, Keyword, Word
from .pace import PACE_WINDOW, QUIET, pace


@dataclass(frozen=True)
class Ready:
    """The engine is loaded and audio flows: counting has begun."""

    engine: str
    model: str
    source: str
    session_id: str = ""


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
class KeywordsChanged:
    """The keywords counted from now on (set while running); ``counts`` lists every one."""

    keywords: tuple[Keyword, ...]
    counts: dict[str, int]


@dataclass(frozen=True)
class Status:
    state: str  # "listening", "paused", "dropped", "silent", "lost" (the microphone went away)
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


@dataclass(frozen=True)
class Resync:
    """Instead of the events a subscriber was too slow to take: the state after them."""

    state: LiveState
    skipped: int


PipelineEvent = (
    Ready | Progress | Caption | FinalText | CountChange | KeywordsChanged | Status | Failed | Finished | Resync
)
# What a slow subscriber loses first: each one is superseded by the next of its kind.
LOSSY = (Progress, Caption)
TERMINAL = (Finished, Failed)


# What each state is called on screen (overlay, web pages).
STATUS_TEXT = {
    "loading": "loading model…",
    "listening": "listening",
    "paused": "paused",
    "dropped": "audio dropped",
    "silent": "no sound",
    "lost": "microphone lost, retrying",
    "error": "error",
    "finished": "finished",
}


@dataclass(frozen=True)
class LastChange:
    """The latest count change, for views that mark it (a flash on a withdrawn hit)."""

    kind: str  # "added", "confirmed", "retracted"
    keyword: str
    at: int  # the state version it happened at: a view marks each change once, not at every later event


@dataclass(frozen=True)
class LiveState:
    """Everything a view shows, folded from the events in order (``apply`` returns a new state).

    ``status`` is "loading" until the engine is ready, then a ``Status`` state,
    "finished" or "error". ``pending`` holds the ids of provisional hits per keyword.
    """

    keywords: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    pending: Mapping[str, frozenset[int]] = field(default_factory=dict)
    status: str = "loading"
    detail: str = ""
    paused: bool = False
    caption: str = ""
    final: str = ""
    audio_seconds: float = 0.0
    last: LastChange | None = None
    events: int = 0  # how many events were folded in: a version number for views
    # Pace: start times of the words said in the last PACE_WINDOW seconds of talk.
    word_starts: tuple[float, ...] = ()
    first_word: float | None = None
    last_word_end: float = 0.0

    @property
    def wpm(self) -> float | None:
        """Words per minute over the last half minute of talk; None before enough talk or in a long silence."""
        if self.first_word is None or self.audio_seconds - self.last_word_end > QUIET:
            return None
        return pace(self.word_starts, self.last_word_end, self.first_word)

    @classmethod
    def start(cls, keywords: tuple[Keyword, ...] | list[Keyword]) -> LiveState:
        names = tuple(k.name for k in keywords)
        return cls(keywords=names, counts={n: 0 for n in names}, pending={n: frozenset() for n in names})

    def apply(self, ev: PipelineEvent) -> LiveState:
        n = self.events + 1
        if isinstance(ev, Resync):
            return ev.state
        if isinstance(ev, Progress):
            return replace(self, audio_seconds=ev.audio_seconds, events=n)
        if isinstance(ev, Caption):
            return replace(self, caption=ev.text, events=n)
        if isinstance(ev, FinalText):
            if not ev.words:
                return replace(self, final=ev.text, caption="", events=n)
            end = max(self.last_word_end, ev.words[-1].end)
            starts = tuple(t for t in (*self.word_starts, *(w.start for w in ev.words)) if t >= end - PACE_WINDOW)
            first = ev.words[0].start if self.first_word is None else self.first_word
            return replace(
                self,
                final=ev.text,
                caption="",
                word_starts=starts,
                first_word=first,
                last_word_end=end,
                events=n,
            )
        if isinstance(ev, CountChange):
            hit, kind = ev.change.hit, ev.change.kind
            pending = dict(self.pending)
            ids = pending.get(hit.keyword, frozenset())
            provisional = kind == "added" and not hit.confirmed
            pending[hit.keyword] = ids | {hit.id} if provisional else ids - {hit.id}
            last = LastChange(kind, hit.keyword, n)
            return replace(self, counts=dict(ev.counts), pending=pending, last=last, events=n)
        if isinstance(ev, KeywordsChanged):
            names = tuple(k.name for k in ev.keywords)
            pending = {name: self.pending.get(name, frozenset()) for name in names}
            return replace(self, keywords=names, counts=dict(ev.counts), pending=pending, events=n)
        if isinstance(ev, Ready):
            return replace(self, status="listening", detail="", events=n)
        if isinstance(ev, Status):
            paused = {"paused": True, "listening": False}.get(ev.state, self.paused)
            return replace(self, status=ev.state, detail=ev.detail, paused=paused, events=n)
        if isinstance(ev, Finished):
            return replace(self, status="finished", detail="", counts=dict(ev.result.counts), events=n)
        if isinstance(ev, Failed):
            return replace(self, status="error", detail=error_text(ev.error), events=n)
        return replace(self, events=n)

    def as_json(self) -> dict:
        """The web view's state document (also served at /api/state)."""
        return {
            "keywords": list(self.keywords),
            "counts": dict(self.counts),
            "pending": {k: len(v) for k, v in self.pending.items()},
            "status": self.status,
            "status_text": STATUS_TEXT.get(self.status, self.status),
            "detail": self.detail,
            "paused": self.paused,
            "caption": self.caption,
            "final": self.final,
            "audio_seconds": round(self.audio_seconds, 1),
            "last": None if self.last is None else vars(self.last),
            "version": self.events,
            "wpm": None if self.wpm is None else round(self.wpm),
        }


def error_text(error: BaseException) -> str:
    """An error as a person reads it: our own errors say what to do; a bug names its type."""
    return str(error) if isinstance(error, VoicecountError) else f"{type(error).__name__}: {error}"

"""The speaking coach's numbers: pace, fillers, pauses and repeated phrases of a talk.

Pure functions of the transcript's words (text and times), so a session recorded
before the coach existed reports all it can: pace, pauses and phrases always;
fillers as far as its transcript kept them (only filler mode keeps them well).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .config import Settings
from .export import STOPWORDS
from .fillers import any_fillers, possible_fillers, preset
from .matcher import Keyword, Word, find_matches, tokens
from .pace import PACE_MIN_SPAN, PACE_WINDOW, pace, per_minute, talk_seconds
from .session import Session

PACE_STEP = 5.0  # seconds between points of the pace-over-time series
PHRASE_LENGTHS = (2, 3, 4)


@dataclass(frozen=True)
class Use:
    """A filler (or a phrase) and when it was said."""

    text: str
    times: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class Pause:
    start: float
    seconds: float


@dataclass
class Coaching:
    words: int
    minutes: float
    wpm: float
    fillers: list[Use]  # um, uh, er, ah, hmm: most used first
    possible: list[Use]  # like, so, you know…: only where set off by commas
    pace: list[tuple[float, float]]  # (time, words per minute over the window before it)
    pauses: list[Pause]  # longest first
    phrases: list[Use]  # most repeated 2–4-word phrases
    filler_mode: bool = False  # the transcript was decoded to keep fillers
    notes: list[str] = field(default_factory=list)

    @property
    def _half_minutes(self) -> list[tuple[float, float]]:
        """The points of pace measured over a whole PACE_WINDOW (the first ones cover less talk)."""
        if not self.pace:
            return []
        first = self.pace[0][0] - PACE_MIN_SPAN  # (the series starts PACE_MIN_SPAN after the first word)
        return [p for p in self.pace if p[0] - first >= PACE_WINDOW - 1e-6]

    @property
    def fastest(self) -> tuple[float, float] | None:
        """(time, wpm) of the fastest half minute; None with fewer than two whole half minutes."""
        whole = self._half_minutes
        return max(whole, key=lambda p: p[1]) if len(whole) > 1 else None

    @property
    def slowest(self) -> tuple[float, float] | None:
        whole = self._half_minutes
        return min(whole, key=lambda p: p[1]) if len(whole) > 1 else None

    @property
    def filler_total(self) -> int:
        return sum(u.count for u in self.fillers)

    @property
    def fillers_per_minute(self) -> float:
        return per_minute(self.filler_total, self.minutes * 60)

    @property
    def filler_share(self) -> float:
        """Fillers as a share of all words said."""
        return self.filler_total / self.words if self.words else 0.0

    def as_json(self) -> dict:
        def uses(items: list[Use]) -> list[dict]:
            return [{"text": u.text, "count": u.count, "times": [round(t, 2) for t in u.times]} for u in items]

        return {
            "words": self.words,
            "minutes": round(self.minutes, 2),
            "words_per_minute": round(self.wpm, 1),
            "fillers": uses(self.fillers),
            "filler_total": self.filler_total,
            "fillers_per_minute": round(self.fillers_per_minute, 2),
            "filler_share": round(self.filler_share, 4),
            "filler_mode": self.filler_mode,
            "possible_fillers": uses(self.possible),
            "pace": [{"time": round(t, 1), "wpm": round(w, 1)} for t, w in self.pace],
            "pauses": [{"start": round(p.start, 2), "seconds": round(p.seconds, 2)} for p in self.pauses],
            "repeated_phrases": uses(self.phrases),
            "notes": self.notes,
        }


def _uses(said: Iterable[tuple[str, float]]) -> list[Use]:
    """(text, time) pairs gathered into one Use per text, most used first."""
    times: dict[str, list[float]] = defaultdict(list)
    for text, t in said:
        times[text].append(t)
    return sorted((Use(k, tuple(v)) for k, v in times.items()), key=lambda u: (-u.count, u.text))


def fillers_in(words: Sequence[Word], fillers: Sequence[Keyword] | None = None) -> list[Use]:
    """Each filler said (the built-in set unless ``fillers`` is given), most used first.

    The matcher finds them, as it finds keywords.
    """
    return _uses((m.keyword, m.start) for m in find_matches(words, fillers or preset("fillers")))


def pace_series(words: Sequence[Word]) -> list[tuple[float, float]]:
    """Pace every PACE_STEP seconds, each over the PACE_WINDOW before it, until the last word."""
    if not words:
        return []
    starts = [w.start for w in words]
    first = starts[0]
    out = []
    t = first + PACE_MIN_SPAN
    end = words[-1].end
    while t <= end + 1e-6:
        wpm = pace(starts, t, first)
        if wpm is not None:
            out.append((t, wpm))
        t += PACE_STEP
    return out


def pauses_in(words: Sequence[Word], longer_than: float, top: int = 5) -> list[Pause]:
    """The longest silences between words: from the latest end so far (word times from separate
    passes can overlap, and a short word inside a long one does not end the speech)."""
    gaps = []
    spoken_until = words[0].end if words else 0.0
    for w in words[1:]:
        if w.start - spoken_until >= longer_than:
            gaps.append(Pause(spoken_until, w.start - spoken_until))
        spoken_until = max(spoken_until, w.end)
    return sorted(gaps, key=lambda p: -p.seconds)[:top]


def repeated_phrases(words: Sequence[Word], top: int = 8, fillers: Sequence[Keyword] | None = None) -> list[Use]:
    """The 2–4-word phrases said most often (at least twice), without fillers or stop-word-only ones.

    Each repeat is shown once: a phrase inside a longer one said as often is left
    out, and so is a phrase that only ever overlaps one already shown (the 4-word
    windows of a longer repeated sentence, "you thank" in "thank you thank you").
    """
    filler = {t for kw in fillers or preset("fillers") for alias in (kw.name, *kw.aliases) for t in tokens(alias)}
    toks: list[tuple[str, float]] = [(t, w.start) for w in words for t in tokens(w.text) if t not in filler]
    at: dict[tuple[str, ...], list[int]] = defaultdict(list)  # phrase → token positions
    for n in PHRASE_LENGTHS:
        for i in range(len(toks) - n + 1):
            gram = tuple(t for t, _ in toks[i : i + n])
            # A repeat is the phrase said again after it ended: "really really really" is one
            # "really" said three times, not "really really" said twice.
            if not all(t in STOPWORDS for t in gram) and (not at[gram] or i >= at[gram][-1] + n):
                at[gram].append(i)
    repeated = {g: ps for g, ps in at.items() if len(ps) >= 2}
    hidden = set()
    for gram, ps in repeated.items():
        for size in range(PHRASE_LENGTHS[0], len(gram)):
            for i in range(len(gram) - size + 1):
                part = gram[i : i + size]
                if part in repeated and len(repeated[part]) == len(ps):
                    hidden.add(part)
    ranked = sorted(
        (g for g in repeated if g not in hidden), key=lambda g: (-len(repeated[g]), -len(g), repeated[g][0])
    )
    kept: list[tuple[str, ...]] = []
    for gram in ranked:
        ps = repeated[gram]
        if any(all(any(p < q < p + len(k) for p in repeated[k]) for q in ps) for k in kept):
            continue
        kept.append(gram)
        if len(kept) == top:
            break
    return [Use(" ".join(g), tuple(toks[i][1] for i in repeated[g])) for g in kept]


def coaching(
    words: Sequence[Word],
    pause: float = 2.0,
    filler_mode: bool = False,
    fillers: Sequence[Keyword] | None = None,
) -> Coaching:
    """Every number of the end-of-talk report, from the transcript's words."""
    fillers = fillers or preset("fillers")
    # A word the user counts as a filler ([[fillers]] with "like") is not also a "possible" one.
    counted = {" ".join(tokens(a)) for kw in fillers for a in (kw.name, *kw.aliases)}
    seconds = talk_seconds(words)
    notes = []
    if not filler_mode:
        notes.append(
            "Fillers were not being counted (no --preset fillers): the transcript leaves most of them out, "
            "so the filler figures are a floor."
        )
    return Coaching(
        words=len(words),
        minutes=seconds / 60,
        wpm=per_minute(len(words), seconds),
        fillers=fillers_in(words, fillers),
        possible=_uses(p for p in possible_fillers(words) if p[0] not in counted),
        pace=pace_series(words),
        pauses=pauses_in(words, pause),
        phrases=repeated_phrases(words, fillers=fillers),
        filler_mode=filler_mode,
        notes=notes,
    )


def of_session(session: Session, settings: Settings | None = None) -> Coaching:
    """The report's numbers for a saved session, with the user's pause and filler set.

    Filler mode if any filler (built-in or of the user's `[[fillers]]`) was among its keywords.
    """
    settings = settings or Settings()
    words = [w for seg in session.segments for w in seg.words]
    used = session.meta.keyword_objects()
    names = {k.name.casefold() for k in settings.fillers}
    mode = any_fillers(used) or any(k.name.casefold() in names for k in used)
    return coaching(words, settings.coach.pause, mode, settings.fillers)

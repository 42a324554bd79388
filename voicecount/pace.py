"""Speaking pace: words per minute over the last half minute of speech, and the live nudge.

One formula for the overlay's live figure (events.LiveState) and the report's pace
over time (coach.py).
"""

from __future__ import annotations

from collections.abc import Sequence

PACE_WINDOW = 30.0  # seconds of talk the pace is measured over
PACE_MIN_SPAN = 10.0  # a pace over less talk than this says little
QUIET = 10.0  # seconds without a new word after which there is no live pace (not speaking)


def talk_seconds(spoken: Sequence) -> float:
    """The time from the first word to the last (of words, or segments of them, in order): a pace
    over the talk, not over the silence before it starts or after it ends (a recording started
    early, a listen stopped late)."""
    return max(0.0, spoken[-1].end - spoken[0].start) if spoken else 0.0


def per_minute(n: float, seconds: float) -> float:
    """A rate per minute over ``seconds`` (0 over no time): words, fillers or keyword hits."""
    return n * 60.0 / seconds if seconds > 0 else 0.0


def pace(starts: Sequence[float], end: float, first: float) -> float | None:
    """Words per minute over the PACE_WINDOW seconds up to ``end`` (None over too little talk).

    ``starts`` are word start times, ``first`` the first word's start: before
    PACE_WINDOW seconds of talk the window is what there is.
    """
    span = min(PACE_WINDOW, end - first)
    if span < PACE_MIN_SPAN:
        return None
    return per_minute(sum(1 for t in starts if end - span <= t < end), span)


def nudge(wpm: float | None, low: float, high: float) -> str:
    """The overlay's one live hint: empty while the pace is in range (or unknown)."""
    if wpm is None:
        return ""
    if wpm > high:
        return f"{wpm:.0f} wpm — slow down"
    if wpm < low:
        return f"{wpm:.0f} wpm — a little faster"
    return ""

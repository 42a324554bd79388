"""Times in a talk as people read them: the one formatter every view and file uses."""

from __future__ import annotations


def clock(seconds: float, whole: bool = False) -> str:
    """01:28.4 (1:02:03.4 past an hour); ``whole`` gives 01:28, the citation form.

    Tenths are rounded before the minutes are split, so 59.96 s reads 01:00.0, never
    00:60.0. Whole seconds are cut, not rounded: a citation names the second a
    sentence starts in, and [01:28] must not point past a start at 88.6 s.
    """
    seconds = max(0.0, seconds)
    if whole:
        tenths, digits = int(seconds) * 10, 0
    else:
        tenths, digits = round(seconds * 10), 1
    m, tenth_s = divmod(tenths, 600)
    h, m = divmod(m, 60)
    s = f"{tenth_s // 10:02d}" + (f".{tenth_s % 10}" if digits else "")
    return f"{h}:{m:02d}:{s}" if h else f"{m:02d}:{s}"


def stamp(seconds: float) -> str:
    """The citation form: whole seconds, as summaries and answers cite the transcript ([01:28])."""
    return clock(seconds, whole=True)


def hms(seconds: float) -> str:
    """h:mm:ss, hours always shown: a length in an archive's table, not a moment in a talk."""
    m, s = divmod(round(max(0.0, seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"

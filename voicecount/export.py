"""Export a session: one writer per format, each writing to an open text file.

Subtitles are grouped into readable cues (a sentence, or at most CUE_MAX seconds)
from the engine's final segments, which are often only a few words long. SRT and
WebVTT timestamps are written by the `srt` and `webvtt-py` libraries.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from . import escape
from .clock import clock
from .config import Settings
from .errors import ConfigError
from .matcher import Word, ends_sentence, tokens
from .pace import per_minute, talk_seconds
from .session import Session, seconds_not_heard

FORMATS = ("txt", "srt", "vtt", "json", "csv", "md")
CUE_MAX = 7.0  # seconds: a subtitle longer than this is hard to read
CUE_GAP = 1.2  # seconds of silence that start a new cue

# Common English words left out of the report's "top words".
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
    out over own same she should so some such than that the their them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you your yours
    it's i'm that's there's we're they're don't can't won't let's i'll we'll""".split()  # noqa: SIM905 — one string reads as the word list it is
)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def cues(session: Session) -> list[Cue]:
    """Final segments grouped into subtitle cues: end at a sentence end, a pause, or CUE_MAX."""
    out: list[Cue] = []
    words: list[Word] = []

    def flush() -> None:
        if words:
            # One line whatever a word holds: a newline in a word would end an SRT/VTT cue early.
            text = " ".join(" ".join(w.text for w in words).split())
            out.append(Cue(words[0].start, max(words[-1].end, words[0].start + 0.3), text))
            words.clear()

    for seg in session.segments:
        for w in seg.words:
            if words and (w.start - words[-1].end > CUE_GAP or w.end - words[0].start > CUE_MAX):
                flush()
            words.append(w)
            if ends_sentence(w.text):
                flush()
    flush()
    # Cues must not overlap: word times from separate passes can touch.
    fixed: list[Cue] = []
    for c in out:
        start = max(c.start, fixed[-1].end) if fixed else max(c.start, 0.0)  # (a hand-edited journal)
        fixed.append(Cue(start, max(c.end, start + 0.1), c.text))
    return fixed


def shown_cues(session: Session, all_cues: list[Cue] | None = None) -> list[Cue]:
    """The cues a reader sees (of ``all_cues`` when already made): one of invisible characters only
    (zero-width, bidi marks, a terminal code) would be an empty line or an empty subtitle. (JSON and
    search keep every cue as said.)"""
    return [c for c in (cues(session) if all_cues is None else all_cues) if escape.one_line(c.text)]


SENTENCE_MAX = 30.0  # seconds: a transcript without full stops is not joined into one long "sentence"


def sentences(session: Session) -> list[Cue]:
    """Whole sentences: the cues joined again where a long sentence was cut for reading."""
    out: list[Cue] = []
    for c in cues(session):
        if out and not ends_sentence(out[-1].text) and c.end - out[-1].start <= SENTENCE_MAX:
            out[-1] = Cue(out[-1].start, c.end, f"{out[-1].text} {c.text}")
        else:
            out.append(c)
    return out


def write_txt(session: Session, f: TextIO) -> None:
    for c in shown_cues(session):
        f.write(f"[{clock(c.start)}] {escape.terminal(c.text)}\n")


def write_srt(session: Session, f: TextIO) -> None:
    import srt

    subs = [
        srt.Subtitle(i, timedelta(seconds=c.start), timedelta(seconds=c.end), escape.srt(c.text))
        for i, c in enumerate(shown_cues(session), 1)
    ]
    f.write(srt.compose(subs))


def write_vtt(session: Session, f: TextIO) -> None:
    from webvtt import Caption, WebVTT
    from webvtt.models import Timestamp

    def stamp(seconds: float) -> str:
        ms = round(seconds * 1000)
        h, rest = divmod(ms, 3_600_000)
        m, rest = divmod(rest, 60_000)
        s, ms = divmod(rest, 1000)
        return str(Timestamp(h, m, s, ms))

    vtt = WebVTT()
    for c in shown_cues(session):
        vtt.captions.append(Caption(stamp(c.start), stamp(c.end), escape.vtt(c.text)))
    vtt.write(f)


def _hit_dict(h) -> dict:
    return {**h.as_dict(), "confidence": round(h.probability, 3)}


def write_json(session: Session, f: TextIO, settings: Settings | None = None) -> None:
    m = session.meta
    data = {
        "id": m.id,
        "status": m.status,
        "started_at": m.started_at,
        "ended_at": m.ended_at,
        "command": m.command,
        "source": m.source,
        "device": m.device,
        "engine": m.engine,
        "model": m.model,
        "duration": round(session.duration, 2),
        "keywords": m.keywords,
        "counts": session.counts,
        "dropped_seconds": m.dropped_seconds,
        "interruptions": m.interruptions,
        "damaged": m.damaged,
        "segments": [
            {
                "start": round(s.start, 2),
                "end": round(s.end, 2),
                "text": s.text,
                "words": [
                    {
                        "word": w.text,
                        "start": round(w.start, 2),
                        "end": round(w.end, 2),
                        "probability": round(w.probability, 3),
                    }
                    for w in s.words
                ],
            }
            for s in session.segments
        ],
        "hits": [_hit_dict(h) for h in session.counted],
    }
    if m.summary:
        data["summary"] = m.summary
    from .coach import of_session

    data["speaking"] = of_session(session, settings).as_json()
    f.write(escape.json_text(data, indent=1) + "\n")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet will not run: one starting with = + - @ would be a formula."""
    # Spreadsheets trim leading spaces before they look for a formula.
    if isinstance(value, str) and value.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(session: Session, f: TextIO) -> None:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["time", "keyword", "matched_text", "confidence", "confirmed", "start", "end", "emitted_at"])
    for h in session.counted:
        w.writerow(
            [
                clock(h.start),
                csv_cell(escape.one_line(h.keyword)),
                csv_cell(escape.one_line(h.text)),
                f"{h.probability:.3f}",
                str(h.confirmed).lower(),
                f"{h.start:.2f}",
                f"{h.end:.2f}",
                f"{h.emitted_at:.2f}",
            ]
        )


def top_words(session: Session, n: int = 10) -> list[tuple[str, int]]:
    counter = Counter(
        t for s in session.segments for w in s.words for t in tokens(w.text) if t not in STOPWORDS and len(t) > 1
    )
    return counter.most_common(n)


@contextmanager
def _png(path: Path, height: float) -> Iterator[Any]:
    """Axes for a headless plot against minutes, saved to ``path`` as PNG when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Labels hold keyword names: "$5 or $" is text, not TeX math ("$$" made the report fail).
    with matplotlib.rc_context({"text.parse_math": False}):
        fig, ax = plt.subplots(figsize=(7, height), dpi=100)
        try:
            yield ax
            ax.set_xlabel("minutes")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(path)
        finally:
            plt.close(fig)


def plot_hits(session: Session, path: Path) -> Path:
    """A PNG of cumulative hits over time, one line per keyword."""
    with _png(path, 3) as ax:
        end_min = max(session.duration, 1.0) / 60
        for kw in session.meta.keyword_objects():
            times = sorted(h.start / 60 for h in session.counted if h.keyword == kw.name)
            xs = [0.0] + [t for t in times for _ in (0, 1)] + [end_min]
            ys = [0] + [v for i in range(len(times)) for v in (i, i + 1)] + [len(times)]
            # A label that starts with "_" is hidden from the legend: a space keeps "_private" in it.
            label = f"{kw.name} ({len(times)})"
            ax.plot(xs, ys, label=f" {label}" if label.startswith("_") else label, linewidth=2)
        ax.set_ylabel("hits so far")
        ax.set_xlim(0, end_min)
        ax.legend(loc="upper left")
        ax.set_title("Keyword hits over time")
    return path


def _sentence_of(sentences: Sequence[Cue], start: float, end: float) -> str:
    for c in sentences:
        if (c.start - 0.05 <= start and end <= c.end + 0.05) or c.start <= (start + end) / 2 <= c.end:
            return c.text
    return ""


def write_md(session: Session, f: TextIO, plot_path: Path | None = None, settings: Settings | None = None) -> None:
    m = session.meta
    sentences = cues(session)
    words = session.word_count()
    talk = talk_seconds(session.segments)
    wpm = session.words_per_minute()
    f.write(f"# voicecount session {_md(m.id)}\n\n")
    f.write(
        f"- Started: {_md(m.started_at)}  \n- Source: {_md(m.source)}  \n- Engine: {_md(m.engine)} {_md(m.model)}  \n"
    )
    f.write(f"- Duration: {clock(session.duration)} · {words} words · {wpm:.0f} words per minute  \n")
    notes = []
    if m.dropped_seconds:
        notes.append(f"audio dropped: {m.dropped_seconds:.1f} s")
    if m.interruptions:
        missing = seconds_not_heard(m.interruptions)
        notes.append(f"microphone lost {len(m.interruptions)}×, {missing:.0f} s not heard")
    if m.damaged:
        notes.append(f"{m.damaged} damaged piece(s) of the file skipped")
    f.write(f"- Status: {_md(m.status)}" + (f" ({'; '.join(notes)})" if notes else "") + "\n\n")
    f.write("## Counts\n\n| keyword | count | per minute |\n|---|---:|---:|\n")
    for name, n in session.counts.items():
        rate = per_minute(n, talk)
        f.write(f"| {_md(name)} | {n} | {rate:.2f} |\n")
    f.write("\n")
    if plot_path is not None:
        f.write(_image("Cumulative hits over time", plot_path))
    write_speaking(session, f, settings, None if plot_path is None else _pace_png(plot_path))
    if m.summary:
        f.write("## Summary\n\n" + summary_md(m.summary) + "\n")
        f.write("_The counts above are measured, not generated._\n\n")
    f.write("## Top words\n\n")
    f.write(", ".join(f"{_md(w)} ({n})" for w, n in top_words(session)) or "(none)")
    f.write("\n\n## Hits\n\n")
    if session.counted:
        f.write("| time | keyword | heard | sentence |\n|---|---|---|---|\n")
        for h in session.counted:
            f.write(
                f"| {clock(h.start)} | {_md(h.keyword)} | {_md(h.text)} | {_md(_sentence_of(sentences, h.start, h.end))} |\n"
            )
    else:
        f.write("No hits.\n")
    f.write("\n## Transcript\n\n")
    for c in shown_cues(session, sentences):
        f.write(f"**{clock(c.start)}** {_md(c.text)}  \n")


def _image(alt: str, png: Path) -> str:
    """A Markdown image of a plot beside the report; the name percent-encoded ("My Talk" has a space)."""
    return f"![{alt}]({quote(png.name)})\n\n"


def _pace_png(plot_path: Path) -> Path:
    return plot_path.with_name(plot_path.stem + "-pace.png")


def _times(times: Sequence[float], most: int = 6) -> str:
    shown = ", ".join(clock(t) for t in times[:most])
    return shown + (f", … (+{len(times) - most})" if len(times) > most else "")


def write_speaking(session: Session, f: TextIO, settings: Settings | None = None, pace_png: Path | None = None) -> None:
    """The coach's part of the report: pace, fillers, pauses, repeated phrases, each with times."""
    from .coach import of_session

    settings = settings or Settings()
    coach = settings.coach
    c = of_session(session, settings)
    f.write("## Speaking\n\n")
    line = f"- Pace: {c.wpm:.0f} words per minute overall (your range: {coach.pace_min}–{coach.pace_max})"
    if c.fastest and c.slowest:
        fast, slow = c.fastest, c.slowest
        line += f"; fastest 30 s {fast[1]:.0f} at {clock(fast[0])}, slowest {slow[1]:.0f} at {clock(slow[0])}"
    f.write(line + "  \n")
    fillers = "; ".join(f"{_md(u.text)} {u.count} ({_times(u.times)})" for u in c.fillers) or "none heard"
    f.write(
        f"- Fillers: {c.filler_total} ({c.fillers_per_minute:.1f} per minute, {c.filler_share:.1%} of words): {fillers}  \n"
    )
    if c.possible:
        possible = "; ".join(f"{_md(u.text)} {u.count} ({_times(u.times)})" for u in c.possible)
        f.write(f"- Possible fillers (ordinary words set off by commas, not in the count): {possible}  \n")
    pauses = ", ".join(f"{p.seconds:.1f} s at {clock(p.start)}" for p in c.pauses) or f"none over {coach.pause:g} s"
    f.write(f"- Longest pauses: {pauses}  \n")
    phrases = "; ".join(f"“{_md(u.text)}” {u.count}× ({_times(u.times)})" for u in c.phrases) or "none"
    f.write(f"- Repeated phrases: {phrases}\n\n")
    for note in c.notes:
        f.write(f"_{_md(note)}_\n\n")
    if pace_png is not None and c.pace:
        plot_pace(c.pace, (coach.pace_min, coach.pace_max), pace_png)
        f.write(_image("Pace over time", pace_png))


def plot_pace(series: Sequence[tuple[float, float]], band: tuple[int, int], path: Path) -> Path:
    """A PNG of words per minute over time, with the user's range shaded."""
    with _png(path, 2.6) as ax:
        ax.axhspan(band[0], band[1], color="tab:green", alpha=0.12, label=f"range {band[0]}–{band[1]}")
        ax.plot([t / 60 for t, _ in series], [w for _, w in series], linewidth=2, label="words per minute (last 30 s)")
        ax.set_ylabel("wpm")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("Pace over time")
    return path


def _md(text: str) -> str:
    return escape.markdown(text)


def summary_md(text: str) -> str:
    """A saved summary as Markdown: our bullet lines kept as bullets, every word of it escaped."""
    out = []
    for line in text.strip().splitlines():
        if line.startswith("- "):
            out.append("- " + _md(line[2:]))
        elif line.strip():
            out.append(_md(line) + "\n")
    return "\n".join(out) + "\n"


WRITERS: dict[str, Callable[[Session, TextIO], None]] = {
    "txt": write_txt,
    "srt": write_srt,
    "vtt": write_vtt,
    "json": write_json,
    "csv": write_csv,
}


def _write(session: Session, fmt: str, f: TextIO, settings: Settings | None, plot: Path | None = None) -> None:
    """One format's writer; the report also draws its plots beside ``plot`` when given one."""
    if fmt == "md":
        write_md(session, f, None if plot is None else plot_hits(session, plot), settings)
    elif fmt == "json":
        write_json(session, f, settings)
    else:
        WRITERS[fmt](session, f)


def default_name(session: Session, fmt: str) -> str:
    return f"voicecount-{session.id}.{fmt}"


def export(session: Session, fmt: str, out: Path | str | None, settings: Settings | None = None) -> Path | None:
    """Write ``session`` as ``fmt`` to ``out`` (a file or a folder), or to stdout when ``out`` is None.

    ``out`` is a folder when it is one, or when it ends with a slash ("reports/": made if need be).
    Returns the file written (None for stdout). The Markdown report writes its plot
    beside the file (to stdout: no plot).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}", f"choose one of: {', '.join(FORMATS)}")
    if out is not None:
        folder = str(out).endswith(("/", os.sep)) or str(out) == ""  # (a Path has lost its trailing slash)
        out = Path(out)
        if folder or out.is_dir():
            out = out / default_name(session, fmt)
    if out is None:
        import sys

        buf = io.StringIO()
        _write(session, fmt, buf, settings)
        sys.stdout.write(buf.getvalue())
        return None
    tmp = out.with_name(out.name + ".part")
    blocked = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:  # mkdir would say only "File exists"
        raise ConfigError(
            f"cannot write {escape.path_text(str(out))}: {escape.path_text(str(blocked))} is a file, not a folder",
            "choose another place with -o PATH",
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            _write(session, fmt, f, settings, out.with_suffix(".png") if fmt == "md" else None)
        tmp.replace(out)
    except OSError as e:
        raise ConfigError(f"cannot write {out} ({e.strerror})", "choose a writable place with -o PATH") from None
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)  # a write that failed, whatever the error, leaves no half file
    return out

"""The terminal view: progress bars, live lines while listening, and the end summaries.

A subscriber like the overlay and the web page: ``follow_count`` / ``follow_listen``
read one subscription on the calling (main) thread until the run ends. stdout carries
data (counts, count changes, final text); stderr carries messages, progress and the
live caption. Every line the terminal shows about a run is written here, once.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .clock import clock, hms
from .escape import json_text, one_line, terminal
from .events import (
    Caption,
    CountChange,
    CountResult,
    FinalText,
    Finished,
    KeywordsChanged,
    Progress,
    Ready,
    Resync,
    Status,
)
from .pace import per_minute

if TYPE_CHECKING:
    from .batch import FileResult
    from .coach import Coaching
    from .pipeline import Subscription
    from .search import Passage, Result
    from .session import Session
    from .summarize import Summary


def totals(counts: dict[str, int], sep: str = " ", eq: str = "=") -> str:
    return sep.join(f"{one_line(k)}{eq}{v}" for k, v in counts.items())


class LogProgress:
    """Progress for a log file or pipe: a line at every quarter, no carriage returns."""

    def __init__(self, total: float | None, desc: str = "counting", unit: str = "s audio") -> None:
        self.total = total
        self.desc, self.unit = desc, unit
        self.next = 0.25
        self._counts = ""

    def update(self, seconds: float) -> None:
        if self.total and seconds / self.total >= self.next:
            # Updates can come far apart (once per utterance): print the share reached, once.
            share = min(1.0, seconds / self.total)
            print(
                f"{self.desc}: {int(share * 100)}% ({seconds:.0f}/{self.total:.0f} {self.unit}) {self._counts}".rstrip(),
                file=sys.stderr,
                flush=True,
            )
            while self.next <= share:
                self.next += 0.25

    def counts(self, counts: dict) -> None:
        self._counts = totals(counts)

    def close(self, finished: bool = True) -> None:
        """The last line: 100% only when the audio was read to its end (not after Ctrl-C or an error)."""
        if finished and self.total and self.next <= 1.0:
            print(
                f"{self.desc}: 100% ({self.total:.0f}/{self.total:.0f} {self.unit}) {self._counts}".rstrip(),
                file=sys.stderr,
            )


class BarProgress:
    """A tqdm bar on a terminal."""

    def __init__(self, total: float | None, desc: str = "counting", unit: str = "s audio") -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=round(total, 1) if total else None,
            desc=desc,
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} "
            + unit
            + " [{elapsed}<{remaining}]{postfix}",
        )

    def update(self, seconds: float) -> None:
        self.bar.update(round(seconds, 1) - self.bar.n)

    def counts(self, counts: dict) -> None:
        self.bar.set_postfix_str(totals(counts), refresh=False)

    def close(self, finished: bool = True) -> None:
        self.bar.close()


def progress(total: float | None, desc: str = "counting", unit: str = "s audio") -> BarProgress | LogProgress:
    """A bar on a terminal, a line per quarter in a log."""
    return BarProgress(total, desc, unit) if sys.stderr.isatty() else LogProgress(total, desc, unit)


def _behind(ev: Resync) -> None:
    print(
        f"voicecount: the terminal fell behind: {ev.skipped} live updates not shown; now {totals(dict(ev.state.counts))}",
        file=sys.stderr,
    )


# ---------------------------------------------------------------------------- count


def follow_count(view: Subscription, total: float | None, show_progress: bool = True) -> None:
    """A progress bar (from the moment the model is loaded) until the run ends."""
    bar = None
    finished = False
    try:
        for ev in view:
            finished = finished or isinstance(ev, Finished)
            if isinstance(ev, Ready) and show_progress:
                bar = progress(total)
            elif bar is None:
                continue
            elif isinstance(ev, Progress):
                bar.update(ev.audio_seconds)
            elif isinstance(ev, CountChange):
                bar.counts(ev.counts)
            elif isinstance(ev, Resync):
                bar.update(ev.state.audio_seconds)
                bar.counts(dict(ev.state.counts))
    finally:
        if bar is not None:
            bar.close(finished)


def print_count_result(result: CountResult, as_json: bool) -> None:
    if as_json:
        print(json_text(result.as_json()))
        return
    for name, n in result.counts.items():
        print(f"{one_line(name)}: {n}")
    print(
        f"voicecount: {clock(result.duration)} of audio, {result.engine} {one_line(result.model)}; "
        f"session {result.session_id} saved (voicecount export {result.session_id} --format md)",
        file=sys.stderr,
    )


# ---------------------------------------------------------------------------- listen


def tail_fitting(text: str, columns: int) -> str:
    """The end of ``text`` that fits in ``columns`` terminal cells (East Asian wide characters take two)."""
    used = 0
    for i in range(len(text) - 1, -1, -1):
        used += 2 if unicodedata.east_asian_width(text[i]) in "WF" else 1
        if used > columns:
            return text[i + 1 :]
    return text


def follow_listen(view: Subscription) -> None:
    """Live lines until the run ends: count changes and final text on stdout, caption and status on stderr."""
    tty = sys.stderr.isatty()
    last_caption = ""
    for ev in view:
        if tty and last_caption and not isinstance(ev, Caption):
            # The caption line is rewritten in place: clear it before anything else is printed.
            print("\r\033[K", end="", file=sys.stderr, flush=True)
            last_caption = ""
        if isinstance(ev, Ready):
            print(f"voicecount: listening to {one_line(ev.source)} — Ctrl-C to stop", file=sys.stderr)
        elif isinstance(ev, Caption):
            if ev.text and ev.text != last_caption:
                last_caption = ev.text
                if tty:
                    # One screen row at most, or the rewrite leaves wrapped rows behind.
                    room = max(10, shutil.get_terminal_size().columns - 3)
                    print("\r\033[K… " + tail_fitting(one_line(ev.text), room), end="", file=sys.stderr, flush=True)
                else:
                    print("… " + one_line(ev.text), file=sys.stderr, flush=True)
        elif isinstance(ev, FinalText):
            print(f"> {one_line(ev.text)}", flush=True)
            last_caption = ""
        elif isinstance(ev, CountChange):
            h = ev.change.hit
            what = {
                "added": "+1 confirmed" if h.confirmed else "+1 provisional",
                "confirmed": "confirmed",
                "retracted": "-1 retracted",
            }[ev.change.kind]
            print(f"[{clock(h.start)}] {one_line(h.keyword)} {what} ({h.text!r})  {totals(ev.counts)}", flush=True)
        elif isinstance(ev, KeywordsChanged):
            print(f"voicecount: keywords {', '.join(one_line(k.name) for k in ev.keywords)}", file=sys.stderr)
        elif isinstance(ev, Status):
            label = (
                {"lost": "microphone lost:", "listening": "listening:"}.get(ev.state, ev.state)
                if ev.detail
                else ev.state
            )
            print(f"voicecount: {label} {ev.detail}".rstrip(), file=sys.stderr)
        elif isinstance(ev, Resync):
            _behind(ev)


def print_listen_result(result: CountResult) -> None:
    """The end of a listen run: the totals on stdout, where the session went on stderr."""
    if not result.session_id:
        return  # stopped while the model was loading: nothing was heard
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(f"total {totals(result.counts, ', ', ': ')} in {clock(result.duration)}", flush=True)
    print(
        f"voicecount: session {result.session_id} saved — export it with: "
        f"voicecount export {result.session_id} --format md",
        file=sys.stderr,
    )
    if result.dropped_seconds:
        print(f"voicecount: {result.dropped_seconds:.1f} s of audio dropped (the engine fell behind)", file=sys.stderr)


# ---------------------------------------------------------------------------- count, many files


class BatchTable:
    """The per-file table on stdout, a row as each file is done, and the totals line at the end."""

    def __init__(self, names: Sequence[str], keywords: Sequence[str]) -> None:
        self.keywords = list(keywords)
        self.width = min(48, max([len(one_line(n)) for n in names] + [len("file"), len("total")]))
        self.duration = 0.0
        self.talk = 0.0
        self.words = 0
        self.counts = dict.fromkeys(self.keywords, 0)
        self.done = self.failed = self.cached = 0

    def _line(self, name: str, duration: str, wpm: str, counts: Sequence[str], note: str = "") -> str:
        name = one_line(name)  # a file's name is data: no escape sequence reaches the terminal
        name = name if len(name) <= self.width else "…" + name[-(self.width - 1) :]
        cells = "".join(f"{c:>{max(6, len(one_line(k)) + 2)}}" for k, c in zip(self.keywords, counts))
        return f"{name:<{self.width}}  {duration:>8}  {wpm:>5}{cells}  {note}".rstrip()

    def header(self) -> str:
        return self._line("file", "duration", "wpm", [one_line(k) for k in self.keywords])

    def row(self, r: FileResult) -> str:
        """The file's line (stdout); a file that failed is counted here and reported by ``failed_line``."""
        if r.error:
            self.failed += 1
            return self._line(r.file, "-", "-", ["-"] * len(self.keywords), "failed")
        self.done += 1
        self.cached += r.cached
        self.duration += r.duration
        self.talk += r.talk or r.duration
        self.words += r.words
        for k in self.keywords:
            self.counts[k] += r.counts.get(k, 0)
        counts = [str(r.counts.get(k, 0)) for k in self.keywords]
        return self._line(r.file, hms(r.duration), f"{r.wpm:.0f}", counts, "(counted before)" * r.cached)

    def total(self) -> str:
        wpm = per_minute(self.words, self.talk)
        return self._line("total", hms(self.duration), f"{wpm:.0f}", [str(self.counts[k]) for k in self.keywords])

    def summary(self) -> str:
        """The closing message (stderr)."""
        parts = [f"{plural(self.done, 'file')} counted ({hms(self.duration)} of audio)"]
        if self.cached:
            parts.append(f"{self.cached} of them counted before with the same settings (--force counts again)")
        text = "voicecount: " + "; ".join(parts)
        if self.failed:
            text += f"; {self.failed} failed — see the lines above, fix or remove those files and run again"
        return text


def failed_line(r: FileResult) -> str:
    """The one-line notice for a file that could not be counted (its name and the error are data)."""
    return f"voicecount: skipped {one_line(r.file)}: {one_line(r.error or '')}"


def tracks_line(name: str, tracks: int) -> str:
    """The notice for a recording with several audio tracks, counted on the first (OBS and Zoom can
    put the microphone apart)."""
    return (
        f"voicecount: {one_line(name)} has {tracks} audio tracks; track 1 was counted — to count another, "
        f"add --track 2{f' (up to {tracks})' if tracks > 2 else ''}"
    )


def damaged_line(name: str, pieces: int, seconds: float = 0.0) -> str:
    """The notice for a file decoded with damaged pieces skipped (count, one file or many)."""
    missing = f", {seconds:.1f} s of audio in all" if seconds >= 0.05 else ""
    return (
        f"voicecount: {pieces} damaged piece(s) of {one_line(name)} would not decode and were skipped{missing} — "
        "the rest was counted; repair or re-export the file to hear all of it"
    )


class BatchProgress:
    """One bar over the whole batch: files and hours of audio done, time left (by audio, the work's measure)."""

    def __init__(self, files: int, audio_seconds: float, show: bool = True) -> None:
        self.files, self.total = files, audio_seconds
        self.n = 0
        self.audio = 0.0  # seconds of the files done
        self.decoded = 0.0  # of those, the seconds decoded in this run (not counted before)
        self.show = show
        self.bar = None
        if show and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=round(audio_seconds / 3600, 3) or None,
                file=sys.stderr,
                bar_format="counting: {percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}]",
            )
            self._describe()

    def _describe(self) -> None:
        assert self.bar is not None
        self.bar.set_description_str(
            f"{self.n}/{self.files} files, {self.audio / 3600:.2f}/{self.total / 3600:.2f} h audio", refresh=True
        )

    def write(self, line: str, err: bool = False) -> None:
        """A table row or message without tearing the bar."""
        stream = sys.stderr if err else sys.stdout
        if self.bar is not None:
            self.bar.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    def advance(self, audio_seconds: float, cached: bool = False) -> None:
        """One file done; a file counted by an earlier run took no decoding and leaves the bar.

        The bar measures decoded audio, so its rate — and the time left — is not inflated
        by hours of results read back from a resumed run.
        """
        self.n += 1
        self.audio += audio_seconds
        if self.bar is not None:
            if cached:
                if self.bar.total:
                    self.bar.total = max(self.bar.n, round(self.bar.total - audio_seconds / 3600, 3)) or None
            else:
                self.decoded += audio_seconds
                self.bar.update(round(self.decoded / 3600, 3) - self.bar.n)
            self._describe()
        elif self.show:
            print(
                f"counting: {self.n}/{self.files} files, {self.audio / 3600:.2f}/{self.total / 3600:.2f} h audio",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def print_speaking(c: Coaching) -> None:
    """The coach's numbers in `sessions show`: pace, fillers, pauses, repeated phrases."""
    line = f"pace      {c.wpm:.0f} words per minute"
    if c.fastest:
        line += f" (fastest 30 s: {c.fastest[1]:.0f} at {clock(c.fastest[0])})"
    print(line)
    which = ", ".join(f"{one_line(u.text)} {u.count}" for u in c.fillers)
    floor = "" if c.filler_mode else "  (not in filler mode: a floor)"
    print(
        f"fillers   {c.filler_total}{': ' + which if which else ''} "
        f"({c.fillers_per_minute:.1f}/min, {c.filler_share:.1%} of words){floor}"
    )
    if c.possible:
        print(
            "possible  "
            + ", ".join(f"{one_line(u.text)} {u.count}" for u in c.possible)
            + " (ordinary words set off by commas)"
        )
    if c.pauses:
        print("pauses    " + ", ".join(f"{p.seconds:.1f} s at {clock(p.start)}" for p in c.pauses))
    if c.phrases:
        print("repeated  " + ", ".join(f"“{one_line(u.text)}” {u.count}×" for u in c.phrases[:5]))


# ---------------------------------------------------------------------------- sessions


def _minute(iso: str) -> str:
    """A session's start as listed: 2026-11-26 19:17."""
    return one_line(iso).replace("T", " ")[:16]


def print_sessions(all_: Sequence[Session]) -> None:
    """`sessions list`: one line per session, newest first."""
    for s in all_:
        m = s.meta
        status, command = one_line(m.status), one_line(m.command)
        print(
            f"{one_line(m.id)}  {_minute(m.started_at)}  {clock(s.duration):>8}  {status:<9}  {totals(s.counts)}  {command}: {one_line(m.source)}"
        )


def interruptions(items: list[dict]) -> str:
    """ "microphone lost 2× (14 s not heard) at 12:03, 40:10" for sessions show."""
    from .session import seconds_not_heard

    missing = seconds_not_heard(items)
    at = ", ".join(clock(i.get("at", 0.0)) for i in items)
    return f"microphone lost {len(items)}× ({missing:.0f} s not heard) at {at}"


def print_session(s: Session, coaching: Coaching) -> None:
    """`sessions show`: what was recorded, the counts, the coach's numbers, then the transcript."""
    from .export import write_txt

    m = s.meta
    print(f"session   {one_line(m.id)} ({one_line(m.status)})")
    print(f"started   {one_line(m.started_at)}" + (f", ended {one_line(m.ended_at)}" if m.ended_at else ""))
    print(f"source    {one_line(m.source)}" + (f" [{one_line(m.device)}]" if m.device else ""))
    print(f"engine    {one_line(m.engine)} {one_line(m.model)}")
    print(f"duration  {clock(s.duration)}, {s.word_count()} words")
    print("counts    " + totals(s.counts, ", ", ": "))
    print_speaking(coaching)
    if m.dropped_seconds:
        print(f"dropped   {m.dropped_seconds:.1f} s of audio (the engine fell behind)")
    if m.interruptions:
        print(f"input     {interruptions(m.interruptions)}")
    if m.damaged:
        print(f"damaged   {m.damaged} piece(s) of the file would not decode and were skipped")
    if m.error:
        print(f"error     {one_line(m.error)}")
    print(f"folder    {s.path}")
    print()
    write_txt(s, sys.stdout)


# ---------------------------------------------------------------------------- search and ask


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _highlight(text: str) -> str:
    """Matched words (between search.MARKS) in bold on a terminal that takes colour; else the marks stay."""
    from .search import MARKS

    if not sys.stdout.isatty() or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return text
    return text.replace(MARKS[0], "\033[1m").replace(MARKS[1], "\033[22m") + "\033[0m"


def print_search(results: Sequence[Result], query: str, session: str | None, limit: int, as_json: bool) -> None:
    """`search`: a line per matching sentence (or JSON) on stdout; what they are, or that none matched, on stderr."""
    if as_json:
        print(json_text([r.as_json() for r in results]))
    else:
        for r in results:
            snippet = _highlight(one_line(r.snippet))
            print(f"{one_line(r.session)}  {one_line(_minute(r.started_at))}  {clock(r.start):>8}  {snippet}")
    if not results:
        where = f"session {session}" if session else "any session"
        print(
            f"voicecount: nothing in {where} matches {one_line(query)!r} — try fewer words, or other ones",
            file=sys.stderr,
        )
        return
    sessions = len({r.session for r in results})
    some = sum(not r.all_words for r in results)
    note = f"; the last {some} have only some of the words" if some and some < len(results) else ""
    if some == len(results):
        note = "; none has every word: these have some of them"
    more = f" (the first {limit}: --limit N shows more)" if len(results) == limit else ""
    print(
        f"voicecount: {plural(len(results), 'hit')} in {plural(sessions, 'session')}, best first{note}{more}",
        file=sys.stderr,
    )


def _answer_json(reply: Summary | None) -> dict:
    """The --model answer for --json: its cited lines, and how many lines the check dropped."""
    if reply is None:
        return {"label": "", "lines": [], "dropped": 0}
    lines = [{"times": list(line.times), "text": line.text} for line in reply.lines]
    return {"label": reply.label, "lines": lines, "dropped": len(reply.dropped)}


def print_passages(
    found: Sequence[Passage], terms: Sequence[str], as_json: bool, reply: Summary | None, asked_model: bool
) -> None:
    """`ask`: the passages with their times, or JSON (with the model's checked answer when asked for)."""
    if as_json:
        data = [p.as_json() for p in found]
        print(json_text({"passages": data, "answer": _answer_json(reply)} if asked_model else data))
    else:
        for p in found:
            print(f"[{clock(p.start)} – {clock(p.end)}]")
            for i, cue in enumerate(p.cues):
                print(f"{'>' if i in p.matched else ' '} {clock(cue.start):>8}  {one_line(cue.text)}")
            print()
    if not found:
        print(
            f"voicecount: no passage of that session mentions {one_line(', '.join(terms))} — ask with other words "
            "the speaker may have used, or search every session: voicecount search WORDS",
            file=sys.stderr,
        )
        return
    print(
        f"voicecount: {plural(len(found), 'passage')} of session {found[0].session}, best first ('>' marks the matching "
        "sentences; quotes from the transcript)",
        file=sys.stderr,
    )


def print_answer(reply: Summary) -> None:
    """The model's answer to `ask --model`: only lines that cite the transcript and passed the check."""
    print(terminal(reply.text), end="", flush=True)

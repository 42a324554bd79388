"""The terminal view: progress bars, live lines while listening, and the end summaries.

A subscriber like the overlay and the web page: ``follow_count`` / ``follow_listen``
read one subscription on the calling (main) thread until the run ends. stdout carries
data (counts, count changes, final text); stderr carries messages, progress and the
live caption. Every line the terminal shows about a run is written here, once.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from .events import Caption, CountChange, CountResult, FinalText, KeywordsChanged, Progress, Ready, Resync, Status

if TYPE_CHECKING:
    from .pipeline import Subscription


def fmt_time(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def totals(counts: dict[str, int], sep: str = " ", eq: str = "=") -> str:
    return sep.join(f"{k}{eq}{v}" for k, v in counts.items())


class LogProgress:
    """Progress for a log file or pipe: a line at every quarter, no carriage returns."""

    def __init__(self, total: float | None) -> None:
        self.total = total
        self.next = 0.25
        self._counts = ""

    def update(self, seconds: float) -> None:
        if self.total and seconds / self.total >= self.next:
            pct = min(100, int(self.next * 100))
            print(
                f"counting: {pct}% ({seconds:.0f}/{self.total:.0f} s audio) {self._counts}".rstrip(),
                file=sys.stderr,
                flush=True,
            )
            self.next += 0.25

    def counts(self, counts: dict) -> None:
        self._counts = totals(counts)

    def close(self) -> None:
        if self.total and self.next <= 1.0:
            print(
                f"counting: 100% ({self.total:.0f}/{self.total:.0f} s audio) {self._counts}".rstrip(), file=sys.stderr
            )


class BarProgress:
    """A tqdm bar on a terminal."""

    def __init__(self, total: float | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=round(total, 1) if total else None,
            unit="s",
            desc="counting",
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]{postfix}",
        )

    def update(self, seconds: float) -> None:
        self.bar.update(round(seconds, 1) - self.bar.n)

    def counts(self, counts: dict) -> None:
        self.bar.set_postfix_str(totals(counts), refresh=False)

    def close(self) -> None:
        self.bar.close()


def progress(total: float | None) -> BarProgress | LogProgress:
    return BarProgress(total) if sys.stderr.isatty() else LogProgress(total)


def _behind(ev: Resync) -> None:
    print(
        f"voicecount: the terminal fell behind: {ev.skipped} live updates not shown; now {totals(dict(ev.state.counts))}",
        file=sys.stderr,
    )


# ---------------------------------------------------------------------------- count


def follow_count(view: Subscription, total: float | None, show_progress: bool = True) -> None:
    """A progress bar (from the moment the model is loaded) until the run ends."""
    bar = None
    try:
        for ev in view:
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
            bar.close()


def print_count_result(result: CountResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
        return
    for name, n in result.counts.items():
        print(f"{name}: {n}")
    print(
        f"voicecount: {fmt_time(result.duration)} of audio, {result.engine} {result.model}; "
        f"session {result.session_id} saved (voicecount export {result.session_id} --format md)",
        file=sys.stderr,
    )


# ---------------------------------------------------------------------------- listen


def follow_listen(view: Subscription) -> None:
    """Live lines until the run ends: count changes and final text on stdout, caption and status on stderr."""
    tty = sys.stderr.isatty()
    last_caption = ""
    for ev in view:
        if isinstance(ev, Ready):
            print(f"voicecount: listening to {ev.source} — Ctrl-C to stop", file=sys.stderr)
        elif isinstance(ev, Caption):
            if ev.text and ev.text != last_caption:
                last_caption = ev.text
                if tty:
                    print("\r\033[K… " + ev.text[-100:], end="", file=sys.stderr, flush=True)
                else:
                    print("… " + ev.text, file=sys.stderr, flush=True)
        elif isinstance(ev, FinalText):
            if tty:
                print("\r\033[K", end="", file=sys.stderr)
            print(f"> {ev.text}", flush=True)
            last_caption = ""
        elif isinstance(ev, CountChange):
            h = ev.change.hit
            what = {
                "added": "+1 confirmed" if h.confirmed else "+1 provisional",
                "confirmed": "confirmed",
                "retracted": "-1 retracted",
            }[ev.change.kind]
            print(f"[{fmt_time(h.start)}] {h.keyword} {what} ({h.text!r})  {totals(ev.counts)}", flush=True)
        elif isinstance(ev, KeywordsChanged):
            print(f"voicecount: keywords {', '.join(k.name for k in ev.keywords)}", file=sys.stderr)
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
    print(f"total {totals(result.counts, ', ', ': ')} in {fmt_time(result.duration)}", flush=True)
    print(
        f"voicecount: session {result.session_id} saved — export it with: "
        f"voicecount export {result.session_id} --format md",
        file=sys.stderr,
    )
    if result.dropped_seconds:
        print(f"voicecount: {result.dropped_seconds:.1f} s of audio dropped (the engine fell behind)", file=sys.stderr)

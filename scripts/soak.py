"""Soak the live path: hours of concatenated speech at full speed, memory recorded every minute.

The dev talks and real recordings are played back to back (cycling) through the exact
pipeline `listen` runs — source → engine → matcher → session journal, no transcript
kept in memory (the journal on disk has it) — as one long stream. They are
shuffled (fixed seed) so that the first ten minutes hold both short synthetic sentences
and long real recordings, as a real talk would: the engine's working set grows with the
longest utterance it has decoded so far. RSS is sampled every minute of audio; the goal
is < 10 % growth after the first 10 minutes. Results go to BENCHMARKS.md.

    python scripts/soak.py                    # two hours of audio (about 45 min on 2 cores)
    python scripts/soak.py --minutes 30       # a shorter look
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import AUDIO, BENCH_MD, commit, machine, write_section  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench:soak:begin -->", "<!-- bench:soak:end -->"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ChainedFiles:
    """One long stream made of many recordings, like a talk that never stops."""

    live = False

    def __init__(self, files: list[Path], seconds: float) -> None:
        from voicecount.audio import SAMPLE_RATE

        self.files, self.limit = files, int(seconds * SAMPLE_RATE)
        self.description = f"{len(files)} recordings, cycled"
        self._stop = False

    dropped_seconds = 0.0

    def stop(self) -> None:
        self._stop = True

    def chunks(self) -> Iterator[np.ndarray]:
        from voicecount.audio import FileSource

        sent = 0
        for f in cycle(self.files):
            for chunk in FileSource(f).chunks():
                if self._stop or sent >= self.limit:
                    return
                sent += chunk.size
                yield chunk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    started_at = commit()  # the code that runs is the code at the start, whatever happens to the tree meanwhile
    files = sorted((AUDIO / "dev").glob("*.wav")) + sorted((AUDIO / "real").glob("*.wav"))
    random.Random(0).shuffle(files)
    with tempfile.TemporaryDirectory() as home:
        os.environ["VOICECOUNT_HOME"] = home
        from voicecount import session as sessions
        from voicecount.engines import create_engine
        from voicecount.events import Progress
        from voicecount.matcher import DEFAULT_KEYWORDS
        from voicecount.run import Record, Run

        engine = create_engine("whisper", args.model)
        source = ChainedFiles(files, args.minutes * 60)
        run = Run(source, lambda: engine, DEFAULT_KEYWORDS, Record("listen", source.description), keep_transcript=False)
        view = run.pipeline.subscribe()
        samples: list[tuple[float, float]] = []  # (audio minutes, RSS MB)
        next_minute = 0.0
        t0 = time.perf_counter()
        run.start()
        for ev in view:
            if isinstance(ev, Progress) and ev.audio_seconds / 60 >= next_minute:
                samples.append((ev.audio_seconds / 60, rss_mb()))
                print(
                    f"  {ev.audio_seconds / 60:6.1f} min audio  RSS {samples[-1][1]:6.0f} MB  "
                    f"{time.perf_counter() - t0:6.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                next_minute += 1
        result = run.wait()
        wall = time.perf_counter() - t0
        journal_mb = (sessions.load(result.session_id).path / "journal.jsonl").stat().st_size / 1e6

    after10 = [r for m, r in samples if m >= 10] or [r for _, r in samples]
    base, peak = after10[0], max(after10)
    growth = (peak - base) / base * 100
    minutes = result.duration / 60
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    every = max(1, len(samples) // 12)
    curve = ", ".join(f"{m:.0f}′ {r:.0f}" for m, r in samples[::every])
    verdict = "met" if growth < 10 else "MISSED"
    print(
        f"{minutes:.0f} min audio in {wall:.0f} s (RTF {wall / result.duration:.2f}); RSS after 10 min {base:.0f} → "
        f"peak {peak:.0f} MB ({growth:+.1f} %, goal < 10 %: {verdict}); journal {journal_mb:.1f} MB; counts {result.counts}"
    )
    block = (
        f"{MARK_BEGIN}\n## Soak: the live path on {minutes:.0f} minutes of speech\n\n"
        f"Latest run: {stamp}, commit {started_at}, whisper {args.model}. Machine: {machine()}.\n\n"
        "| audio | wall time | RTF | RSS at 10 min | peak RSS after 10 min | growth (goal < 10 %) | journal |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {minutes:.0f} min | {wall:.0f} s | {wall / result.duration:.2f} | {base:.0f} MB | {peak:.0f} MB | "
        f"{growth:+.1f} % ({verdict}) | {journal_mb:.1f} MB |\n\n"
        f"RSS (MB) by minute of audio: {curve}.\n\nMade by `python scripts/soak.py --minutes {args.minutes:g}`.\n{MARK_END}"
    )
    line = (
        f"- {stamp} `{started_at}` soak whisper:{args.model} {minutes:.0f} min: RTF {wall / result.duration:.2f}, "
        f"RSS {base:.0f}→{peak:.0f} MB ({growth:+.1f} %)"
    )
    if not args.no_write:
        write_section(MARK_BEGIN, MARK_END, block, line)
        print(f"soak: wrote {BENCH_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

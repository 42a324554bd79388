"""Listen on the default microphone with the real engine made slower than speech for a while.

Run by test_microphone.py against the PulseAudio virtual microphone, to force a backlog:
the Whisper engine is the real one, only slowed down (it sleeps after each chunk until it
has taken FACTOR × the chunk's duration) for the first THROTTLED seconds of audio it gets,
then runs at its own speed again. Prints one JSON line per status change, and a final JSON
summary when stdin says "stop".

    python tests/throttled_listen.py FACTOR THROTTLED_SECONDS
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's voicecount, installed or not

from voicecount.audio import SAMPLE_RATE, MicrophoneSource
from voicecount.engines import create_engine
from voicecount.events import Progress, Ready, Status
from voicecount.matcher import DEFAULT_KEYWORDS
from voicecount.run import Record, Run
from voicecount.session import load


class Throttled:
    """The real engine, taking ``factor`` × real time per chunk until ``until`` seconds of audio."""

    def __init__(self, engine, factor: float, until: float) -> None:
        self.engine, self.factor, self.until, self.audio = engine, factor, until, 0.0

    def accept(self, chunk):
        t0 = time.perf_counter()
        events = self.engine.accept(chunk)
        seconds = chunk.size / SAMPLE_RATE
        if self.audio < self.until:
            time.sleep(max(0.0, seconds * self.factor - (time.perf_counter() - t0)))
        self.audio += seconds
        return events

    def __getattr__(self, name):
        return getattr(self.engine, name)


def main() -> int:
    factor, until = float(sys.argv[1]), float(sys.argv[2])
    source = MicrophoneSource("pulse", max_queue_seconds=2.0)
    source.open()
    engine = lambda: Throttled(create_engine("whisper", "tiny.en"), factor, until)
    run = Run(source, engine, DEFAULT_KEYWORDS, Record("listen", source.description), queue_seconds=1.0)
    view = run.pipeline.subscribe()
    run.start()
    threading.Thread(target=lambda: (sys.stdin.readline(), run.pipeline.stop()), daemon=True).start()
    audio = 0.0
    for ev in view:
        if isinstance(ev, Ready):
            print(json.dumps({"ready": True}), flush=True)
        elif isinstance(ev, Progress):
            audio = ev.audio_seconds
        elif isinstance(ev, Status):
            print(json.dumps({"status": ev.state, "audio": round(audio, 1), "detail": ev.detail}), flush=True)
    result = run.wait()
    saved = load(result.session_id)
    print(
        json.dumps(
            {
                "dropped_seconds": result.dropped_seconds,
                "session_dropped_seconds": saved.meta.dropped_seconds,
                "counts": result.counts,
                "hits": [h.start for h in result.hits if not h.retracted],
                "backlog_bound": source.max_backlog_seconds,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

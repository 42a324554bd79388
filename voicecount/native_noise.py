"""Keep what PortAudio, ALSA and JACK print from C off the user's terminal; let the rest through.

C libraries write to file descriptor 2 directly, from any thread — when a microphone
vanishes, PortAudio prints a few lines on every attempt to reopen it. Redirecting fd 2 for a
moment cannot be done from a worker thread without swallowing the main thread's messages,
so instead, for the commands that touch audio devices, Python's own ``sys.stderr`` moves to
a copy of the terminal and fd 2 becomes a pipe whose lines a relay thread forwards unless
they are known noise. ``VOICECOUNT_DEBUG=1`` leaves everything as it is.
"""

from __future__ import annotations

import io
import os
import sys
import threading

NOISE = (
    b"Expression '",  # PortAudio's ALSA host API
    b"ALSA lib ",
    b"Cannot connect to server",  # JACK probing
    b"jack server is not running",
    b"JackShmReadWritePtr",
    b"Cannot open",
    b"connect(2) call to",
    b"attempt to connect to server failed",
)


def is_noise(line: bytes) -> bool:
    """A line native audio code prints that tells the user nothing they can act on."""
    stripped = line.strip()
    return not stripped or any(stripped.startswith(n) for n in NOISE)


def filter_native_stderr() -> None:
    """From now on, native audio noise on fd 2 is dropped; Python's messages go straight out."""
    if os.environ.get("VOICECOUNT_DEBUG") or os.name == "nt" or getattr(sys.stderr, "_voicecount_filtered", False):
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError, AttributeError):
        return  # no usable fd 2 (embedded, pythonw): nothing to filter
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    stream = io.TextIOWrapper(io.FileIO(real, "w"), encoding=encoding, errors="backslashreplace", line_buffering=True)
    stream._voicecount_filtered = True  # type: ignore[attr-defined]
    sys.stderr = stream
    os.dup2(write_end, 2)
    os.close(write_end)
    threading.Thread(target=_relay, args=(read_end, real), name="voicecount-stderr", daemon=True).start()


def _relay(read_end: int, real: int) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if not is_noise(line):
                try:
                    os.write(real, line)
                except OSError:
                    return

"""Audio sources: microphone (sounddevice or PyAudio) and files, all yielding the same chunks.

Every source yields 16 kHz mono int16 numpy arrays of about ``CHUNK_SECONDS``.
Whatever the device or file rate and channel count, PyAV's resampler (it ships
with faster-whisper) converts it, so a 44.1 or 48 kHz stereo microphone works.
A source's ``chunks()`` generator runs in the pipeline's reader thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .backends import BACKENDS, Backend, InputDevice, Stream, get_backend, no_microphone
from .errors import AudioError
from .escape import one_line

__all__ = ["BACKENDS", "InputDevice"]  # re-exported: callers find devices here, as before

SAMPLE_RATE = 16000
CHUNK_SECONDS = 0.1
CHUNK = int(SAMPLE_RATE * CHUNK_SECONDS)
MIN_JUMP = 0.05  # seconds: a jump in the frames' times this large is audio the demuxer skipped
MAX_GAP = 30.0  # seconds of damaged audio given back as silence at most (a larger jump is no gap)
STALL_SECONDS = 3.0  # a running stream that delivers nothing for this long has lost its device
RETRY_SECONDS = 2.0  # how often a lost microphone is looked for again


@dataclass(frozen=True)
class InputNotice:
    """Not audio: yielded between chunks when the microphone goes away ("lost") or returns ("back")."""

    state: str
    detail: str
    missing: float = 0.0  # with "back": seconds during which no audio could be heard


class AudioSource(Protocol):
    """Anything that yields 16 kHz mono int16 chunks until it ends or ``stop()`` is called.

    A live source may also yield an ``InputNotice`` when its device goes away or comes back.
    """

    description: str

    def chunks(self) -> Iterator[np.ndarray | InputNotice]: ...

    def stop(self) -> None: ...

    @property
    def dropped_seconds(self) -> float: ...


class _Resampler:
    """Streaming conversion of interleaved int16 at any rate/channels to 16 kHz mono."""

    def __init__(self, rate: int, channels: int) -> None:
        import av

        self.rate, self.channels = int(rate), int(channels)
        self._av = av
        self._layout = "mono" if channels == 1 else "stereo" if channels == 2 else None
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._pts = 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        samples = samples.reshape(-1, self.channels)
        if self._layout is None:  # more than two channels: average them ourselves
            samples = samples.mean(axis=1).astype(np.int16).reshape(-1, 1)
            layout = "mono"
        else:
            layout = self._layout
        if self.rate == SAMPLE_RATE and samples.shape[1] == 1:
            return samples.reshape(-1).astype(np.int16, copy=False)
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.reshape(1, -1)), format="s16", layout=layout
        )
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += samples.shape[0]
        return _frames_to_array(self._resampler.resample(frame))


def _frames_to_array(frames) -> np.ndarray:
    parts = [f.to_ndarray().reshape(-1) for f in frames]
    return np.concatenate(parts).astype(np.int16, copy=False) if parts else np.zeros(0, np.int16)


def _drained(resampler) -> np.ndarray:
    """What a resampler still holds, at the end of its format (none yet: nothing)."""
    return _frames_to_array(resampler.resample(None)) if resampler is not None else np.zeros(0, np.int16)


def _rechunk(pieces: Iterator[np.ndarray], size: int = CHUNK) -> Iterator[np.ndarray]:
    buf = np.zeros(0, np.int16)
    for piece in pieces:
        buf = np.concatenate([buf, piece]) if buf.size else piece
        while buf.size >= size:
            yield buf[:size]
            buf = buf[size:]
    if buf.size:
        yield buf


@dataclass
class FileSource:
    """Decode a file (WAV/FLAC/MP3/M4A/… anything FFmpeg reads) in a stream, never whole.

    ``realtime=True`` paces chunks at the speed they were spoken, like a microphone.
    """

    path: Path
    realtime: bool = False
    description: str = ""
    speed: float = 1.0  # with realtime: 2.0 plays twice as fast (demos, tests)
    track: int = 1  # which audio track to decode, from 1 (OBS and Zoom can put the microphone on another)
    live = False  # not a microphone: silence here is real silence

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.description = self.description or str(self.path)
        self._stop = threading.Event()
        self.duration = probe_duration(self.path, self.track)
        self.damaged = 0  # packets that would not decode and were skipped
        self.tracks = 1  # audio tracks in the file
        self.damaged_seconds = 0.0  # the audio they held: given back as silence where the file's times say,
        # or found missing at the end (decoded audio shorter than the file's stated length)

    @property
    def dropped_seconds(self) -> float:
        return 0.0

    def stop(self) -> None:
        self._stop.set()

    def _decoded(self) -> Iterator[np.ndarray]:
        import av

        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as e:
            raise _unreadable(self.path, e) from None
        with container:
            if not container.streams.audio:
                raise AudioError(
                    f"{self.path} has no audio track",
                    "give a speech recording (WAV, FLAC, MP3, M4A, OGG or a video with sound)",
                )
            self.tracks = len(container.streams.audio)
            if self.track > self.tracks:
                raise AudioError(
                    f"{self.path} has {self.tracks} audio track{'s' if self.tracks > 1 else ''}; "
                    f"there is no track {self.track}",
                    f"give --track 1 to {self.tracks}" if self.tracks > 1 else "leave --track out",
                )
            stream = container.streams.audio[self.track - 1]
            # One resampler per format of the decoded frames: a file can change rate mid-way.
            resampler: av.AudioResampler | None = None
            heard: tuple | None = None  # the decoded frames' format, layout and rate
            got = False
            error: Exception | None = None
            self.damaged, self.damaged_seconds = 0, 0.0  # of this decode (check() decodes the start once before)
            heard_until: float | None = None  # stream time where the last decoded frame ends
            given = 0  # samples yielded (16 kHz)
            gap = False  # damaged packets since that frame
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as e:
                    error = e  # a truncated file: keep everything decoded so far, like a recording cut short
                    break
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    # A damaged packet: skip it and go on, as ffmpeg does, rather than end the file
                    # there and count only its first part.
                    error = e
                    self.damaged += 1
                    gap = True
                    continue
                for frame in frames:
                    pieces = []
                    at = frame.time
                    jump = at - heard_until if at is not None and heard_until is not None else 0.0
                    if ((gap and jump > 0) or jump > MIN_JUMP) and jump < MAX_GAP:
                        # Silence stands in for what the damaged packets held: the times after them stay true.
                        pieces += [_drained(resampler), np.zeros(round(jump * SAMPLE_RATE), np.int16)]
                        resampler, heard = None, None
                        self.damaged_seconds += jump
                    gap = False
                    if at is not None and frame.sample_rate:
                        heard_until = at + frame.samples / frame.sample_rate
                    frame.pts = None  # let the resampler keep its own clock; broken pts are common
                    shape = (frame.format.name, frame.layout.name, frame.sample_rate)
                    if shape != heard:
                        # The format changed mid-file (MP3s joined with cat, a stream that switches
                        # rate): finish the old resampler before one for the new format starts.
                        pieces.append(_drained(resampler))
                        resampler, heard = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE), shape
                    pieces.append(_frames_to_array(resampler.resample(frame)))
                    for out in pieces:
                        if out.size:
                            got = True
                            given += out.size
                            yield out
                if self._stop.is_set():
                    return
            if not got and error is not None:
                raise _unreadable(self.path, error) from None
            tail = _drained(resampler)
            if tail.size:
                got = True
                given += tail.size
                yield tail
            if self.damaged and self.duration:
                # What no timestamp showed (a damaged MP3 loses whole frames): at least the file is shorter.
                self.damaged_seconds += max(0.0, self.duration - given / SAMPLE_RATE)
            if not got:
                raise AudioError(
                    f"{self.path} holds no audio samples",
                    "the file is empty or cut off before any sound; record or export it again",
                )

    def check(self) -> None:
        """Fail now, with the fix, if the file cannot be decoded (before a model loads)."""
        if not self.path.is_file():
            raise AudioError(f"no such audio file: {self.path}", "check the path (and quote names with spaces)")
        decoded = self._decoded()
        try:
            next(decoded)
        except StopIteration:
            pass
        finally:
            decoded.close()

    def chunks(self) -> Iterator[np.ndarray]:
        if not self.path.is_file():
            raise AudioError(f"no such audio file: {self.path}", "check the path (and quote names with spaces)")
        start = time.monotonic()
        sent = 0
        for chunk in _rechunk(self._decoded()):
            if self._stop.is_set():
                return
            if self.realtime:
                ahead = sent / SAMPLE_RATE / self.speed - (time.monotonic() - start)
                if ahead > 0:
                    self._stop.wait(ahead)
            sent += chunk.size
            yield chunk


def _unreadable(path: Path, e: Exception) -> AudioError:
    return AudioError(
        f"cannot read audio from {path} ({getattr(e, 'strerror', None) or e})",
        "give a WAV, FLAC, MP3, M4A or OGG recording, or convert it with: ffmpeg -i IN -ar 16000 -ac 1 OUT.wav",
    )


def probe_duration(path: Path, track: int = 1) -> float | None:
    """Seconds of audio the container declares, or None when it does not say (or is unreadable)."""
    try:
        import av

        with av.open(str(path)) as c:
            if len(c.streams.audio) >= track:
                s = c.streams.audio[track - 1]
                if s.duration and s.time_base:
                    return float(s.duration * s.time_base)
            if c.duration:
                return c.duration / 1_000_000
    except Exception:  # unreadable files are reported when decoding starts, with a fix
        return None
    return None


# ---------------------------------------------------------------------------- live input


def list_input_devices(backend: str = "sounddevice") -> list[InputDevice]:
    """Every device that can record, as the chosen backend sees it ("system": monitors and loopbacks)."""
    return get_backend(backend).devices()


def choose_device(devices: list[InputDevice], wanted: str | None, none_found: AudioError | None = None) -> InputDevice:
    """Pick by index or by a case-insensitive fragment of the name; default input when None."""
    if not devices:
        raise none_found or no_microphone()
    if wanted is None or wanted == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    names = "; ".join(f"{d.index}: {one_line(d.name)}" for d in devices)
    if wanted.strip().isdigit():
        for d in devices:
            if d.index == int(wanted):
                return d
        raise AudioError(f"no input device with index {wanted}", f"choose one of: {names}")
    hits = [d for d in devices if wanted.casefold() in d.name.casefold()]
    if len(hits) == 1:
        return hits[0]
    exact = [d for d in hits if d.name.casefold() == wanted.casefold()]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1 and len({d.host_api for d in exact}) == len(exact):
        # One device listed once per host API (Windows: MME, DirectSound, WASAPI): the saved name
        # means it, through the default input's API.
        api = next((d.host_api for d in devices if d.is_default), None)
        return next((d for d in exact if d.host_api == api), exact[0])
    if not hits:
        raise AudioError(f"no input device matches {one_line(wanted)!r}", f"choose one of: {names}")
    many = "; ".join(f"{d.index}: {one_line(d.name)}" for d in hits)
    raise AudioError(
        f"{one_line(wanted)!r} matches several input devices ({many})", "give the index or a longer part of the name"
    )


class MicrophoneSource:
    """Live input from a backend (a microphone, or a monitor/loopback of what the computer plays).

    The backend's thread only enqueues; a full queue drops audio and counts it. If the device
    stops delivering audio (unplugged, sound server restarted), ``chunks()`` says so with an
    ``InputNotice``, keeps looking for it every ``RETRY_SECONDS`` and carries on when it is
    back: the session goes on, nothing counted so far is lost.
    """

    live = True

    def __init__(
        self, device: str | None = None, backend: str = "sounddevice", max_queue_seconds: float = 30.0
    ) -> None:
        self.backend = backend
        self._backend: Backend = get_backend(backend)
        self._set_device(choose_device(self._backend.devices(), device, self._backend.none_found()))
        self._follows_default = device is None or device == ""
        blocks = max(1, int(max_queue_seconds / CHUNK_SECONDS))
        self._q: queue.Queue[np.ndarray] = queue.Queue(maxsize=blocks)
        self._stop = threading.Event()
        self._dropped = 0.0  # seconds: the rate changes when a lost device comes back as another
        self._stream: Stream | None = None

    def _set_device(self, device: InputDevice) -> None:
        self.device = device
        self.description = f"{one_line(device.name)} ({self.backend})"
        self._rate = int(device.rate) or SAMPLE_RATE

    def open(self) -> None:
        """Start the device now (call on the main thread): a device that will not open fails here, clearly."""
        if self._stream is None:
            self._stream = self._backend.open(self.device, self._rate, int(self._rate * CHUNK_SECONDS), self._push)

    @property
    def dropped_seconds(self) -> float:
        return self._dropped

    @property
    def max_backlog_seconds(self) -> float:
        """How much audio may wait for the engine before new audio is dropped."""
        return self._q.maxsize * CHUNK_SECONDS

    def stop(self) -> None:
        self._stop.set()

    def _push(self, data: np.ndarray) -> None:
        try:
            self._q.put_nowait(data)
        except queue.Full:
            self._dropped += data.shape[0] / self._rate

    def _close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.stop()
                stream.close()
            except Exception:  # closing a stream whose device is gone may fail; it is gone either way
                pass

    def _reopen(self) -> None:
        """Find the device again (by name, or the new default) and open it; AudioError if not there yet."""
        self._backend.rescan()
        devices = self._backend.devices()
        if self._follows_default:
            found = choose_device(devices, None, self._backend.none_found())
        else:
            same = [d for d in devices if d.name == self.device.name]
            if not same:
                raise AudioError(f"{self.device.name} is not back yet", "plug it in again")
            found = same[0]
        self._set_device(found)
        self.open()

    def _pieces(self, resample: _Resampler) -> Iterator[np.ndarray]:
        """The stream's audio until stop() (returns) or until the device stops delivering (returns too)."""
        stream = self._stream
        assert stream is not None
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                data = self._q.get(timeout=0.2)
            except queue.Empty:
                if not stream.active or time.monotonic() - last > STALL_SECONDS:
                    return
                continue
            last = time.monotonic()
            yield resample(data)

    def chunks(self) -> Iterator[np.ndarray | InputNotice]:
        self.open()
        try:
            while True:
                yield from _rechunk(self._pieces(_Resampler(self._rate, 1)))
                if self._stop.is_set():
                    return
                lost_at = time.monotonic()
                was = self.description
                yield InputNotice(
                    "lost",
                    f"{was} stopped delivering audio — the session is kept; looking for it every {RETRY_SECONDS:g} s",
                )
                self._close()
                while True:
                    if self._stop.wait(RETRY_SECONDS):
                        return
                    try:
                        self._reopen()
                        break
                    except AudioError:
                        continue
                missing = time.monotonic() - lost_at
                yield InputNotice("back", f"{self.description} is back after {missing:.0f} s", missing)
        finally:
            self._close()

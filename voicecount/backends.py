"""Audio backends: the three ways to open live audio, each a small class.

- ``sounddevice`` (default) and ``pyaudio``: microphones through PortAudio.
- ``system``: what the computer plays. Linux: the PulseAudio/PipeWire *monitor* of an
  output; Windows: WASAPI *loopback* of an output (both through the ``soundcard`` library,
  which talks to libpulse / WASAPI directly); macOS has no built-in loopback, so there it
  is an installed loopback device (BlackHole, Loopback, Soundflower…) opened with sounddevice.

A backend lists devices, opens a stream that hands int16 mono blocks to a callback (on
the backend's own thread: the callback only enqueues), and rescans (a device list made
before a device was plugged in does not show it). ``MicrophoneSource`` in audio.py keeps
the queue and the lost/back loop; nothing here knows about either.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import AudioError
from .escape import one_line

BACKENDS = ("sounddevice", "pyaudio", "system")
# Names of virtual devices that carry what the computer plays: BlackHole, Rogue Amoeba's
# Loopback, Soundflower (macOS); VB-Audio's cable and Realtek's "Stereo Mix" (Windows);
# PulseAudio's "Monitor of …" when an ALSA/JACK client lists pulse sources.
LOOPBACK_NAMES = ("blackhole", "loopback audio", "soundflower", "vb-audio", "cable output", "stereo mix", "monitor of")
MAC_LOOPBACK_HELP = (
    "install BlackHole (brew install blackhole-2ch, or https://existential.audio/blackhole/), then in "
    "Audio MIDI Setup create a Multi-Output Device with your speakers and BlackHole 2ch and choose it as "
    "the sound output; voicecount listen --system-audio then hears what plays"
)

OnAudio = Callable[[np.ndarray], None]


@dataclass(frozen=True)
class InputDevice:
    """Something that can be recorded. ``kind``: "microphone", "monitor" (of an output) or "loopback"."""

    index: int
    name: str
    channels: int
    rate: float  # the device's default rate; 0 when the sound server converts to any rate asked for
    host_api: str = ""
    is_default: bool = False
    kind: str = "microphone"
    backend: str = "sounddevice"
    key: str = ""  # the backend's own id where the index is only a position in the list (soundcard)

    @property
    def plays_output(self) -> bool:
        """True for monitors and loopbacks: what the computer plays, not a microphone."""
        return self.kind != "microphone"


class Stream(Protocol):
    """An open input stream; audio arrives through the callback given to ``Backend.open``."""

    def stop(self) -> None: ...  # stop delivering (may wait briefly for the backend's thread)

    def close(self) -> None: ...

    @property
    def active(self) -> bool: ...  # False once the device stopped delivering (gone, failed)


class Backend(Protocol):
    name: str

    def devices(self) -> list[InputDevice]: ...

    def open(self, device: InputDevice, rate: int, block: int, on_audio: OnAudio) -> Stream: ...

    def rescan(self) -> None: ...

    def none_found(self) -> AudioError: ...


def kind_of(name: str) -> str:
    """A PortAudio device's kind, from its name (PortAudio does not say)."""
    low = name.casefold()
    if low.startswith("monitor of"):
        return "monitor"
    return "loopback" if any(n in low for n in LOOPBACK_NAMES) else "microphone"


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hide what ALSA/JACK print from C while PortAudio probes devices (noise, not errors).

    Our own errors still reach the user: they are raised, not printed, in here.
    """
    if os.environ.get("VOICECOUNT_DEBUG") or threading.current_thread() is not threading.main_thread():
        # fd 2 is shared by every thread: redirecting it from a worker would swallow the main thread's messages.
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def no_microphone() -> AudioError:
    return AudioError(
        "no microphone found",
        "connect one (on macOS allow Terminal/Python in System Settings → Privacy & Security → Microphone), "
        "or count a recording with: voicecount count FILE",
    )


def cannot_open(device: InputDevice, e: Exception) -> AudioError:
    return AudioError(
        f"cannot open input device {device.index} ({device.name}): {e}",
        "pick another with --device (see: voicecount devices); on macOS allow the microphone "
        "in System Settings → Privacy & Security → Microphone",
    )


# ---------------------------------------------------------------------------- sounddevice


def import_sounddevice():
    try:
        with quiet_native_stderr():
            import sounddevice
    except OSError as e:  # the wheel has no PortAudio on Linux
        raise AudioError(
            f"the sounddevice backend cannot load PortAudio ({e})",
            "install PortAudio (Debian/Ubuntu: sudo apt install libportaudio2) or use --backend pyaudio",
        ) from None
    return sounddevice


# PortAudio is not thread-safe, and the reader thread re-initialises it (rescan) while a lost
# device is looked for, when the overlay's thread may be listing or opening another: the calls
# take turns, and a rescan waits for a moment when none of our streams is open.
_PORTAUDIO = threading.Lock()
_open_streams = [0]  # sounddevice streams open now (under _PORTAUDIO)


class _SoundDeviceStream:
    def __init__(self, stream) -> None:
        self._stream = stream
        self._closed = False

    def stop(self) -> None:
        # abort, not stop: stop waits for PortAudio's buffers, which can take seconds on ALSA/pulse.
        with _PORTAUDIO:
            self._stream.abort()

    def close(self) -> None:
        with _PORTAUDIO:
            if not self._closed:
                self._closed = True
                _open_streams[0] -= 1
            self._stream.close()

    @property
    def active(self) -> bool:
        return bool(self._stream.active)


class SoundDeviceBackend:
    """PortAudio through sounddevice (the default)."""

    name = "sounddevice"

    def devices(self) -> list[InputDevice]:
        sd = import_sounddevice()
        try:
            with _PORTAUDIO:
                devices = sd.query_devices()
                apis = sd.query_hostapis()
                default_in = sd.default.device[0] if sd.default.device else -1
        except sd.PortAudioError as e:
            raise AudioError(f"cannot list audio devices ({e})", "check that the sound system is running") from None
        return [
            InputDevice(
                i,
                d["name"],
                int(d["max_input_channels"]),
                float(d["default_samplerate"]),
                apis[d["hostapi"]]["name"],
                i == default_in,
                kind_of(d["name"]),
                self.name,
            )
            for i, d in enumerate(devices)
            if d["max_input_channels"] > 0
        ]

    def open(self, device: InputDevice, rate: int, block: int, on_audio: OnAudio) -> Stream:
        sd = import_sounddevice()

        def callback(indata, frames, time_info, status):  # PortAudio's thread: enqueue only
            on_audio(indata[:, 0].copy())

        # PortAudioError and ValueError both mean: this device will not open.
        with _PORTAUDIO:
            try:
                stream = sd.InputStream(
                    samplerate=rate, channels=1, dtype="int16", device=device.index, blocksize=block, callback=callback
                )
            except Exception as e:
                raise cannot_open(device, e) from None
            _open_streams[0] += 1
        opened = _SoundDeviceStream(stream)
        try:
            with _PORTAUDIO:
                stream.start()
        except Exception as e:
            opened.close()
            raise cannot_open(device, e) from None
        return opened

    def rescan(self) -> None:
        """PortAudio lists devices once, at initialisation: re-initialise it to see a replugged device.

        sounddevice has no public call for this; its maintainer's advice is these two
        (spatialaudio/python-sounddevice#125). Skipped while a stream of ours is open (another
        microphone switched to meanwhile): terminating PortAudio would end it too.
        """
        sd = import_sounddevice()
        if hasattr(sd, "_terminate") and hasattr(sd, "_initialize"):
            with _PORTAUDIO:
                if _open_streams[0]:
                    return
                try:
                    sd._terminate()
                    sd._initialize()
                except Exception:  # a sound system that is still restarting: the next rescan tries again
                    pass

    def none_found(self) -> AudioError:
        return no_microphone()


# ---------------------------------------------------------------------------- PyAudio


def import_pyaudio():
    try:
        import pyaudio
    except ImportError:
        raise AudioError(
            "the PyAudio backend is not installed",
            'install it with: pip install "voicecount[pyaudio]" (needs portaudio19-dev on Linux), '
            "or use the default --backend sounddevice",
        ) from None
    return pyaudio


class _PyAudioStream:
    def __init__(self, pa, stream, stopping: threading.Event) -> None:
        self._pa, self._stream, self._stopping = pa, stream, stopping

    def stop(self) -> None:
        # The callback ends the stream by itself once told to: stop_stream can hang on ALSA.
        self._stopping.set()
        deadline = time.monotonic() + 2.0
        while self._stream.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self._stream.close()  # aborts the stream if it is still running
        self._pa.terminate()

    @property
    def active(self) -> bool:
        return bool(self._stream.is_active())


class PyAudioBackend:
    """PortAudio through PyAudio: a new PortAudio instance per listing and per stream."""

    name = "pyaudio"

    def devices(self) -> list[InputDevice]:
        pa_mod = import_pyaudio()
        with quiet_native_stderr():
            pa = pa_mod.PyAudio()
        try:
            try:
                default_in = pa.get_default_input_device_info()["index"]
            except OSError:
                default_in = -1
            out = []
            for i in range(pa.get_device_count()):
                d = pa.get_device_info_by_index(i)
                if d["maxInputChannels"] > 0:
                    api = pa.get_host_api_info_by_index(d["hostApi"])["name"]
                    out.append(
                        InputDevice(
                            i,
                            d["name"],
                            int(d["maxInputChannels"]),
                            float(d["defaultSampleRate"]),
                            api,
                            i == default_in,
                            kind_of(d["name"]),
                            self.name,
                        )
                    )
            return out
        finally:
            pa.terminate()

    def open(self, device: InputDevice, rate: int, block: int, on_audio: OnAudio) -> Stream:
        pa_mod = import_pyaudio()
        with quiet_native_stderr():
            pa = pa_mod.PyAudio()
        stopping = threading.Event()

        def callback(in_data, frame_count, time_info, status):
            if stopping.is_set():
                return (None, pa_mod.paComplete)
            on_audio(np.frombuffer(in_data, dtype=np.int16).copy())
            return (None, pa_mod.paContinue)

        try:
            stream = pa.open(
                format=pa_mod.paInt16,
                channels=1,
                rate=rate,
                input=True,
                input_device_index=device.index,
                frames_per_buffer=block,
                stream_callback=callback,
            )
            stream.start_stream()
        except Exception as e:
            pa.terminate()
            raise cannot_open(device, e) from None
        return _PyAudioStream(pa, stream, stopping)

    def rescan(self) -> None:
        """Nothing to do: every listing starts a fresh PortAudio, which sees the devices of now."""

    def none_found(self) -> AudioError:
        return no_microphone()


# ---------------------------------------------------------------------------- system audio


def import_soundcard():
    """soundcard, connected to the sound server (on Linux it connects when imported)."""
    if sys.platform == "darwin":
        raise AudioError("macOS has no built-in way to record what the computer plays", MAC_LOOPBACK_HELP)
    if len(sys.argv) < 2 and sys.argv[:1] == ["-c"]:
        sys.argv.append("")  # soundcard names the PulseAudio client after sys.argv[1] under python -c
    try:
        with quiet_native_stderr():
            import soundcard
    except ImportError:
        raise AudioError(
            "system audio needs the soundcard package, which is not installed",
            'install it with: pip install "soundcard>=0.4.6" (it comes with voicecount on Linux and Windows)',
        ) from None
    except Exception as e:  # Linux: no PulseAudio/PipeWire server to connect to (an AssertionError inside)
        raise no_sound_server(e) from None
    return soundcard


def no_sound_server(e: BaseException) -> AudioError:
    # soundcard fails with a bare AssertionError: its class name tells a user nothing.
    detail = f" ({one_line(str(e))})" if str(e) else ""
    return AudioError(
        f"cannot reach the sound server to record what the computer plays{detail}",
        "start PulseAudio or PipeWire (systemctl --user start pipewire-pulse, or pulseaudio --start) and try again",
    )


_RECONNECTING = threading.Lock()


def reconnect_pulse(pulseaudio) -> None:
    """Give soundcard a new PulseAudio connection if its own is no longer ready (the server restarted).

    soundcard connects once, when imported, into the module-level ``_pulse`` that all its
    functions and streams look up when they run. Once the server has gone that connection is
    FAILED for good, and asking it anything aborts the process (libpulse asserts on the NULL
    operation it gets back), so it is checked before every use and replaced when it is not
    ready. The dead one is left alone (a stream thread may still be letting go of it; it is
    idle and is shut down at exit); an attempt that fails is shut down at once.
    """
    with _RECONNECTING:
        pulse = pulseaudio._pulse
        if pulse._pa_context_get_state(pulse.context) == pulseaudio._pa.PA_CONTEXT_READY:
            return
        fresh = object.__new__(pulseaudio._PulseAudio)  # built in two steps: a failed attempt is shut down
        try:
            fresh.__init__()
            ready = fresh._pa_context_get_state(fresh.context) == pulseaudio._pa.PA_CONTEXT_READY
            if not ready:  # soundcard asserts this, but python -O drops asserts
                raise ConnectionError("the connection did not become ready")
        except Exception as e:  # no server yet: connecting ends FAILED, which soundcard asserts against
            if hasattr(fresh, "context"):
                with contextlib.suppress(Exception):
                    fresh._shutdown()
            raise no_sound_server(e) from None
        pulseaudio._pulse = fresh
        atexit.register(fresh._shutdown)


def connected_soundcard():
    """soundcard, with a live connection to the sound server (Linux: made again after a restart)."""
    sc = import_soundcard()
    pulseaudio = getattr(sc, "pulseaudio", None)  # Linux only; Windows' WASAPI has no lasting connection
    if pulseaudio is not None and hasattr(pulseaudio, "_PulseAudio"):
        reconnect_pulse(pulseaudio)
    return sc


class _SoundCardStream:
    """soundcard records by pulling blocks: a thread of ours pulls and hands them on."""

    def __init__(self, mic, device: InputDevice, rate: int, block: int, on_audio: OnAudio) -> None:
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._args = (mic, rate, block, on_audio)
        self._thread = threading.Thread(target=self._pull, name="voicecount-system-audio", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise cannot_open(device, self._error)
        if not self._ready.is_set():
            self._stopping.set()
            raise cannot_open(device, TimeoutError("the sound server did not start the stream within 10 s"))

    def _pull(self) -> None:
        mic, rate, block, on_audio = self._args
        try:
            # channels=None: every channel of the output; they are averaged here (a stereo mix kept whole).
            with mic.recorder(samplerate=rate, blocksize=block) as rec:
                self._ready.set()
                while not self._stopping.is_set():
                    data = rec.record(numframes=block)
                    mono = data.mean(axis=1) if data.ndim == 2 else data
                    on_audio(np.clip(mono * 32768.0, -32768, 32767).astype(np.int16))
        except BaseException as e:  # the source went away (stream FAILED) or would not open
            self._error = e
        finally:
            self._ready.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=3.0)

    def close(self) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()


class SoundCardBackend:
    """Monitors (Linux: PulseAudio/PipeWire) and loopbacks (Windows: WASAPI) through soundcard.

    Devices are listed fresh from the sound server each time; a server that restarted is
    connected to again (``reconnect_pulse``) before listing, opening or rescanning.
    The Windows path cannot be run where voicecount is developed: it is untested (README).
    """

    name = "system"

    def devices(self) -> list[InputDevice]:
        sc = connected_soundcard()
        try:
            default_out = sc.default_speaker().id
            mics = sc.all_microphones(include_loopback=True)
            out = []
            for mic in mics:
                if not mic.isloopback:
                    continue
                kind = "monitor" if sys.platform.startswith("linux") else "loopback"
                default = mic.id in (default_out, f"{default_out}.monitor")
                channels = mic.channels if isinstance(mic.channels, int) else len(mic.channels)
                api = "PulseAudio" if kind == "monitor" else "WASAPI"
                out.append(InputDevice(len(out), mic.name, channels, 0.0, api, default, kind, self.name, mic.id))
        except AudioError:
            raise
        except Exception as e:
            raise AudioError(
                f"cannot list what the computer can play into ({type(e).__name__}: {e})",
                "check that the sound server runs (pactl info on Linux)",
            ) from None
        return out

    def open(self, device: InputDevice, rate: int, block: int, on_audio: OnAudio) -> Stream:
        sc = connected_soundcard()
        try:
            mic = sc.get_microphone(device.key, include_loopback=True)
        except Exception as e:
            raise cannot_open(device, e) from None
        return _SoundCardStream(mic, device, rate, block, on_audio)

    def rescan(self) -> None:
        """Connect again if the sound server restarted (AudioError while it is not back yet)."""
        connected_soundcard()

    def none_found(self) -> AudioError:
        return AudioError(
            "no output to record what the computer plays from",
            "check that a sound output (speakers, headphones, a virtual sink) exists: pactl list short sinks",
        )


class MacLoopbackBackend(SoundDeviceBackend):
    """macOS: the loopback devices that sounddevice (CoreAudio) lists, BlackHole and the like."""

    name = "system"

    def devices(self) -> list[InputDevice]:
        found = [d for d in super().devices() if d.kind == "loopback"]
        # A loopback is the default input only when the user made it so; else the first one is used.
        return [
            InputDevice(d.index, d.name, d.channels, d.rate, d.host_api, d.is_default, d.kind, self.name) for d in found
        ]

    def none_found(self) -> AudioError:
        return AudioError("no loopback device (such as BlackHole) is installed", MAC_LOOPBACK_HELP)


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one of BACKENDS); "system" is the platform's way to hear the output."""
    if name == "sounddevice":
        return SoundDeviceBackend()
    if name == "pyaudio":
        return PyAudioBackend()
    if name == "system":
        return MacLoopbackBackend() if sys.platform == "darwin" else SoundCardBackend()
    raise AudioError(f"unknown audio backend {name!r}", f"choose one of: {', '.join(BACKENDS)}")

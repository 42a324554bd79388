"""The file source: any rate, channel count and container comes out as 16 kHz mono int16 chunks."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest
from conftest import damaged_copy

from voicecount.audio import CHUNK, SAMPLE_RATE, FileSource, InputDevice, choose_device
from voicecount.errors import AudioError


def tone(path, rate: int, channels: int, seconds: float = 2.0, freq: float = 440.0):
    """A sine tone written by sox/ffmpeg in whatever container the suffix names."""
    if path.suffix in (".wav", ".flac", ".ogg"):
        subprocess.run(
            [
                "sox",
                "-R",
                "-n",
                "-r",
                str(rate),
                "-c",
                str(channels),
                "-b",
                "16",
                str(path),
                "synth",
                str(seconds),
                "sine",
                str(freq),
                "vol",
                "0.5",
            ],
            check=True,
        )
    else:
        assert shutil.which("ffmpeg"), "ffmpeg is needed for MP3/M4A fixtures (.ci/run installs it)"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}",
                "-af",
                "volume=4",
                "-ac",
                str(channels),
                "-y",
                str(path),
            ],  # lavfi sine is at 1/8 scale
            check=True,
        )
    return path


def read_all(path) -> np.ndarray:
    chunks = list(FileSource(path).chunks())
    assert chunks, "no audio came out"
    assert all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    assert all(c.size == CHUNK for c in chunks[:-1])  # fixed-size chunks, like the microphone
    return np.concatenate(chunks)


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * SAMPLE_RATE / samples.size)


@pytest.mark.parametrize(
    "name, rate, channels",
    [
        ("t.wav", 16000, 1),
        ("t.wav", 8000, 1),
        ("t.wav", 44100, 2),
        ("t.wav", 48000, 2),
        ("t.wav", 96000, 1),
        ("t.wav", 22050, 4),
        ("t.flac", 48000, 1),
        ("t.ogg", 44100, 2),
        ("t.mp3", 44100, 2),
        ("t.m4a", 48000, 1),
    ],
)
def test_file_source_resamples_any_rate_and_channels(tmp_path, name, rate, channels):
    path = tone(tmp_path / name, rate, channels)
    samples = read_all(path)
    # Two seconds in, two seconds out (compressed formats add a few ms of priming).
    assert abs(samples.size - 2 * SAMPLE_RATE) < 0.06 * SAMPLE_RATE
    assert abs(dominant_hz(samples) - 440) < 3
    assert 0.2 < np.abs(samples).max() / 32768 < 0.9  # level kept: not silent, not clipped


def test_duration_is_probed_for_the_progress_bar(tmp_path):
    assert FileSource(tone(tmp_path / "a.wav", 44100, 2, seconds=3)).duration == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "cannot read audio"),
        (b"this is a text file, not audio\n" * 20, "cannot read audio"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot read audio"),
    ],
    ids=["zero-length", "text-named-wav", "header-only"],
)
def test_unreadable_files_give_an_error_with_the_fix(tmp_path, content, problem):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    with pytest.raises(AudioError) as e:
        list(FileSource(bad).chunks())
    assert problem in str(e.value) and " — " in str(e.value)


def test_a_truncated_wav_yields_what_it_holds(tmp_path):
    path = tone(tmp_path / "full.wav", 16000, 1, seconds=2)
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # header still claims 2 s
    samples = read_all(cut)
    assert abs(samples.size - SAMPLE_RATE) < 0.05 * SAMPLE_RATE


def test_a_damaged_packet_mid_file_is_skipped_not_the_rest_of_the_file(tmp_path):
    # 400 zeroed bytes a third into an MP3 (a bad sector, a broken download): decoding used to
    # end there, so a third of the file was counted as if it were all of it.
    mp3 = tone(tmp_path / "talk.mp3", 44100, 1, seconds=6)
    source = FileSource(damaged_copy(mp3, tmp_path / "damaged.mp3"))
    samples = np.concatenate(list(source.chunks()))
    assert samples.size > 0.95 * 6 * SAMPLE_RATE and source.damaged >= 1
    # Two MP3s joined with cat, 44.1 then 48 kHz: the rate changes mid-file; both parts are heard.
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(mp3.read_bytes() + tone(tmp_path / "b.mp3", 48000, 1, seconds=2).read_bytes())
    samples = np.concatenate(list(FileSource(joined).chunks()))
    assert samples.size > 0.95 * 8 * SAMPLE_RATE


def test_a_file_damaged_in_many_places_says_how_much_audio_is_missing(tmp_path):
    from voicecount.console import damaged_line

    mp3 = tone(tmp_path / "talk.mp3", 32000, 1, seconds=18)
    data = bytearray(mp3.read_bytes())
    for k in range(1, 21):  # 20 spots of 50 zeroed bytes
        at = len(data) * k // 22
        data[at : at + 50] = bytes(50)
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    source = FileSource(damaged)
    heard = np.concatenate(list(source.chunks())).size / SAMPLE_RATE
    assert source.damaged >= 5
    # Silence stands in where the frames' times show a gap (never more than the file holds); what
    # no time shows is still reported: the notice counts both.
    assert heard <= source.duration + 0.05
    assert source.damaged_seconds >= source.duration - heard > 0.05
    assert f"{source.damaged_seconds:.1f} s of audio" in damaged_line(
        "damaged.mp3", source.damaged, source.damaged_seconds
    )
    first = source.damaged, source.damaged_seconds
    list(source.chunks())  # decoded again (check() decodes the start before the count): not counted twice
    assert (source.damaged, source.damaged_seconds) == first


def test_a_wav_with_no_samples_says_so(tmp_path):
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    with pytest.raises(AudioError) as e:
        list(FileSource(empty).chunks())
    assert "no audio" in str(e.value) or "cannot read audio" in str(e.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(AudioError) as e:
        list(FileSource(tmp_path / "nope.wav").chunks())
    assert "no such audio file" in str(e.value)


def test_stop_ends_a_file_source_early(tmp_path):
    src = FileSource(tone(tmp_path / "long.wav", 16000, 1, seconds=5))
    got = 0
    for chunk in src.chunks():
        got += chunk.size
        if got >= SAMPLE_RATE:
            src.stop()
    assert got < 2 * SAMPLE_RATE


# ------------------------------------------------------------------ device choice (pure logic)

DEVICES = [
    InputDevice(0, "Built-in Microphone", 1, 48000, "Core Audio", True),
    InputDevice(3, "USB Headset Mic", 1, 44100, "Core Audio"),
    InputDevice(5, "USB Conference Mic", 2, 16000, "Core Audio"),
]


def test_choose_device_by_default_index_and_name_fragment():
    assert choose_device(DEVICES, None).index == 0
    assert choose_device(DEVICES, "3").name == "USB Headset Mic"
    assert choose_device(DEVICES, "conference").index == 5


@pytest.mark.parametrize(
    "wanted, problem",
    [("usb", "matches several"), ("webcam", "no input device matches"), ("7", "no input device with index")],
)
def test_choose_device_errors_list_the_choices(wanted, problem):
    with pytest.raises(AudioError) as e:
        choose_device(DEVICES, wanted)
    assert problem in str(e.value)


def test_a_saved_name_listed_once_per_host_api_is_that_device_not_an_error():
    """Windows lists a microphone under MME, DirectSound and WASAPI with one name: the name the
    overlay saved must open it next time, through the default input's API."""
    windows = [
        InputDevice(1, "Microphone (Realtek Audio)", 2, 44100, "MME", True),
        InputDevice(7, "Microphone (Realtek Audio)", 2, 44100, "Windows DirectSound"),
        InputDevice(12, "Microphone (Realtek Audio)", 2, 48000, "Windows WASAPI"),
    ]
    assert choose_device(windows, "microphone (realtek audio)").index == 1
    assert choose_device(windows[1:], "Microphone (Realtek Audio)").index == 7
    twins = [InputDevice(2, "USB Mic", 1, 48000, "ALSA"), InputDevice(3, "USB Mic", 1, 48000, "ALSA")]
    with pytest.raises(AudioError, match="matches several"):  # two of one model on one API: ask which
        choose_device(twins, "USB Mic")


def test_no_device_at_all_explains_microphone_permission():
    with pytest.raises(AudioError) as e:
        choose_device([], None)
    assert "no microphone found" in str(e.value) and "Privacy" in str(e.value)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("BlackHole 2ch", "loopback"),  # macOS: the free loopback driver
        ("Loopback Audio", "loopback"),  # Rogue Amoeba's
        ("Soundflower (2ch)", "loopback"),
        ("CABLE Output (VB-Audio Virtual Cable)", "loopback"),  # Windows
        ("Stereo Mix (Realtek(R) Audio)", "loopback"),
        ("Monitor of Built-in Audio Analog Stereo", "monitor"),  # PulseAudio/PipeWire
        ("MacBook Pro Microphone", "microphone"),
        ("USB Audio Device: - (hw:1,0)", "microphone"),
    ],
)
def test_devices_that_carry_what_the_computer_plays_are_told_from_microphones(name, kind):
    # The device names these systems really use: how `devices` marks rows and how macOS finds a loopback.
    from voicecount.backends import kind_of

    assert kind_of(name) == kind

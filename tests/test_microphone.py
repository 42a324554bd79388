"""The real microphone path without hardware: PulseAudio with a null sink is the microphone.

A private PulseAudio server (user-level, started here) gets a null sink; a dev talk is
played into it with paplay while `voicecount listen --no-gui` records its monitor through
ALSA's pulse plugin → PortAudio → sounddevice (and PyAudio). The audio goes through real
device resampling (48 kHz stereo) and real-time buffering, so the transcript can differ a
little from counting the file directly: counts must agree within one.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from conftest import ROOT, VMIC, make_vmic_default, play, run_cli, start_pulse

from voicecount.pipeline import DROP_REPORT

TALK = "d03_mixed__flite-slt__clean.wav"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    env, proc = start_pulse(tmp_path_factory.mktemp("pulse"), "module-always-sink")
    yield env
    proc.terminate()
    proc.wait(timeout=10)


class Listener:
    """`voicecount listen --no-gui` on the virtual microphone, its stderr read line by line."""

    def __init__(self, pulse, backend: str | None, *extra: str) -> None:
        env = dict(pulse, VOICECOUNT_HOME=os.environ["VOICECOUNT_HOME"])  # this test's own data dir
        device = ["--device", "pulse", "--backend", backend] if backend else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicecount", "listen", "--no-gui", *device, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.err_lines.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=1)
                if text in line:
                    return line
            except queue.Empty:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.kill()
                pytest.fail(f"listen never said {text!r}: " + "".join(self.err_lines))

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM (like Ctrl-C: finalise and save); the total and both outputs."""
        try:
            self.proc.send_signal(signal.SIGTERM)
            out = self.proc.stdout.read()
            self.proc.wait(timeout=120)
            self.reader.join(timeout=10)
            err = "".join(self.err_lines)
        finally:
            self.kill()
        assert self.proc.returncode == 0, err
        m = re.search(r"^total AI: (\d+) in ", out, re.M)
        assert m, out
        return int(m.group(1)), out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()


def listen_to_playback(pulse, backend: str, wav, *extra: str) -> tuple[int, str, str]:
    """Run listen on the virtual microphone while the talk plays into it; stop it with SIGTERM."""
    listener = Listener(pulse, backend, *extra)
    listener.wait_for("listening to")  # model loaded, stream open
    play(pulse, wav)
    return listener.stop()


def lose_and_restore(
    listener: Listener, play_it: Callable[[], None], lose: Callable[[], None], restore: Callable[[], None], pause: float
) -> tuple[str, str, tuple[int, str, str]]:
    """Play, take the input away, wait ``pause`` s, give it back, play again, stop: (lost line, back line, stop())."""
    play_it()
    lose()
    lost = listener.wait_for("microphone lost", timeout=30)
    assert "session is kept" in lost
    time.sleep(pause)
    restore()
    back = listener.wait_for("is back", timeout=30)
    play_it()
    return lost, back, listener.stop()


@pytest.fixture(scope="module")
def file_result(shared_audio):
    proc = run_cli("count", str(shared_audio / "dev" / TALK), "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_live_counts_from_a_virtual_microphone_match_counting_the_file(
    pulse, backend, shared_audio, file_result, dev_manifest
):
    assert any("pulse" in ln for ln in run_cli("devices", "--backend", backend, env=pulse).stdout.splitlines())
    count, out, err = listen_to_playback(pulse, backend, shared_audio / "dev" / TALK)
    assert abs(count - file_result["counts"]["AI"]) <= 1, (count, file_result["counts"])
    assert abs(count - dev_manifest[TALK]["keywords"]) <= 1
    assert "session" in err and "saved" in err
    finals = [ln[2:] for ln in out.splitlines() if ln.startswith("> ")]
    assert len(" ".join(finals).split()) > 40  # the whole talk came through, not a fragment


def test_a_silent_microphone_is_told_to_check_mute_and_permission(pulse):
    """Only zeros from a microphone (nothing plays into the sink behind it): the hint is about the microphone."""
    listener = Listener(pulse, "sounddevice")
    silent = listener.wait_for("gives only silence", timeout=60)
    assert "muted" in silent and "Privacy & Security" in silent and "nothing is playing" not in silent
    listener.stop()


def test_system_audio_counts_what_the_default_output_plays(tmp_path, shared_audio, file_result, dev_manifest):
    """listen --system-audio records the monitor of the default output (soundcard → libpulse), not a microphone.

    A second, silent null sink's monitor is made the default source: the microphone path would
    hear nothing at all, so every word counted came through the output's monitor.
    """
    env, server = start_pulse(tmp_path, "module-null-sink sink_name=quiet sink_properties=device.description=Quiet")
    try:
        subprocess.run(["pactl", "set-default-source", "quiet.monitor"], env=env, check=True)
        listed = run_cli("devices", env=env)
        assert listed.returncode == 0, listed.stderr
        monitors = [ln for ln in listed.stdout.splitlines() if ln.endswith("[monitor]")]
        assert len(monitors) == 2, listed.stdout  # Null Output's and Quiet's, marked as monitors
        [default] = [ln for ln in monitors if ln.startswith("*")]
        assert "Monitor of Null Output" in default  # the default output's, whatever the default source is

        listener = Listener(env, None, "--system-audio")
        ready = listener.wait_for("listening to")
        assert "Monitor of Null Output (system)" in ready
        # Nothing plays yet: the hint is about the output, not a muted microphone or macOS permission.
        silent = listener.wait_for("nothing is playing on this output", timeout=30)
        assert "Privacy" not in silent and "microphone" not in silent
        play(env, shared_audio / "dev" / TALK)
        count, out, err = listener.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Traceback" not in err
    assert abs(count - file_result["counts"]["AI"]) <= 1, (count, file_result["counts"])
    assert abs(count - dev_manifest[TALK]["keywords"]) <= 1
    finals = [ln[2:] for ln in out.splitlines() if ln.startswith("> ")]
    assert len(" ".join(finals).split()) > 40  # the whole talk came through, not a fragment


def test_system_audio_goes_on_after_the_sound_server_restarts(tmp_path, speak):
    """listen --system-audio on the output's monitor; PulseAudio is stopped (SIGTERM, as
    `pulseaudio --kill` does) and, after a while with no server at all, started again on the same
    socket with the same default sink. soundcard connects once, when imported: the backend must
    connect again, and counting goes on in the same session."""
    said = speak("We talk about AI today. AI is everywhere, and AI helps us.")  # 5 s, "AI" three times
    pulse = dict(zip(("env", "server"), start_pulse(tmp_path)))

    def stop_server() -> None:
        pulse["server"].terminate()
        pulse["server"].wait(timeout=10)

    def start_server() -> None:
        pulse["env"], pulse["server"] = start_pulse(tmp_path)

    try:
        listener = Listener(pulse["env"], None, "--system-audio")
        assert "Monitor of Null Output (system)" in listener.wait_for("listening to")
        # Four seconds: two retries against no server at all.
        lost, back, (total, _out, err) = lose_and_restore(
            listener, lambda: play(pulse["env"], said), stop_server, start_server, pause=4
        )
        assert "Monitor of Null Output (system)" in lost and "Monitor of Null Output (system)" in back
    finally:
        stop_server()
    assert "Traceback" not in err and "Assertion" not in err, err

    exported = run_cli("export", "last", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    [gap] = data["interruptions"]
    assert gap["missing"] >= 4
    before = [h for h in data["hits"] if h["end"] <= gap["at"]]
    after = [h for h in data["hits"] if h["start"] >= gap["at"]]
    assert len(before) >= 2 and len(after) >= 2, (gap, data["hits"])  # heard before, and again after
    assert total == len(data["hits"])


@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_a_microphone_that_disappears_mid_session_is_retried_and_the_session_goes_on(tmp_path, backend):
    """The sink behind the microphone is unloaded (no fallback sink), then loaded again."""
    env, server = start_pulse(tmp_path)
    sample = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"  # says "AI" four times

    def unload() -> None:
        subprocess.run(["pactl", "unload-module", "module-null-sink"], env=env, check=True)

    def load() -> None:
        subprocess.run(["pactl", "load-module", *VMIC.split()], env=env, check=True, capture_output=True)
        make_vmic_default(env)

    try:
        listener = Listener(env, backend)
        listener.wait_for("listening to")
        # Three seconds: it keeps looking while there is nothing to find.
        _lost, back, (total, _out, err) = lose_and_restore(listener, lambda: play(env, sample), unload, load, pause=3)
        assert "pulse" in back
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Traceback" not in err
    assert "Expression '" not in err and "ALSA lib" not in err  # PortAudio's retry noise is filtered out

    exported = run_cli("export", "last", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    [gap] = data["interruptions"]
    assert gap["missing"] >= 3
    after = [s for s in data["segments"] if s["start"] >= gap["at"]]
    before = [s for s in data["segments"] if s["end"] <= gap["at"]]
    assert len(" ".join(s["text"] for s in before).split()) > 20, data["segments"]  # the first play is kept
    assert len(" ".join(s["text"] for s in after).split()) > 20, data["segments"]  # the second is heard
    hits_after = [h for h in data["hits"] if h["start"] >= gap["at"]]
    assert len(hits_after) >= 2 and total >= 4, (total, data["hits"])  # counting went on, from where it was
    shown = run_cli("sessions", "show", "last")
    assert "microphone lost 1×" in shown.stdout


def test_an_engine_slower_than_speech_drops_audio_counts_it_says_so_and_recovers(pulse):
    """Backlog: the real engine slowed to 3× real time for its first 12 s of audio, 2 s of queue."""
    env = dict(pulse, VOICECOUNT_HOME=os.environ["VOICECOUNT_HOME"])
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "throttled_listen.py"), "3", "12"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[dict] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(ln)) for ln in proc.stdout], daemon=True).start()

    def next_line(timeout: float = 120) -> dict:
        try:
            return lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            pytest.fail("the throttled listener went quiet: " + proc.stderr.read())

    sample = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"
    try:
        assert next_line() == {"ready": True}
        play(env, sample)  # heard while the engine is 3× too slow
        statuses = [next_line()]
        while statuses[-1]["status"] != "listening":  # dropping, then back once it caught up
            statuses.append(next_line())
        recovered_at = statuses[-1]["audio"]
        play(env, sample)  # heard at full speed again
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        later = []  # statuses after recovery (a slow machine may fall behind again for a moment)
        while "dropped_seconds" not in (summary := next_line()):
            later.append(summary)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    assert statuses[0]["status"] == "dropped" and "dropped" in statuses[0]["detail"], statuses
    # The growing total is told about once a second of audio, not on every chunk.
    assert len(statuses) <= statuses[-1]["audio"] / DROP_REPORT + 2, statuses
    assert summary["dropped_seconds"] > 5, (summary, later)  # about 2/3 of the throttled stretch could not be kept
    assert summary["session_dropped_seconds"] == pytest.approx(summary["dropped_seconds"], abs=0.01)
    assert len([t for t in summary["hits"] if t > recovered_at]) >= 2, (
        recovered_at,
        summary,
        later,
    )  # counting resumed
    # Memory: what waits is bounded by --max-backlog (2 s here), not by how far behind the engine is.
    assert summary["backlog_bound"] == pytest.approx(2.0)


def test_a_device_is_asked_for_by_name_unless_another_has_the_same(tmp_path, monkeypatch):
    """The overlay switches by name (an index is a place in a list that moves when devices come
    and go); between two devices with one name, by index."""
    from voicecount.backends import get_backend
    from voicecount.devices import asked_for

    twins = (f"module-null-sink sink_name={n} sink_properties=device.description=Twin" for n in ("t1", "t2"))
    env, server = start_pulse(tmp_path, *twins)
    try:
        for name in ("PULSE_SERVER", "XDG_RUNTIME_DIR"):  # this process's soundcard
            monkeypatch.setenv(name, env[name])
        monitors = get_backend("system").devices()
        [vmic] = [d for d in monitors if d.name == "Monitor of Null Output"]
        assert asked_for(vmic) == "Monitor of Null Output"
        same = [d for d in monitors if d.name == "Monitor of Twin"]
        assert len(same) == 2 and [asked_for(d) for d in same] == [str(d.index) for d in same]
    finally:
        server.terminate()
        server.wait(timeout=10)

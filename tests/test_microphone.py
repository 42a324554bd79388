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
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli

TALK = "d03_mixed__flite-slt__clean.wav"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed — .ci/run installs it (apt-get install pulseaudio)")
    root = tmp_path_factory.mktemp("pulse")
    runtime = root / "rt"
    runtime.mkdir(mode=0o700)
    sock = runtime / "native"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(root), PULSE_SERVER=f"unix:{sock}")
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes", "--use-pid-file=no",
         f"--log-target=file:{root / 'log'}",
         "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1",
         "-L", "module-null-sink sink_name=vmic rate=48000 channels=2",
         "-L", "module-always-sink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"PulseAudio did not start: {(root / 'log').read_text() if (root / 'log').exists() else ''}")
        time.sleep(0.2)
    subprocess.run(["pactl", "set-default-sink", "vmic"], env=env, check=True)
    subprocess.run(["pactl", "set-default-source", "vmic.monitor"], env=env, check=True)
    yield env
    proc.terminate()
    proc.wait(timeout=10)


def listen_to_playback(pulse, backend: str, wav, *extra: str) -> tuple[int, str, str]:
    """Run listen on the virtual microphone while the talk plays into it; stop it with SIGTERM."""
    env = dict(pulse, VOICECOUNT_HOME=os.environ["VOICECOUNT_HOME"])  # this test's own data dir
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", "listen", "--no-gui", "--device", "pulse", "--backend", backend, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    import queue
    import threading

    lines: "queue.Queue[str]" = queue.Queue()
    err_lines: list[str] = []

    def drain():
        for line in proc.stderr:
            err_lines.append(line)
            lines.put(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        # Wait until it is really listening (model loaded, stream open).
        deadline = time.monotonic() + 120
        while True:
            try:
                if "listening to" in lines.get(timeout=1):
                    break
            except queue.Empty:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("listen did not start: " + "".join(err_lines))
        subprocess.run(["paplay", str(wav)], env=env, check=True, timeout=300)
        time.sleep(2.5)  # the last words' end of utterance
        proc.send_signal(signal.SIGTERM)  # stops like Ctrl-C: finalise and save
        out = proc.stdout.read()
        proc.wait(timeout=120)
        reader.join(timeout=10)
        err = "".join(err_lines)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    m = re.search(r"^total AI: (\d+) in ", out, re.M)
    assert m, out
    return int(m.group(1)), out, err


@pytest.fixture(scope="module")
def file_result(shared_audio):
    proc = run_cli("count", str(shared_audio / "dev" / TALK), "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_live_counts_from_a_virtual_microphone_match_counting_the_file(pulse, backend, shared_audio, file_result, dev_manifest):
    assert any("pulse" in ln for ln in run_cli("devices", "--backend", backend, env=pulse).stdout.splitlines())
    count, out, err = listen_to_playback(pulse, backend, shared_audio / "dev" / TALK)
    assert abs(count - file_result["counts"]["AI"]) <= 1, (count, file_result["counts"])
    assert abs(count - dev_manifest[TALK]["keywords"]) <= 1
    assert "session" in err and "saved" in err
    finals = [ln[2:] for ln in out.splitlines() if ln.startswith("> ")]
    assert len(" ".join(finals).split()) > 40  # the whole talk came through, not a fragment


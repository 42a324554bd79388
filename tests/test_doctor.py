"""`voicecount doctor` on a machine that has everything, then with each thing taken away.

Everything is real: a private PulseAudio server with a null sink is the sound system, Xvfb
the display, the bundled model the model. What is taken away is taken away for real: the
sound server's socket points nowhere, DISPLAY is unset, a model folder lacks its files, the
settings file is not TOML.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import run_cli, start_pulse

TALK = "d03_mixed__flite-slt__clean.wav"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    env, proc = start_pulse(tmp_path_factory.mktemp("pulse"))
    yield env
    proc.terminate()
    proc.wait(timeout=10)


def doctor(env: dict, *args: str, unset: tuple = ()) -> tuple[int, dict]:
    proc = run_cli("doctor", "--json", *args, env=env, unset=unset, timeout=180)
    assert "Traceback" not in proc.stderr
    return proc.returncode, {c["name"]: c for c in json.loads(proc.stdout)["checks"]}


def test_everything_present_is_ok_and_the_level_check_hears_what_plays(pulse, xvfb, shared_audio):
    env = dict(pulse, DISPLAY=xvfb, VOICECOUNT_HOME=os.environ["VOICECOUNT_HOME"])
    player = subprocess.Popen(["paplay", str(shared_audio / "dev" / TALK)], env=env)  # 40 s of speech
    try:
        code, checks = doctor(env)
    finally:
        player.kill()
        player.wait(timeout=10)
    not_ok = {n: c for n, c in checks.items() if c["status"] != "OK"}
    assert code == 0 and not not_ok, not_ok
    assert set(checks) >= {
        "python",
        "portaudio",
        "backend sounddevice",
        "backend pyaudio",
        "system audio",
        "input devices",
        "level",
        "window",
        "model",
        "models folder",
        "settings",
        "disk",
        "summary model",
    }
    rates = {d["name"]: d["rate"] for d in checks["input devices"]["data"]["devices"]}
    assert rates.get("pulse", 0) > 0, rates  # the default rate of each input is reported
    level = checks["level"]["data"]
    assert level["seconds"] >= 1.9 and level["peak_dbfs"] > -30, level  # speech, not silence
    assert "Monitor of Null Output" in checks["system audio"]["detail"]
    assert "tiny.en" in checks["model"]["detail"]

    text = run_cli("doctor", "--seconds", "0.5", env=env, timeout=180)  # the one-screen form
    lines = text.stdout.splitlines()
    assert lines[0].startswith("OK    python")
    assert any(ln.startswith(("OK    level", "FAIL  level")) for ln in lines)  # nothing plays now: may be silent
    assert lines[-1].endswith("OK")


def test_silence_fails_with_muted_or_wrong_device(pulse, xvfb):
    """Nothing plays into the sink: its monitor gives only zeros, like a muted or denied microphone."""
    env = dict(pulse, DISPLAY=xvfb, VOICECOUNT_HOME=os.environ["VOICECOUNT_HOME"])
    code, checks = doctor(env, "--seconds", "1")
    assert code == 1
    level = checks["level"]
    assert level["status"] == "FAIL" and "only zeros" in level["detail"], level
    assert "muted or wrong device" in level["fix"]
    assert [n for n, c in checks.items() if c["status"] == "FAIL"] == ["level"]


def test_a_data_folder_that_cannot_hold_sessions_fails_the_disk_check(tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    code, checks = doctor({"VOICECOUNT_HOME": str(home)})
    assert code == 1 and checks["disk"]["status"] == "FAIL", checks["disk"]
    assert "is not a folder" in checks["disk"]["detail"] and "VOICECOUNT_HOME" in checks["disk"]["fix"]


def test_a_settings_file_naming_an_unknown_backend_is_a_failed_check_not_the_end(voicecount_home):
    settings = voicecount_home / "config" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('backend = "nope"\n')
    code, checks = doctor({})
    assert code == 1
    assert checks["settings"]["status"] == "FAIL" and "backend 'nope'" in checks["settings"]["detail"]
    assert "python" in checks and "model" in checks  # every other check still ran


def test_each_thing_taken_away_fails_with_its_fix(tmp_path, voicecount_home):
    """No sound server (so no devices), no display, a broken model folder, a settings file that is not TOML."""
    broken = voicecount_home / "data" / "models" / "faster-whisper-base.en"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")  # model.bin, tokenizer.json and the vocabulary are missing
    settings = voicecount_home / "config" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('engine = "whisper\nmodel = 3\n')
    env = {"PULSE_SERVER": f"unix:{tmp_path / 'no-server'}", "XDG_RUNTIME_DIR": str(tmp_path)}
    proc = run_cli("doctor", env=env, unset=("DISPLAY", "WAYLAND_DISPLAY"), timeout=180)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    code, checks = doctor(env, unset=("DISPLAY", "WAYLAND_DISPLAY"))
    assert code == 1
    failed = {n for n, c in checks.items() if c["status"] == "FAIL"}
    assert failed == {"input devices", "window", "models folder", "settings"}, checks

    assert "no microphone found" in checks["input devices"]["detail"]
    assert "Privacy & Security → Microphone" in checks["input devices"]["fix"]
    assert checks["level"]["status"] == "WARN"  # nothing to listen to: said once, by the devices line
    assert "no $DISPLAY" in checks["window"]["detail"] and "no display" in checks["window"]["fix"]
    assert "faster-whisper-base.en" in checks["models folder"]["detail"]
    assert "model.bin" in checks["models folder"]["detail"]
    assert "models download" in checks["models folder"]["fix"]
    assert "not valid TOML" in checks["settings"]["detail"] and "config edit" in checks["settings"]["fix"]
    assert checks["system audio"]["status"] == "WARN" and "sound server" in checks["system audio"]["detail"]
    assert "AssertionError" not in checks["system audio"]["detail"]  # soundcard's bare assert says nothing
    assert checks["model"]["status"] == "OK"  # the bundled model still loads: only the broken folder fails

    # The one-screen form says the same, each FAIL followed by its fix.
    lines = proc.stdout.splitlines()
    for name in ("input devices", "window", "models folder", "settings"):
        at = next(i for i, ln in enumerate(lines) if ln.startswith(f"FAIL  {name}"))
        assert any(ln.strip().startswith("→ ") for ln in lines[at + 1 : at + 6]), lines[at : at + 6]
    assert lines[-1].startswith("4 FAIL")

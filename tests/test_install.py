"""A built wheel, installed into a fresh virtual environment, counts the sample with no checkout around.

The wheel is built from a copy of the source (the checkout stays clean) without network
(--no-build-isolation: the setuptools already installed builds it). The venv sees the
already-installed dependencies (--system-site-packages) so the test needs no downloads;
voicecount itself comes from the wheel alone — the test checks which copy is imported —
and runs from an empty folder, so the sample and the web view's files must be inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT

SKIP = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".ruff_cache")


def test_a_wheel_in_a_fresh_venv_counts_the_bundled_sample(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP, symlinks=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("voicecount-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "voicecount/assets/sample-ai-talk.wav" in names
    assert any(n.startswith("voicecount/web/static/") for n in names)
    assert not any(n.startswith(("tests/", "assets/", "scripts/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import voicecount; print(voicecount.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the wheel's copy, not the checkout
    deps = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert not [ln for ln in deps.stdout.splitlines() if ln.lower().startswith("voicecount ")], deps.stdout

    counted = subprocess.run(
        [str(bindir / "voicecount"), "count", "--sample", "--json", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=300,
    )
    assert counted.returncode == 0, counted.stderr
    result = json.loads(counted.stdout)
    assert result["counts"] == {"AI": 4} and result["model"] == "tiny.en", result


def test_a_model_under_a_non_ascii_windows_path_says_how_to_load_it(monkeypatch):
    """CTranslate2 and Vosk open files through Windows' ANSI API: under a profile named "José" the
    error said the folder was damaged (faster-whisper#238, vosk-api#1072)."""
    from voicecount import models

    usual = "the folder is damaged"
    assert models.native_path(Path("/tmp/José/tiny.en")) == "/tmp/José/tiny.en"  # only Windows has short names
    assert models.load_failed_fix("C:\\Users\\José\\tiny.en", usual) == usual
    monkeypatch.setattr(models, "_on_windows", lambda: True)
    fix = models.load_failed_fix("C:\\Users\\José\\tiny.en", usual)
    assert "ASCII" in fix and "C:\\voicecount\\tiny.en" in fix and "--model" in fix
    assert models.load_failed_fix("C:\\Users\\Jose\\tiny.en", usual) == usual

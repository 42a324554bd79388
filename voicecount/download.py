"""Model downloads: the only code in voicecount that opens a network connection.

A download is written to ``<name>.part`` beside its target, resumed with an HTTP
Range request when a part is already there, checked against its pinned size and
SHA-256, and only then unpacked — into a temporary folder, refusing any entry that
would land outside it (absolute paths, ``..``, symlinks, devices) or that makes the
archive bigger than MAX_UNPACKED — and moved into place with one rename, with a
``.complete`` marker. A half download never looks installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import ModelError
from .paths import models_dir

CHUNK = 1 << 16
TIMEOUT = 30  # seconds without data before giving up (the download can be resumed)
MAX_UNPACKED = 8 << 30  # 8 GiB: no model we list is bigger; a zip bomb is
MAX_FILES = 10_000

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


@dataclass(frozen=True)
class Pinned:
    """One file of a catalogue entry: where it is and exactly what it must be."""

    path: str  # name inside the model folder; "" for a single-file model or an archive
    url: str
    size: int  # bytes
    sha256: str | None  # None: not pinned — refused


@dataclass(frozen=True)
class Entry:
    """One catalogue model: where it comes from and what every file must hash to."""

    name: str
    engine: str  # "vosk", "whisper" or "llm"
    page: str  # where a person can read about it
    files: tuple[Pinned, ...]
    note: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.files) and all(f.sha256 and f.size for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


VOSK_SITE = "https://alphacephei.com/vosk/models"
# The fix for an archive refused as unsafe or not a model: nothing of it was unpacked.
NOT_A_MODEL = f"nothing was unpacked; check the URL, or take a model from {VOSK_SITE}"
HF = "https://huggingface.co"

# Sizes and SHA-256 as public projects and distribution packages record them for these exact
# files (Hugging Face files at a fixed revision); see models/README.md for how far each is
# corroborated. A file that does not match is deleted and nothing is installed;
# tests/test_download.py checks the tiny.en pins against the bundled copy of the same model.
_EN_TOKENIZER = ("tokenizer.json", 2_128_466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df")
_EN_VOCABULARY = ("vocabulary.txt", 422_309, "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf")


def _hf(repo: str, revision: str, *files: tuple[str, int, str]) -> tuple[Pinned, ...]:
    return tuple(Pinned(name, f"{HF}/{repo}/resolve/{revision}/{name}", size, sha) for name, size, sha in files)


def _systran(size: str, revision: str, config: tuple[int, str], model: tuple[int, str], note: str) -> Entry:
    """A faster-whisper English model from Systran's Hugging Face conversions (four files)."""
    repo = f"Systran/faster-whisper-{size}"
    files = _hf(repo, revision, ("config.json", *config), ("model.bin", *model), _EN_TOKENIZER, _EN_VOCABULARY)
    return Entry(f"faster-whisper-{size}", "whisper", f"{HF}/{repo}", files, note)


CATALOGUE: tuple[Entry, ...] = (
    Entry(
        "vosk-model-small-en-us-0.15",
        "vosk",
        VOSK_SITE,
        (
            Pinned(
                "",
                f"{VOSK_SITE}/vosk-model-small-en-us-0.15.zip",
                41_205_931,
                "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
            ),
        ),
        "US English, lowest latency",
    ),
    Entry(
        "vosk-model-en-us-0.22-lgraph",
        "vosk",
        VOSK_SITE,
        (
            Pinned(
                "",
                f"{VOSK_SITE}/vosk-model-en-us-0.22-lgraph.zip",
                130_557_655,
                "d9838b4aaa82a75c4a17f5aca300eaca129aaab2a7cbf951bafbb500eb9c4334",
            ),
        ),
        "US English, more accurate",
    ),
    _systran(
        "tiny.en",
        "0d3d19a32d3338f10357c0889762bd8d64bbdeba",
        (2_317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        (75_537_502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
        "the bundled default, as a download",
    ),
    _systran(
        "base.en",
        "3d3d5dee26484f91867d81cb899cfcf72b96be6c",
        (2_227, "f3bc3821e9fc76a27bae538e11ae5b677dcdd352b4600429ce7951d398569aeb"),
        (145_216_508, "2a166925539a16005f14ff328359f9b9adb9dc4fb631bb3b227526862e93e2ef"),
        "between tiny.en and small.en in accuracy and compute",
    ),
    _systran(
        "small.en",
        "d1d751a5f8271d482d14ca55d9e2deeebbae577f",
        (2_657, "666a9605530ac1f61fa8177f3702b4dacec9966749e42610839fcc32661d5fae"),
        (483_545_366, "62b2a45b05ee59acb4a5341b33ee35e041395d378d418a18acfe4c9e768ee37a"),
        "the most accurate here and the heaviest (not benchmarked: no download on the bench machine)",
    ),
    Entry(
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        "llm",
        f"{HF}/Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        _hf(
            "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
            "91cad51170dc346986eccefdc2dd33a9da36ead9",
            (
                "qwen2.5-1.5b-instruct-q4_k_m.gguf",
                1_117_320_736,
                "6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
            ),
        ),
        "summaries worth reading (Apache-2.0)",
    ),
)


def find(name: str) -> Entry:
    for e in CATALOGUE:
        if e.name == name:
            return e
    raise ModelError(
        f"no model called {name!r} in the catalogue", f"choose one of: {', '.join(e.name for e in CATALOGUE)}"
    )


def _fail(what: str, reason: object) -> ModelError:
    return ModelError(
        f"cannot download {what} ({reason})",
        "check the network connection and run the same command again: it resumes where it stopped "
        "(voicecount itself works offline with the bundled model)",
    )


def fetch(url: str, dest: Path, size: int | None, sha256: str, progress: Progress | None = None) -> Path:
    """Download ``url`` to ``dest`` (via ``dest.part``, resuming it), verified against size and SHA-256."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is None or have < size:
        request = urllib.request.Request(
            url, headers={"User-Agent": "voicecount", **({"Range": f"bytes={have}-"} if have else {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
                if have and resp.status != 206:
                    have = 0  # the server ignored the range: start over
                total = size
                length = resp.headers.get("Content-Length")
                if total is None and length is not None:
                    total = have + int(length)
                with open(part, "ab" if have else "wb") as out:
                    got = have
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        got += len(block)
                        if progress is not None:
                            progress(got, total)
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # asked beyond the end: the part is already whole
                pass
            else:
                raise _fail(url, f"HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise _fail(url, getattr(e, "reason", e)) from None
    got = part.stat().st_size
    if size is not None and got != size:
        raise _fail(url, f"got {got} of {size} bytes")
    got_sha = _sha256(part)
    if got_sha != sha256.lower():
        part.unlink()
        raise ModelError(
            f"the download of {url} does not match its checksum (sha256 {got_sha[:16]}…, expected {sha256[:16]}…)",
            "it was deleted; run the command again — if it keeps failing, the file on the server changed: report it",
        )
    os.replace(part, dest)
    return dest


def safe_extract(archive: Path, into: Path) -> None:
    """Unzip ``archive`` into ``into`` refusing entries that escape it, links, and oversized content."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ModelError(
            f"{archive.name} is not a zip archive", "run the download again; report it if it persists"
        ) from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_FILES:
            raise ModelError(f"{archive.name} holds {len(members)} files", NOT_A_MODEL)
        total = 0
        root = into.resolve()
        for m in members:
            name = m.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            mode = m.external_attr >> 16
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise ModelError(f"{archive.name} has an entry outside its folder: {name!r}", NOT_A_MODEL)
            kind = stat.S_IFMT(mode)  # 0 when the zip records permissions only
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise ModelError(f"{archive.name} has a link or special file: {name!r}", NOT_A_MODEL)
            if not (root / name).resolve().is_relative_to(root):
                raise ModelError(f"{archive.name} has an entry outside its folder: {name!r}", NOT_A_MODEL)
            total += m.file_size
            if total > MAX_UNPACKED:
                raise ModelError(f"{archive.name} unpacks to more than {MAX_UNPACKED >> 30} GiB", NOT_A_MODEL)
        for m in members:
            target = into / m.filename
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as dst:
                written = 0
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > m.file_size:  # a header that lies about the size
                        raise ModelError(f"{archive.name}: {m.filename} is bigger than it claims", NOT_A_MODEL)
                    dst.write(block)


def install(name: str, url: str, size: int | None, sha256: str, progress: Progress | None = None) -> Path:
    """Download and install a model folder (a zip) or file into the models dir, atomically."""
    where = models_dir()
    where.mkdir(parents=True, exist_ok=True)
    target = where / name
    marker = _marker([(url, sha256)])
    if _already_installed(target, marker) or (target.is_file() and not name.endswith(".zip")):
        return target
    is_zip = url.lower().split("?")[0].endswith(".zip")
    download = where / (name + (".zip" if is_zip else ".download"))
    fetch(url, download, size, sha256, progress)
    if not is_zip:
        os.replace(download, target)
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=where))
    try:
        safe_extract(download, tmp)
        entries = [p for p in tmp.iterdir() if not p.name.startswith("__MACOSX")]
        content = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        (content / ".complete").write_text(marker)
        os.replace(content, target)
    except OSError as e:
        raise ModelError(
            f"cannot unpack {download.name} into {where} ({e.strerror or e})",
            "free some disk space and run it again; if it persists the archive is not a model",
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        download.unlink(missing_ok=True)  # checked and unpacked, or refused: either way not needed again
    return target


def _marker(sources: list[tuple[str, str | None]]) -> str:
    """What ``.complete`` records of an install: where each file came from and its checksum."""
    return "".join(f"{url}\nsha256 {sha256}\n" for url, sha256 in sources)


def _already_installed(target: Path, marker: str) -> bool:
    """Whether ``target`` holds this very download; a folder of anything else is never replaced."""
    if not target.exists():
        return False
    try:
        recorded = (target / ".complete").read_text(encoding="utf-8")
    except OSError:
        raise ModelError(
            f"{target} already exists and was not installed by voicecount",
            "move it away (it may be a model you unpacked by hand), or give the download another name",
        ) from None
    if recorded.strip() != marker.strip():
        first = recorded.splitlines()[0] if recorded.strip() else "another source"
        raise ModelError(
            f"{target.name} is already installed from {first}",
            f"delete {target} to replace it, or give the download another name",
        )
    return True


def install_folder(name: str, files: tuple[Pinned, ...], progress: Progress | None = None) -> Path:
    """Download several pinned files into one model folder, atomically (resumable file by file)."""
    where = models_dir()
    where.mkdir(parents=True, exist_ok=True)
    target = where / name
    marker = _marker([(f.url, f.sha256) for f in files])
    if _already_installed(target, marker):
        return target
    staging = where / f".{name}.download"  # kept between runs: finished files are not fetched again
    staging.mkdir(exist_ok=True)
    total = sum(f.size for f in files)
    done = 0
    for f in files:
        if not f.sha256 or PurePosixPath(f.path).name != f.path or f.path in ("", ".", ".."):
            raise ModelError(f"catalogue entry {name} has a bad file {f.path!r}", "report it: nothing was installed")
        dest = staging / f.path
        if not (dest.is_file() and dest.stat().st_size == f.size and _sha256(dest) == f.sha256):
            offset = done
            fetch(
                f.url,
                dest,
                f.size,
                f.sha256,
                (lambda got, _t, o=offset: progress(o + got, total)) if progress else None,
            )
        done += f.size
        if progress is not None:
            progress(done, total)
    (staging / ".complete").write_text(marker)
    os.replace(staging, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_entry(entry: Entry, progress: Progress | None = None) -> Path:
    """Install one catalogue entry: an archive, a single file, or a folder of files."""
    if not entry.pinned:
        raise ModelError(
            f"{entry.name} has no pinned checksum in this version, so voicecount will not download it unverified",
            f"download it yourself from {entry.page} into {models_dir()}, or pass its URL and SHA-256: "
            f"voicecount models download --url URL --sha256 HEX",
        )
    if len(entry.files) == 1:  # an archive or a single file: install() tells which
        f = entry.files[0]
        return install(entry.name, f.url, f.size, f.sha256 or "", progress)
    return install_folder(entry.name, entry.files, progress)

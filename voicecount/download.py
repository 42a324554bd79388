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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from .errors import ModelError
from .paths import models_dir

CHUNK = 1 << 16
TIMEOUT = 30  # seconds without data before giving up (the download can be resumed)
MAX_UNPACKED = 8 << 30  # 8 GiB: no model we list is bigger; a zip bomb is
MAX_FILES = 10_000

Progress = Callable[[int, Optional[int]], None]  # (bytes so far, total or None)


@dataclass(frozen=True)
class Entry:
    """One catalogue model: where it comes from and what it must hash to."""

    name: str
    engine: str  # "vosk", "whisper" or "llm"
    url: str
    size: Optional[int]  # bytes of the download
    sha256: Optional[str]  # None: not pinned yet — refused
    note: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 and self.size)


VOSK_SITE = "https://alphacephei.com/vosk/models"
HF = "https://huggingface.co"

# Checksums are pinned from a machine with network access (see issue "Models"); an entry
# without one is listed but not downloaded, so nothing unverified is ever installed.
CATALOGUE: tuple[Entry, ...] = (
    Entry("vosk-model-small-en-us-0.15", "vosk", f"{VOSK_SITE}/vosk-model-small-en-us-0.15.zip", None, None,
          "40 MB, US English, low latency"),
    Entry("vosk-model-en-us-0.22-lgraph", "vosk", f"{VOSK_SITE}/vosk-model-en-us-0.22-lgraph.zip", None, None,
          "128 MB, US English, more accurate"),
    Entry("faster-whisper-base.en", "whisper", f"{HF}/Systran/faster-whisper-base.en", None, None,
          "CTranslate2 Whisper base.en"),
    Entry("faster-whisper-small.en", "whisper", f"{HF}/Systran/faster-whisper-small.en", None, None,
          "CTranslate2 Whisper small.en (slow on 2 cores)"),
    Entry("qwen2.5-1.5b-instruct-q4_k_m.gguf", "llm",
          f"{HF}/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf", None, None,
          "a summary model worth reading"),
)


def find(name: str) -> Entry:
    for e in CATALOGUE:
        if e.name == name:
            return e
    raise ModelError(f"no model called {name!r} in the catalogue", f"choose one of: {', '.join(e.name for e in CATALOGUE)}")


def _fail(what: str, reason: object) -> ModelError:
    return ModelError(
        f"cannot download {what} ({reason})",
        "check the network connection and run the same command again: it resumes where it stopped "
        "(voicecount itself works offline with the bundled model)",
    )


def fetch(url: str, dest: Path, size: Optional[int], sha256: str, progress: Optional[Progress] = None) -> Path:
    """Download ``url`` to ``dest`` (via ``dest.part``, resuming it), verified against size and SHA-256."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is None or have < size:
        request = urllib.request.Request(url, headers={"User-Agent": "voicecount", **({"Range": f"bytes={have}-"} if have else {})})
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
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256.lower():
        part.unlink()
        raise ModelError(
            f"the download of {url} does not match its checksum (sha256 {digest.hexdigest()[:16]}…, expected {sha256[:16]}…)",
            "it was deleted; run the command again — if it keeps failing, the file on the server changed: report it",
        )
    os.replace(part, dest)
    return dest


def safe_extract(archive: Path, into: Path) -> None:
    """Unzip ``archive`` into ``into`` refusing entries that escape it, links, and oversized content."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ModelError(f"{archive.name} is not a zip archive", "run the download again; report it if it persists") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_FILES:
            raise ModelError(f"{archive.name} holds {len(members)} files", "that is no model archive: not unpacked")
        total = 0
        root = into.resolve()
        for m in members:
            name = m.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            mode = m.external_attr >> 16
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise ModelError(f"{archive.name} has an entry outside its folder: {name!r}", "refused: nothing was unpacked")
            kind = stat.S_IFMT(mode)  # 0 when the zip records permissions only
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise ModelError(f"{archive.name} has a link or special file: {name!r}", "refused: nothing was unpacked")
            if not (root / name).resolve().is_relative_to(root):
                raise ModelError(f"{archive.name} has an entry outside its folder: {name!r}", "refused: nothing was unpacked")
            total += m.file_size
            if total > MAX_UNPACKED:
                raise ModelError(f"{archive.name} unpacks to more than {MAX_UNPACKED >> 30} GiB", "refused: that is no model")
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
                        raise ModelError(f"{archive.name}: {m.filename} is bigger than it claims", "refused")
                    dst.write(block)


def install(name: str, url: str, size: Optional[int], sha256: str, progress: Optional[Progress] = None) -> Path:
    """Download and install a model folder (a zip) or file into the models dir, atomically."""
    where = models_dir()
    where.mkdir(parents=True, exist_ok=True)
    target = where / name
    if (target / ".complete").is_file() or (target.is_file() and not name.endswith(".zip")):
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
        (content / ".complete").write_text(f"{url}\nsha256 {sha256}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(content, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    download.unlink(missing_ok=True)
    return target


def install_entry(entry: Entry, progress: Optional[Progress] = None) -> Path:
    if not entry.pinned:
        raise ModelError(
            f"{entry.name} has no pinned checksum in this version, so voicecount will not download it unverified",
            f"download it yourself from {entry.url} and unzip it into {models_dir()}, or pass its URL and SHA-256: "
            f"voicecount models download --url URL --sha256 HEX",
        )
    return install(entry.name, entry.url, entry.size, entry.sha256 or "", progress)

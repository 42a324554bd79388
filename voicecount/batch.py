"""Count an archive: many recordings, in worker processes, each result kept so a rerun resumes.

Files come from paths, folders (searched recursively for audio and video containers)
and globs. Each file is counted by the same ``Run`` as ``voicecount count`` (one session
per file); the result is stored under the data dir keyed by the file's content and the
settings (keywords, engine, model, decoding path), so a file counted before is not
decoded again — an interrupted batch continues where it stopped. ``shard`` picks a
stable subset, so several machines can split one archive without talking to each other.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import itertools
import json
import os
import signal
import sys
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from . import escape
from .errors import ConfigError, ModelError, VoicecountError
from .export import csv_cell
from .matcher import Keyword
from .pace import per_minute, talk_seconds
from .paths import data_dir, open_private

# Containers FFmpeg (PyAV) reads that hold speech: audio files and videos with a sound track.
_MEDIA = ".wav .flac .mp3 .m4a .aac .ogg .oga .opus .wma .aif .aiff .caf .amr .webm .mp4 .m4v .mov .mkv .avi .mpg"
MEDIA_SUFFIXES = frozenset(f"{_MEDIA} .mpeg .ts .3gp .3g2 .m4b .mka .wv .spx .flv .wmv .asf .mts .m2ts .ogv".split())
WORKER_MEMORY = 500 * 2**20  # bytes one worker may need with the default model (RSS ~300 MB, measured)


@dataclass(frozen=True)
class Item:
    """A file to count; ``name`` is how it is shown and sharded (relative to the folder it was found in)."""

    path: Path
    name: str

    def result(self, **fields: object) -> FileResult:
        """Its result: the path as text any output can hold (names need not be UTF-8)."""
        return FileResult(self.name, escape.path_text(str(self.path)), **fields)


@dataclass(frozen=True)
class Job:
    """What every file of a batch is counted with (sent to each worker process)."""

    engine: str
    model: str | None
    keywords: tuple[Keyword, ...]
    recording: bool = True
    threads: int = 0
    track: int = 1

    def key(self) -> str:
        """The settings a stored result depends on (not threads: they change speed, not words).

        The model as the folder it resolves to, and voicecount's version: an upgrade counts again.
        """
        from . import __version__
        from .models import resolve_vosk_model, resolve_whisper_model

        model = resolve_vosk_model(self.model) if self.engine == "vosk" else resolve_whisper_model(self.model)[0]
        spec = {
            "version": __version__,
            "engine": self.engine,
            "model": str(Path(model).resolve()),
            "keywords": [asdict(k) for k in self.keywords],
            "path": "recording" if self.recording else "live",
        }
        if self.track != 1:  # results stored before --track existed stay valid for track 1
            spec["track"] = self.track
        return json.dumps(spec, sort_keys=True)


@dataclass
class FileResult:
    """One file's outcome: counts and times, or why it could not be counted."""

    file: str
    path: str
    duration: float = 0.0
    words: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    hits: list[dict] = field(default_factory=list)
    engine: str = ""
    model: str = ""
    session: str = ""
    decoding: str = ""  # "recording" or "live"
    error: str = ""
    cached: bool = False  # counted by an earlier run with the same settings
    damaged: int = 0  # pieces of the file that would not decode and were skipped
    damaged_seconds: float = 0.0  # the audio they held
    tracks: int = 1  # audio tracks in the file (Job.track is the one counted)
    talk: float = 0.0  # seconds from the first word to the last (0 in results stored by older versions)

    @property
    def wpm(self) -> float:
        """Words per minute of talk, as the coach measures pace: silence before and after is not talk."""
        return per_minute(self.words, self.talk or self.duration)

    def as_json(self) -> dict:
        """One JSON-lines record: ``count --json``'s fields plus the file, words, pace and session."""
        d = asdict(self)
        d["duration"] = round(self.duration, 2)
        d["wpm"] = round(self.wpm, 1)
        return d


# ---------------------------------------------------------------------------- which files


def collect(inputs: Sequence[str]) -> tuple[list[Item], list[FileResult]]:
    """The files named by paths, folders and globs (each once), and an error for each input that names none."""
    items: list[Item] = []
    missing: list[FileResult] = []
    seen: set[Path] = set()

    def add(path: Path, name: str) -> None:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            items.append(Item(path, escape.path_text(name)))  # the path opens the file; the name is shown

    for raw in inputs:
        p = Path(raw).expanduser()
        shown = escape.path_text(raw)
        if p.is_dir():
            found = sorted(f for f in _files_under(p) if _media(f))
            if not found:
                kinds = ", ".join(sorted(MEDIA_SUFFIXES))
                missing.append(
                    FileResult(shown, shown, error=f"no audio or video files in it — voicecount reads {kinds}")
                )
            for f in found:
                add(f, f.relative_to(p).as_posix())
        elif p.is_file():
            add(p, p.as_posix())
        elif glob.has_magic(raw):
            # Media only, as in a folder: 'talks/*' run again must not take last run's counts.csv for a talk.
            found = sorted(Path(f) for f in glob.glob(os.path.expanduser(raw), recursive=True) if _media(Path(f)))
            if not found:
                fix = "check it, and quote it so the shell passes it on as it is ('talks/**/*.mp3')"
                missing.append(FileResult(shown, shown, error=f"the pattern matches no audio or video files — {fix}"))
            base = _fixed_part(raw)
            for f in found:
                add(f, f.relative_to(base).as_posix() if f.is_relative_to(base) else f.as_posix())
        elif p.is_symlink() or p.exists():  # a FIFO, a device, a link that leads nowhere or round
            missing.append(FileResult(shown, shown, error="not a regular file — give recordings saved as files"))
        else:
            fix = "check the path (quote names with spaces)"
            missing.append(FileResult(shown, shown, error=f"no such file or folder — {fix}"))
    return items, missing


def _files_under(folder: Path) -> Iterator[Path]:
    """Every file in a folder and its subfolders, symlinked ones too (as a glob finds them), each real folder once."""
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree, or a second way to one folder: already walked
            dirs[:] = []
            continue
        seen.add(real)
        # Real folders first, each in name order: a file reached two ways gets one name on every machine.
        dirs.sort(key=lambda d: (os.path.islink(os.path.join(root, d)), d))
        yield from (Path(root, f) for f in files)


def _media(path: Path) -> bool:
    """An audio or video file by its name ("._talk.mp3" is the metadata macOS leaves on shared drives)."""
    return path.is_file() and path.suffix.lower() in MEDIA_SUFFIXES and not path.name.startswith(".")


def check_outputs(csv_path: str | None, jsonl_path: str | None, items: Sequence[Item]) -> None:
    """Refuse --csv/--jsonl paths that would overwrite a recording (an unquoted glob gives --csv a talk)."""
    inputs = {it.path.resolve() for it in items}
    given = [(flag, Path(p)) for flag, p in (("--csv", csv_path), ("--jsonl", jsonl_path)) if p]
    for flag, path in given:
        if path.suffix.lower() in MEDIA_SUFFIXES or path.resolve() in inputs:
            raise ConfigError(
                f"{flag} {escape.path_text(str(path))} would overwrite a recording",
                f"give a new file, e.g. {flag} counts{flag.replace('--', '.')} (and quote globs: 'talks/*.wav')",
            )
    if len(given) == 2 and given[0][1].resolve() == given[1][1].resolve():
        raise ConfigError("--csv and --jsonl name the same file", "give each its own, e.g. counts.csv and counts.jsonl")


def _fixed_part(pattern: str) -> Path:
    """The folder a glob starts from: its leading parts without wildcards (names are shown relative to it)."""
    parts = Path(os.path.expanduser(pattern)).parts
    fixed = list(itertools.takewhile(lambda p: not glob.has_magic(p), parts[:-1]))
    return Path(*fixed) if fixed else Path()


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` → (K, N), 1 ≤ K ≤ N."""
    k, sep, n = text.partition("/")
    try:
        shard, count = int(k), int(n)
    except ValueError:
        shard = count = 0
    if not sep or not 1 <= shard <= count:
        raise ConfigError(f"--shard {text!r} is not K/N", "give e.g. --shard 1/4 … --shard 4/4 (K from 1 to N)")
    return shard, count


def shard(items: Sequence[Item], k: int, n: int) -> list[Item]:
    """The K-th of N disjoint parts, by a hash of each file's name: the same on every machine and run.

    Names are compared in one Unicode form (macOS file systems give "é" decomposed, Linux composed).
    """

    return [it for it in items if in_shard(it.name, k, n)]


def in_shard(name: str, k: int, n: int) -> bool:
    """Whether the file (or input) shown as ``name`` is in the K-th of N parts."""
    return int(hashlib.sha1(unicodedata.normalize("NFC", name).encode()).hexdigest(), 16) % n == k - 1


# ---------------------------------------------------------------------------- stored results


def store_dir() -> Path:
    return data_dir() / "counted"


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@cache
def _job_key(job: Job) -> str:
    """``job.key()`` once per process: it resolves the model folder, the same for every file."""
    return job.key()


def _stored_path(path: Path, job: Job) -> Path:
    key = hashlib.sha256(f"{content_hash(path)}\n{_job_key(job)}".encode()).hexdigest()
    return store_dir() / key[:2] / f"{key}.json"


def _store(where: Path, result: FileResult) -> None:
    """Keep a result for the next run; a data dir that cannot take it costs the resume, not the count."""
    try:
        # Private as sessions are (README): a result names the file, its hits and their times.
        for folder in (store_dir(), where.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # (a file system without modes keeps the results all the same)
            os.chmod(store_dir(), 0o700)  # made by an older version with the umask's mode
        tmp = where.with_suffix(f".{os.getpid()}.tmp")
        with open_private(tmp) as f:
            f.write(json.dumps(asdict(result)))
        os.replace(tmp, where)  # whole or absent: a batch killed mid-write leaves no half result
    except OSError as e:
        if not _warned:
            _warned.append(True)
            print(
                f"voicecount: cannot keep results in {store_dir()} ({e.strerror}) — a rerun will count these "
                "files again; make the data folder writable, or point VOICECOUNT_HOME somewhere writable",
                file=sys.stderr,
            )


_warned: list = []  # the store's warning is said once per process


# ---------------------------------------------------------------------------- counting one file

# The engine a worker process loaded, reused for every file it counts: (job, engine).
# Process-local on purpose: each worker loads the model once, on its first file to decode.
_loaded: list = []


def _engine_for(job: Job):
    from .engines import create_engine

    if not _loaded or _loaded[0][0] != job:
        _loaded[:] = [(job, create_engine(job.engine, job.model, recording=job.recording, threads=job.threads))]
    return _loaded[0][1]


def count_one(job: Job, item: Item, force: bool = False) -> FileResult:
    """Count one file (or take its stored result); a failure of the file becomes the result's ``error``.

    A model that will not load is no fault of the file: that ``ModelError`` ends the batch.
    """
    from . import session as sessions
    from .run import Record, Run, open_file

    out = item.result()
    try:
        if item.path.exists() and not item.path.is_file():  # replaced by a FIFO: reading it would wait for ever
            raise ConfigError(f"{item.path} is not a regular file", "give recordings saved as files")
        where = _stored_path(item.path, job)
        if not force and where.is_file():
            try:
                stored = FileResult(**json.loads(where.read_text(encoding="utf-8")))
                # The same audio under another name (a copy), or a session since deleted: no session to show.
                same = stored.path == out.path or Path(stored.path).resolve() == item.path.resolve()
                session = stored.session if same and sessions.exists(stored.session) else ""
                fields = {**asdict(stored), "file": item.name, "path": out.path, "cached": True, "session": session}
                return FileResult(**fields)
            except (ValueError, TypeError):
                pass  # damaged: count again, and store it anew
        source = open_file(item.path, track=job.track)
        engine = _engine_for(job)
        run = Run(source, engine.fresh, job.keywords, Record.of_file("count", source)).start()
        try:
            result = run.wait()
        except KeyboardInterrupt:  # (in this process: --jobs 1) keep the session of what was heard
            run.stop()
            raise
    except ModelError:
        raise
    except VoicecountError as e:
        out.error = escape.path_text(str(e))
        return out
    except FileNotFoundError:
        out.error = "it is gone (moved or deleted while the batch ran) — count it where it is now"
        return out
    except OSError as e:
        out.error = f"cannot read it ({e.strerror or e}) — check the file's permissions"
        return out
    except Exception as e:  # a bug of ours on this file: report it, count the rest
        if os.environ.get("VOICECOUNT_DEBUG"):
            raise
        error = escape.path_text(f"{type(e).__name__}: {e}")
        out.error = f"unexpected error: {error} — rerun with VOICECOUNT_DEBUG=1 and report it"
        return out
    out.duration = result.duration
    spoken = [w for t in result.transcript for w in t.words]
    out.words = len(spoken)
    out.talk = talk_seconds(spoken)
    out.counts = result.counts
    out.hits = result.as_json()["hits"]
    out.engine, out.model, out.session = result.engine, result.model, result.session_id
    out.decoding = "recording" if job.recording else "live"
    out.damaged, out.damaged_seconds = source.damaged, round(source.damaged_seconds, 2)
    out.tracks = source.tracks
    _store(where, out)
    return out


# ---------------------------------------------------------------------------- many files


# ProcessPoolExecutor refuses more workers on Windows (ValueError): the limit of WaitForMultipleObjects.
WINDOWS_MAX_WORKERS = 61


def default_jobs(cpus: int | None = None, memory: int | None = None) -> int:
    """Worker processes the machine allows: one per core (each decodes on one thread), within memory.

    Measured on 2 cores (BENCHMARKS.md, "Counting an archive"): two workers of one thread
    beat one worker of two threads by a third — a worker's reader and VAD take CPU of their own.
    """
    cpus = cpus or os.cpu_count() or 1
    if memory is None:
        import psutil  # (os.sysconf has no memory size on Windows)

        memory = psutil.virtual_memory().total
    jobs = cpus
    if memory:
        jobs = min(jobs, max(1, memory // WORKER_MEMORY))
    return jobs


# Whether this worker process is counting a file now (process-local, like _loaded).
_busy: list = []


def _stop_worker(signum, frame) -> None:
    if not _busy:
        os._exit(0)  # idle: nothing to save, and no next file may start
    # Once: when an idle worker exits the pool calls itself broken and sends every worker SIGTERM
    # again, which would cut short the saving of the session.
    for name in _STOPS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise KeyboardInterrupt  # count_one stops its run (the session is saved); _count_in_worker exits


# What stops a worker as the parent's SIGTERM does: a closed terminal (SIGHUP) too, where there is one.
_STOPS = tuple(name for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
PARENT_CHECK = 1.0  # seconds between a worker's looks at whether its parent still runs


def _quiet_worker() -> None:
    # Ctrl-C goes to the whole process group: the parent decides what stops (SIGTERM), not the key.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in _STOPS:
        if signal.getsignal(getattr(signal, name)) != signal.SIG_IGN:  # (nohup ignores SIGHUP: kept)
            signal.signal(getattr(signal, name), _stop_worker)
    threading.Thread(target=_follow_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _follow_parent(parent: int) -> None:
    """A parent killed outright (kill -9, a crash) sends no SIGTERM, and the pool's queue never
    closes for a worker (each holds its write end): without this, workers would wait for ever."""
    import psutil

    while os.getppid() == parent and psutil.pid_exists(parent):
        time.sleep(PARENT_CHECK)
    if _busy:
        os.kill(os.getpid(), signal.SIGTERM)  # as the parent would: the session is saved, then exit
        time.sleep(60)  # (saving; the main thread exits the process)
    os._exit(0)


def _count_in_worker(job: Job, item: Item, force: bool) -> FileResult:
    _busy.append(True)
    try:
        return count_one(job, item, force)
    except KeyboardInterrupt:
        os._exit(0)  # stopped: the session is saved; the pool must not hand this process another file
    finally:
        _busy.clear()


# A file whose worker died when it was counted alone, after a first try among others.
WORKER_DIED = (
    "the worker counting it stopped, twice (out of memory, or a crash in a native library) — "
    "count it by itself with --jobs 1 to see why"
)


def count_all(
    job: Job,
    items: Iterable[Item],
    jobs: int = 1,
    force: bool = False,
    started: Callable[[Item], None] | None = None,
    again_alone: Callable[[Item], None] | None = None,
) -> Iterator[FileResult]:
    """Count every item, ``jobs`` at a time in worker processes (1: in this process); results as they finish.

    At most two files per worker are queued at once, so memory stays flat however
    large the archive. Closing the iterator early (Ctrl-C) stops the workers; files not
    finished are simply not stored, and the next run counts them. When a worker dies, the
    files in flight are counted again one at a time (``again_alone`` is told of each); a
    file whose worker dies then too is reported as failed, and the batch goes on.
    """
    if jobs <= 1:
        for item in items:
            if started:
                started(item)
            yield count_one(job, item, force)
        return
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    def new_pool() -> ProcessPoolExecutor:
        # "spawn" everywhere: what macOS and Windows do anyway, and no copy of this process's threads.
        workers = min(jobs, WINDOWS_MAX_WORKERS) if sys.platform == "win32" else jobs
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker)

    pool = new_pool()
    pending: dict[Future, Item] = {}
    todo = iter(items)
    # Files in flight when a worker died: each is counted again, alone, so a file that kills
    # its worker (a crash in native code, out of memory) fails by itself and no other with it.
    again: deque[Item] = deque()
    alone: set[Path] = set()
    finished = False
    try:
        while True:
            if again:
                if not pending:
                    item = again.popleft()
                    alone.add(item.path)
                    if again_alone:
                        again_alone(item)
                    pending[pool.submit(_count_in_worker, job, item, force)] = item
            else:
                # No more files handed out than workers: a file waiting in the pool's queue cannot be
                # taken back when the batch stops.
                for item in todo:
                    pending[pool.submit(_count_in_worker, job, item, force)] = item
                    if started:
                        started(item)
                    if len(pending) >= jobs:
                        break
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            lost: list[Item] = []
            for f in done:
                item = pending.pop(f)
                try:
                    yield f.result()
                except BrokenProcessPool:
                    lost.append(item)
            if lost:
                # The others in flight died with the pool; one that finished first keeps its result.
                for f, item in pending.items():
                    if f.done() and not f.cancelled() and f.exception() is None:
                        yield f.result()
                    else:
                        lost.append(item)
                pending.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
                for item in lost:
                    if item.path in alone:
                        yield item.result(error=WORKER_DIED)
                    else:
                        again.append(item)
        finished = True
    finally:
        if not finished:
            _stop_workers(pool)
        pool.shutdown(wait=finished, cancel_futures=True)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now: a busy one saves its file's session first (SIGTERM), then it is killed.

    Workers would finish their files before the interpreter could exit, and Python 3.11 has no
    public way to stop them (3.14 adds terminate_workers()). A file cut short is not stored, so
    the next run counts it again. (On Windows terminate() kills at once: the session is then
    recovered by the next run.)
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()


# ---------------------------------------------------------------------------- results files

CSV_FIELDS = ("file", "path", "duration", "words", "wpm")  # then one column per keyword
CSV_TAIL = ("engine", "model", "decoding", "session", "cached", "damaged", "damaged_seconds", "error")


class ResultFiles:
    """``--csv`` / ``--jsonl``: a line per file as it finishes, written through, so an interrupted batch
    keeps its lines; a line a full disk cuts short is taken back, so each file holds whole lines."""

    def __init__(self, csv_path: str | None, jsonl_path: str | None, keywords: Sequence[str]) -> None:
        self.keywords = list(keywords)
        self._files: list[tuple[Any, str]] = []  # (unbuffered binary file, its path)
        self._csv = self._jsonl = None
        try:
            if csv_path:
                self._csv = self._open(csv_path)
                # A keyword named like a column ("model") gets its own name: DictReader keeps one of each.
                fixed = {*CSV_FIELDS, *CSV_TAIL}
                columns = [f"{k} (keyword)" if k in fixed else k for k in self.keywords]
                self._write(self._csv, _csv_line([csv_cell(c) for c in (*CSV_FIELDS, *columns, *CSV_TAIL)]))
            if jsonl_path:
                self._jsonl = self._open(jsonl_path)
        except OSError as e:
            self.close()
            where = escape.path_text(str(e.filename or csv_path or jsonl_path))
            raise ConfigError(f"cannot write {where}: {e.strerror}", "choose a writable path") from None

    def _open(self, path: str) -> Any:
        f = open(path, "wb", buffering=0)  # noqa: SIM115 (closed in close())
        self._files.append((f, path))
        return f

    def add(self, r: FileResult) -> None:
        d = r.as_json()
        if self._csv is not None:
            counts = [r.counts.get(k, 0) if not r.error else "" for k in self.keywords]  # failed: no counts
            row = [d[k] for k in CSV_FIELDS] + counts + [d[k] for k in CSV_TAIL]
            # File names are data: never formulas, escape sequences or bidi overrides.
            self._write(self._csv, _csv_line([csv_cell(escape.terminal(v) if isinstance(v, str) else v) for v in row]))
        if self._jsonl is not None:
            self._write(self._jsonl, escape.json_text(d) + "\n")

    def _write(self, f: Any, line: str) -> None:
        data = line.encode("utf-8")
        good = None
        try:
            good = f.tell() if f.seekable() else None  # (a pipe: --csv >(…), /dev/stdout)
            done = 0
            while done < len(data):  # (an unbuffered write may take only part)
                done += f.write(data[done:])
        except OSError as e:
            if good is not None:
                with contextlib.suppress(OSError):
                    f.truncate(good)  # no half line: the file ends with the last whole one
                    f.seek(good)
            path = next(p for file, p in self._files if file is f)
            raise ConfigError(
                f"cannot write {escape.path_text(path)} ({e.strerror or e})",
                "free some space or choose another path; files already counted are not decoded again",
            ) from None

    def close(self) -> None:
        for f, _ in self._files:
            with contextlib.suppress(OSError):  # a full disk was reported when its line failed
                f.close()


def _csv_line(cells: Sequence[object]) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()

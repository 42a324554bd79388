"""Sessions on disk: every `count` and `listen` run, journaled so a crash loses nothing final.

A session is a folder ``<data dir>/sessions/<id>/`` (mode 0700) holding

- ``meta.json``: who/what/when, rewritten atomically at the start and the end;
- ``journal.jsonl``: append-only, one JSON object per line — each final segment
  (with its words), each hit change (added / confirmed / retracted), a clock line
  every few seconds — flushed and fsynced as it is written.

The writer is driven by the pipeline worker thread only. A session still marked
"recording" whose process is gone was killed: ``recover_unfinished`` rebuilds its
counts from the journal and marks it "recovered"; it then exports like any other.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import VoicecountError
from .matcher import Hit, HitChange, Keyword, Word, counts_of
from .pace import per_minute, talk_seconds
from .paths import data_dir, open_private

CLOCK_EVERY = 5.0  # seconds of audio between clock lines (how much duration a crash can lose)
CLOCK_SLACK = 60.0  # seconds two wall-clock readings of one process's start may differ (a clock step)


class SessionError(VoicecountError):
    """A session that cannot be found, read or written."""


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def _now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _keyword_dict(k: Keyword) -> dict:
    return {"name": k.name, "aliases": list(k.aliases), **({"filler": True} if k.filler else {})}


@dataclass
class SessionMeta:
    id: str
    started_at: str
    command: str  # "count" or "listen"
    source: str  # the file, or the microphone's name
    engine: str
    model: str
    keywords: list[dict]  # [{"name": ..., "aliases": [...]}, "filler": true for the filler set]
    device: str = ""
    status: str = "recording"  # recording → finished | stopped (a file cut short) | recovered | failed
    ended_at: str = ""
    duration: float = 0.0
    counts: dict = field(default_factory=dict)
    dropped_seconds: float = 0.0
    interruptions: list = field(default_factory=list)  # [{"at": audio seconds, "missing": seconds}] microphone lost
    damaged: int = 0  # pieces of a file that would not decode and were skipped
    error: str = ""
    summary: str = ""
    pid: int = 0
    pid_started: float = 0.0  # when that process started (epoch seconds): a reused PID is another process
    started_ns: int = 0  # the start in nanoseconds: which of the sessions started in one second is "last"
    host: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> SessionMeta:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def keyword_objects(self) -> list[Keyword]:
        return [Keyword(k["name"], tuple(k.get("aliases", ())), bool(k.get("filler"))) for k in self.keywords]


@dataclass(frozen=True)
class Segment:
    """One final result: the words the engine will not change again."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]


@dataclass
class Session:
    """A session read back from disk."""

    path: Path
    meta: SessionMeta
    segments: list[Segment]
    hits: list[Hit]  # every hit ever counted, in order; retracted ones flagged

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def counted(self) -> list[Hit]:
        return [h for h in self.hits if not h.retracted]

    @property
    def counts(self) -> dict[str, int]:
        return counts_of(self.hits, self.meta.keyword_objects())

    @property
    def duration(self) -> float:
        return self.meta.duration

    def word_count(self) -> int:
        return sum(len(s.words) for s in self.segments)

    def words_per_minute(self) -> float:
        """The pace over the talk, from the first word to the last (not the silences around it)."""
        return per_minute(self.word_count(), talk_seconds(self.segments))


# ---------------------------------------------------------------------------- writing


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open_private(tmp) as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # failed (a full disk): no half file beside the whole one
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _new_id(root: Path) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


class SessionWriter:
    """Appends one session's journal; used by the pipeline worker thread only."""

    def __init__(self, path: Path, meta: SessionMeta) -> None:
        self.path = path
        self.meta = meta
        self._journal = None
        self._closed = False
        self._next_clock = CLOCK_EVERY
        self._lost_at: float | None = None  # monotonic time the microphone went away, while it is gone

    @classmethod
    def create(
        cls,
        command: str,
        source: str,
        engine: str,
        model: str,
        keywords: Sequence[Keyword],
        device: str = "",
    ) -> SessionWriter:
        root = sessions_dir()
        made: Path | None = None  # the folder this call made (and only that one may be removed)
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(root, 0o700)
            for _ in range(50):  # batch workers start sessions in the same second: try another ID
                sid = _new_id(root)
                path = root / sid
                try:
                    path.mkdir(mode=0o700)
                    made = path
                    break
                except FileExistsError:
                    continue
            else:
                raise FileExistsError(17, "no free session ID")
            meta = SessionMeta(
                id=sid,
                started_at=_now_iso(),
                command=command,
                source=source,
                engine=engine,
                model=model,
                keywords=[_keyword_dict(k) for k in keywords],
                device=device,
                counts={k.name: 0 for k in keywords},
                pid=os.getpid(),
                pid_started=_process_started(os.getpid()) or 0.0,
                host=socket.gethostname(),
                started_ns=time.time_ns(),
            )
            _write_json_atomic(path / "meta.json", asdict(meta))
            journal = open_private(path / "journal.jsonl", append=True)
        except OSError as e:
            if made is not None:  # a full disk: no folder left behind that holds no session
                shutil.rmtree(made, ignore_errors=True)
            raise SessionError(
                f"cannot create a session in {root} ({e.strerror})",
                "make the data folder writable, or point VOICECOUNT_HOME somewhere writable",
            ) from None
        writer = cls(path, meta)
        writer._journal = journal
        return writer

    def _append(self, record: dict) -> None:
        if self._journal is None:
            return
        try:
            self._journal.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._journal.flush()
            os.fsync(self._journal.fileno())
        except OSError as e:
            # Once a write failed (a full disk) the journal is left as it is: every later write
            # would fail the same way, and each failure must not cost the run its ending.
            journal, self._journal = self._journal, None
            with contextlib.suppress(OSError):
                journal.close()
            raise SessionError(
                f"cannot write the session journal {self.path / 'journal.jsonl'} ({e.strerror})",
                "free some disk space; what was written so far is kept",
            ) from None

    def final(self, words: Sequence[Word]) -> None:
        self._append(
            {
                "t": "final",
                "words": [[w.text, round(w.start, 3), round(w.end, 3), round(w.probability, 3)] for w in words],
            }
        )

    def change(self, change: HitChange) -> None:
        h = change.hit
        self._append(
            {
                "t": "hit",
                "kind": change.kind,
                "id": h.id,
                "keyword": h.keyword,
                "text": h.text,
                "start": round(h.start, 3),
                "end": round(h.end, 3),
                "emitted_at": round(h.emitted_at, 3),
                "confirmed": h.confirmed,
                "probability": round(h.probability, 3),
            }
        )

    def clock(self, audio_seconds: float, dropped_seconds: float = 0.0) -> None:
        """Record how far the audio got, and how much was dropped so far, every CLOCK_EVERY seconds."""
        if audio_seconds >= self._next_clock:
            record = {"t": "clock", "audio": round(audio_seconds, 2)}
            if dropped_seconds:
                record["dropped"] = round(dropped_seconds, 2)
            self._append(record)
            self._next_clock = audio_seconds + CLOCK_EVERY

    def input(self, state: str, audio_seconds: float, missing: float = 0.0) -> None:
        """The microphone went away ("lost") or came back ("back") at this point of the audio."""
        record = {"t": "input", "state": state, "audio": round(audio_seconds, 2), "missing": round(missing, 1)}
        self._lost_at = time.monotonic() if state == "lost" else None
        self._append(record)
        note_input(self.meta.interruptions, record)

    def switched(self, description: str) -> None:
        """Another input from here on (the overlay's microphone menu): the session names each."""
        self.meta.source = f"{self.meta.source}, then {description}"
        with contextlib.suppress(OSError):  # kept now for a crash; the close writes it again (and tells)
            _write_json_atomic(self.path / "meta.json", asdict(self.meta))

    def keywords(self, keywords: Sequence[Keyword]) -> None:
        """The keywords changed mid-session (kept in meta at the end)."""
        self.meta.keywords = [_keyword_dict(k) for k in keywords]
        self._append({"t": "keywords", "keywords": self.meta.keywords})

    def close(
        self,
        counts: dict[str, int],
        duration: float,
        dropped_seconds: float = 0.0,
        error: str = "",
        damaged: int = 0,
        stopped: bool = False,
    ) -> None:
        """Mark the session finished, failed, or stopped (a recording not heard to its end) with its totals."""
        if self._closed:
            return
        self._closed = True
        if self._journal is not None:
            # A journal that cannot take its last line (a full disk) was already reported as the
            # run's error; meta.json below still says how the session ended, if it can be written.
            with contextlib.suppress(SessionError):
                self._append({"t": "end", "audio": round(duration, 2)})
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lost_at is not None and self.meta.interruptions:
            # Stopped while the microphone was still gone: it was not heard from then to now.
            self.meta.interruptions[-1]["missing"] = round(time.monotonic() - self._lost_at, 1)
        self.meta.status = "failed" if error else "stopped" if stopped else "finished"
        self.meta.error = error
        self.meta.ended_at = _now_iso()
        self.meta.duration = round(duration, 2)
        self.meta.counts = dict(counts)
        self.meta.dropped_seconds = round(dropped_seconds, 2)
        self.meta.damaged = damaged
        try:
            _write_json_atomic(self.path / "meta.json", asdict(self.meta))
        except OSError as e:
            raise SessionError(
                f"cannot finish the session in {self.path} ({e.strerror})", "free some disk space"
            ) from None
        _tell_index(self.meta.id)


def _tell_index(sid: str, gone: bool = False) -> None:
    """Bring the search index up to date with one session (finished, or deleted when ``gone``).

    Best effort: the next search catches up on whatever this misses, so a busy or
    broken index never fails a recording or a delete.
    """
    import sqlite3

    from . import search

    try:
        # A short wait only: another process indexing must not hold up the end of a recording.
        (search.forget if gone else search.update_session)(sid, timeout=1.0)
    except (OSError, sqlite3.Error, VoicecountError):
        pass
    except Exception:  # a bug in the index, or a system it does not know: never the recording's end
        if os.environ.get("VOICECOUNT_DEBUG"):
            raise


def note_input(interruptions: list[dict], record: dict) -> None:
    """Fold one journal "input" record into the interruptions list (the writer and replay share it)."""
    if record.get("state") == "lost":
        interruptions.append({"at": record.get("audio", 0.0), "missing": None})
    elif interruptions:
        interruptions[-1]["missing"] = record.get("missing")


def seconds_not_heard(interruptions: list[dict]) -> float:
    """Total time the microphone was gone (an interruption still open counts as 0)."""
    return sum(i.get("missing") or 0 for i in interruptions)


# ---------------------------------------------------------------------------- reading


def _read_journal(path: Path) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # the last line was being written when the process died
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return


def _replay(path: Path, meta: SessionMeta) -> tuple[list[Segment], list[Hit], float, list[dict], list[dict], float]:
    segments: list[Segment] = []
    dropped = 0.0
    interruptions: list[dict] = []
    hits: dict[int, Hit] = {}
    audio = 0.0
    keywords = meta.keywords
    for rec in _read_journal(path / "journal.jsonl"):
        t = rec.get("t")
        if t == "final":
            words = tuple(Word(w[0], float(w[1]), float(w[2]), float(w[3])) for w in rec.get("words", []))
            if words:
                segments.append(Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), words))
                audio = max(audio, words[-1].end)
        elif t == "hit":
            hid = int(rec["id"])
            h = hits.get(hid)
            if h is None:
                h = Hit(
                    hid,
                    rec["keyword"],
                    rec["text"],
                    rec["start"],
                    rec["end"],
                    rec["emitted_at"],
                    rec["confirmed"],
                    False,
                    rec.get("probability", 1.0),
                )
                hits[hid] = h
            h.text, h.start, h.end = rec["text"], rec["start"], rec["end"]
            h.confirmed = bool(rec["confirmed"])
            h.probability = rec.get("probability", h.probability)
            if rec["kind"] == "retracted":
                h.retracted = True
        elif t in ("clock", "end"):
            audio = max(audio, float(rec.get("audio", 0.0)))
            dropped = max(dropped, float(rec.get("dropped", 0.0)))
        elif t == "keywords":
            keywords = rec.get("keywords", keywords)
        elif t == "input":
            note_input(interruptions, rec)
    return segments, sorted(hits.values(), key=lambda h: h.id), audio, keywords, interruptions, dropped


def exists(sid: str) -> bool:
    """Whether ``sid`` (a full ID) names a session on disk."""
    return bool(sid) and _is_session(sessions_dir() / sid)


def _is_session(folder: Path) -> bool:
    return (folder / "meta.json").is_file()


def _session_path(sid: str) -> Path:
    root = sessions_dir()
    if sid == "last":
        ids = list_ids()
        if not ids:
            raise SessionError(
                "there are no sessions yet", "record one with: voicecount listen (or voicecount count FILE)"
            )
        sid = _latest(root, ids)
    path = root / sid
    if not _is_session(path):
        matches = [i for i in list_ids() if i.startswith(sid)] if sid else []
        if len(matches) == 1:
            return root / matches[0]
        hint = (
            "see: voicecount sessions list" if not matches else f"it matches {', '.join(matches[:5])}; give more of it"
        )
        raise SessionError(f"no session {sid!r}", hint)
    return path


def _latest(root: Path, ids: list[str]) -> str:
    """The session started last: IDs sort by the second (batch workers start several in one)."""
    second = [i for i in ids if i[:15] == ids[-1][:15]]

    def started(sid: str) -> int:
        try:
            return int(json.loads((root / sid / "meta.json").read_text(encoding="utf-8")).get("started_ns", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0

    return max(second, key=lambda sid: (started(sid), sid))


def resolve(sid: str) -> str:
    """The full ID of a session given as its ID, a unique prefix or 'last'."""
    return _session_path(sid).name


def list_ids() -> list[str]:
    root = sessions_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _is_session(p))


def load(sid: str) -> Session:
    """Read a session back (an unfinished one as far as its journal goes)."""
    path = _session_path(sid)
    try:
        meta = SessionMeta.from_dict(json.loads((path / "meta.json").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise SessionError(
            f"cannot read session {path.name} ({e})",
            f"the folder {path} is damaged; delete it with: voicecount sessions delete {path.name}",
        ) from None
    meta.id = path.name  # the folder is the session's name, whatever meta.json says
    segments, hits, audio, keywords, interruptions, dropped = _replay(path, meta)
    meta.keywords = keywords
    if meta.status in ("recording", "recovered"):
        # A hit not yet confirmed when the run ended without its own end (killed, or still running)
        # is a partial's guess: the end that retracts it never came.
        for h in hits:
            if not h.confirmed:
                h.retracted = True
    if meta.status == "recording":
        meta.interruptions = interruptions
        # Still running (or killed and not yet recovered): the journal is the truth so far.
        meta.duration = max(meta.duration, audio)
        meta.dropped_seconds = max(meta.dropped_seconds, dropped)
    return Session(path, meta, segments, hits)


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds); None if there is no such process."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None  # it has ended; only its parent has not looked yet
        return process.create_time()
    except psutil.NoSuchProcess:
        return None


def _alive(meta: SessionMeta) -> bool:
    """Whether the process that records this session may still be running."""
    if meta.host and meta.host != socket.gethostname():
        return True  # another machine's session (shared folder): not ours to judge
    if meta.pid <= 0:
        return False
    if meta.pid == os.getpid():
        return True
    import psutil

    try:
        started = _process_started(meta.pid)
    except psutil.Error:
        return True  # another user's process we may not inspect: not ours to judge
    if started is None:
        return False
    # PIDs are reused (from the start after a reboot): only the process that started then is it.
    # Start times are read from the wall clock, which NTP can step: a minute apart is still it.
    if meta.pid_started:
        return abs(started - meta.pid_started) < CLOCK_SLACK
    try:
        return started <= datetime.fromisoformat(meta.started_at).timestamp() + CLOCK_SLACK
    except (TypeError, ValueError):
        return True


def recover_unfinished() -> list[Session]:
    """Mark sessions whose process died mid-recording as recovered, with counts from the journal."""
    recovered = []
    for sid in list_ids():
        path = sessions_dir() / sid
        try:
            meta = SessionMeta.from_dict(json.loads((path / "meta.json").read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, TypeError):
            continue
        if meta.status != "recording" or _alive(meta):
            continue
        session = load(sid)
        meta = session.meta
        meta.status = "recovered"
        meta.counts = session.counts
        try:
            meta.ended_at = (
                datetime.fromtimestamp((path / "journal.jsonl").stat().st_mtime)
                .astimezone()
                .isoformat(timespec="seconds")
            )
        except OSError:
            meta.ended_at = _now_iso()
        try:
            _write_json_atomic(path / "meta.json", asdict(meta))
        except OSError:
            continue  # read-only: it still loads as "recording" with the same content
        recovered.append(session)
    return recovered


def save_summary(sid: str, summary: str) -> None:
    session = load(sid)
    session.meta.summary = summary
    try:
        _write_json_atomic(session.path / "meta.json", asdict(session.meta))
    except OSError as e:
        raise SessionError(
            f"cannot save the summary in {session.path} ({e.strerror})",
            "make the session folder writable (the summary above was not kept)",
        ) from None


def delete(sid: str) -> Path:
    path = _session_path(sid)
    with contextlib.suppress(OSError, ValueError, TypeError):  # (a damaged folder can always go)
        meta = SessionMeta.from_dict(json.loads((path / "meta.json").read_text(encoding="utf-8")))
        here = not meta.host or meta.host == socket.gethostname()  # (another host's: not ours to judge)
        if meta.status == "recording" and here and _alive(meta):
            raise SessionError(
                f"session {path.name} is still recording",
                "stop it first (q in its window, or Ctrl-C where it runs), then delete it",
            )
    try:
        shutil.rmtree(path)
    except OSError as e:
        raise SessionError(
            f"cannot delete {path} ({e.strerror})", "make the session folder and its files writable, then try again"
        ) from None
    _tell_index(path.name, gone=True)
    return path


def all_sessions(damaged: list[SessionError] | None = None) -> list[Session]:
    """Every session that can be read; the others' errors go to ``damaged`` when given."""
    out = []
    for sid in list_ids():
        try:
            out.append(load(sid))
        except SessionError as e:
            if damaged is not None:
                damaged.append(e)
    return out

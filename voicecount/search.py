"""Full-text search across every saved session: an SQLite FTS5 index of transcript cues.

The index is a cache of the sessions on disk, ``<data dir>/search.sqlite`` (0600: it
holds transcripts), never the truth: ``refresh()`` runs before every search and brings
it in line with the session folders, so a session recorded, grown or deleted (even with
``rm -rf``) since the last search is found or gone. A missing, corrupt or older-schema
file is rebuilt from the sessions. Runs on the calling thread; ``SessionWriter.close``
indexes its session at once (best effort), the rest is caught up by ``refresh()``.

One row per cue (``export.cues``: a sentence, or at most 7 s), so a hit has a time in the
talk and reads as a sentence. Tokenizer: ``porter unicode61 remove_diacritics 2``:

- unicode61 folds case and splits on punctuation, as transcripts need ("AI's" → ai, s);
- remove_diacritics 2 makes "cafe" find "café" (names in transcripts come either way);
- porter stemming makes "test" find "tests", "testing", "tested": users remember what a
  talk was about, not the word form the speaker used. A quoted phrase is stemmed too
  ("writing tests" also finds "write test"), but word order and adjacency stay exact.

Staleness is a stat: the index keeps, per session, the journal's size and mtime_ns and
meta.json's inode and mtime_ns (the journal only grows; meta.json is replaced whole).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import VoicecountError
from .export import STOPWORDS, Cue, cues
from .matcher import tokens
from .paths import data_dir, private_fd
from .session import SessionError, load, resolve, sessions_dir

SCHEMA_VERSION = 1  # PRAGMA user_version; any other value: the file is rebuilt
TOKENIZER = "porter unicode61 remove_diacritics 2"
TIMEOUT = 5.0  # seconds to wait for another process's write to the index
# A search waits longer: the process it waits for is bringing the index up to date for it too
# (a first index of a thousand sessions takes seconds).
READ_WAIT = 60.0
SNIPPET_TOKENS = 24  # a cue is at most ~7 s, ~20 words: the snippet is usually the whole cue
MARKS = ("«", "»")  # around matched words in snippets; rare in transcripts, printable, not markup

# Words that frame a question about a talk rather than say what it is about.
QUESTION_WORDS = frozenset(
    """say says said talk talks talked speaker speakers mention mentions mentioned tell told""".split()  # noqa: SIM905 — one string reads as the word list it is
)

_SCHEMA = f"""
CREATE TABLE indexed (session TEXT PRIMARY KEY, started_at TEXT NOT NULL, stamp TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE cue (id INTEGER PRIMARY KEY, session TEXT NOT NULL, seq INTEGER NOT NULL,
                  start_s REAL NOT NULL, end_s REAL NOT NULL);
CREATE INDEX cue_session ON cue (session, seq);
CREATE VIRTUAL TABLE cue_text USING fts5 (text, tokenize = '{TOKENIZER}');
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class Result:
    """One matching cue."""

    session: str
    started_at: str  # the session's start, ISO 8601 with its UTC offset
    start: float  # seconds into the talk
    end: float
    text: str  # the whole cue, as transcribed
    snippet: str  # the cue (or its best part) with matched words between MARKS
    rank: int  # 1 = best
    score: float  # FTS5 bm25: lower is better; comparable within all_words groups only
    all_words: bool  # False: only some of the query's words (these come after every all-words result)

    def as_json(self) -> dict:
        return {
            "session": self.session,
            "started_at": self.started_at,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "text": self.text,
            "snippet": self.snippet,
            "rank": self.rank,
            "score": round(self.score, 4),
            "all_words": self.all_words,
        }


@dataclass(frozen=True)
class Passage:
    """A stretch of one session around cues that match a question: the matches with a cue of context each side."""

    session: str
    cues: tuple[Cue, ...]
    matched: tuple[int, ...]  # indexes into ``cues`` of the cues that matched
    score: float  # bm25 of the best matching cue: lower is better
    rank: int  # 1 = best

    @property
    def start(self) -> float:
        return self.cues[0].start

    @property
    def end(self) -> float:
        return self.cues[-1].end

    @property
    def text(self) -> str:
        return " ".join(c.text for c in self.cues)

    def as_json(self) -> dict:
        return {
            "session": self.session,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "text": self.text,
            "cues": [
                {"start": round(c.start, 2), "end": round(c.end, 2), "text": c.text, "match": i in self.matched}
                for i, c in enumerate(self.cues)
            ],
            "rank": self.rank,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Changes:
    """What ``refresh()`` did."""

    indexed: int  # sessions (re)indexed
    dropped: int  # sessions removed from the index (gone from disk)
    sessions: int  # sessions on disk


def index_path() -> Path:
    return data_dir() / "search.sqlite"


# ---------------------------------------------------------------------------- queries


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _quoted(text: str) -> str:
    # An FTS5 string: everything inside is literal text for the tokenizer. Callers pass text
    # without '"' (the query was split on it), so no escaping is needed.
    return '"' + " ".join(text.split()) + '"'


_INITIALISM = re.compile(r"(?:[^\W\d_]\.?){2,4}")


def _word(text: str) -> str:
    """A query word as FTS5; a short one also matches its letters written or said apart.

    The index splits "A.I." into "a" "i", so "AI" is also looked for as the phrase "a i"
    (and "A.I." as "ai"), the way the keyword matcher treats them as one word.
    """
    if _INITIALISM.fullmatch(text):
        letters = "".join(ch for ch in text if ch != ".")
        return f"({_quoted(letters)} OR {_quoted(' '.join(letters))})"
    return _quoted(text)


def parse_query(query: str) -> tuple[list[str], list[str]]:
    """Split free text into quoted phrases and loose words, each FTS5 strings that cannot be syntax.

    Text between double quotes is a phrase; an unclosed quote runs to the end. Everything
    else is split on spaces. Operators (AND OR NOT NEAR * - ^ : parentheses) are only
    text; a chunk without a letter or digit is dropped (an empty FTS5 phrase matches nothing).
    """
    # NUL ends an FTS5 query early ("unterminated string"); other controls are no words either.
    query = "".join(ch if ch.isprintable() else " " for ch in query)
    phrases: list[str] = []
    words: list[str] = []
    seen: set[str] = set()
    for i, part in enumerate(query.split('"')):
        if i % 2:  # inside quotes
            if _has_word(part):
                phrases.append(_quoted(part))
            continue
        for chunk in part.split():
            # A possessive is the word ("safety's" finds "safety"), as porter finds "tests" for "test".
            chunk = re.sub(r"['’]s$", "", chunk, flags=re.IGNORECASE) if len(chunk) > 3 else chunk
            key = chunk.casefold()
            if _has_word(chunk) and key not in seen:
                seen.add(key)
                words.append(_word(chunk))
    return phrases, words


def _match_expressions(query: str) -> tuple[str | None, str, str | None]:
    """The FTS5 expressions, best first: the words side by side as typed (with the phrases), every
    word and phrase anywhere in the sentence, and the phrases with some of the words."""
    phrases, words = parse_query(query)
    if not phrases and not words:
        raise VoicecountError(
            f"nothing to search for in {query!r}",
            'give words, or a "phrase in double quotes", e.g. voicecount search "machine learning"',
        )
    together = None
    if len(words) >= 2 and all(w.startswith('"') for w in words):  # (an initialism is an OR of two forms)
        together = " AND ".join([*phrases, _quoted(" ".join(w.strip('"') for w in words))])
    strict = " AND ".join(phrases + words)
    loose = None
    if len(words) >= 2:
        loose = " AND ".join([*phrases, "(" + " OR ".join(words) + ")"])
    elif phrases and words:  # '"large language model" cost': the phrase without the word
        loose = " AND ".join(phrases)
    return together, strict, loose


# ---------------------------------------------------------------------------- the index file


def _discard(path: Path) -> None:
    """Remove the index and its journals: a leftover journal would be replayed into the new file."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0600 before SQLite opens it: it holds transcripts (SQLite gives its journal the same mode).
    fd = private_fd(path, os.O_RDWR | os.O_CREAT)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.chmod(path, 0o600)  # (os.fchmod: not on Windows before Python 3.13)
    finally:
        os.close(fd)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        # A deleted session's text is overwritten in the file, not left in free pages ("delete for good").
        db.execute("PRAGMA secure_delete = ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.execute("BEGIN IMMEDIATE")
            with db:
                # Another process may have created it while we waited for the lock.
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    # One statement at a time: executescript() would commit the transaction first.
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"search index schema {version}, not {SCHEMA_VERSION}")
    except BaseException:
        db.close()
        raise
    return db


def _is_damage(e: sqlite3.Error) -> bool:
    """A file to rebuild (corrupt, not a database, wrong schema), not a busy or unwritable one."""
    if isinstance(e, sqlite3.ProgrammingError) or not isinstance(e, sqlite3.DatabaseError):
        return False
    if isinstance(e, sqlite3.OperationalError):
        transient = ("locked", "busy", "unable to open", "readonly", "read-only", "disk i/o", "full", "interrupt")
        return not any(word in str(e).lower() for word in transient)
    return True


def _user_error(e: Exception, path: Path) -> VoicecountError:
    if isinstance(e, sqlite3.OperationalError) and any(w in str(e).lower() for w in ("locked", "busy")):
        return VoicecountError("the search index is busy: another voicecount is updating it", "try again in a moment")
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return VoicecountError(
        f"cannot use the search index {path} ({reason})",
        "make the data folder writable; the index is rebuilt from the sessions, so deleting that file is safe",
    )


T = TypeVar("T")


def _with_index(work: Callable[[sqlite3.Connection], T], timeout: float = TIMEOUT) -> T:
    """Run ``work`` on the index; a damaged or outdated file is discarded and the work done once more."""
    path = index_path()
    for attempt in (1, 2):
        try:
            db = _connect(path, timeout)
            try:
                return work(db)
            finally:
                db.close()
        except sqlite3.Error as e:
            if attempt == 2 or not _is_damage(e):
                raise _user_error(e, path) from None
            try:
                _discard(path)
            except OSError as err:
                raise _user_error(err, path) from None
        except OSError as e:
            raise _user_error(e, path) from None
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- keeping it current


def _stamp(folder: str) -> str | None:
    """What a session's index rows were built from; None: not a session (no meta.json)."""
    try:
        meta = os.stat(os.path.join(folder, "meta.json"))
    except OSError:
        return None
    if not stat.S_ISREG(meta.st_mode):
        return None
    try:
        journal = os.stat(os.path.join(folder, "journal.jsonl"))
        grown = f"{journal.st_size}.{journal.st_mtime_ns}"
    except OSError:
        grown = "-"
    return f"{grown}:{meta.st_ino}.{meta.st_mtime_ns}"


def _scan() -> dict[str, str]:
    """Every session folder on disk with its stamp: a stat or two each, nothing read."""
    out: dict[str, str] = {}
    try:
        entries = list(os.scandir(sessions_dir()))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for entry in entries:
        stamp = _stamp(entry.path)
        if stamp is not None:
            out[entry.name] = stamp
    return out


def _drop(db: sqlite3.Connection, sid: str) -> None:
    db.execute("DELETE FROM cue_text WHERE rowid IN (SELECT id FROM cue WHERE session = ?)", (sid,))
    db.execute("DELETE FROM cue WHERE session = ?", (sid,))
    db.execute("DELETE FROM indexed WHERE session = ?", (sid,))


def _purge(db: sqlite3.Connection) -> None:
    """After sessions were deleted: FTS5 only marks their words deleted; merging the segments removes them."""
    db.execute("INSERT INTO cue_text (cue_text) VALUES ('optimize')")


def _index(db: sqlite3.Connection, sid: str, stamp: str) -> None:
    """Replace one session's rows; inside the caller's write transaction. The stamp was taken before reading."""
    _drop(db, sid)
    try:
        session = load(sid)
        started_at, found = session.meta.started_at, cues(session)
    except SessionError:
        # Unreadable: remembered as empty with its stamp, so it is retried only when its files change.
        started_at, found = "", []
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM cue").fetchone()[0]
    db.executemany(
        "INSERT INTO cue (id, session, seq, start_s, end_s) VALUES (?, ?, ?, ?, ?)",
        ((first + i, sid, i, c.start, c.end) for i, c in enumerate(found)),
    )
    db.executemany(
        "INSERT INTO cue_text (rowid, text) VALUES (?, ?)", ((first + i, c.text) for i, c in enumerate(found))
    )
    db.execute("INSERT INTO indexed (session, started_at, stamp) VALUES (?, ?, ?)", (sid, started_at, stamp))


def _write(db: sqlite3.Connection, changes: Callable[[], None]) -> None:
    db.execute("BEGIN IMMEDIATE")
    with db:  # commits, or rolls back if ``changes`` raises
        changes()


def _refresh(db: sqlite3.Connection) -> Changes:
    on_disk = _scan()

    def plan() -> tuple[list[str], list[str]]:
        known = dict(db.execute("SELECT session, stamp FROM indexed").fetchall())
        return [sid for sid, stamp in on_disk.items() if known.get(sid) != stamp], [
            s for s in known if s not in on_disk
        ]

    stale, gone = plan()
    if stale or gone:

        def changes() -> None:
            nonlocal stale, gone
            # Planned again under the write lock: another voicecount may have done it while we waited.
            stale, gone = plan()
            for sid in gone:
                _drop(db, sid)
            for sid in stale:
                _index(db, sid, on_disk[sid])
            if gone:
                _purge(db)

        _write(db, changes)
    return Changes(len(stale), len(gone), len(on_disk))


def refresh() -> Changes:
    """Bring the index in line with the session folders: (re)index changed or new ones, drop deleted ones."""
    return _with_index(_refresh)


def update_session(sid: str, timeout: float = TIMEOUT) -> None:
    """(Re)index one session now (its folder gone: drop it)."""
    stamp = _stamp(str(sessions_dir() / sid))
    _with_index(lambda db: _write(db, lambda: _drop(db, sid) if stamp is None else _index(db, sid, stamp)), timeout)


def forget(sid: str, timeout: float = TIMEOUT) -> None:
    """Drop one session from the index (it was deleted)."""

    def changes(db: sqlite3.Connection) -> None:
        _drop(db, sid)
        _purge(db)

    _with_index(lambda db: _write(db, lambda: changes(db)), timeout)


# ---------------------------------------------------------------------------- searching


def _no_sessions() -> SessionError:
    return SessionError(
        "there are no sessions to search yet", "record one with: voicecount listen (or voicecount count FILE)"
    )


_FIND = """
SELECT cue.session, indexed.started_at, cue.start_s, cue.end_s, cue_text.text,
       snippet(cue_text, 0, ?, ?, '…', ?), bm25(cue_text) AS score, cue.id
FROM cue_text JOIN cue ON cue.id = cue_text.rowid JOIN indexed ON indexed.session = cue.session
WHERE cue_text MATCH ? {where}
ORDER BY score, cue.session DESC, cue.start_s
LIMIT ?
"""


def search(query: str, limit: int = 20, session: str | None = None, marks: tuple[str, str] = MARKS) -> list[Result]:
    """The cues of every session (or one) that match ``query``, best first.

    Semantics: every word must be in the cue (AND), a "quoted phrase" must be there word
    for word, in order; case, accents and word endings (porter) are ignored. If fewer
    than ``limit`` cues have everything, cues with the phrases and *some* of the words
    follow (``all_words`` False), so a many-word query still finds something while the
    good results come first. Cues that hold the words side by side, as typed, come before the
    ones that hold them anywhere. Ranked by bm25 within each, newer sessions first on a tie.
    """
    together, strict, loose = _match_expressions(query)
    sid = resolve(session) if session else None
    where = "AND cue.session = ?" if sid else ""
    sql = _FIND.format(where=where)

    def find(db: sqlite3.Connection) -> list[Result]:
        if _refresh(db).sessions == 0:
            raise _no_sessions()
        out: list[Result] = []
        seen: set[int] = set()
        for expression, all_words in ((together, True), (strict, True), (loose, False)):
            if len(out) >= limit:
                break
            if expression is None:
                continue
            params = [*marks, SNIPPET_TOKENS, expression, *([sid] if sid else []), limit + len(seen)]
            for row in db.execute(sql, params).fetchall():
                if row[7] in seen or len(out) >= limit:
                    continue
                seen.add(row[7])
                out.append(Result(row[0], row[1], row[2], row[3], row[4], row[5], len(out) + 1, row[6], all_words))
        return out

    return _with_index(find, READ_WAIT)


def question_terms(question: str) -> list[str]:
    """The words of a question worth looking for: no stopwords, no question framing, no single letters."""
    out: list[str] = []
    for t in tokens(question):
        if len(t) > 1 and t not in STOPWORDS and t not in QUESTION_WORDS and _has_word(t) and t not in out:
            out.append(t)
    return out


def _merge(hits: Iterable[tuple[int, float]], n: int, context: int) -> list[tuple[int, int, list[int], float]]:
    """Best-first hits (seq, score) → up to n ranges [first, last] of cues, overlapping ones joined.

    A range keeps the rank of its best hit; a hit that overlaps no range starts a new one while fewer than n exist.
    """
    ranges: list[tuple[int, int, list[int], float]] = []
    for seq, score in hits:
        lo, hi, matched, best = seq - context, seq + context, [seq], score
        overlapping = [r for r in ranges if lo <= r[1] and r[0] <= hi]
        if not overlapping and len(ranges) == n:
            break
        if overlapping:
            # Joined into the best-ranked range it touches (a hit can bridge two ranges).
            at = ranges.index(overlapping[0])
            for r in overlapping:
                lo, hi, matched, best = min(lo, r[0]), max(hi, r[1]), [*r[2], *matched], min(best, r[3])
            ranges = [r for r in ranges if r not in overlapping]
            ranges.insert(at, (lo, hi, matched, best))
        else:
            ranges.append((lo, hi, matched, best))
    return ranges


CONTEXT_GAP = 10.0  # seconds: a sentence further from its neighbour than this is not its context


def _near_in_time(rows: list[tuple], matched: set[int]) -> list[tuple]:
    """The rows (seq, start, end, text) in runs without a long silence that hold a matched cue:
    the next sentence said three minutes later is not the context of this one."""
    runs: list[list[tuple]] = []
    for r in rows:
        if runs and r[1] - runs[-1][-1][2] <= CONTEXT_GAP:
            runs[-1].append(r)
        else:
            runs.append([r])
    return [r for run in runs if any(x[0] in matched for x in run) for r in run]


def passages(session_id: str, question: str, n: int = 5, context: int = 1) -> list[Passage]:
    """The best passages of one session for a natural-language question, best first.

    The question's content words (stopwords and question framing dropped) are ORed, so a
    passage needs only some of them; bm25 puts the cues with more, and rarer, of them first.
    Each matching cue comes with ``context`` cues either side; overlapping passages are joined.
    """
    terms = question_terms(question)
    if not terms:
        raise VoicecountError(
            f"the question {question!r} has no words to look for (only common words like 'what' and 'the')",
            'ask with the words the speaker would have used, e.g. voicecount ask last "kubernetes costs"',
        )
    sid = resolve(session_id)
    expression = " OR ".join(_word(t) for t in terms)

    def find(db: sqlite3.Connection) -> list[Passage]:
        _refresh(db)
        hits = db.execute(
            "SELECT cue.seq, bm25(cue_text) AS score FROM cue_text JOIN cue ON cue.id = cue_text.rowid "
            "WHERE cue_text MATCH ? AND cue.session = ? ORDER BY score, cue.seq LIMIT ?",
            (expression, sid, n * 4),
        ).fetchall()
        out = []
        for lo, hi, matched, score in _merge(hits, n, context):
            rows = db.execute(
                "SELECT cue.seq, cue.start_s, cue.end_s, cue_text.text FROM cue JOIN cue_text "
                "ON cue_text.rowid = cue.id WHERE cue.session = ? AND cue.seq BETWEEN ? AND ? ORDER BY cue.seq",
                (sid, lo, hi),
            ).fetchall()
            rows = _near_in_time(rows, set(matched))
            seqs = [r[0] for r in rows]
            found = tuple(Cue(r[1], r[2], r[3]) for r in rows)
            out.append(Passage(sid, found, tuple(seqs.index(s) for s in sorted(set(matched))), score, len(out) + 1))
        return out

    return _with_index(find, READ_WAIT)

"""Search across sessions: real session folders written by SessionWriter, the real index file, the real CLI."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import stat
import time

import pytest
from conftest import run_cli

from voicecount import search
from voicecount import session as sessions
from voicecount.errors import VoicecountError
from voicecount.matcher import DEFAULT_KEYWORDS, Word

PHRASE = "the purple giraffe negotiates our quarterly budget"
WORD_GAP = 0.35  # seconds per word
SENTENCE_GAP = 1.5  # silence between sentences: longer than export.CUE_GAP, so each sentence is a cue


def write_session(sentences: list[str], close: bool = True) -> tuple[sessions.SessionWriter, list[float]]:
    """A real session: one final segment per sentence; returns the writer and each sentence's start time."""
    w = sessions.SessionWriter.create("count", "talk.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    t, starts = 0.0, []
    for sentence in sentences:
        starts.append(round(t, 3))
        words = []
        for token in sentence.split():
            words.append(Word(token, t, t + 0.3))
            t += WORD_GAP
        w.final(tuple(words))
        t += SENTENCE_GAP
    if close:
        w.close({"AI": 0}, t)
    return w, starts


@pytest.fixture(scope="module")
def built_archive(tmp_path_factory, dev_manifest):
    """35 sessions of dev-talk sentences, shuffled so each differs; PHRASE said once, in session 17."""
    home = tmp_path_factory.mktemp("archive")
    old = os.environ.get("VOICECOUNT_HOME")
    os.environ["VOICECOUNT_HOME"] = str(home)
    try:
        pool = sorted({s["text"] for e in dev_manifest.values() for s in e["sentences"]})
        assert len(pool) > 50
        where = {}
        for i in range(35):
            rng = random.Random(i)
            sentences = rng.sample(pool, 25)
            if i == 17:
                sentences[12] = PHRASE[0].upper() + PHRASE[1:] + "."
            w, starts = write_session(sentences)
            if i == 17:
                where = {"session": w.meta.id, "start": starts[12]}
    finally:
        if old is None:
            os.environ.pop("VOICECOUNT_HOME", None)
        else:
            os.environ["VOICECOUNT_HOME"] = old
    return home / "data" / "sessions", where


@pytest.fixture
def archive(built_archive, voicecount_home):
    """This test's own copy of the archive's session folders (no index yet)."""
    src, where = built_archive
    shutil.copytree(src, sessions.sessions_dir())
    return where


def ids(results) -> list[str]:
    return [r.session for r in results]


# ---------------------------------------------------------------------------- finding


def test_a_phrase_said_once_in_35_sessions_is_found_with_its_session_and_time(archive):
    results = search.search(f'"{PHRASE}"')
    assert len(results) == 1
    r = results[0]
    assert r.session == archive["session"]
    assert r.start == pytest.approx(archive["start"], abs=0.01)
    assert r.end > r.start and r.all_words and r.rank == 1
    assert "«" in r.snippet and "giraffe" in r.text
    assert r.started_at == sessions.load(r.session).meta.started_at
    # Words instead of the phrase, in another order and other forms: the same cue comes first.
    assert ids(search.search("budgets negotiating giraffes"))[:1] == [archive["session"]]
    assert search.search("giraffe", session=archive["session"])[0].session == archive["session"]


def test_a_phrase_must_be_there_word_for_word_words_need_not(voicecount_home):
    a, _ = write_session(["We shipped the quick brown fox release today."])
    b, _ = write_session(["Brown bread is quick to make.", "Nothing about foxes here."])
    assert sorted(ids(search.search("quick brown"))) == sorted([a.meta.id, b.meta.id])
    assert ids(search.search('"quick brown"')) == [a.meta.id]
    assert search.search('"brown quick"') == []
    # Case, accents and word endings do not matter.
    c, _ = write_session(["Meet me at the Café Zürich tomorrow."])
    assert ids(search.search("cafe zurich")) == [c.meta.id]
    assert ids(search.search("CAFÉ")) == [c.meta.id]


def test_the_words_side_by_side_come_before_the_words_anywhere(voicecount_home):
    # bm25 alone prefers the short sentence that has the words scattered.
    said = "Last year in our lab we trained a large language model for the first time, with the whole team."
    write_session(["A model of language is large.", said])
    assert [r.text for r in search.search("large language model")] == [said, "A model of language is large."]


def test_a_possessive_finds_the_word(voicecount_home):
    write_session(["Safety comes first in this team.", "The budget is small."])
    assert [r.text for r in search.search("safety's")] == ["Safety comes first in this team."]
    assert [r.text for r in search.search("team’s safety")] == ["Safety comes first in this team."]


def test_an_initialism_is_found_however_it_was_written(voicecount_home):
    # Whisper prints "A.I.", "AI" or "a i" for one word; the matcher counts all three, so search finds all three.
    dotted, _ = write_session(["We use A.I. every day."])
    plain, _ = write_session(["AI is everywhere now."])
    spaced, _ = write_session(["The a i model was small."])
    write_session(["A rainy day in Aix.", "Said I, a lion."])  # neither "ai" nor its letters together
    everywhere = sorted([dotted.meta.id, plain.meta.id, spaced.meta.id])
    assert sorted(ids(search.search("AI"))) == everywhere
    assert sorted(ids(search.search("A.I."))) == everywhere
    r = search.search("A.I. every")[0]
    assert r.session == dotted.meta.id and r.all_words and "«A.I»" in r.snippet  # one cue: "A.I." ends no sentence
    assert search.passages(dotted.meta.id, "what about AI?")[0].start == 0.0


def test_every_word_first_then_some_of_the_words(voicecount_home):
    both, _ = write_session(["The giraffe budget was approved."])
    one, _ = write_session(["A giraffe walked in.", "The budget is tight.", "Nothing else."])
    results = search.search("giraffe budget")
    assert results[0].session == both.meta.id and results[0].all_words
    assert [r.all_words for r in results] == [True, False, False]
    assert {r.session for r in results[1:]} == {one.meta.id}
    assert [r.rank for r in results] == [1, 2, 3]
    assert len(search.search("giraffe budget", limit=1)) == 1
    # A quoted phrase is always required, even among the "some of the words" results.
    [r] = search.search('"giraffe budget" approved tight')
    assert r.session == both.meta.id and not r.all_words  # not "The budget is tight.": no phrase
    # A phrase and one word: the README's own example. Where no sentence has both, the phrase's.
    llm, _ = write_session(["We run a large language model locally.", "The cost is low."])
    [r] = search.search('"large language model" cost')
    assert r.session == llm.meta.id and not r.all_words and r.text.startswith("We run")


def test_no_sessions_and_empty_queries_are_one_clear_error(voicecount_home):
    with pytest.raises(VoicecountError, match="no sessions to search yet"):
        search.search("anything")
    write_session(["Something was said."])
    for query in ("", "   ", '"', '""', "-", "*", "?!", '" - "'):
        with pytest.raises(VoicecountError, match="nothing to search for") as e:
            search.search(query)
        assert e.value.fix


# ---------------------------------------------------------------------------- the index stays true to the disk


def test_a_session_written_after_the_last_search_is_found(archive):
    assert search.search("zeppelin") == []
    w, starts = write_session(["Nothing yet.", "The zeppelin lands at noon."])
    [r] = search.search("zeppelin")
    assert (r.session, r.start) == (w.meta.id, pytest.approx(starts[1]))


def test_a_recording_in_progress_is_searchable_as_it_grows(voicecount_home):
    w, _ = write_session(["The first sentence."], close=False)
    assert search.search("walrus") == []
    w.final((Word("a", 10.0, 10.2), Word("walrus", 10.3, 10.8), Word("appears.", 10.9, 11.3)))
    [r] = search.search("walrus")
    assert r.session == w.meta.id and r.start == pytest.approx(10.0)
    w.close({"AI": 0}, 12.0)
    assert ids(search.search("walrus")) == [w.meta.id]


def test_nothing_changed_means_nothing_reindexed(archive):
    first = search.refresh()
    assert first.sessions == 35 and first.indexed == 35 and first.dropped == 0
    again = search.refresh()
    assert (again.indexed, again.dropped, again.sessions) == (0, 0, 35)
    # Closing a session indexes it at once (best effort): the next search has nothing to do.
    write_session(["One more."])
    assert search.refresh().indexed == 0


def test_a_search_waiting_for_another_ones_update_does_not_redo_it(archive):
    """Two searches at once on a new archive: the second waits for the first's index, then uses it."""
    import threading

    path = search.index_path()
    first = search._connect(path, search.TIMEOUT)
    search._refresh(first)  # the schema exists, so the other search can read it
    search._with_index(lambda db: db.execute("DELETE FROM indexed"))  # as if nothing were indexed yet
    first.execute("BEGIN IMMEDIATE")  # the first search is indexing: it holds the write lock
    for sid, stamp in search._scan().items():
        search._index(first, sid, stamp)
    seen = []
    second = threading.Thread(target=lambda: seen.append(search.refresh()))
    second.start()  # plans from what it reads now (nothing indexed), then waits for the lock
    time.sleep(1.0)
    first.execute("COMMIT")
    first.close()
    second.join(30)
    assert seen and seen[0].indexed == 0 and seen[0].sessions == 35  # planned again under the lock


def test_deleted_sessions_never_appear_by_command_or_by_rm(archive):
    sid = archive["session"]
    assert ids(search.search("giraffe")) == [sid]
    proc = run_cli("sessions", "delete", sid)
    assert proc.returncode == 0, proc.stderr
    assert search.search("giraffe") == []
    assert search.refresh().dropped == 0  # `sessions delete` took it out of the index itself

    w, _ = write_session([PHRASE + "."])
    assert ids(search.search("giraffe")) == [w.meta.id]
    shutil.rmtree(sessions.sessions_dir() / w.meta.id)
    assert search.search("giraffe") == []
    assert search.refresh().sessions == 34


def test_a_deleted_sessions_words_are_gone_from_the_index_file_too(archive):
    """`sessions delete` deletes for good: not only unlisted, its words are no longer in search.sqlite."""
    search.refresh()
    assert b"giraffe" in search.index_path().read_bytes()
    sessions.delete(archive["session"])
    raw = search.index_path().read_bytes()
    assert b"giraffe" not in raw and b"giraff" not in raw  # the text, and the stemmed term
    w, _ = write_session(["A zanzibar quokka, once."])
    assert b"quokka" in search.index_path().read_bytes()
    shutil.rmtree(sessions.sessions_dir() / w.meta.id)
    assert search.search("quokka") == []
    assert b"quokka" not in search.index_path().read_bytes()


def test_a_deleted_index_is_rebuilt(archive):
    assert ids(search.search(f'"{PHRASE}"')) == [archive["session"]]
    search.index_path().unlink()
    assert ids(search.search(f'"{PHRASE}"')) == [archive["session"]]
    assert search.refresh().indexed == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "old schema", "empty tables"])
def test_a_corrupt_or_outdated_index_is_rebuilt(archive, damage):
    search.refresh()
    path = search.index_path()
    if damage == "garbage":
        path.write_bytes(os.urandom(8192))
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif damage == "old schema":
        db = sqlite3.connect(path)
        db.execute("PRAGMA user_version = 0")
        db.close()
    else:  # a valid file whose tables are gone
        db = sqlite3.connect(path)
        db.execute("DROP TABLE cue")
        db.close()
    results = search.search(f'"{PHRASE}"')
    assert ids(results) == [archive["session"]], damage
    assert search.refresh().indexed == 0


def test_the_index_is_readable_by_its_user_only(archive):
    search.search("giraffe")
    assert stat.S_IMODE(os.stat(search.index_path()).st_mode) == 0o600
    search.index_path().chmod(0o644)  # copied in by hand, say
    search.search("giraffe")
    assert stat.S_IMODE(os.stat(search.index_path()).st_mode) == 0o600


def test_the_index_is_made_private_without_fchmod(archive, monkeypatch):
    """Windows before Python 3.13 has no os.fchmod, and its files always look readable by others:
    search failed, and the end of every recording's indexing with it."""
    monkeypatch.delattr(os, "fchmod", raising=False)
    search.search("giraffe")
    search.index_path().chmod(0o644)
    assert ids(search.search(f'"{PHRASE}"')) == [archive["session"]]
    assert stat.S_IMODE(os.stat(search.index_path()).st_mode) == 0o600


def test_a_broken_index_never_fails_a_recording(voicecount_home):
    path = search.index_path()
    path.mkdir(parents=True)  # a folder where the index file should be: nothing can open it
    w, _ = write_session(["The ocelot spoke last."])
    assert sessions.load(w.meta.id).meta.status == "finished"
    with pytest.raises(VoicecountError, match="search index") as e:
        search.search("ocelot")
    assert "deleting that file is safe" in e.value.fix
    path.rmdir()
    assert ids(search.search("ocelot")) == [w.meta.id]


# ---------------------------------------------------------------------------- hostile input


HOSTILE_QUERIES = [
    '"',
    'giraffe"',
    '"purple giraffe',
    'a "b" "c',
    "*",
    "giraffe*",
    "NEAR(",
    "NEAR(giraffe budget, 2)",
    "-giraffe",
    "giraffe -budget",
    "AND OR",
    "AND",
    "NOT giraffe",
    "giraffe OR",
    "(giraffe",
    "text:giraffe",
    "{text}: giraffe",
    "^giraffe",
    "giraffe + budget",
    "'; DROP TABLE cue; --",
    "gir\x00affe budget",
    "\x1b[2J giraffe",
    "giraffe " * 500,
    "é ü ß 日本語 🦒",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_never_raise_fts_errors(archive, query):
    try:
        results = search.search(query)
    except VoicecountError as e:
        assert "nothing to search for" in str(e), e  # the only error a query can cause
        return
    assert isinstance(results, list)
    if "giraffe" in query.replace('"', " ").split() or query.startswith("giraffe"):
        assert archive["session"] in ids(results)


def test_hostile_queries_through_the_cli_are_one_line_or_results(archive):
    for query in ('"', "NEAR(", "AND OR", '"purple giraffe', "-"):
        proc = run_cli("search", query)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
        assert all(line.startswith("voicecount: ") for line in proc.stderr.splitlines()), proc.stderr
    proc = run_cli("search", '"purple giraffe')
    assert proc.returncode == 0 and archive["session"] in proc.stdout


HOSTILE_TEXT = (
    "Open <script>alert(1)</script> then \x1b[2J\x1b]0;pwned\x07 clear \x9b31m the &amp; screen \u202edesrever."
)


def test_hostile_transcript_text_is_inert_in_the_terminal_and_exact_in_json(voicecount_home):
    w, _ = write_session(["A calm start.", HOSTILE_TEXT, "A calm end."])
    proc = run_cli("search", "script screen")
    assert proc.returncode == 0, proc.stderr
    for bad in ("\x1b", "\x9b", "\x07", "\u202e"):
        assert bad not in proc.stdout, repr(proc.stdout)
    assert "Open <«script»>alert(1)</«script»> then" in proc.stdout  # shown as text, as it was said
    proc = run_cli("search", "script screen", "--json")
    assert proc.returncode == 0, proc.stderr
    for bad in ("<", ">", "&", "\x1b", "\x9b", "\u202e"):
        assert bad not in proc.stdout, repr(proc.stdout)
    [hit] = json.loads(proc.stdout)
    assert hit["text"] == " ".join(HOSTILE_TEXT.split()) and hit["session"] == w.meta.id
    proc = run_cli("ask", w.meta.id, "what about the script on the screen?")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x9b" not in proc.stdout and "alert(1)" in proc.stdout


# ---------------------------------------------------------------------------- the command line


def test_search_json_and_text_through_the_cli(archive):
    proc = run_cli("search", f'"{PHRASE}"', "--json")
    assert proc.returncode == 0, proc.stderr
    [hit] = json.loads(proc.stdout)
    assert list(hit) == ["session", "started_at", "start", "end", "text", "snippet", "rank", "score", "all_words"]
    assert hit["session"] == archive["session"] and hit["start"] == pytest.approx(archive["start"], abs=0.01)
    proc = run_cli("search", "giraffe")
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    minutes, seconds = divmod(archive["start"], 60)
    assert line.startswith(archive["session"]) and f"{int(minutes):02d}:{seconds:04.1f}" in line
    assert "«giraffe»" in line and "1 hit in 1 session" in proc.stderr
    proc = run_cli("search", "giraffe", "--json", "--session", archive["session"])
    assert [h["session"] for h in json.loads(proc.stdout)] == [archive["session"]]


def test_search_with_no_hit_says_so_and_exits_1_like_grep(archive):
    proc = run_cli("search", "xylophone")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "nothing in any session matches 'xylophone'" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("search", "xylophone", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout) == []
    proc = run_cli("search", "giraffe", "--limit", "0")
    assert proc.returncode == 1 and "--limit 0 is less than 1 — give 1 or more" in proc.stderr
    proc = run_cli("search", "giraffe", "--session", "nope")
    assert proc.returncode == 1 and "no session 'nope' — see: voicecount sessions list" in proc.stderr


def test_help_teaches_search_and_ask():
    proc = run_cli("search", "--help")
    assert proc.returncode == 0 and "examples:" in proc.stdout and "Exit status" in proc.stdout
    proc = run_cli("ask", "--help")
    assert proc.returncode == 0 and "voicecount ask last" in proc.stdout
    assert "voicecount search" in run_cli("--help").stdout


# ---------------------------------------------------------------------------- ask: passages of one session


def test_passages_are_the_best_cues_with_context_and_times(voicecount_home):
    sentences = [
        "Welcome to the planning meeting.",
        "First the weather, which was fine.",
        "The budget for the giraffe enclosure doubled this year.",
        "Keepers asked for more staff.",
        "Lunch was pasta.",
        "Then a long story about trains.",
        "More about trains and timetables.",
        "The giraffe itself seems happy.",
        "That is all.",
    ]
    w, starts = write_session(sentences)
    found = search.passages(w.meta.id, "What did they say about the giraffe budget?", n=5)
    first = found[0]
    assert first.rank == 1 and first.session == w.meta.id
    assert [c.text for c in first.cues] == sentences[1:4]  # the best cue with one either side
    assert first.matched == (1,) and first.start == pytest.approx(starts[1])
    assert len(found) == 2 and [c.text for c in found[1].cues] == sentences[6:9]
    # Overlapping passages are joined: two matching neighbours are one passage.
    found = search.passages(w.meta.id, "trains", n=5)
    assert len(found) == 1 and [c.text for c in found[0].cues] == sentences[4:8]
    assert found[0].matched == (1, 2)
    assert len(search.passages(w.meta.id, "giraffe trains staff", n=1)) == 1
    assert search.passages(w.meta.id, "submarine") == []
    with pytest.raises(VoicecountError, match="no words to look for"):
        search.passages(w.meta.id, "What is it that they said?")


def test_a_sentence_said_minutes_later_is_no_context(voicecount_home):
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    for text, start in (("We will adopt AI in the clinic.", 6.0), ("Anyway, lunch is at noon.", 200.0)):
        w.final(tuple(Word(x, start + i * 0.4, start + i * 0.4 + 0.3) for i, x in enumerate(text.split())))
    w.close({"AI": 1}, 210.0)
    [passage] = search.passages(w.meta.id, "what about AI in the clinic?")
    assert [c.text for c in passage.cues] == ["We will adopt AI in the clinic."] and passage.end < 10


def test_ask_through_the_cli(archive):
    sid = archive["session"]
    proc = run_cli("ask", sid, "How was the giraffe's budget negotiated?")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("[") and " – " in lines[0]
    matching = [ln for ln in lines if ln.startswith(">")]
    assert len(matching) >= 1 and "giraffe" in matching[0]
    proc = run_cli("ask", sid, "giraffe budget", "--json", "-n", "2")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert 1 <= len(found) <= 2 and found[0]["session"] == sid
    assert any(c["match"] and "giraffe" in c["text"] for c in found[0]["cues"])
    assert found[0]["start"] <= archive["start"] <= found[0]["end"]
    proc = run_cli("ask", sid, "what is it?")
    assert proc.returncode == 1 and "no words to look for" in proc.stderr and " — " in proc.stderr
    proc = run_cli("ask", sid, "submarine periscope")
    assert proc.returncode == 1 and "no passage of that session mentions submarine, periscope" in proc.stderr

"""Sessions on disk: journal, permissions, crash recovery (a real kill -9), and every export format."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli

from voicecount import export
from voicecount import session as sessions
from voicecount.audio import FileSource
from voicecount.matcher import DEFAULT_KEYWORDS, Hit, HitChange, Word
from voicecount.run import Record, Run

SAMPLE = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"


def record_sample(whisper_engine, path=SAMPLE):
    """Run the live pipeline on a file into a new session; return the loaded session."""
    result = Run(FileSource(path), whisper_engine.fresh, DEFAULT_KEYWORDS, Record("count", str(path))).start().wait()
    return result, sessions.load(result.session_id)


@pytest.fixture(scope="module")
def recorded(whisper_engine, tmp_path_factory):
    """One real session of the bundled sample, shared by the export tests."""
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("VOICECOUNT_HOME")
    os.environ["VOICECOUNT_HOME"] = str(home)
    try:
        result, session = record_sample(whisper_engine)
    finally:
        if old is None:
            os.environ.pop("VOICECOUNT_HOME", None)
        else:
            os.environ["VOICECOUNT_HOME"] = old
    return result, session


def test_a_session_holds_what_the_pipeline_counted(recorded):
    result, s = recorded
    assert s.meta.status == "finished" and s.meta.command == "count"
    assert s.counts == result.counts == s.meta.counts
    assert [h.start for h in s.counted] == [h.start for h in result.hits if not h.retracted]
    assert " ".join(seg.text for seg in s.segments) == " ".join(t.text for t in result.transcript)
    assert s.duration == pytest.approx(result.duration, abs=0.01)


def test_session_files_are_user_only(whisper_engine):
    _, s = record_sample(whisper_engine)
    assert stat.S_IMODE(os.stat(s.path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(s.path.parent).st_mode) == 0o700
    for f in s.path.iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f


def test_journal_replay_confirm_retract_and_a_torn_last_line():
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    words = (Word("about", 1.0, 1.3), Word("AI", 1.4, 1.7))
    h1 = Hit(1, "AI", "AI", 1.4, 1.7, 2.0)
    h2 = Hit(2, "AI", "ai", 5.0, 5.2, 5.5)
    w.change(HitChange("added", h1))
    w.change(HitChange("added", h2))
    w.final(words)
    h1.confirmed = True
    w.change(HitChange("confirmed", h1))
    h2.retracted = True
    w.change(HitChange("retracted", h2))
    w.clock(6.0)
    # The process dies while writing a line.
    with open(w.path / "journal.jsonl", "a") as f:
        f.write('{"t": "final", "words": [["tor')
    s = sessions.load(w.meta.id)
    assert s.meta.status == "recording"
    assert s.counts == {"AI": 1} and s.counted[0].confirmed
    assert [seg.text for seg in s.segments] == ["about AI"]
    assert s.duration == 6.0


def test_microphone_interruptions_are_kept_finished_or_not():
    """Lost/back records: in meta when the session finishes, and replayed from the journal when it did not."""
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.final((Word("hello", 1.0, 1.3),))
    w.input("lost", 12.5)
    w.input("back", 12.5, 6.2)
    w.input("lost", 40.0)  # still gone when the process dies
    unfinished = sessions.load(w.meta.id)
    assert unfinished.meta.interruptions == [{"at": 12.5, "missing": 6.2}, {"at": 40.0, "missing": None}]
    w.input("back", 40.0, 3.0)
    w.close({"AI": 0}, 45.0)
    finished = sessions.load(w.meta.id)
    assert finished.meta.status == "finished"
    assert finished.meta.interruptions == [{"at": 12.5, "missing": 6.2}, {"at": 40.0, "missing": 3.0}]
    report = io.StringIO()
    export.write_md(finished, report)
    assert "microphone lost 2×, 9 s not heard" in report.getvalue()


def test_a_microphone_still_gone_at_the_end_counts_the_time_it_was_gone():
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.input("lost", 2.0)
    time.sleep(1.2)  # the user stops while the microphone is still unplugged
    w.close({"AI": 0}, 2.0)
    [gap] = sessions.load(w.meta.id).meta.interruptions
    assert gap["at"] == 2.0 and gap["missing"] >= 1.1


def test_audio_dropped_before_a_crash_is_kept_by_the_recovered_session():
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.clock(6.0, dropped_seconds=2.5)
    w.clock(12.0, dropped_seconds=4.0)
    # The process dies here: no close(), so meta.json never got the total.
    s = sessions.load(w.meta.id)
    assert s.meta.status == "recording" and s.meta.dropped_seconds == 4.0
    report = io.StringIO()
    export.write_md(s, report)
    assert "audio dropped: 4.0 s" in report.getvalue()


def test_a_hit_not_confirmed_before_a_crash_stays_uncounted_after_recovery():
    """The recovery said LLM 0 and then every view said 1: the unconfirmed hit came back."""
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.final((Word("AI", 0.0, 0.3),))
    w.change(HitChange("added", Hit(1, "AI", "AI", 0.0, 0.3, 0.8, confirmed=True)))
    w.change(HitChange("added", Hit(2, "AI", "AI", 1.0, 1.3, 1.6, confirmed=False)))  # a partial's
    w.clock(2.0)
    # The process dies here, and its PID is no longer anybody's.
    meta_file = w.path / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta.update(pid=2**22 + 17, pid_started=0)  # above Linux's highest PID
    meta_file.write_text(json.dumps(meta))
    assert sessions.load(w.meta.id).counts == {"AI": 1}
    [recovered] = sessions.recover_unfinished()
    assert recovered.meta.status == "recovered" and recovered.meta.counts == {"AI": 1}
    again = sessions.load(w.meta.id)
    assert again.meta.status == "recovered" and again.counts == {"AI": 1}
    assert [h.id for h in again.counted] == [1]


def test_a_word_holding_newlines_stays_on_its_cue_line_in_every_format():
    import srt
    import webvtt

    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.final(
        (Word("So", 0.0, 0.2), Word("thanks.\n\n00:00:09,000 --> 00:00:10,000\nNext", 0.3, 0.8), Word("one.", 0.9, 1.1))
    )
    w.close({"AI": 0}, 1.2)
    s = sessions.load(w.meta.id)
    assert export_text(s, "txt").count("\n") == 1
    vtt = webvtt.from_string(export_text(s, "vtt"))
    assert len(vtt.captions) == 1 and "\n" not in vtt.captions[0].text
    subs = list(srt.parse(export_text(s, "srt")))
    assert len(subs) == 1 and "\n" not in subs[0].content and "Next one." in subs[0].content


def test_a_session_still_recording_is_not_deleted_under_its_run():
    """`sessions delete last` removed a live listen's folder: it then failed to save, with a wrong fix."""
    w = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    with pytest.raises(sessions.SessionError, match="still recording") as refused:
        sessions.delete(w.meta.id)
    assert "stop it first" in refused.value.fix and w.path.is_dir()
    w.close({"AI": 0}, 1.0)
    sessions.delete(w.meta.id)
    assert not w.path.exists()
    # Another machine's (a shared folder, or this one renamed): not ours to judge, so it can go.
    other = sessions.SessionWriter.create("listen", "mic", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    meta = json.loads((other.path / "meta.json").read_text())
    (other.path / "meta.json").write_text(json.dumps({**meta, "host": "old-laptop.local"}))
    sessions.delete(other.meta.id)
    assert not other.path.exists()


def test_session_ids_prefix_last_and_errors():
    a = sessions.SessionWriter.create("count", "a.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    a.close({"AI": 0}, 1.0)
    time.sleep(1.1)
    b = sessions.SessionWriter.create("count", "b.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    b.close({"AI": 0}, 2.0)
    assert sessions.load("last").meta.source == "b.wav"
    assert sessions.load(b.meta.id[:15]).meta.source == "b.wav"
    with pytest.raises(sessions.SessionError, match="no session 'nope'"):
        sessions.load("nope")
    with pytest.raises(sessions.SessionError, match="matches"):
        sessions.load("20")
    sessions.delete(a.meta.id)
    assert sessions.list_ids() == [b.meta.id]


def test_unwritable_data_dir_is_one_clear_error(voicecount_home, monkeypatch):
    # A data dir that cannot be created (its parent is a file) fails even for root, unlike chmod.
    blocker = voicecount_home.parent / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VOICECOUNT_HOME", str(blocker))
    proc = run_cli("count", str(SAMPLE))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot create a session" in proc.stderr and "VOICECOUNT_HOME" in proc.stderr


# ---------------------------------------------------------------------------- crash recovery, for real


def test_kill_9_mid_talk_keeps_every_final_and_recovers(shared_audio, voicecount_home):
    talk = shared_audio / "dev" / "d01_intro__flite-slt__clean.wav"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", "listen", "--no-gui", "--input", str(talk), "--realtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )
    finals_seen = []
    try:
        for line in proc.stdout:
            if line.startswith("> "):
                finals_seen.append(line[2:].strip())
            if len(finals_seen) >= 12:
                break
        # Every final printed so far was journaled before it was printed: kill now.
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(finals_seen) >= 12
    ids = sessions.list_ids()
    assert len(ids) == 1
    journaled = [seg.text for seg in sessions.load(ids[0]).segments]
    assert journaled[: len(finals_seen)] == finals_seen
    assert sessions.load(ids[0]).meta.status == "recording"

    listing = run_cli("sessions", "list")
    assert "recovered session" in listing.stderr and ids[0] in listing.stdout and "recovered" in listing.stdout
    s = sessions.load(ids[0])
    assert s.meta.status == "recovered" and s.meta.counts == s.counts
    out = run_cli("export", ids[0], "--format", "srt")
    assert out.returncode == 0
    import srt

    subs = list(srt.parse(out.stdout))
    assert " ".join(x.content for x in subs).split() == " ".join(journaled).split()


# ---------------------------------------------------------------------------- exports


def export_text(session, fmt) -> str:
    buf = io.StringIO()
    if fmt == "md":
        export.write_md(session, buf)
    else:
        export.WRITERS[fmt](session, buf)
    return buf.getvalue()


def all_words(session) -> list[str]:
    return " ".join(seg.text for seg in session.segments).split()


def test_srt_round_trips_through_a_parser(recorded):
    import srt

    _, s = recorded
    subs = list(srt.parse(export_text(s, "srt")))
    assert subs and [x.index for x in subs] == list(range(1, len(subs) + 1))
    assert " ".join(x.content for x in subs).split() == all_words(s)
    for a, b in zip(subs, subs[1:]):
        assert a.start < a.end <= b.start
    assert subs[0].start.total_seconds() == pytest.approx(s.segments[0].start, abs=0.01)


def test_vtt_round_trips_through_a_parser(recorded):
    import webvtt

    _, s = recorded
    text = export_text(s, "vtt")
    assert text.startswith("WEBVTT")
    vtt = webvtt.from_string(text)
    assert " ".join(c.text for c in vtt.captions).split() == all_words(s)
    starts = [c.start_in_seconds for c in vtt.captions]
    assert starts == sorted(starts)


def test_json_holds_segments_words_and_hits(recorded):
    result, s = recorded
    data = json.loads(export_text(s, "json"))
    assert data["counts"] == result.counts and data["engine"] == "whisper"
    assert len(data["segments"]) == len(s.segments)
    assert all(
        seg["words"] and {"word", "start", "end", "probability"} <= set(seg["words"][0]) for seg in data["segments"]
    )
    assert len(data["hits"]) == sum(result.counts.values())
    assert {"keyword", "text", "start", "end", "confidence", "confirmed"} <= set(data["hits"][0])


def test_csv_is_the_hit_log(recorded):
    result, s = recorded
    rows = list(csv.DictReader(io.StringIO(export_text(s, "csv"))))
    assert len(rows) == sum(result.counts.values())
    assert set(rows[0]) >= {"time", "keyword", "matched_text", "confidence", "confirmed"}
    assert all(r["keyword"] == "AI" and r["confirmed"] == "true" and 0 <= float(r["confidence"]) <= 1 for r in rows)


def test_txt_is_the_timestamped_transcript(recorded):
    _, s = recorded
    lines = export_text(s, "txt").splitlines()
    assert lines and all(ln.startswith("[") for ln in lines)
    assert " ".join(ln.split("] ", 1)[1] for ln in lines).split() == all_words(s)


def test_markdown_report_with_plot(recorded, tmp_path):
    result, s = recorded
    out = export.export(s, "md", tmp_path / "report.md")
    text = out.read_text()
    assert f"| AI | {result.counts['AI']} |" in text
    assert "words per minute" in text and "## Top words" in text and "## Hits" in text
    assert "![Cumulative hits over time](report.png)" in text
    png = tmp_path / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    # A space ends a Markdown link target: the name is percent-encoded, the file keeps its name.
    spaced = export.export(s, "md", tmp_path / "My Talk.md").read_text()
    assert "![Cumulative hits over time](My%20Talk.png)" in spaced and (tmp_path / "My Talk.png").is_file()
    # each hit is shown with the sentence it was said in
    hit_rows = [ln for ln in text.splitlines() if ln.startswith("| 0")]
    assert len(hit_rows) == result.counts["AI"] and all(
        ln.count("|") == 5 and ln.split("|")[4].strip() for ln in hit_rows
    )


def test_count_export_flag_writes_the_file(tmp_path):
    out = tmp_path / "talk.srt"
    proc = run_cli("count", str(SAMPLE), "--export", "srt", "-o", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    import srt

    assert list(srt.parse(out.read_text()))
    assert "session" in proc.stderr and "saved" in proc.stderr


def test_an_export_under_a_file_names_the_file_in_the_way(tmp_path):
    w = sessions.SessionWriter.create("count", "x.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.close({"AI": 0}, 0.0)
    (tmp_path / "afile").write_text("mine")
    proc = run_cli("export", w.meta.id, "-f", "txt", "-o", str(tmp_path / "afile" / "x.txt"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "afile is a file, not a folder" in proc.stderr and "-o PATH" in proc.stderr
    assert (tmp_path / "afile").read_text() == "mine"


def test_last_is_the_session_started_last_also_within_one_second():
    """IDs sort by the second and then by chance: "last" was a random one of a second's sessions."""
    from voicecount.session import SessionWriter

    made = []
    for _ in range(6):
        w = SessionWriter.create("count", "x.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
        w.close({"AI": 0}, 0.0)
        made.append(w.meta.id)
    assert sessions.resolve("last") == made[-1]
    assert len({m[:15] for m in made}) <= 2  # (the test means something only within a second)


def test_a_session_that_cannot_be_created_leaves_nothing_behind(monkeypatch):
    """A full disk left folders holding only an empty meta.json.tmp, which no command lists or removes."""
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sessions.os, "fsync", full)
    with pytest.raises(sessions.SessionError, match="No space left"):
        sessions.SessionWriter.create("count", "x.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    assert list(sessions.sessions_dir().iterdir()) == []


def test_sessions_started_in_the_same_second_get_their_own_ids():
    """Batch workers open sessions at once: IDs are a second's stamp and 16 random bits, retried on a clash."""
    from voicecount.matcher import DEFAULT_KEYWORDS
    from voicecount.session import SessionWriter

    ids = set()
    for _ in range(300):
        w = SessionWriter.create("count", "x.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
        w.close({"AI": 0}, 0.0)
        ids.add(w.meta.id)
    assert len(ids) == 300

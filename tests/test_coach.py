"""The speaking coach: the report's numbers on a known session, the live pace, the overlay's nudge,
and fillers counted in generated speech by the real model."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest
from conftest import run_cli
from test_overlay import pump, shown, talk, tk_root  # noqa: F401 — tk_root is a fixture

from voicecount import coach, export
from voicecount import session as sessions
from voicecount.events import FinalText, LiveState, Progress
from voicecount.matcher import DEFAULT_KEYWORDS, Word
from voicecount.pace import nudge

TALK = "d03_mixed__flite-slt__clean.wav"


def known_session(keywords=DEFAULT_KEYWORDS):
    """120 words at 2 words a second (120 wpm), one 5-s pause, known fillers and repeats (two rounds)."""
    sentences = [
        "So, um, artificial intelligence is everywhere now and people use it daily.",
        "It was, like, a surprise to me how fast artificial intelligence grew.",
        "Uh, we measured the latency of the search service again last week.",
        "Um, artificial intelligence is everywhere now, and the search service is faster.",
        "Hmm, teams ship quickly with small models that run on laptops offline.",
    ]
    w = sessions.SessionWriter.create("count", "coach-test", "whisper", "tiny.en", keywords)
    t = 0.0
    n = 0
    while n < 120:
        for sentence in sentences:
            words = []
            for token in sentence.split():
                words.append(Word(token, t, t + 0.4))
                t += 0.5
                n += 1
            w.final(words)
            if n == 48:
                t += 5.0  # the one long pause, after the 48th word
    w.close({"AI": 0}, t)
    return sessions.load(w.meta.id), t


def test_report_numbers_on_a_known_session():
    s, _ = known_session()
    c = coach.of_session(s)
    words = [w for seg in s.segments for w in seg.words]
    assert c.words == len(words) == 120
    talk = words[-1].end - words[0].start
    assert c.wpm == pytest.approx(120 / (talk / 60))
    fillers = {u.text: u.count for u in c.fillers}
    assert fillers == {"um": 4, "uh": 2, "hmm": 2}
    assert c.filler_total == 8 and c.filler_share == pytest.approx(8 / 120)
    assert c.fillers_per_minute == pytest.approx(8 / (talk / 60))
    assert {u.text: u.count for u in c.possible} == {"so": 2, "like": 2}
    assert len(c.pauses) == 1 and c.pauses[0].seconds == pytest.approx(5.1) and c.pauses[0].start == pytest.approx(23.9)
    phrases = {u.text: u.count for u in c.phrases}
    assert phrases["artificial intelligence is everywhere"] == 4
    assert "intelligence is everywhere now" not in phrases  # the same repeat, one word on: shown once
    assert phrases["artificial intelligence"] == 6  # said more often than the longer phrase: kept
    assert "intelligence is" not in phrases  # hidden: never said apart from the longer phrase
    assert all(" um" not in p and not p.startswith("um") for p in phrases)
    # Steady 2 words a second: every full window reads 120 wpm, except across the pause.
    assert c.pace[0][1] == pytest.approx(120, abs=7)
    assert min(w for _, w in c.pace) < 115
    assert not c.filler_mode and c.notes  # fillers were not being counted: said so

    report = io.StringIO()
    export.write_md(s, report)
    md = report.getvalue()
    assert "## Speaking" in md and "- Fillers: 8 (" in md and "um 4 (" in md
    assert "5.1 s at 00:23.9" in md and "“artificial intelligence is everywhere” 4×" in md
    data = io.StringIO()
    export.write_json(s, data)
    speaking = json.loads(data.getvalue())["speaking"]
    assert speaking["filler_total"] == 8 and speaking["words"] == 120
    assert speaking["pauses"][0]["seconds"] == pytest.approx(5.1)


def test_the_fastest_half_minute_is_a_whole_half_minute():
    """On the 18-s sample "fastest 30 s: 160" sat under the overall 163: a window of less talk."""
    from voicecount.coach import coaching
    from voicecount.matcher import Word

    def even(n: int) -> list[Word]:
        return [Word("word", i * 0.37, i * 0.37 + 0.2) for i in range(n)]

    assert coaching(even(50)).fastest is None  # 18 s: no half minute to compare
    long = coaching(even(200))  # 74 s at one pace
    assert long.fastest is not None and long.slowest is not None
    assert abs(long.fastest[1] - long.wpm) < 3 and long.fastest[0] >= 30.0


def test_silence_before_and_after_the_talk_is_not_counted_as_talk():
    """listen started a minute early and stopped a minute late: the pace is the talk's."""
    w = sessions.SessionWriter.create("listen", "coach-test", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    t = 60.0
    for _ in range(12):
        w.final(tuple(Word(x, t + i * 0.5, t + i * 0.5 + 0.4) for i, x in enumerate(["we", "use", "AI", "a", "lot"])))
        t += 2.5  # 5 words in 2.5 s: 120 wpm
    w.close({"AI": 12}, t + 60.0)
    s = sessions.load(w.meta.id)
    c = coach.of_session(s)
    assert c.wpm == pytest.approx(120, rel=0.03)
    assert c.pace[-1][0] <= t and min(p for _, p in c.pace) > 100  # no window of trailing silence
    report = io.StringIO()
    export.write_md(s, report)
    assert f"{c.wpm:.0f} words per minute" in report.getvalue().split("## Counts")[0]  # the header agrees


def test_a_pause_starts_where_the_speech_ended_not_at_a_word_inside_it():
    words = [Word("a", 0.0, 3.0), Word("b", 1.0, 2.5), Word("c", 6.0, 6.4)]  # "b" lies inside "a"
    [pause] = coach.pauses_in(words, 2.0)
    assert pause.start == 3.0 and pause.seconds == pytest.approx(3.0)


def test_a_word_said_three_times_in_a_row_is_no_repeated_phrase():
    from voicecount.matcher import Word

    def said(text: str) -> list[Word]:
        return [Word(w, i * 0.4, i * 0.4 + 0.3) for i, w in enumerate(text.split())]

    # The 2-word windows of "really really really" overlap: they are one phrase said once.
    assert coach.repeated_phrases(said("this is really really really important")) == []
    [use] = coach.repeated_phrases(said("the new model is fast and the new model is cheap"))
    assert use.text == "the new model is" and len(use.times) == 2


def test_a_phrase_said_again_and_again_is_one_repeat_not_two():
    def said(text: str) -> list[Word]:
        return [Word(w, i * 0.4, i * 0.4 + 0.3) for i, w in enumerate(text.split())]

    # "you thank" lies inside "thank you thank you thank you": no repeat of its own.
    [use] = coach.repeated_phrases(said("well thank you thank you thank you all"))
    assert use.text == "thank you" and len(use.times) == 3


def test_backchannels_and_acronyms_are_not_fillers():
    def said(text: str) -> list[Word]:
        return [Word(w, i * 0.4, i * 0.4 + 0.3) for i, w in enumerate(text.split())]

    # "Mm-hmm" and "uh-huh" are words of their own (yes); "ER" is the emergency room.
    assert coach.fillers_in(said("Mm-hmm. Uh-huh, we took him to the ER doctor.")) == []
    uses = {u.text: u.count for u in coach.fillers_in(said("Um, er, so, uh, hmm, Er, the plan."))}
    assert uses == {"um": 1, "er": 2, "uh": 1, "hmm": 1}


def test_sessions_show_and_the_report_files_carry_the_coach(tmp_path):
    s, _ = known_session()
    shown_ = run_cli("sessions", "show", s.id)
    assert shown_.returncode == 0, shown_.stderr
    assert "fillers   8: um 4, hmm 2, uh 2" in shown_.stdout and "pauses    5.1 s at 00:23.9" in shown_.stdout
    out = tmp_path / "report.md"
    assert run_cli("export", s.id, "-f", "md", "-o", str(out)).returncode == 0
    assert (tmp_path / "report-pace.png").stat().st_size > 1000
    assert "![Pace over time](report-pace.png)" in out.read_text()


def test_every_report_uses_the_users_pause_and_filler_set(tmp_path):
    # A 1-s pause setting and a [[fillers]] set of the user's own ("like" as a filler, "um"
    # spelt their way): sessions show, the md report and the JSON export all agree.
    from voicecount import config

    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_text(
        '[coach]\npause = 1.0\n\n[[fillers]]\nname = "um"\naliases = ["um", "umm"]\n\n'
        '[[fillers]]\nname = "like"\naliases = ["like"]\n'
    )
    w = sessions.SessionWriter.create(
        "count", "own-fillers", "whisper", "tiny.en", [*DEFAULT_KEYWORDS, *config.load().fillers]
    )
    said = "Um, it was like a surprise. Like, really. Uh, fine."
    words = [Word(token, i * 0.5, i * 0.5 + 0.4) for i, token in enumerate(said.split())]
    words[5:] = [Word(x.text, x.start + 1.2, x.end + 1.2) for x in words[5:]]  # a 1.3-s pause after "surprise."
    w.final(words)
    w.close({"AI": 0, "um": 1, "like": 2}, 8.0)

    shown_ = run_cli("sessions", "show", w.meta.id)
    assert "fillers   3: like 2, um 1" in shown_.stdout, shown_.stdout
    assert "pauses    1.3 s at 00:02.4" in shown_.stdout
    md = tmp_path / "r.md"
    assert run_cli("export", w.meta.id, "-f", "md", "-o", str(md)).returncode == 0
    assert "- Fillers: 3 (" in md.read_text() and "- Longest pauses: 1.3 s at" in md.read_text()
    out = run_cli("export", w.meta.id, "-f", "json")
    speaking = json.loads(out.stdout)["speaking"]
    assert speaking["filler_total"] == 3 and speaking["filler_mode"]
    assert [p["seconds"] for p in speaking["pauses"]] == [pytest.approx(1.3)]


def test_a_session_recorded_before_the_coach_reports_what_it_can():
    # An old session: no fillers transcribed, no filler keywords, only words with times.
    w = sessions.SessionWriter.create("listen", "old", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    w.final([Word(f"word{i}", i * 0.4, i * 0.4 + 0.3) for i in range(60)])
    w.close({"AI": 0}, 24.0)
    c = coach.of_session(sessions.load(w.meta.id))
    assert c.filler_total == 0 and c.wpm == pytest.approx(60 / (23.9 / 60)) and c.pace and c.notes


def test_live_pace_and_its_nudge():
    state = LiveState.start(DEFAULT_KEYWORDS)
    t = 0.0
    for _ in range(8):  # 3 words a second: 180 wpm
        words = tuple(Word(f"w{i}", t + i / 3, t + i / 3 + 0.25) for i in range(6))
        state = state.apply(FinalText(words, " ".join(w.text for w in words)))
        t += 2.0
        state = state.apply(Progress(t, t))
    assert state.wpm == pytest.approx(180, abs=12)
    assert nudge(state.wpm, 100, 165).endswith("slow down")
    assert nudge(state.wpm, 100, 200) == ""
    assert state.as_json()["wpm"] == round(state.wpm)
    quiet = state.apply(Progress(t + 15, t + 15))  # a long silence: not speaking, no pace
    assert quiet.wpm is None and nudge(quiet.wpm, 100, 165) == ""


@pytest.mark.parametrize("pace_range, hint", [((20, 60), "slow down"), ((300, 400), "a little faster"), (None, "")])
def test_the_overlay_nudges_when_the_pace_leaves_the_range(
    tk_root,  # noqa: F811
    whisper_engine,
    shared_audio,
    pace_range,
    hint,
):
    ov = shown(tk_root, talk(whisper_engine, shared_audio / "dev" / TALK), pace_range=pace_range)
    seen = []
    ov.nudge_var.trace_add("write", lambda *a: seen.append((ov.nudge_var.get(), ov.nudge.winfo_ismapped())))
    pump(tk_root, lambda: ov.result is not None, 180, "the talk to finish")
    tk_root.update()
    if hint:
        assert any(text.endswith(hint) for text, _ in seen), seen
        # Shown while the talk was heard; once it is over a hint is stale (as with a microphone lost).
        assert not ov.nudge.winfo_ismapped() and ov.nudge_var.get() == ""
    else:
        assert not seen and not ov.nudge.winfo_ismapped()


@pytest.fixture(scope="module")
def filler_talk(tmp_path_factory):
    for tool in ("flite", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed — .ci/run installs it")
    d = tmp_path_factory.mktemp("fillers")
    text = "So, um, today I want to, uh, talk about our plans. Um, the first thing is, uh, hiring. Um, that is all."
    raw, wav = d / "raw.wav", d / "fillers.wav"
    subprocess.run(["flite", "-voice", "rms", "-t", text, "-o", str(raw)], check=True)
    subprocess.run(
        ["sox", "-R", str(raw), "-b", "16", "-c", "1", str(wav), "rate", "16000", "pad", "0.5", "0.5"], check=True
    )
    return wav  # 3 "um", 2 "uh"


def test_filler_mode_counts_fillers_in_generated_speech(filler_talk):
    plain = run_cli("count", str(filler_talk), "-k", "AI", "--json")
    assert plain.returncode == 0, plain.stderr
    left_out = coach.of_session(sessions.load("last"))
    filler = run_cli("count", str(filler_talk), "--preset", "fillers", "--json")
    assert filler.returncode == 0, filler.stderr
    counts = json.loads(filler.stdout)["counts"]
    assert set(counts) >= {"AI", "um", "uh", "er", "ah", "hmm"}  # the preset adds to the keywords
    assert counts["um"] >= 2, counts  # 3 said (flite's "uh" is rarely heard at all: BENCHMARKS.md)
    assert counts["um"] <= 3 and counts["uh"] <= 2 and counts["er"] + counts["ah"] + counts["hmm"] == 0, counts
    heard = coach.of_session(sessions.load("last"))
    assert heard.filler_mode and heard.filler_total == sum(counts[k] for k in ("um", "uh", "er", "ah", "hmm"))
    assert not left_out.filler_mode and left_out.filler_total < heard.filler_total  # what filler mode is for


def test_the_overlay_shows_all_fillers_in_one_row(tk_root, whisper_engine, filler_talk):  # noqa: F811
    from voicecount.audio import FileSource
    from voicecount.fillers import preset
    from voicecount.run import Run

    keywords = [*DEFAULT_KEYWORDS, *preset("fillers")]
    ov = shown(tk_root, Run(FileSource(filler_talk), whisper_engine.fresh, keywords))
    assert list(ov.count_labels) == ["AI", "fillers"]  # five filler keywords, one quiet row
    pump(tk_root, lambda: ov.result is not None, 180, "the talk to finish")
    tk_root.update()
    said = sum(ov.result.counts[k.name] for k in preset("fillers"))
    assert said >= 2 and ov.count_labels["fillers"].cget("text") == str(said)
    assert ov.count_labels["AI"].cget("text") == str(ov.result.counts["AI"])

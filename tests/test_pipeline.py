"""The real Pipeline and Run driven by a scripted engine: commands, retraction, source switch, fan-out.

No model and no audio: each test runs in milliseconds. The real-model paths are tested
in test_whisper_engine.py, test_overlay.py and test_cli.py.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from scripted import FastSource, GatedSource, ScriptedEngine, final, next_event, partial

from voicecount import session as sessions
from voicecount.errors import VoicecountError
from voicecount.events import (
    Caption,
    CountChange,
    CountResult,
    Failed,
    FinalText,
    Finished,
    KeywordsChanged,
    LiveState,
    Progress,
    Ready,
    Resync,
    Status,
)
from voicecount.matcher import DEFAULT_KEYWORDS, Hit, HitChange, parse_keyword
from voicecount.pipeline import Subscription
from voicecount.run import Record, Run

AI = list(DEFAULT_KEYWORDS)


def is_(kind):
    return lambda ev: isinstance(ev, kind)


def change(kind: str, counts: dict):
    return lambda ev: isinstance(ev, CountChange) and ev.change.kind == kind and ev.counts == counts


@pytest.fixture
def live():
    """A started run on a gated source and a scripted engine, with one view; ended afterwards."""
    engine, source = ScriptedEngine(), GatedSource()
    run = Run(source, lambda: engine, AI)
    view = run.pipeline.subscribe()
    run.start()
    next_event(view, is_(Ready))
    yield engine, source, run, view
    source.end()
    run.wait()


def step(engine, source, *events) -> None:
    """The engine will answer the next chunk with ``events``; the source delivers that chunk."""
    engine.say(*events)
    source.feed()


def test_a_partial_counts_at_once_and_the_final_confirms_or_retracts_it(live):
    engine, source, run, view = live
    step(engine, source, partial("we use AI"))
    added = next_event(view, change("added", {"AI": 1}))
    assert not added.change.hit.confirmed
    step(engine, source, final("we use AI"))
    confirmed = next_event(view, change("confirmed", {"AI": 1}))
    assert confirmed.change.hit.id == added.change.hit.id  # the same spoken word, counted once
    step(engine, source, partial("and AI again", start=2.0))
    next_event(view, change("added", {"AI": 2}))
    step(engine, source, final("and then again", start=2.0))  # the final does not hold it
    retracted = next_event(view, change("retracted", {"AI": 1}))
    assert retracted.change.hit.retracted
    source.end()
    result = run.wait()
    assert result.counts == {"AI": 1}
    assert [(h.confirmed, h.retracted) for h in result.hits] == [(True, False), (False, True)]


def test_pause_resume_undo_reset_and_keywords_are_methods(live):
    engine, source, run, view = live
    step(engine, source, final("AI one"))
    next_event(view, change("added", {"AI": 1}))
    run.pipeline.pause()
    next_event(view, lambda ev: ev == Status("paused"))
    step(engine, source, final("AI two", start=2.0))
    seen = []
    next_event(view, is_(FinalText), seen=seen)  # heard and transcribed while paused…
    step(engine, source, partial("AI three", start=4.0))
    next_event(view, is_(Caption), seen=seen)
    assert not [ev for ev in seen if isinstance(ev, CountChange)]  # …but not counted
    run.pipeline.resume()
    next_event(view, lambda ev: ev == Status("listening"))
    step(engine, source, final("AI four", start=6.0))
    next_event(view, change("added", {"AI": 2}))
    run.pipeline.undo()
    undone = next_event(view, change("retracted", {"AI": 1}))
    assert undone.change.hit.start == pytest.approx(6.0)  # the latest hit went
    run.pipeline.reset()
    next_event(view, change("retracted", {"AI": 0}))
    run.pipeline.set_keywords([*AI, parse_keyword("Phone=phone,phones")])
    kw = next_event(view, is_(KeywordsChanged))
    assert kw.counts == {"AI": 0, "Phone": 0}
    assert [k.name for k in engine.keywords] == ["AI", "Phone"]  # the engine is primed with them too
    step(engine, source, final("AI runs on a phone", start=8.0))
    both = [next_event(view, change("added", {"AI": 1, "Phone": 1})) for _ in range(2)]
    assert sorted(ev.change.hit.keyword for ev in both) == ["AI", "Phone"]
    source.end()
    assert run.wait().counts == {"AI": 1, "Phone": 1}


def test_two_quick_switches_end_on_the_last_and_release_the_one_skipped():
    engine, first, a, b = ScriptedEngine(), GatedSource("first mic"), GatedSource("A"), GatedSource("B")
    run = Run(first, lambda: engine, AI, Record("listen", "first mic"))
    view = run.pipeline.subscribe()
    run.start()
    next_event(view, is_(Ready))
    run.pipeline.switch_source(a)  # the user picks A in the menu…
    run.pipeline.switch_source(b)  # …and B a moment later, before the switch to A is done
    next_event(view, lambda ev: ev == Status("listening", "now: B"))
    step(engine, b, final("AI after"))
    next_event(view, change("added", {"AI": 1}))
    assert first.released and a.released  # opened, no longer heard: their devices are let go
    b.end()
    assert run.wait().counts == {"AI": 1}


def test_switching_source_carries_counts_and_session_on():
    engine, first, second = ScriptedEngine(), GatedSource("first mic"), GatedSource("second mic")
    run = Run(first, lambda: engine, AI, Record("listen", "first mic"))
    view = run.pipeline.subscribe()
    run.start()
    assert next_event(view, is_(Ready)).source == "first mic"
    step(engine, first, final("AI before"))
    next_event(view, change("added", {"AI": 1}))
    run.pipeline.switch_source(second)
    assert next_event(view, is_(Status)) == Status("listening", "now: second mic")
    step(engine, second, final("AI after", start=5.0))
    next_event(view, change("added", {"AI": 2}))
    second.end()
    result = run.wait()
    assert result.counts == {"AI": 2}
    saved = sessions.load(result.session_id)
    assert saved.meta.status == "finished" and saved.counts == {"AI": 2}
    assert [s.text for s in saved.segments] == ["AI before", "AI after"]
    assert saved.meta.source == "first mic, then second mic"  # it named only the first


def test_every_subscriber_gets_every_event_in_order_and_a_late_one_starts_from_the_state():
    script = [[partial("so AI", 0.0)], [final("so AI", 0.0)], [], [partial("AI again", 1.0)], [final("no", 1.0)]]
    run = Run(FastSource(8), ScriptedEngine(script).fresh, AI)
    views = [run.pipeline.subscribe() for _ in range(3)]
    run.start()
    received = [list(v) for v in views]
    assert received[0] == received[1] == received[2]
    kinds = [type(ev).__name__ for ev in received[0]]
    assert kinds[0] == "Ready" and kinds[-1] == "Finished" and kinds.count("Progress") == 8
    assert [ev.change.kind for ev in received[0] if isinstance(ev, CountChange)] == [
        "added",
        "confirmed",
        "added",
        "retracted",
    ]
    state = LiveState.start(AI)
    for ev in received[0]:
        state = state.apply(ev)
    assert state.counts == {"AI": 1} and state.status == "finished" and state.final == "no"
    late = run.pipeline.subscribe()
    first = late.get(timeout=1)
    assert isinstance(first, Resync) and first.state == state  # what a view joining now would show
    assert isinstance(late.get(timeout=1), Finished)  # and the end, so a view joining after it never waits
    late.close()
    assert list(late) == []  # a closed subscription ends at once


def test_a_paused_count_stays_paused_across_a_source_switch():
    engine, first, second = ScriptedEngine(), GatedSource("first mic"), GatedSource("second mic")
    run = Run(first, lambda: engine, AI)
    view = run.pipeline.subscribe()
    run.start()
    next_event(view, is_(Ready))
    run.pipeline.pause()
    next_event(view, lambda ev: ev == Status("paused"))
    run.pipeline.switch_source(second)
    assert next_event(view, is_(Status)) == Status("paused", "now: second mic")  # not "listening": nothing counts
    step(engine, second, final("AI after the switch"))
    seen = []
    next_event(view, is_(FinalText), seen=seen)
    assert not [ev for ev in seen if isinstance(ev, CountChange)]
    second.end()
    assert run.wait().counts == {"AI": 0}


def test_a_stalled_subscriber_never_stalls_counting():
    n = 3000
    script = [[partial(f"AI {i}", i * 1.0), final(f"AI {i}", i * 1.0)] if i % 10 == 0 else [] for i in range(n)]
    run = Run(FastSource(n), ScriptedEngine(script).fresh, AI)
    stalled = run.pipeline.subscribe(maxsize=16)  # never read while counting
    reader = run.pipeline.subscribe(maxsize=100_000)
    t0 = time.perf_counter()
    run.start()
    result = run.wait()
    elapsed = time.perf_counter() - t0
    assert result.counts == {"AI": n // 10}
    assert elapsed < 5, f"counting took {elapsed:.1f} s"
    everything = list(reader)
    assert reader.skipped == 0 and isinstance(everything[-1], Finished)
    # The stalled view lost detail, not the state, and not the end.
    late = list(stalled)
    assert len(late) <= 17 and stalled.skipped > n
    assert isinstance(late[-1], Finished) and late[-1].result.counts == {"AI": n // 10}
    assert any(isinstance(ev, Resync) for ev in late)
    state = LiveState.start(AI)
    for ev in late:
        state = state.apply(ev)
    final_state = LiveState.start(AI)
    for ev in everything:
        final_state = final_state.apply(ev)
    assert (state.counts, state.status, state.final) == (final_state.counts, final_state.status, final_state.final)


def test_overflow_drops_progress_and_captions_first_then_resyncs_but_keeps_the_end():
    state = LiveState.start(AI)
    sub = Subscription(3, lambda s: None)
    hit = Hit(1, "AI", "AI", 1.0, 1.2, 1.5)

    def offer(ev):
        nonlocal state
        state = state.apply(ev)
        sub.offer(ev, state)

    offer(Progress(0.1, 0.1))
    offer(Caption("so"))
    offer(CountChange(HitChange("added", hit), {"AI": 1}))
    offer(Caption("so AI"))  # full: the oldest lossy event (Progress) makes room
    assert [type(e).__name__ for e in sub._items] == ["Caption", "CountChange", "Caption"]
    offer(Status("paused"))  # full: the older caption goes
    offer(Status("listening"))  # and the newer one
    assert [type(e).__name__ for e in sub._items] == ["CountChange", "Status", "Status"]
    offer(Progress(0.2, 0.2))  # full of essentials: a new lossy event is simply not queued
    offer(CountChange(HitChange("retracted", hit), {"AI": 0}))  # essential: everything becomes one Resync
    [resync] = sub._items
    assert isinstance(resync, Resync) and resync.state == state and resync.skipped == 4
    assert sub.skipped == 4 + 4  # two progress and two captions dropped, then four events resynced
    offer(Finished(CountResult({"AI": 0}, [hit], 1.0, "scripted", "script")))  # the end always arrives
    assert isinstance(sub.get(0), Resync) and isinstance(sub.get(0), Finished) and sub.get(0) is None


def test_an_engine_failure_reaches_every_view_and_wait_raises_it():
    engine, source = ScriptedEngine(), GatedSource()
    run = Run(source, lambda: engine, AI, Record("listen", "gated"))
    views = [run.pipeline.subscribe() for _ in range(2)]
    run.start()
    step(engine, source, final("AI"))
    next_event(views[0], change("added", {"AI": 1}))
    step(engine, source, partial("and AI"))  # provisional: no final has confirmed it yet
    next_event(views[0], change("added", {"AI": 2}))
    step(engine, source, RuntimeError("decoder crashed"))
    next_event(views[0], change("retracted", {"AI": 1}))  # the crash confirms nothing
    for v in views:
        failed = next_event(v, is_(Failed))
        assert str(failed.error) == "decoder crashed"
    with pytest.raises(RuntimeError, match="decoder crashed"):
        run.wait()
    [sid] = sessions.list_ids()
    saved = sessions.load(sid)
    assert saved.meta.error == "decoder crashed" and saved.counts == {"AI": 1}  # what was confirmed is kept


def test_a_full_disk_mid_run_ends_the_run_with_the_error_not_a_hang():
    engine, source = ScriptedEngine(), GatedSource()
    run = Run(source, lambda: engine, AI, Record("listen", "gated"))
    view = run.pipeline.subscribe()
    run.start()
    step(engine, source, partial("we use AI"))  # provisional: retracting it at the end writes again
    next_event(view, change("added", {"AI": 1}))
    journal = run.pipeline.session._journal
    full = os.open("/dev/full", os.O_WRONLY)  # the disk fills up now: every write fails with ENOSPC
    os.dup2(full, journal.fileno())
    os.close(full)
    step(engine, source, final("we use AI"))
    failed = next_event(view, is_(Failed))
    assert "cannot write the session journal" in str(failed.error) and "free some disk space" in str(failed.error)
    with pytest.raises(VoicecountError, match="No space left"):
        run.wait()


def test_any_failure_closing_the_session_ends_the_run_not_a_hang(monkeypatch):
    """Only a VoicecountError at the session's close reached the views; anything else (on Windows,
    os.fchmod missing in the search index) killed the worker and left run.wait() waiting for ever."""

    def broken_close(self, *args, **kwargs):
        raise AttributeError("module 'os' has no attribute 'fchmod'")

    monkeypatch.setattr(sessions.SessionWriter, "close", broken_close)
    engine, source = ScriptedEngine(), GatedSource()
    run = Run(source, lambda: engine, AI, Record("listen", "gated"))
    view = run.pipeline.subscribe()
    run.start()
    step(engine, source, final("we use AI"))
    run.pipeline.stop()
    failed = next_event(view, is_(Failed))
    assert "fchmod" in str(failed.error)
    with pytest.raises(AttributeError):
        run.wait()


def test_a_microphone_chosen_after_the_run_ended_lets_its_device_go():
    """The overlay's menu still worked once the run had ended: the new source was never read, so
    its device stayed open (and recording) until the process exited."""
    source = GatedSource()
    run = Run(source, ScriptedEngine, AI, Record("listen", "gated"))
    run.start()
    source.end()
    run.wait()
    late = GatedSource("chosen too late")
    run.pipeline.switch_source(late)
    assert late.released


def test_stopped_while_the_model_loads_nothing_is_heard_and_no_session_is_made():
    loading, release = threading.Event(), threading.Event()

    def slow_model():
        loading.set()
        release.wait(10)
        return ScriptedEngine()

    run = Run(GatedSource(), slow_model, AI, Record("listen", "gated"))
    view = run.pipeline.subscribe()
    run.start()
    assert loading.wait(5)
    run.pipeline.pause()  # commands before the engine is ready are fine
    run.pipeline.stop()
    release.set()
    result = run.wait()
    assert result.session_id == "" and result.duration == 0 and result.counts == {"AI": 0}
    assert [type(ev) for ev in view] == [Finished]
    assert sessions.list_ids() == []

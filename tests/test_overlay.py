"""The overlay in a real Tk window under Xvfb, driven by a dev talk through the real pipeline."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest
from conftest import ROOT, start_pulse
from test_microphone import Listener

from voicecount.audio import FileSource
from voicecount.config import OverlaySettings
from voicecount.matcher import DEFAULT_KEYWORDS
from voicecount.run import Record, Run

TALK = "d03_mixed__flite-slt__clean.wav"


@pytest.fixture
def tk_root(xvfb):
    import tkinter as tk

    root = tk.Tk()
    yield root
    try:
        root.destroy()
    except tk.TclError:
        pass  # the overlay closed itself
    import gc

    gc.collect()  # Tk variables must die on this (the main) thread, not in a worker's GC


def pump(root, until, timeout: float, what: str) -> None:
    """Run the Tk loop (as mainloop would) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        root.update()
        time.sleep(0.01)


def talk(engine, path, speed=None):
    """A run of a recording (at full speed, or replayed at ``speed`` × real time)."""
    return Run(FileSource(path, realtime=speed is not None, speed=speed or 1.0), engine.fresh, DEFAULT_KEYWORDS)


def shown(root, run, **options):
    """The overlay on a run, then the run started (as the CLI does)."""
    from voicecount.overlay import Overlay

    ov = Overlay(root, run, **options)
    run.start()
    return ov


def modelless(root):
    """The overlay on a run of the sample whose model fails to load: a window to drive by hand."""

    def no_model():
        raise RuntimeError("no model in this test")

    ov = shown(root, Run(FileSource(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"), no_model, DEFAULT_KEYWORDS))
    pump(root, lambda: ov.status == "error", 10, "the load error to show")
    return ov


def count_text(overlay, name="AI") -> str:
    return overlay.count_labels[name].cget("text")


def test_window_is_borderless_topmost_top_right_and_counts_a_talk(
    tk_root, whisper_engine, shared_audio, dev_manifest, tmp_path
):
    captions = []
    ov = shown(tk_root, talk(whisper_engine, shared_audio / "dev" / TALK))
    ov.caption_var.trace_add("write", lambda *a: captions.append(ov.caption_var.get()))
    tk_root.update()
    # Shows at once, before the model is ready, and says it is loading.
    assert ov.status_var.get().startswith("loading") or ov.status == "listening"
    assert bool(tk_root.overrideredirect()) is True
    assert int(tk_root.attributes("-topmost")) == 1
    x, w = tk_root.winfo_x(), tk_root.winfo_width()
    assert x + w >= tk_root.winfo_screenwidth() - 60 and tk_root.winfo_y() < 60  # top-right corner

    pump(tk_root, lambda: ov.result is not None, 180, "the talk to finish")
    expected = dev_manifest[TALK]["keywords"]
    assert count_text(ov) == str(expected)
    assert ov.status == "finished"
    assert len(set(captions)) >= 5  # the caption followed the speech

    if shutil.which("import"):
        shot = tmp_path / "overlay.png"
        subprocess.run(["import", "-window", "root", str(shot)], check=True, timeout=30)
        assert shot.stat().st_size > 1000


def test_pause_undo_reset_and_quit_while_listening(tk_root, whisper_engine, shared_audio):
    ov = shown(tk_root, talk(whisper_engine, shared_audio / "dev" / TALK, speed=2.0))
    pump(tk_root, lambda: ov.state.counts.get("AI", 0) >= 2, 120, "two hits")

    tk_root.focus_force()
    tk_root.event_generate("<KeyPress-space>", when="tail")  # pause, from the keyboard
    pump(tk_root, lambda: ov.status == "paused", 10, "the paused status")
    at_pause = int(count_text(ov))
    tk_root.event_generate("<KeyPress-u>", when="tail")
    pump(tk_root, lambda: count_text(ov) == str(at_pause - 1), 10, "undo to show")
    # Paused: speech keeps coming but nothing more is counted.
    end = time.monotonic() + 4
    pump(tk_root, lambda: time.monotonic() > end, 10, "4 s of paused listening")
    assert count_text(ov) == str(at_pause - 1)
    ov.reset(confirm=False)
    pump(tk_root, lambda: count_text(ov) == "0", 10, "reset to show")
    ov.toggle_pause()
    pump(tk_root, lambda: ov.status == "listening", 10, "listening again")
    # The right-click menu offers every action the keys do, each with its key.
    from voicecount.overlay import ACTIONS

    commands = {
        ov.menu.entrycget(i, "label"): i for i in range(ov.menu.index("end") + 1) if ov.menu.type(i) == "command"
    }
    assert list(commands) == [f"{a[0]}   ({a[1]})" for a in ACTIONS if a is not None]
    assert "Bigger   (+)" in commands and "Smaller   (−)" in commands
    size = ov.settings.font_size
    ov.menu.invoke(commands["Bigger   (+)"])
    assert ov.settings.font_size == size + 4 and ov.big.cget("size") == size + 4
    tk_root.event_generate("<KeyPress-minus>", when="tail")
    pump(tk_root, lambda: ov.settings.font_size == size, 10, "the minus key to shrink the counts")
    ov.quit()
    pump(tk_root, lambda: ov._closed, 60, "a clean quit")
    assert ov.result is not None  # the pipeline finalised before the window closed


def test_keywords_change_without_restart(tk_root, whisper_engine, shared_audio):
    from voicecount.overlay import parse_keyword_lines

    saved = []
    ov = shown(
        tk_root,
        talk(whisper_engine, shared_audio / "dev" / TALK, speed=2.0),
        settings=OverlaySettings(),
        on_settings=lambda s, k: saved.append([x.name for x in k]),
    )
    pump(tk_root, lambda: ov.status == "listening", 60, "the model")
    ov.set_keywords(parse_keyword_lines("AI\nPhone=phone,phones\n"))
    assert set(ov.count_labels) == {"AI", "Phone"}
    assert saved[-1] == ["AI", "Phone"]
    pump(tk_root, lambda: ov.result is not None, 180, "the talk to finish")
    assert int(count_text(ov, "Phone")) >= 1  # "AI now runs on a phone"
    with pytest.raises(Exception, match="empty keyword"):
        parse_keyword_lines("AI\n=x\n")


def test_provisional_hits_show_in_the_pending_colour_and_retractions_flash(tk_root):
    from voicecount.events import CountChange
    from voicecount.matcher import Hit, HitChange
    from voicecount.overlay import THEMES

    ov = modelless(tk_root)
    assert "no model in this test" in ov.status_var.get()
    hit = Hit(1, "AI", "AI", 1.0, 1.3, 1.5)
    ov.handle(CountChange(HitChange("added", hit), {"AI": 1}))
    assert count_text(ov) == "1" and ov.count_labels["AI"].cget("fg") == THEMES["dark"]["pending"]
    hit.confirmed = True
    ov.handle(CountChange(HitChange("confirmed", hit), {"AI": 1}))
    assert ov.count_labels["AI"].cget("fg") == THEMES["dark"]["fg"]
    hit2 = Hit(2, "AI", "ai", 5.0, 5.2, 5.5)
    ov.handle(CountChange(HitChange("added", hit2), {"AI": 2}))
    hit2.retracted = True
    ov.handle(CountChange(HitChange("retracted", hit2), {"AI": 1}))
    assert count_text(ov) == "1" and ov.count_labels["AI"].cget("fg") == THEMES["dark"]["retracted"]
    end = time.monotonic() + 1
    pump(tk_root, lambda: time.monotonic() > end, 5, "the flash to end")
    assert ov.count_labels["AI"].cget("fg") == THEMES["dark"]["fg"]


def test_a_lost_microphone_shows_red_then_listening_again_and_counting_goes_on(tk_root, whisper_engine, tmp_path):
    """The source boundary reports the device gone and back (as MicrophoneSource does); the overlay follows."""

    from voicecount.audio import InputNotice
    from voicecount.overlay import DOT, GAP, STATUS_COLOURS
    from voicecount.session import load

    sample = FileSource(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav")
    back_now, stopped = threading.Event(), threading.Event()

    class Unplugged:
        """The sample, then the device goes away until the test plugs it back, then the sample again."""

        description, live, dropped_seconds = "test microphone", True, 0.0

        def chunks(self):
            yield from sample.chunks()
            yield InputNotice(
                "lost", "test microphone stopped delivering audio — the session is kept; looking for it every 2 s"
            )
            back_now.wait(60)
            if stopped.is_set():
                return
            yield InputNotice("back", "test microphone is back after 3 s", 3.0)
            yield from sample.chunks()

        def stop(self):
            stopped.set()
            back_now.set()

    ov = shown(tk_root, Run(Unplugged(), whisper_engine.fresh, DEFAULT_KEYWORDS, Record("listen", "test microphone")))
    pump(tk_root, lambda: ov.status == "listening", 120, "listening")
    tk_root.update_idletasks()
    width = ov.root.winfo_reqwidth()
    pump(tk_root, lambda: ov.status == "lost", 120, "the lost status")
    assert ov.dot.itemcget(ov.dot_item, "fill") == STATUS_COLOURS["lost"]
    assert "microphone lost" in ov.status_var.get() and "every 2 s" in ov.status_var.get()
    tk_root.update_idletasks()
    assert ov.root.winfo_reqwidth() <= width, "the long status stretched the overlay instead of wrapping"
    # The size keys: the wrap follows the font (at twice the size the caption is about twice as
    # wide, and the status fills most of it), and the text still stays inside the caption's width.
    for _ in range(12):
        ov.resize(+4)
    tk_root.update_idletasks()
    status_width, caption_width = ov.status_label.winfo_reqwidth() + DOT + GAP, ov.caption.winfo_reqwidth()
    assert 0.6 * caption_width <= status_width <= caption_width + 1, (status_width, caption_width)
    before = int(count_text(ov))
    assert before >= 2
    back_now.set()
    pump(tk_root, lambda: ov.status == "listening", 30, "listening again")
    pump(tk_root, lambda: int(count_text(ov)) >= before + 2, 120, "the second play to be counted")
    ov.quit()
    pump(tk_root, lambda: ov.result is not None, 120, "the end")
    saved = load(ov.result.session_id)
    assert [i["missing"] for i in saved.meta.interruptions] == [3.0]


def test_the_microphone_menu_switches_a_running_listen_to_what_plays_and_remembers_it(
    tk_root, whisper_engine, speak, tmp_path, monkeypatch
):
    """Real PulseAudio: paplay plays into the default output "vmic"; the default *source* is the
    monitor of a second, silent sink, so the microphone hears nothing of what plays. The menu's
    "Microphone…" entry, its dialog's monitor line and "Use" move the running listen to the monitor
    of the output: only then is the keyword counted. The choice is saved, and the next
    `voicecount listen` opens the monitor (and its menu still offers the microphones)."""
    import tkinter as tk

    from voicecount import config
    from voicecount.backends import get_backend
    from voicecount.cli import overlay_hooks
    from voicecount.devices import every_input
    from voicecount.run import open_microphone

    (tmp_path / "pulse").mkdir()
    env, server = start_pulse(
        tmp_path / "pulse", "module-null-sink sink_name=quiet sink_properties=device.description=Quiet"
    )
    for name in ("PULSE_SERVER", "XDG_RUNTIME_DIR"):  # this process's sound clients (PortAudio, soundcard)
        monkeypatch.setenv(name, env[name])
    # PortAudio lists devices once per process: an earlier test in this process saw none.
    get_backend("sounddevice").rescan()
    subprocess.run(["pactl", "set-default-source", "quiet.monitor"], env=env, check=True)
    said = speak("We talk about AI today. AI is everywhere, and AI helps us.")  # 5 s, "AI" three times
    try:
        settings = config.load()
        microphone = open_microphone("pulse", "sounddevice", 30)
        run = Run(microphone, whisper_engine.fresh, settings.keywords, Record("listen", microphone.description))
        ov = shown(tk_root, run, settings=settings.overlay, **overlay_hooks(run, settings, 30))
        pump(tk_root, lambda: ov.status == "listening", 120, "listening")

        # The microphone does not hear what plays.
        player = subprocess.Popen(["paplay", str(said)], env=env)
        pump(tk_root, lambda: player.poll() is not None, 30, "the speech to play")
        end = time.monotonic() + 3
        pump(tk_root, lambda: time.monotonic() > end, 10, "3 s more of listening")
        assert count_text(ov) == "0" and ov.caption_var.get() == ""

        entries = range(ov.menu.index("end") + 1)
        [entry] = [i for i in entries if ov.menu.type(i) == "command" and "Microphone" in ov.menu.entrycget(i, "label")]
        ov.menu.invoke(entry)
        [dialog] = [w for w in tk_root.winfo_children() if isinstance(w, tk.Toplevel)]
        [listbox] = [w for w in dialog.winfo_children() if isinstance(w, tk.Listbox)]
        lines = listbox.get(0, "end")
        [monitor] = [i for i, line in enumerate(lines) if "Monitor of Null Output" in line]
        assert lines[monitor].endswith("[monitor]"), lines
        assert any("pulse" in line and "[" not in line for line in lines), lines  # the microphones are listed too
        listbox.selection_set(monitor)
        [use] = [
            b
            for f in dialog.winfo_children()
            for b in f.winfo_children()
            if isinstance(b, tk.Button) and b.cget("text") == "Use"
        ]
        use.invoke()
        pump(tk_root, lambda: "now: Monitor of Null Output (system)" in ov.status_var.get(), 30, "the switch")
        assert not dialog.winfo_exists()

        player = subprocess.Popen(["paplay", str(said)], env=env)
        pump(tk_root, lambda: int(count_text(ov)) >= 2, 60, "the keyword heard through the monitor")
        player.wait(timeout=30)
        ov.quit()
        pump(tk_root, lambda: ov._closed, 60, "a clean quit")
        assert ov.result is not None and ov.result.counts["AI"] >= 2, ov.result

        stored = config.load()
        assert (stored.device, stored.backend) == ("Monitor of Null Output", "system")
        # What the next listen's menu offers: the microphones still, and the monitor.
        kinds = {d.kind for d in every_input(stored.backend)}
        assert kinds == {"microphone", "monitor"}, kinds
        listen = Listener(env, None)
        assert "listening to Monitor of Null Output (system)" in listen.wait_for("listening to")
        listen.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_correcting_final_replaces_the_caption_and_ctrl_c_quits_like_q(tk_root, tmp_path):
    """Plumbing in a real Tk window: a scripted engine (no model) says exactly what is heard when."""
    import os
    import signal

    from scripted import GatedSource, ScriptedEngine, final, partial

    from voicecount import cli, config

    engine, source = ScriptedEngine(), GatedSource()
    # Settings that cannot be written (a full disk, a read-only home): their temporary name is a folder.
    path = tmp_path / "config.toml"
    (tmp_path / "config.toml.tmp").mkdir()
    refused = []

    def save(settings, keywords):
        try:
            config.save(config.Settings(), path)
        except Exception as e:
            refused.append(e)
            raise

    ov = shown(tk_root, Run(source, lambda: engine, DEFAULT_KEYWORDS, Record("listen", "gated")), on_settings=save)
    pump(tk_root, lambda: ov.status == "listening", 10, "the scripted engine")
    engine.say(partial("so we use AI"))
    source.feed()
    pump(tk_root, lambda: count_text(ov) == "1" and ov.caption_var.get() == "so we use AI", 10, "the partial")
    engine.say(final("so we use a eye"))  # the final hears it otherwise: the count and the caption follow
    source.feed()
    pump(tk_root, lambda: count_text(ov) == "0", 10, "the retraction")
    pump(tk_root, lambda: ov.caption_var.get() == "so we use a eye", 10, "the corrected caption")
    ov.toggle_theme()  # a change of look is saved at once: here it cannot be, and the overlay says so
    assert [type(e) for e in refused] == [config.ConfigError] and "settings not saved" in ov.status_var.get()

    before = signal.getsignal(signal.SIGINT)
    try:
        cli._quit_on_signal(ov)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the terminal while the window is open
        pump(tk_root, lambda: ov._closed, 20, "Ctrl-C to quit the overlay as q does")
    finally:
        signal.signal(signal.SIGINT, before)
    assert ov.result is not None and ov.result.counts == {"AI": 0}  # the run ended and was saved
    assert len(refused) == 1  # quitting writes no settings: nothing changed since


def test_a_filler_of_the_users_own_set_shares_the_fillers_row_also_after_an_edit(tk_root):
    from dataclasses import replace

    from voicecount.overlay import parse_keyword_lines

    def no_model():
        raise RuntimeError("no model in this test")

    ehm = replace(parse_keyword_lines("ehm=ehm,ähm")[0], filler=True)  # a [[fillers]] entry of the user's
    source = FileSource(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav")
    ov = shown(tk_root, Run(source, no_model, [*DEFAULT_KEYWORDS, ehm]))
    assert list(ov.count_labels) == ["AI", "fillers"]
    ov.set_keywords(parse_keyword_lines("AI\nehm=ehm,ähm\nLLM\n"))  # the editor's lines
    assert list(ov.count_labels) == ["AI", "fillers", "LLM"] and ov.keywords[1].filler


def test_the_overlay_grows_from_its_corner_and_stays_on_screen(tk_root):
    """ "Bigger" and more keywords grew the window right and down, off the screen."""
    from voicecount.overlay import parse_keyword_lines

    ov = modelless(tk_root)
    sw, sh = tk_root.winfo_screenwidth(), tk_root.winfo_screenheight()

    def right_edge() -> int:
        tk_root.update()
        return tk_root.winfo_x() + tk_root.winfo_width()

    corner = right_edge()
    assert corner >= sw - 60  # top-right
    for _ in range(4):
        ov.bigger()
    assert right_edge() == corner and tk_root.winfo_x() >= 0
    tk_root.geometry(f"+{tk_root.winfo_x()}+{sh // 2}")  # dragged down the screen's right side
    tk_root.update()
    many = "\n".join(f"keyword number {i} with a long long name" for i in range(5))
    ov.set_keywords(parse_keyword_lines(many))
    pump(tk_root, lambda: len(ov.count_labels) == 5, 5, "the new rows")
    right_edge()
    assert tk_root.winfo_height() > sh // 2  # it would have run off the bottom
    assert tk_root.winfo_x() >= 0 and tk_root.winfo_x() + tk_root.winfo_width() <= sw
    assert tk_root.winfo_y() >= 0 and tk_root.winfo_y() + tk_root.winfo_height() <= sh


def test_the_caption_shows_the_newest_words_and_the_editor_is_its_own_window(tk_root):
    from scripted import GatedSource, ScriptedEngine, partial

    engine, source = ScriptedEngine(), GatedSource()
    ov = shown(tk_root, Run(source, lambda: engine, DEFAULT_KEYWORDS, Record("listen", "gated")))
    pump(tk_root, lambda: ov.status == "listening", 10, "the scripted engine")
    said = "first we talk about the weather and then about the budget and at the very end the newest words"
    engine.say(partial(said))
    source.feed()
    pump(tk_root, lambda: ov.caption_var.get().endswith("the newest words"), 10, "the caption's tail")
    shown_text = ov.caption_var.get()
    assert said.endswith(shown_text) and not shown_text.startswith("first")
    assert ov.small.measure(shown_text) <= ov.small.measure("0" * 34)  # the label cuts nothing off

    # One keyword editor at a time, and right-click inside it is the text box's, not the overlay's menu.
    ov.edit_keywords()
    ov.edit_keywords()
    tk_root.update()
    editors = [w for w in tk_root.winfo_children() if w.winfo_class() == "Toplevel"]
    assert len(editors) == 1
    popped = []
    ov._popup = popped.append
    ov._bind()  # the bindings again, to the recording stand-in
    editors[0].event_generate("<Button-3>", x=5, y=5)
    ov.frame.event_generate("<Button-3>", x=5, y=5)
    tk_root.update()
    assert len(popped) == 1  # the overlay's frame only
    editors[0].destroy()


def test_no_pace_hint_while_the_microphone_is_lost_and_no_microphone_switch_on_a_file(tk_root):
    from voicecount.events import Status

    ov = modelless(tk_root)
    from dataclasses import replace

    ov.state = replace(  # 10 words in 20 s: far too slow
        ov.state.apply(Status("listening")), word_starts=tuple(range(0, 20, 2)), first_word=0.0, last_word_end=20.0
    )
    ov.state = replace(ov.state, audio_seconds=20.0)
    ov._set_status("listening")
    assert "faster" in ov.nudge_var.get()
    ov.state = ov.state.apply(Status("lost", "retrying"))
    ov._set_status("lost", "retrying")
    assert ov.nudge_var.get() == ""
    ov.choose_microphone()  # a run of a file has no microphone hooks: said, not silently ignored
    assert "no microphone to switch" in ov.status_var.get()


def test_a_second_ctrl_c_inside_a_tk_callback_leaves_the_loop_without_a_traceback(tk_root, capsys):
    from voicecount import cli

    ov = modelless(tk_root)
    import signal

    names = [s for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s)]
    before = {s: signal.getsignal(getattr(signal, s)) for s in names}
    try:
        cli._quit_on_signal(ov)

        def interrupted():
            raise KeyboardInterrupt  # as the second signal's handler raises it, inside a callback

        tk_root.after(50, interrupted)
        gave_up = []
        tk_root.after(5000, lambda: (gave_up.append(True), tk_root.quit()))
        tk_root.mainloop()
    finally:
        for s, handler in before.items():
            signal.signal(getattr(signal, s), handler)
    assert not gave_up  # the loop ended at the interrupt
    assert "Traceback" not in capsys.readouterr().err


def test_an_overlay_on_another_monitor_stays_there_as_it_grows(tk_root):
    """Tk knows the main screen only: clamping to it pulled a window off a second monitor."""
    ov = modelless(tk_root)
    sw = tk_root.winfo_screenwidth()
    for x in (-500, sw + 200):  # a monitor left of the main one, and one right of it
        tk_root.geometry(f"+{x}+100")
        tk_root.update()
        ov._size = (tk_root.winfo_reqwidth(), tk_root.winfo_reqheight())
        ov.bigger()
        tk_root.update()
        assert (tk_root.winfo_x() < 0) == (x < 0) and (tk_root.winfo_x() >= sw) == (x >= sw), (x, tk_root.winfo_x())


def test_ctrl_c_while_the_model_loads_is_an_interrupt_with_the_overlay_too(tk_root, voicecount_home):
    """With --no-gui it said "interrupted" (exit 130); with the window it exited 0, silently."""
    import os
    import signal
    from types import SimpleNamespace

    from scripted import ScriptedEngine

    from voicecount import cli, config

    def slow_model():
        time.sleep(2)  # still loading when Ctrl-C comes
        return ScriptedEngine()

    run = Run(FileSource(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"), slow_model, DEFAULT_KEYWORDS)
    names = [s for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s)]
    before = {s: signal.getsignal(getattr(signal, s)) for s in names}
    tk_root.after(300, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt):
            cli._listen_gui(tk_root, run, config.Settings(), SimpleNamespace(max_backlog=30.0))
    finally:
        for s, handler in before.items():
            signal.signal(getattr(signal, s), handler)

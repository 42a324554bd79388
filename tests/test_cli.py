"""The command line as a user runs it: a fresh process, real models, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

SAMPLE = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"


def one_line_error(proc, *fragments: str) -> str:
    """The run failed with exactly one `voicecount: problem — fix` line and no traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("voicecount:") and "loading" not in ln]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert " — " in line, line
    for f in fragments:
        assert f in line, line
    return line


def test_help_teaches_with_examples():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "voicecount count talk.wav" in proc.stdout and "listen" in proc.stdout
    proc = run_cli("count", "--help")
    assert "--keyword" in proc.stdout and "--json" in proc.stdout and "emitted_at" in proc.stdout


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--input", str(SAMPLE), "--device", "1"], ["--input reads a file", "one or the other"]),
        (["--input", str(SAMPLE), "--backend", "pyaudio"], ["--input reads a file"]),
        (["--realtime"], ["--realtime replays a file", "--input FILE"]),
        (["--input", str(SAMPLE), "--max-backlog", "-1"], ["--max-backlog -1 is too small", "at least 1 second"]),
    ],
    ids=lambda v: " ".join(v[-2:]) if isinstance(v, list) else None,
)
def test_a_listen_flag_that_would_do_nothing_is_refused(args, fragments):
    """They were ignored: --device beside --input, --realtime without a file, a negative backlog."""
    proc = run_cli("listen", "--no-gui", *args, timeout=60)
    one_line_error(proc, *fragments)
    assert "loading" not in proc.stderr  # refused before a model loads


@pytest.mark.parametrize("path", ["recording", "live"])
def test_count_json_contract_on_the_bundled_sample(path):
    proc = run_cli("count", str(SAMPLE), "--json", *(["--live"] if path == "live" else []))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert list(out) == ["counts", "hits", "duration", "engine", "model"]
    assert out["engine"] == "whisper" and out["model"] == "tiny.en"
    assert out["duration"] == pytest.approx(SAMPLE_DURATION, abs=0.1)
    assert out["counts"] == {"AI": SAMPLE_AI}
    assert len(out["hits"]) == SAMPLE_AI
    previous = -1.0
    for hit in out["hits"]:
        assert list(hit) == ["keyword", "text", "start", "end", "emitted_at", "confirmed"]
        assert hit["keyword"] == "AI" and hit["confirmed"] is True
        assert 0 <= hit["start"] <= hit["end"] <= out["duration"]
        # Counted once the word had been heard, and at the latest a buffer (15 s) later. How soon
        # the live path counts is latency, measured by scripts/bench.py: its clock includes decode
        # time, so a bound here would fail on a busy machine, not on a bug.
        assert hit["start"] < hit["emitted_at"] <= hit["end"] + 16
        assert hit["start"] > previous
        previous = hit["start"]


def test_the_sample_exports_to_the_current_folder_not_into_the_package(voicecount_home, tmp_path):
    from voicecount.paths import sample_recording

    proc = run_cli("count", "--sample", "--export", "txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / f"{sample_recording().stem}.voicecount.txt"
    assert f"wrote {written}" in proc.stderr and "AI" in written.read_text()
    assert not list(sample_recording().parent.glob("*.voicecount.*"))


def test_count_prints_counts_and_a_progress_bar(tmp_path):
    proc = run_cli("count", str(SAMPLE), "-k", "AI", "-k", "Kubernetes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"AI: {SAMPLE_AI}", "Kubernetes: 0"]
    assert "counting" in proc.stderr and "100%" in proc.stderr


def test_custom_multiword_keyword(speak):
    wav = speak("Python is what we use. We moved the whole service to Python for the machine learning team.")
    proc = run_cli("count", str(wav), "-k", "Python", "-k", "ML=machine learning", "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"Python": 2, "ML": 1}


def test_listen_no_gui_replays_a_file_and_prints_count_changes():
    proc = run_cli("listen", "--no-gui", "--input", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    changes = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    assert any("AI +1" in ln for ln in changes)
    assert proc.stdout.splitlines()[-1].startswith(f"total AI: {SAMPLE_AI} in ")
    assert "… " in proc.stderr  # partial captions were shown


def test_listen_stopped_mid_talk_shows_the_words_the_stop_made_final(voicecount_home):
    """After SIGTERM the session held the last sentence and its hit, but stdout never showed them."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", "listen", "--no-gui", "--input", str(SAMPLE), "--realtime"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "VOICECOUNT_HOME": str(voicecount_home)},
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("> "):
            break
    time.sleep(2.0)  # into the next sentence: its words are not final yet
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    shown = [line, *out.splitlines()]
    assert proc.returncode in (0, 130), err
    saved = run_cli("sessions", "show", "last").stdout.split("\n\n", 1)[1]
    said = [ln.split("] ", 1)[1] for ln in saved.splitlines() if ln.startswith("[")]
    printed = [ln[2:].strip() for ln in shown if ln.startswith("> ")]
    assert said and " ".join(printed) == " ".join(said), (printed, said)


def test_a_console_that_cannot_show_a_word_gets_an_escape_not_a_crash():
    """stdout in a legacy encoding (Windows redirects to cp1252): "Łódź" is printed as escapes."""
    proc = run_cli("listen", "--no-gui", "--input", str(SAMPLE), "-k", "Łódź=AI", env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0 and "unexpected" not in proc.stderr, proc.stderr
    assert "\\u0141\\xf3d\\u017a +1" in proc.stdout  # the live count lines, mid-run
    assert proc.stdout.splitlines()[-1].startswith("total \\u0141\\xf3d\\u017a: ")
    assert run_cli("sessions", "show", "last").stdout.count("(finished)") == 1  # saved, not left recording


def test_the_live_caption_fits_one_row_of_a_narrow_terminal():
    """In a real terminal (a pty, 40 columns) the caption is rewritten in place; a wrapped row would pile up."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "40"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", "listen", "--no-gui", "--input", str(SAMPLE)],
        stdin=slave, stdout=slave, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    out = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out += data
    assert proc.wait(timeout=120) == 0
    os.close(master)
    text = out.decode("utf-8")
    captions = [c.split("\r")[0].split("\n")[0] for c in text.split("\r\x1b[K… ")[1:]]
    assert len(captions) >= 5, text
    assert all(len(c) <= 37 for c in captions), [c for c in captions if len(c) > 37]
    for line in text.replace("\r\n", "\n").split("\n"):  # no count line glued onto a caption
        if "AI +1" in line:
            assert line.split("\r\x1b[K")[-1].startswith("["), repr(line)


def test_names_holding_escape_sequences_never_reach_the_terminal(tmp_path):
    """File names, keyword names and paths are the user's data: no title change, colour or bell."""
    evil = "\x1b]0;PWNED\x07\x1b[31m\x1b(0"
    talks = tmp_path / "talks"
    talks.mkdir()
    talk = talks / f"talk{evil}.wav"
    shutil.copy(SAMPLE, talk)
    runs = [
        run_cli("count", str(talk), "-k", f"AI{evil}=AI", "--export", "txt", cwd=tmp_path),
        run_cli("count", str(tmp_path / f"gone{evil}.wav")),
        run_cli("count", str(talk), "--keywords-file", str(tmp_path / f"k{evil}.txt")),
        run_cli("count", str(talks), "-k", f"AI{evil}=AI", "--no-progress"),
        run_cli("listen", "--no-gui", "--input", str(talk), "-k", f"AI{evil}=AI"),
        run_cli("count", f"--bogus{evil}"),
    ]
    assert [p.returncode for p in runs] == [0, 1, 1, 0, 0, 1], [p.stderr for p in runs]
    for p in runs:
        assert not set("\x1b\x07\x0e\x0f") & set(p.stdout + p.stderr), (p.args, p.stdout + p.stderr)
    assert "AI]0;PWNED" not in runs[0].stdout  # the sequence is removed whole, not half-shown


# ------------------------------------------------------------------ bad input: one line, a fix, no traceback


@pytest.fixture
def bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("these are meeting notes, not audio\n" * 50)
    broken_model = tmp_path / "broken-model"
    broken_model.mkdir()
    (broken_model / "config.json").write_text("{}")
    return {"empty": empty, "text": text, "broken_model": broken_model, "tmp": tmp_path}


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["count", "{tmp}/missing.wav"], ["no such audio file"]),
        (["count", "{empty}"], ["cannot read audio"]),
        (["count", "{text}"], ["cannot read audio"]),
        (["count", "{sample}", "--engine", "sphinx"], ["unknown engine 'sphinx'", "whisper, vosk"]),
        (["count", "{sample}", "--model", "huge-v9"], ["unknown Whisper model 'huge-v9'", "tiny.en"]),
        (
            ["count", "{sample}", "--model", "faster-whisper-small.en"],
            ["not downloaded yet", "voicecount models download faster-whisper-small.en"],
        ),
        (["count", "{sample}", "--model", "{broken_model}"], ["model.bin"]),
        (["count", "{sample}", "--keyword", ""], ["empty keyword"]),
        (["count", "{sample}", "--keyword", "..."], ["empty keyword"]),
        (["count", "{sample}", "-k", "AI", "-k", "ai"], ["given twice"]),
        (["count", "{sample}", "-k", "AI", "-k", "artificial intelligence"], ["would count for both"]),
        (["models", "download", "faster-whisper-small.en", "--sha256", "ab"], ["--sha256 goes with --url"]),
        (["models", "download", "--url", "http://127.0.0.1:9/m.zip", "--sha256", "zz"], ["'zz' is not a SHA-256"]),
        (["count", "{sample}", "{sample}", "--realtime"], ["--realtime works with one file", "speaking pace"]),
        (["count", "{sample}", "--keywords-file", "{tmp}"], ["is a folder", "the keywords file in it"]),
        (["count", "{sample}", "--threads", "-2"], ["negative"]),
        (["count", "{sample}", "--threads", "100000"], ["more than this machine can use", "at most"]),
        (["count", "/dev/null"], ["not a regular file"]),
        (["doctor", "--seconds", "nan"], ["--seconds nan is out of range"]),
        (["listen", "--no-gui", "--input", "{tmp}"], ["is a folder, not a recording", "voicecount count"]),
        (["count", "{sample}", "--engine", "vosk"], ["no Vosk model found", "alphacephei.com/vosk/models"]),
        (["count", "{sample}", "--engine", "vosk", "--model", "{tmp}/nope"], ["no Vosk model at"]),
        (["count", "{sample}", "--engine", "vosk", "--model", "{broken_model}"], ["not a Vosk model"]),
        (["listen", "--no-gui", "--input", "{tmp}/missing.wav"], ["no such audio file"]),
        (["listen", "--no-gui", "--device", "no-such-microphone-xyz"], ["microphone"]),
        (["listen", "--no-gui", "--backend", "jack"], ["unknown audio backend"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_input_is_one_line_with_the_fix(bad_files, args, fragments):
    paths = {k: str(v) for k, v in bad_files.items()} | {"sample": str(SAMPLE)}
    proc = run_cli(*[a.format(**paths) for a in args])
    one_line_error(proc, *fragments)


def test_a_half_copied_model_is_one_line_with_the_fix(tmp_path, vosk_ko_model_dir):
    """A copy cut short (a full disk, an interrupted unzip) loads lazily: it must fail at load, clearly."""
    from voicecount.models import resolve_whisper_model

    def half_copy(src, dst, cut: str, keep: int):
        for f in src.rglob("*"):
            if f.is_file():
                (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                if f.relative_to(src).as_posix() == cut:
                    with open(f, "rb") as whole:
                        (dst / cut).write_bytes(whole.read(keep))
                else:
                    (dst / f.relative_to(src)).symlink_to(f)
        return dst

    tiny, _ = resolve_whisper_model("tiny.en")
    cases = [
        (half_copy(tiny, tmp_path / "w-tok", "tokenizer.json", 20_000), ["count", str(SAMPLE), "--model"]),
        (half_copy(tiny, tmp_path / "w-voc", "vocabulary.txt", 4_000), ["count", str(SAMPLE), "--model"]),
        (
            half_copy(vosk_ko_model_dir, tmp_path / "v-graph", "graph/HCLr.fst", 10_000_000),
            ["count", str(SAMPLE), "--engine", "vosk", "--model"],
        ),
    ]
    for folder, args in cases:
        proc = run_cli(*args, str(folder), "--no-progress")
        one_line_error(proc, "could not load the model", "again")
        assert "unexpected" not in proc.stderr, proc.stderr


def test_a_recording_with_two_audio_tracks_says_which_one_was_counted(tmp_path):
    """OBS and Zoom can put the microphone on a second track: a silent first track must not pass for the talk."""
    two = tmp_path / "two.m4a"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-i", str(SAMPLE),
         "-t", "18", "-map", "0:a", "-map", "1:a", "-c:a", "aac", str(two)],
        check=True,
    )  # fmt: skip
    for args in ([str(two)], [str(tmp_path), "--no-progress"]):  # one file, and a batch
        proc = run_cli("count", *args, "--json")
        assert proc.returncode == 0, proc.stderr
        assert "has 2 audio tracks; track 1 was counted" in proc.stderr and "--track 2" in proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["counts"] == {"AI": 0}

        # The talk is on the second track: --track 2 counts it (a batch does not reuse track 1's result).
        proc = run_cli("count", *args, "--track", "2", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["counts"] == {"AI": 4}
        assert "audio tracks" not in proc.stderr

    proc = run_cli("count", str(two), "--track", "3")
    one_line_error(proc, "has 2 audio tracks; there is no track 3", "--track 1 to 2")
    proc = run_cli("count", str(SAMPLE), "--track", "0")
    one_line_error(proc, "--track 0", "1")


def test_no_input_device_explains_the_microphone_permission():
    """CI machines have no capture device (no sound card, no sound server): the real backend finds none."""
    from voicecount.audio import list_input_devices

    assert list_input_devices("sounddevice") == [], "this test needs a machine without microphones (like CI)"
    for backend in ("sounddevice", "pyaudio"):
        proc = run_cli("listen", "--no-gui", "--backend", backend)
        line = one_line_error(proc, "no microphone found")
        assert "Privacy & Security → Microphone" in line


def test_output_into_a_closed_pipe_is_not_an_error_message():
    """`voicecount models list | head -1`: the reader leaves early; no 'unexpected error', no traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is already gone: the first write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "voicecount", "models", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""


def test_native_audio_noise_is_filtered_but_our_messages_are_not():
    """What C audio libraries print on fd 2 is dropped for listen/devices; voicecount's own lines stay."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from voicecount.native_noise import filter_native_stderr\n"
        "filter_native_stderr()\n"
        'os.write(2, b"ALSA lib pcm.c:2664:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear\\n")\n'
        "os.write(2, b\"Expression 'r' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 2097\\n\\n\")\n"
        'os.write(2, b"a native line that is not noise\\n")\n'
        "print('voicecount: ours', file=sys.stderr)\n"
        "import time; time.sleep(0.5)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # Two paths to the terminal, so no order between them: both lines, and nothing else.
    assert sorted(proc.stderr.splitlines()) == ["a native line that is not noise", "voicecount: ours"]


def test_the_overlay_without_a_display_says_to_use_no_gui():
    proc = run_cli("listen", "--input", str(SAMPLE), unset=("DISPLAY", "WAYLAND_DISPLAY"))
    one_line_error(proc, "cannot open a window", "--no-gui")


# The bundled sample's ground truth: written by scripts/make_sample.py, checked here.
SAMPLE_AI = 4
SAMPLE_DURATION = 0.0  # filled in below from the file itself


def _sample_duration() -> float:
    import wave

    with wave.open(str(SAMPLE)) as w:
        return w.getnframes() / w.getframerate()


if SAMPLE.is_file():
    SAMPLE_DURATION = _sample_duration()


@pytest.mark.parametrize(
    "saved, flags, opened",
    [
        (("USB Mic", "sounddevice"), [], ("USB Mic", "sounddevice")),
        (("USB Mic", "sounddevice"), ["--backend", "pyaudio"], ("USB Mic", "pyaudio")),
        # A microphone's name is not looked up among monitors: the default output's monitor.
        (("USB Mic", "sounddevice"), ["--backend", "system"], ("", "system")),
        (("USB Mic", "sounddevice"), ["--system-audio"], ("", "system")),
        (("USB Mic", "sounddevice"), ["--system-audio", "--device", "HDMI"], ("HDMI", "system")),
        # The pair the overlay's microphone menu saves, and a way back to the microphones.
        (("Monitor of Built-in", "system"), [], ("Monitor of Built-in", "system")),
        (("Monitor of Built-in", "system"), ["--backend", "sounddevice"], ("", "sounddevice")),
        (("Monitor of Built-in", "system"), ["--backend", "sounddevice", "--device", "USB"], ("USB", "sounddevice")),
    ],
)
def test_listen_opens_the_configured_device_only_with_its_own_kind_of_backend(voicecount_home, saved, flags, opened):
    from voicecount import cli, config

    settings = config.load()
    settings.device, settings.backend = saved
    config.save(settings)
    args = cli.build_parser().parse_args(["listen", *flags])
    assert cli._audio_input(args) == opened


def test_progress_in_a_log_prints_the_share_reached(capsys):
    from voicecount.console import LogProgress

    # The recording path reports once per utterance: one jump from 0 to the end is one line.
    progress = LogProgress(41.0)
    progress.update(41.0)
    progress.close()
    assert capsys.readouterr().err.splitlines() == ["counting: 100% (41/41 s audio)"]
    progress = LogProgress(100.0)
    for seconds in (10, 26, 30, 60, 99):
        progress.update(seconds)
    progress.close()
    assert [ln.split(" ")[1] for ln in capsys.readouterr().err.splitlines()] == ["26%", "60%", "99%", "100%"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["count", "--threads", "x", "a.wav"], "invalid int value: 'x' — see: voicecount count --help"),
        (["export", "last", "-f", "pdf"], "invalid choice: 'pdf'"),
        (["frobnicate"], "— see: voicecount --help"),
        (["count", "a.wav", "--bogus"], "unrecognized arguments: --bogus — see: voicecount count --help"),
        (["models", "download", "--bogus"], "--bogus — see: voicecount models download --help"),
        (["sessions", "show", "last", "x"], "unrecognized arguments: x — see: voicecount sessions show --help"),
    ],
)
def test_a_command_line_mistake_is_one_line_with_its_fix(argv, fragment):
    proc = run_cli(*argv)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("voicecount: ") and fragment in proc.stderr and proc.stderr.count("\n") == 1


def _counting_past_a_quarter(home):
    """`count SAMPLE --realtime` in its own process, once its log says a quarter is read."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", "count", str(SAMPLE), "--realtime"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "VOICECOUNT_HOME": str(home)},
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # stderr is a pipe: a progress line at each quarter of the audio
        if line.startswith("counting: ") and not line.startswith("counting: 0%"):
            break
    return proc


def test_ctrl_c_during_count_saves_what_was_counted(voicecount_home):
    import signal

    proc = _counting_past_a_quarter(voicecount_home)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted at" in err and "saved" in err
    assert "counting: 100%" not in err  # the log's closing line claimed the whole file
    session_id = err.split("voicecount sessions show ")[1].split()[0]
    shown = run_cli("sessions", "show", session_id)
    assert shown.returncode == 0 and "recovered" not in shown.stderr
    assert shown.stdout.splitlines()[0].endswith("(stopped)")  # closed, not "recording"; not heard to its end
    assert "] Good morning" in shown.stdout  # the words heard before the interrupt are in the journal
    assert out.startswith("AI: ")  # the counts so far, as a finished count prints them


def test_a_second_ctrl_c_stops_at_once_with_one_line_and_the_session_is_recovered(voicecount_home):
    """The second KeyboardInterrupt escaped run.stop(): exit 134, "terminate called without an active
    exception" (Python's exit while the decoder ran native code), or a traceback."""
    import signal
    import time

    proc = _counting_past_a_quarter(voicecount_home)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "terminate called" not in err, err
    assert "stopped at once" in err or "interrupted at" in err, err  # (the first may have saved already)
    listed = run_cli("sessions", "list")
    assert listed.returncode == 0 and " recording " not in listed.stdout, listed.stdout


def test_a_closed_terminal_saves_the_session_though_it_hangs_up_twice(voicecount_home):
    """The shell and then the kernel send SIGHUP: the second is the same request, not "stop now"."""
    import signal
    import time

    proc = _counting_past_a_quarter(voicecount_home)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "stopped at once" not in err and "interrupted at" in err, err
    assert run_cli("sessions", "show", "last").stdout.splitlines()[0].endswith("(stopped)")


def test_no_command_and_damaged_sessions_are_problems_not_silence(voicecount_home):
    from voicecount import session as sessions

    bare = run_cli()
    assert bare.returncode == 1 and "COMMAND" in bare.stdout  # the help, and the exit code of a problem
    w = sessions.SessionWriter.create("count", "talk.wav", "whisper", "tiny.en", [])
    w.close({}, 1.0)
    (w.path / "meta.json").write_text("{not json")
    listed = run_cli("sessions", "list")  # said "no sessions yet" while "sessions show last" found it
    assert listed.returncode == 1 and "no sessions yet" not in listed.stderr
    assert f"cannot read session {w.meta.id}" in listed.stderr and "voicecount sessions delete" in listed.stderr


def test_output_to_a_pipe_is_utf8_whatever_the_locale_says(voicecount_home, tmp_path):
    """Windows writes a pipe or a file in its ANSI code page: "count --json > out.json" held cp1252."""
    import subprocess
    import sys

    listed = tmp_path / "keywords.txt"
    listed.write_text("Café=ai\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "voicecount", "count", str(SAMPLE), "--json", "--keywords-file", str(listed)],
        capture_output=True,
        # A locale whose pipes are not UTF-8 (ascii here; cp1252 on a Windows machine).
        env={**os.environ, "VOICECOUNT_HOME": str(voicecount_home), "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0"}
        | {"PYTHONUTF8": "0"},
    )
    assert proc.returncode == 0, proc.stderr
    assert '"Café"' in proc.stdout.decode("utf-8")


def test_a_bad_model_in_the_settings_file_says_it_was_set_there(voicecount_home):
    from voicecount import config

    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_text('model = "nosuch"\n')
    for args in (["count", str(SAMPLE)], ["count", str(SAMPLE), str(SAMPLE)]):  # one file, and a batch
        proc = run_cli(*args, "--no-progress")
        one_line_error(proc, "unknown Whisper model 'nosuch'", str(config.config_path()), "voicecount config edit")
    typed = run_cli("count", str(SAMPLE), "--model", "nosuch", "--no-progress")  # typed: no file to blame
    one_line_error(typed, "unknown Whisper model 'nosuch'")
    assert "config" not in typed.stderr

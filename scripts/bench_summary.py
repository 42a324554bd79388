"""Benchmark the local summary on a one-hour talk and record it in BENCHMARKS.md.

Builds a real session (written by the journal writer, as a live run would) holding
about an hour of speech — ~9,000 words at 150 words per minute, made from the
shared dev scripts and the real/ transcripts — then times the default highlights
and `summarize --model` with the bundled GGUF model on N threads (default 2):
map-reduce chunks, rounds, lines kept and dropped by the check, seconds.

    python scripts/bench_summary.py                 # bundled SmolLM2, 2 threads
    python scripts/bench_summary.py --model X.gguf --threads 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import AUDIO, BENCH_MD, commit, machine, write_section  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench:summary:begin -->", "<!-- bench:summary:end -->"


def source_sentences() -> list[str]:
    out = []
    for f in sorted((AUDIO / "dev" / "texts").glob("*.txt")):
        out += [s.strip() + "." for s in f.read_text().replace("\n", " ").split(". ") if s.strip()]
    manifest = AUDIO / "real" / "manifest.tsv"
    if manifest.is_file():
        for line in manifest.read_text().splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) > 2 and cols[2].strip():
                out.append(cols[2].strip())
    return out


def build_session(words_target: int):
    from voicecount import session as sessions
    from voicecount.matcher import DEFAULT_KEYWORDS, Hit, HitChange, Word, find_matches

    sentences = source_sentences()
    w = sessions.SessionWriter.create("listen", "bench: one-hour talk", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    t, n, hid, i = 0.0, 0, 0, 0
    while n < words_target:
        sentence = sentences[i % len(sentences)]
        i += 1
        words = []
        for token in sentence.split():
            words.append(Word(token, t, t + 0.3))
            t += 0.4  # 150 words per minute
        for m in find_matches(words, DEFAULT_KEYWORDS):
            hid += 1
            w.change(HitChange("added", Hit(hid, m.keyword, m.text, m.start, m.end, m.end + 0.5, confirmed=True)))
        w.final(words)
        n += len(words)
        t += 0.5
    w.close({"AI": hid}, t)
    return sessions.load(w.meta.id)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="GGUF path (default: the bundled SmolLM2-135M)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=4096)
    ap.add_argument("--max-tokens", type=int, default=300)
    ap.add_argument("--words", type=int, default=9000, help="transcript length (default 9000: about an hour)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["VOICECOUNT_HOME"] = home
        from voicecount import summarize as sm

        session = build_session(args.words)
        th = time.perf_counter()
        highlights = sm.highlights_summary(session)
        highlights_s = time.perf_counter() - th
        print(highlights.text)
        t0 = time.perf_counter()
        llm = sm.load_llm(args.model, args.threads, args.context)
        load_s = time.perf_counter() - t0
        done = []
        t1 = time.perf_counter()
        name = Path(str(sm.resolve_model(args.model))).stem
        result = sm.summarize(
            session,
            llm,
            args.max_tokens,
            model_name=name,
            on_chunk=lambda i, n: (done.append(i), print(f"  chunk {i}/{n}", file=sys.stderr)),
        )
        seconds = time.perf_counter() - t1
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        words = session.word_count()
        minutes = session.duration / 60

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(result.text)
    print(
        f"{name}: {words} words ({minutes:.0f} min of talk), {result.chunks} chunks, {result.rounds} reduce rounds, "
        f"{seconds:.0f} s on {args.threads} threads (load {load_s:.1f} s), {result.tokens_out} tokens out, RSS {rss:.0f} MB"
    )
    block = (
        f"{MARK_BEGIN}\n## Summary of a one-hour talk\n\nLatest run: {stamp}, commit {commit()}. Machine: {machine()}.\n\n"
        "| summary | transcript | context | chunks | reduce rounds | lines shown (dropped by the check) | seconds | threads | tokens out | peak RSS |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        f"| highlights (default) | {words} words ({minutes:.0f} min) | — | — | — | {len(highlights.lines)} (0) | "
        f"{highlights_s:.2f} | 1 | — | — |\n"
        f"| {name} (`--model`) | {words} words ({minutes:.0f} min) | {args.context} | {result.chunks} | {result.rounds} | "
        f"{len(result.lines)} ({len(result.dropped)}) | {seconds:.0f} | {args.threads} | {result.tokens_out} | {rss:.0f} MB |\n\n"
        "Made by `python scripts/bench_summary.py`: a real session file built from the shared scripts and "
        "transcripts; highlights, then the local model's summary map-reduce with every line checked against the "
        "transcript (load time not included; peak RSS is the process's, model included).\n"
        f"{MARK_END}"
    )
    line = (
        f"- {stamp} `{commit()}` summary {name} ({words} words, ctx {args.context}, {args.threads} threads): "
        f"{seconds:.0f} s, {result.chunks} chunks, {result.rounds} rounds, {len(result.lines)} lines kept, "
        f"{len(result.dropped)} dropped, RSS {rss:.0f} MB; highlights {highlights_s:.2f} s"
    )
    print(block)
    if not args.no_write:
        write_section(MARK_BEGIN, MARK_END, block, line)
        print(f"bench_summary: wrote {BENCH_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measure search across sessions on a 100-session archive: index build, a search with nothing changed, a new session.

The archive is real session folders written by SessionWriter in a temporary
VOICECOUNT_HOME: ~10 minutes of speech-like text each (the sentences of the dev talks and
the transcripts of the real recordings in ../shared/audio, drawn in a different order for
every session, ~150 words a minute with pauses), and one phrase said once, in one session.
Then, in this process (what `voicecount search` does after Python has started):

1. the first search with no index file: the whole index is built (the close hook is
   left out of it: the file is deleted after the archive is written);
2. the same phrase again with nothing changed, ≥ 20 times (median, p95) — target < 100 ms —
   and two other queries: two words, and a word in nearly every cue;
3. refresh() alone with nothing changed (a stat per session);
4. a new session: a recording in progress the index has not seen (the search indexes it),
   then the same session closed (SessionWriter.close indexes it; its cost is measured);
5. the whole command, `python -m voicecount search`, wall time (interpreter start-up included).

    python scripts/bench_search.py                     # 100 sessions × 10 min, writes BENCHMARKS.md
    python scripts/bench_search.py --sessions 20 --no-write

Not a test: numbers depend on the machine. Writes its own section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import AUDIO, commit, machine, p95, write_section  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench:search:begin -->", "<!-- bench:search:end -->"
PHRASE = "the lighthouse keeper archived seventeen violins"
WORD = 0.4  # seconds a word: 150 words a minute
PAUSE = 1.5  # seconds between sentences (a cue each)


def sentence_pool() -> list[str]:
    dev = json.loads((AUDIO / "dev" / "manifest.json").read_text())
    pool = {s["text"] for e in dev for s in e["sentences"]}
    real = AUDIO / "real" / "manifest.tsv"
    if real.is_file():
        with open(real, encoding="utf-8") as f:
            pool |= {r["transcript"].strip() for r in csv.DictReader(f, delimiter="\t") if r["transcript"].strip()}
    return sorted(pool)


def talk(rng: random.Random, pool: list[str], minutes: float) -> list[str]:
    out, t = [], 0.0
    while t < minutes * 60:
        s = rng.choice(pool)
        out.append(s)
        t += len(s.split()) * WORD + PAUSE
    return out


def write(sentences: list[str], close: bool = True):
    """A real session, a final segment per sentence; returns (writer, start of each sentence, close seconds)."""
    from voicecount.matcher import DEFAULT_KEYWORDS, Word
    from voicecount.session import SessionWriter

    w = SessionWriter.create("count", "talk.wav", "whisper", "tiny.en", DEFAULT_KEYWORDS)
    t, starts = 0.0, []
    for s in sentences:
        starts.append(t)
        words = []
        for token in s.split():
            words.append(Word(token, t, t + WORD * 0.8))
            t += WORD
        w.final(tuple(words))
        t += PAUSE
    took = 0.0
    if close:
        t0 = time.perf_counter()
        w.close({"AI": 0}, t)
        took = time.perf_counter() - t0
    return w, starts, took


def timed(fn, runs: int) -> tuple[list[float], object]:
    out, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out, result


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs):.1f} ms (p95 {p95(xs):.1f})" if len(xs) > 1 else f"{xs[0]:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=10.0, help="speech per session (default 10)")
    ap.add_argument("--runs", type=int, default=30, help="searches with nothing changed (default 30, at least 20)")
    ap.add_argument("--no-write", action="store_true", help="print results, leave BENCHMARKS.md alone")
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="vc-bench-search-"))
    os.environ["VOICECOUNT_HOME"] = str(home)
    from voicecount import search
    from voicecount import session as sessions

    load = os.getloadavg()[0]
    try:
        pool = sentence_pool()
        target = min(a.sessions - 1, a.sessions // 2 + 7)  # one session, not the first nor the last written
        t0 = time.perf_counter()
        closes, words, cues_n, where = [], 0, 0, None
        for i in range(a.sessions):
            sentences = talk(random.Random(i), pool, a.minutes)
            if i == target:
                at = int(len(sentences) * 0.6)
                sentences[at] = PHRASE[0].upper() + PHRASE[1:] + "."
            w, starts, took = write(sentences)
            closes.append(took * 1000)
            words += sum(len(s.split()) for s in sentences)
            cues_n += len(sentences)
            if i == target:
                where = (w.meta.id, starts[at])
        built = time.perf_counter() - t0
        print(f"archive: {a.sessions} sessions, {words} words, {cues_n} sentences, written in {built:.0f} s")

        search.index_path().unlink()
        first, found = timed(lambda: search.search(f'"{PHRASE}"'), 1)
        assert [(r.session, round(r.start, 2)) for r in found] == [(where[0], round(where[1], 2))], found
        size = search.index_path().stat().st_size
        print(f"first search (builds the index): {first[0]:.0f} ms; index {size / 1e6:.1f} MB")

        runs = max(20, a.runs)
        phrase, found = timed(lambda: search.search(f'"{PHRASE}"'), runs)
        assert len(found) == 1
        two, _ = timed(lambda: search.search("practical rule"), runs)
        common, found = timed(lambda: search.search("the"), runs)
        assert len(found) == 20
        fresh, changes = timed(search.refresh, runs)
        assert changes.indexed == changes.dropped == 0
        print(f"phrase, nothing changed: {ms(phrase)}; two words {ms(two)}; 'the' {ms(common)}; refresh {ms(fresh)}")

        w, starts, _ = write([*talk(random.Random(10_000), pool, a.minutes), "A seventeenth violin appeared."], False)
        grown, found = timed(lambda: search.search("violin"), 1)
        assert w.meta.id in {r.session for r in found}
        t0 = time.perf_counter()
        w.close({"AI": 0}, starts[-1] + 5)
        closed_ms = (time.perf_counter() - t0) * 1000
        after, found = timed(lambda: search.search("violin"), runs)
        assert search.refresh().indexed == 0
        hook, _ = timed(lambda: search.update_session(w.meta.id), 10)
        t0 = time.perf_counter()
        sessions.delete(w.meta.id)  # and its words purged from the index
        deleted_ms = (time.perf_counter() - t0) * 1000
        assert search.search("violin")[0].session != w.meta.id
        print(
            f"a new session the index has not seen: {grown[0]:.1f} ms; closed (hook indexes it): close "
            f"{closed_ms:.0f} ms, then search {ms(after)}; update_session alone {ms(hook)}; "
            f"close() of the archive's sessions {ms(closes)}; sessions delete {deleted_ms:.0f} ms"
        )

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "voicecount", "search", f'"{PHRASE}"', "--json"]
        cli = []
        for _ in range(7):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            cli.append((time.perf_counter() - t0) * 1000)
            assert proc.returncode == 0 and where[0] in proc.stdout, proc.stderr
        bare = []
        for _ in range(7):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env)
            bare.append((time.perf_counter() - t0) * 1000)
        print(f"the command, python -m voicecount search (7 runs): {ms(cli)}; python -c pass: {ms(bare)}")
    finally:
        shutil.rmtree(home, ignore_errors=True)

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    med = statistics.median(phrase)
    verdict = "met" if med < 100 else "missed"
    block = (
        f"{MARK_BEGIN}\n## Search across sessions (issue 19)\n\n"
        f"Run: {stamp}, commit {commit()}; machine: {machine()}; SQLite {sqlite3.sqlite_version} (FTS5, "
        f"tokenizer `{search.TOKENIZER}`). Load average {load:.1f} at the start: another benchmark shared "
        "the two cores.\n\n"
        f"Archive: {a.sessions} real session folders written by SessionWriter, {a.minutes:.0f} min of speech-like "
        f"text each ({words} words, {cues_n} sentences: the dev talks' sentences and the real recordings' "
        "transcripts in a different order per session), one phrase said once. Times in the process, "
        f"connect + refresh + query, as `voicecount search` runs them; medians of {runs} runs (p95).\n\n"
        "| what | time |\n|---|---|\n"
        f"| first search, no index file: builds it ({size / 1e6:.1f} MB) | {first[0]:.0f} ms |\n"
        f"| the phrase said once, nothing changed | **{ms(phrase)}** (target < 100 ms: {verdict}) |\n"
        f"| two words (every word in the cue) | {ms(two)} |\n"
        f'| "the" (in nearly every cue; best 20) | {ms(common)} |\n'
        f"| refresh() alone, nothing changed ({a.sessions} stats) | {ms(fresh)} |\n"
        f"| a new session the index has not seen (a recording in progress): indexed by the search | {grown[0]:.0f} ms |\n"
        f"| the same session closed: `SessionWriter.close()`, which indexes it | {closed_ms:.0f} ms |\n"
        f"| search after it (nothing left to index) | {ms(after)} |\n"
        f"| `update_session` alone, one {a.minutes:.0f}-min session | {ms(hook)} |\n"
        f"| `close()` while writing the archive (journal end + meta + index) | {ms(closes)} |\n"
        f"| `sessions delete` of that session: folder, index rows, FTS5 segments merged | {deleted_ms:.0f} ms |\n"
        f"| the whole command, `python -m voicecount search '\"…\"' --json` (7 runs) | {ms(cli)} |\n"
        f"| of which starting Python: `python -c pass` (7 runs) | {ms(bare)} |\n\n"
        f"Made by `python scripts/bench_search.py --sessions {a.sessions} --minutes {a.minutes:g} --runs {a.runs}`.\n"
        f"{MARK_END}"
    )
    print(block)
    if not a.no_write:
        line = (
            f"- {stamp} `{commit()}` search {a.sessions} sessions × {a.minutes:g} min: build {first[0]:.0f} ms, "
            f"phrase median {med:.1f} ms (p95 {p95(phrase):.1f}), new session {grown[0]:.0f} ms, "
            f"command {statistics.median(cli):.0f} ms"
        )
        write_section(MARK_BEGIN, MARK_END, block, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measure the web view: event → browser DOM latency, and what three subscribers cost the counting.

1. Latency. Dev talks are replayed in real time through the whole path `listen --web`
   runs (file → tiny.en → matcher → pipeline → web server → Debian's chromium), with the
   overlay, stage and panel pages open. A MutationObserver in the overlay page stamps
   each change of the count on screen; a subscriber in this process stamps the moment
   the pipeline published the change. Both clocks are this machine's wall clock.
   Target: median ≤ 100 ms.
2. Cost. One talk counted at full speed with no subscriber, and with three — the web
   view with a page open, a reader that takes every event, one that never reads —
   alternating, several rounds: wall time and real-time factor.

    python scripts/bench_web.py                                # 3 talks, 3 rounds
    python scripts/bench_web.py --talks 1 --rounds 1 --no-write   # a quick look

Not a test: numbers depend on the machine. Writes its own section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import AUDIO, BENCH_MD, commit, machine, p95, write_section  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench:web:begin -->", "<!-- bench:web:end -->"
TALKS = ["d03_mixed__flite-slt__clean.wav", "d01_intro__flite-rms__clean.wav", "d04_fast__festival-kal__clean.wav"]
COST_TALK = "d03_mixed__flite-rms__clean.wav"

# Stamps every change of the counts on screen: [wall-clock ms, "2*"] (* while provisional).
OBSERVE = """
window.__shown = [];
document.addEventListener("DOMContentLoaded", () => {
  let last = "";
  const look = () => {
    const now = Date.now();
    const shown = Array.from(document.querySelectorAll(".count, #count"))
      .map((e) => e.textContent + (e.classList.contains("pending") ? "*" : "")).join(",");
    if (shown !== last) { last = shown; window.__shown.push([now, shown]); }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
});
"""


def launch_browser(p):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("bench_web: chromium is not installed — apt-get install chromium")
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    return p.chromium.launch(executable_path=chromium, args=[*args, "--disable-sync", "--no-first-run"])


def published(run) -> tuple[list[tuple[float, str]], threading.Thread]:
    """Stamp, in this process, each count change the pipeline publishes, as the overlay would show it."""
    from voicecount.events import TERMINAL, CountChange, LiveState

    view = run.pipeline.subscribe(maxsize=100_000)
    stamps: list[tuple[float, str]] = []

    def follow() -> None:
        state = LiveState.start(run.keywords)
        for ev in view:
            now = time.time() * 1000
            state = state.apply(ev)
            if isinstance(ev, CountChange):
                stamps.append((now, f"{state.counts['AI']}{'*' if state.pending['AI'] else ''}"))
            if isinstance(ev, TERMINAL):
                return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    return stamps, t


def latencies(stamps: list[tuple[float, str]], shown: list[list]) -> tuple[list[float], int]:
    """Each change that showed something new, matched in order to the first time the page showed it."""
    out, missed, j, previous = [], 0, 0, "0"
    for t, text in stamps:
        if text == previous:
            continue  # nothing new to show (a hit confirmed while another is still pending)
        previous = text
        k = j
        while k < len(shown) and not (shown[k][1] == text and shown[k][0] >= t - 5):
            k += 1
        if k == len(shown):
            missed += 1  # overtaken by the next change before the page drew it
            continue
        out.append(shown[k][0] - t)
        j = k + 1
    return out, missed


def measure_latency(engine, browser, talks: list[str]) -> dict:
    from voicecount.audio import FileSource
    from voicecount.matcher import DEFAULT_KEYWORDS
    from voicecount.run import Run
    from voicecount.web.server import WebView

    values, missed = [], 0
    for name in talks:
        run = Run(FileSource(AUDIO / "dev" / name, realtime=True), engine.fresh, DEFAULT_KEYWORDS)
        stamps, follower = published(run)
        web = WebView(run, port=0)
        url = web.start()
        context = browser.new_context(viewport={"width": 800, "height": 400})
        context.add_init_script(OBSERVE)
        pages = [context.new_page() for _ in range(3)]
        for page, path in zip(pages, ("/overlay", "/stage", "/")):
            page.goto(url.replace("/?", f"{path}?", 1))
        run.start()
        result = run.wait()
        follower.join(10)
        time.sleep(0.5)
        shown = pages[0].evaluate("window.__shown")
        context.close()
        web.close()
        got, lost = latencies(stamps, shown)
        values += got
        missed += lost
        print(f"  {name}: {result.counts}, {len(got)} changes, median {statistics.median(got):.0f} ms", file=sys.stderr)
    values.sort()
    return {
        "n": len(values),
        "missed": missed,
        "median": statistics.median(values),
        "p95": p95(values),
        "max": values[-1],
    }


def measure_cost(engine, browser, rounds: int) -> dict:
    from voicecount.audio import FileSource
    from voicecount.matcher import DEFAULT_KEYWORDS
    from voicecount.run import Run
    from voicecount.web.server import WebView

    walls: dict[str, list[float]] = {"0 subscribers": [], "3 readers": [], "3 subscribers": []}
    duration = 0.0
    for _ in range(rounds):
        for label in walls:
            run = Run(FileSource(AUDIO / "dev" / COST_TALK), engine.fresh, DEFAULT_KEYWORDS, keep_transcript=False)
            extra = []
            if label == "3 subscribers":
                web = WebView(run, port=0)
                url = web.start()
                context = browser.new_context()
                context.new_page().goto(url.replace("/?", "/overlay?", 1))
                reader = run.pipeline.subscribe()
                threading.Thread(target=lambda r=reader: list(r), daemon=True).start()
                stalled = run.pipeline.subscribe(maxsize=64)  # never read
                extra = [web, context, stalled]
            elif label == "3 readers":
                # The fan-out alone, no browser: a browser on the same cores takes CPU of its own.
                for _ in range(2):
                    reader = run.pipeline.subscribe()
                    threading.Thread(target=lambda r=reader: list(r), daemon=True).start()
                run.pipeline.subscribe(maxsize=64)  # never read; the pipeline keeps it registered
            t0 = time.perf_counter()
            result = run.start().wait()
            walls[label].append(time.perf_counter() - t0)
            duration = result.duration
            if extra:
                extra[0].close()
                extra[1].close()
    out = {"audio": duration, "rounds": rounds}
    for label, w in walls.items():
        out[label] = {
            "median": statistics.median(w),
            "min": min(w),
            "max": max(w),
            "rtf": statistics.median(w) / duration,
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--talks", type=int, default=3, help="dev talks replayed in real time for latency (1–3)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the 0-vs-3-subscribers comparison")
    ap.add_argument("--no-write", action="store_true", help="print results, leave BENCHMARKS.md alone")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from voicecount.engines import create_engine

    started_at = commit()
    with tempfile.TemporaryDirectory() as home, sync_playwright() as p:
        os.environ["VOICECOUNT_HOME"] = home  # the web token file goes here, not into the user's config
        engine = create_engine("whisper", "tiny.en")
        browser = launch_browser(p)
        lat = measure_latency(engine, browser, TALKS[: max(1, min(3, args.talks))])
        cost = measure_cost(engine, browser, args.rounds)
        browser.close()
    none, three, readers = cost["0 subscribers"], cost["3 subscribers"], cost["3 readers"]
    diff = (three["median"] - none["median"]) / none["median"] * 100
    diff_readers = (readers["median"] - none["median"]) / none["median"] * 100
    verdict = "met" if lat["median"] <= 100 else "MISSED"
    print(
        f"latency event → DOM: median {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms "
        f"({lat['n']} changes, {lat['missed']} overtaken; target ≤ 100 ms: {verdict}); "
        f"{COST_TALK} at full speed: 0 subscribers {none['median']:.2f} s (RTF {none['rtf']:.3f}), "
        f"3 readers {readers['median']:.2f} s ({diff_readers:+.1f} %), "
        f"3 subscribers with a browser page {three['median']:.2f} s (RTF {three['rtf']:.3f}), {diff:+.1f} %"
    )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{MARK_BEGIN}\n## Web view: event → browser latency, and the cost of subscribers\n\n"
        f"Latest run: {stamp}, commit {started_at}, whisper tiny.en, Debian chromium (headless). "
        f"Machine: {machine()}.\n\n"
        f"Event → DOM (the pipeline publishes a count change → the overlay page shows it; 3 pages open, "
        f"{lat['n']} changes over {len(TALKS[: max(1, min(3, args.talks))])} dev talks replayed in real time): "
        f"median **{lat['median']:.0f} ms**, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms "
        f"(target ≤ 100 ms: {verdict}; {lat['missed']} changes overtaken by the next before drawn).\n\n"
        f"| {COST_TALK} ({cost['audio']:.0f} s), full speed, {cost['rounds']} rounds | wall median (min–max) | RTF |\n"
        "|---|---|---|\n"
        f"| no subscriber | {none['median']:.2f} s ({none['min']:.2f}–{none['max']:.2f}) | {none['rtf']:.3f} |\n"
        f"| 3 subscribers in the process: 2 readers, a stalled one (no browser) | {readers['median']:.2f} s "
        f"({readers['min']:.2f}–{readers['max']:.2f}) | {readers['rtf']:.3f} |\n"
        f"| 3 subscribers: web view + a page, a reader, a stalled one | {three['median']:.2f} s "
        f"({three['min']:.2f}–{three['max']:.2f}) | {three['rtf']:.3f} |\n\n"
        f"Difference of the medians: {diff_readers:+.1f} % for the fan-out alone, {diff:+.1f} % with the "
        "web view and a headless Chromium page on the same two cores (the browser's own rendering CPU "
        f"is in that figure).\n\nMade by `python scripts/bench_web.py --talks {args.talks} "
        f"--rounds {args.rounds}`.\n{MARK_END}"
    )
    line = (
        f"- {stamp} `{started_at}` web: event→DOM median {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms; "
        f"3 readers {diff_readers:+.1f} %, web view + page + 2 {diff:+.1f} % wall ({none['rtf']:.3f} → {three['rtf']:.3f} RTF)"
    )
    if not args.no_write:
        write_section(MARK_BEGIN, MARK_END, block, line)
        print(f"bench_web: wrote {BENCH_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

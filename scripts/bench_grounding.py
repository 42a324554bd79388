"""Score summaries against the dev scripts' key points and record it in BENCHMARKS.md.

The dev talks (../shared/audio/dev) are counted as a user would (`voicecount count`,
the recording path, into a temporary home), so the summaries read real transcripts
with their recognition errors. Then, per talk:

- highlights (the default summary): coverage — the share of the script's reference
  key points (tests/data/keypoints.json) that some highlight line holds (at least
  half of the key point's content words) — and grounding (share of lines the
  check against the transcript keeps);
- a language model's summary (default: the bundled SmolLM2-135M) on one voice's
  clean talks: lines written, lines the check kept, coverage of the kept lines,
  seconds per talk.

    python scripts/bench_grounding.py                        # all 68 dev talks, SmolLM2 on 7
    python scripts/bench_grounding.py --model qwen.gguf      # a better model for the second part
    python scripts/bench_grounding.py --files '*hibari*clean*' --no-write

Not a test: figures depend on the transcripts, so on the machine's model and threads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import AUDIO, BENCH_MD, commit, machine, write_section  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench:grounding:begin -->", "<!-- bench:grounding:end -->"
KEYPOINTS = ROOT / "tests" / "data" / "keypoints.json"
FOUND = 0.5  # share of a key point's content words one output line must hold


def found(point: str, lines: list[str]) -> bool:
    from voicecount.grounding import content_words

    want = content_words(point)
    return any(len(want & content_words(line)) / len(want) >= FOUND for line in lines) if want else False


def coverage(script: str, lines: list[str], points: dict[str, list[str]]) -> tuple[int, int]:
    ref = points[script]
    return sum(found(p, lines) for p in ref), len(ref)


def count_files(files: list[Path], jobs: int) -> dict[str, str]:
    """Count the files into the current VOICECOUNT_HOME; file name → session ID."""
    out = Path(os.environ["VOICECOUNT_HOME"]) / "results.jsonl"
    cmd = [sys.executable, "-m", "voicecount", "count", *map(str, files), "--jobs", str(jobs), "--jsonl", str(out)]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    sessions = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        if r.get("session"):
            sessions[Path(r["file"]).name] = r["session"]
    return sessions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", default="*", help="dev files to use, a glob on the name (default all)")
    ap.add_argument("--model", default="smollm2", help="GGUF for the model part (default: the bundled SmolLM2)")
    ap.add_argument("--model-files", default="*hibari-heart__clean*", help="talks the model summarises")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2, help="counting workers")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    points = json.loads(KEYPOINTS.read_text())
    files = sorted(
        p
        for p in (AUDIO / "dev").iterdir()
        if p.suffix in (".wav", ".flac") and fnmatch.fnmatch(p.name, args.files) and p.name.split("__")[0] in points
    )
    with tempfile.TemporaryDirectory() as home:
        os.environ["VOICECOUNT_HOME"] = home
        from voicecount import session as sessions
        from voicecount import summarize as sm
        from voicecount.export import cues
        from voicecount.grounding import check

        t0 = time.perf_counter()
        ids = count_files(files, args.jobs)
        count_s = time.perf_counter() - t0
        per_file = []
        for name, sid in sorted(ids.items()):
            s = sessions.load(sid)
            script = name.split("__")[0]
            t1 = time.perf_counter()
            lines = sm.highlights_summary(s).lines
            secs = time.perf_counter() - t1
            kept = check(lines, cues(s)).kept
            hit, total = coverage(script, [line.text for line in kept], points)
            per_file.append(
                {"file": name, "lines": len(lines), "kept": len(kept), "found": hit, "points": total, "s": secs}
            )
        hl_lines = sum(r["lines"] for r in per_file)
        hl_kept = sum(r["kept"] for r in per_file)
        hl_found = sum(r["found"] for r in per_file)
        hl_points = sum(r["points"] for r in per_file)
        by_script: dict[str, list[int]] = {}
        for r in per_file:
            acc = by_script.setdefault(r["file"].split("__")[0], [0, 0])
            acc[0] += r["found"]
            acc[1] += r["points"]
        print(f"highlights: {len(per_file)} talks, coverage {hl_found}/{hl_points}, grounded {hl_kept}/{hl_lines}")

        model_rows = []
        llm = sm.load_llm(args.model, args.threads, 4096)
        model_name = Path(str(sm.resolve_model(args.model))).stem
        for name, sid in sorted(ids.items()):
            if not fnmatch.fnmatch(name, args.model_files):
                continue
            s = sessions.load(sid)
            t1 = time.perf_counter()
            result = sm.summarize(s, llm, 300, model_name=model_name)
            secs = time.perf_counter() - t1
            hit, total = coverage(name.split("__")[0], [line.text for line in result.lines], points)
            model_rows.append(
                {
                    "file": name,
                    "written": len(result.lines) + len(result.dropped),
                    "kept": len(result.lines),
                    "found": hit,
                    "points": total,
                    "s": secs,
                }
            )
            print(
                f"  {name}: kept {len(result.lines)}/{len(result.lines) + len(result.dropped)}, found {hit}/{total}, {secs:.0f} s"
            )
            for d in result.dropped:
                print(f"    dropped ({d.why}): {d.line.render()[:120]}")
    m_written = sum(r["written"] for r in model_rows)
    m_kept = sum(r["kept"] for r in model_rows)
    m_found = sum(r["found"] for r in model_rows)
    m_points = sum(r["points"] for r in model_rows)
    m_secs = statistics.median(r["s"] for r in model_rows) if model_rows else 0.0

    def pct(a: int, b: int) -> str:
        return f"{a / b:.2f} ({a}/{b})" if b else "—"

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scripts = " · ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by_script.items()))
    block = (
        f"{MARK_BEGIN}\n## Grounded summaries (issue 19)\n\n"
        f"Latest run: {stamp}, commit {commit()}. Machine: {machine()}. "
        f"{len(per_file)} dev talks counted with `voicecount count` (recording path, whisper tiny.en, {count_s:.0f} s), "
        "so the summaries read real transcripts with their errors. Key points: `tests/data/keypoints.json`, written "
        f"from the scripts; a key point is found when one output line holds at least {FOUND:.0%} of its content words.\n\n"
        "| summary | talks | lines shown | grounding (lines the check keeps / lines written) | coverage (key points found) | seconds per talk (median) |\n"
        "|---|---|---|---|---|---|\n"
        f"| highlights (default, no model) | {len(per_file)} | {hl_kept} | {pct(hl_kept, hl_lines)} | **{pct(hl_found, hl_points)}** | "
        f"{statistics.median(r['s'] for r in per_file):.2f} |\n"
        f"| {model_name} (`--model`) | {len(model_rows)} ({args.model_files}) | {m_kept} | {pct(m_kept, m_written)} | "
        f"{pct(m_found, m_points)} | {m_secs:.0f} |\n\n"
        f"Highlights' coverage per script: {scripts}.\n\n"
        "Grounding of what reaches the user is 100 % by construction: a line whose citation does not support it "
        "is dropped before it is shown or saved, and counted. The share above is how much of what a model writes "
        "survives that check. Made by `python scripts/bench_grounding.py`.\n"
        f"{MARK_END}"
    )
    line = (
        f"- {stamp} `{commit()}` grounding: highlights coverage {pct(hl_found, hl_points)} on {len(per_file)} talks; "
        f"{model_name} kept {m_kept}/{m_written} lines, coverage {pct(m_found, m_points)}"
    )
    print(block)
    if not args.no_write:
        write_section(MARK_BEGIN, MARK_END, block, line)
        print(f"bench_grounding: wrote {BENCH_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

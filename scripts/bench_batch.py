#!/usr/bin/env python3
"""Benchmark counting an archive: `voicecount count FILES --jobs N` on 100 files, wall time and worker memory.

The archive is the dev set repeated to ``--files`` files (counted with ``--force`` in a
fresh data dir, so every file is decoded). Each configuration runs the real command in a
fresh process; the RSS of every worker process is sampled from /proc twice a second
(Linux), so "memory per worker stays flat" is the RSS each worker had a quarter of the
way through against its last sample. Writes the ``bench:batch`` section of BENCHMARKS.md.

    python scripts/bench_batch.py                          # --jobs 1 (1 thread) and --jobs 2 (1 thread each)
    python scripts/bench_batch.py --files 20 --no-write    # a quick look

Do not run it while tests or other benchmarks run: it measures wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AUDIO, commit, machine, write_section

MARK_BEGIN, MARK_END = "<!-- bench:batch:begin -->", "<!-- bench:batch:end -->"


def archive(n: int) -> list[Path]:
    dev = sorted(p for p in (AUDIO / "dev").iterdir() if p.suffix in (".wav", ".flac"))
    return [dev[i % len(dev)] for i in range(n)]


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(files: list[Path], jobs: int, threads: int) -> dict:
    """One batch in a fresh process and data dir: wall time, audio, per-worker RSS over time."""
    with tempfile.TemporaryDirectory() as home:
        out = Path(home) / "out.jsonl"
        cmd = [sys.executable, "-m", "voicecount", "count", *map(str, files), "--jobs", str(jobs)]
        cmd += ["--threads", str(threads), "--force", "--no-progress", "--jsonl", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env={**os.environ, "VOICECOUNT_HOME": home}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        samples: dict[int, list[tuple[float, float]]] = {}  # pid -> [(seconds, MB)]
        while proc.poll() is None:
            pids = [proc.pid] if jobs == 1 else _children(proc.pid)
            for pid in pids:
                mb = _rss_mb(pid)
                if mb:
                    samples.setdefault(pid, []).append((time.perf_counter() - t0, mb))
            time.sleep(0.5)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode != 0:
            raise SystemExit(f"bench_batch: the batch failed ({proc.returncode}):\n{err[-2000:]}")
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    audio = sum(r["duration"] for r in rows)
    workers = []
    for series in samples.values():
        if len(series) < 8:
            continue  # a helper process (the resource tracker), not a worker
        quarter = series[len(series) // 4][1]
        workers.append({"peak": max(mb for _, mb in series), "quarter": quarter, "last": series[-1][1]})
    return {
        "jobs": jobs,
        "threads": threads,
        "files": len(rows),
        "audio_min": audio / 60,
        "wall_s": wall,
        "rtf": wall / audio,
        "workers": workers,
        "counts": sum(sum(r["counts"].values()) for r in rows),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100, help="archive size (the dev set repeated; default 100)")
    ap.add_argument(
        "--config",
        action="append",
        metavar="JOBS:THREADS",
        help="workers and threads per worker, repeatable (default 1:1 and 2:1)",
    )
    ap.add_argument("--no-write", action="store_true", help="print results, leave BENCHMARKS.md alone")
    a = ap.parse_args()
    files = archive(a.files)
    results = []
    for spec in a.config or ["1:1", "2:1"]:
        jobs, threads = (int(x) for x in spec.split(":"))
        print(f"bench_batch: {len(files)} files, --jobs {jobs} --threads {threads}…", file=sys.stderr, flush=True)
        r = run(files, jobs, threads)
        print(json.dumps(r), flush=True)
        results.append(r)
    serial = next((r for r in results if r["jobs"] == 1), None)
    lines = []
    for r in results:
        mem = ", ".join(f"{w['quarter']:.0f}→{w['last']:.0f} MB (peak {w['peak']:.0f})" for w in r["workers"])
        ideal = f"{serial['wall_s'] / r['jobs']:.0f} s" if serial else "–"
        lines.append(
            f"| {r['jobs']} × {r['threads']} | {r['files']} | {r['audio_min']:.1f} min | {r['wall_s']:.0f} s | {ideal} "
            f"| {r['rtf']:.3f} | {mem} |"
        )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{MARK_BEGIN}\n## Counting an archive (scripts/bench_batch.py)\n\n"
        f"Run: {stamp}, commit {commit()}; machine: {machine()}. `voicecount count` on {len(files)} files "
        "(the dev set repeated), recording path, whisper tiny.en, `--force` in a fresh data dir. "
        "Ideal wall = the one-worker run's wall / workers. Worker RSS: a quarter of the way through → last sample.\n\n"
        "| workers × threads | files | audio | wall | ideal wall | RTF | RSS per worker |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + f"\n{MARK_END}"
    )
    print(block)
    if not a.no_write:
        history = "".join(
            f"\n- {stamp} `{commit()}` batch {r['files']} files, {r['jobs']} workers × {r['threads']} threads: "
            f"wall {r['wall_s']:.0f} s, RTF {r['rtf']:.3f}"
            for r in results
        )
        write_section(MARK_BEGIN, MARK_END, block, history.lstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

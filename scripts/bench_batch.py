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
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AUDIO, commit, machine, write_section

MARK_BEGIN, MARK_END = "<!-- bench:batch:begin -->", "<!-- bench:batch:end -->"


def archive(n: int, tmp: Path) -> list[Path]:
    """The dev set repeated to n files; a repeat is a copy under another name (one path is counted once)."""
    dev = sorted(p for p in (AUDIO / "dev").iterdir() if p.suffix in (".wav", ".flac"))
    files = dev[:n]
    for i in range(len(dev), n):
        src = dev[i % len(dev)]
        copy = tmp / f"repeat{i // len(dev)}-{src.name}"
        shutil.copyfile(src, copy)
        files.append(copy)
    return files


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
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
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
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and the workers it waited for
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode != 0:
            raise SystemExit(f"bench_batch: the batch failed ({proc.returncode}):\n{err[-2000:]}")
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    audio = sum(r["duration"] for r in rows)
    workers = []
    for series in samples.values():
        if max(mb for _, mb in series) < 100:
            continue  # a helper process (multiprocessing's resource tracker), not a worker
        # RSS a quarter, half, three quarters of the way through and at the end: flat or growing.
        trend = [series[min(len(series) - 1, len(series) * q // 4)][1] for q in (1, 2, 3, 4)]
        workers.append({"peak": max(mb for _, mb in series), "trend": trend})
    return {
        "jobs": jobs,
        "threads": threads,
        "files": len(rows),
        "audio_min": audio / 60,
        "wall_s": wall,
        "cpu_s": cpu,
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
    tmp = tempfile.TemporaryDirectory()
    files = archive(a.files, Path(tmp.name))
    results = []
    for spec in a.config or ["1:1", "2:1"]:
        jobs, threads = (int(x) for x in spec.split(":"))
        print(f"bench_batch: {len(files)} files, --jobs {jobs} --threads {threads}…", file=sys.stderr, flush=True)
        r = run(files, jobs, threads)
        print(json.dumps(r), flush=True)
        results.append(r)
    tmp.cleanup()
    cores = os.cpu_count() or 1
    lines = []
    for r in results:
        mem = "; ".join("→".join(f"{mb:.0f}" for mb in w["trend"]) + " MB" for w in r["workers"])
        lines.append(
            f"| {r['jobs']} × {r['threads']} | {r['files']} | {r['audio_min']:.1f} min | {r['wall_s']:.0f} s "
            f"| {r['cpu_s']:.0f} s | {r['cpu_s'] / cores:.0f} s | {r['rtf']:.3f} | {mem} |"
        )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{MARK_BEGIN}\n## Counting an archive (scripts/bench_batch.py)\n\n"
        f"Run: {stamp}, commit {commit()}; machine: {machine()}. `voicecount count` on {len(files)} files "
        "(the dev set repeated), recording path, whisper tiny.en, `--force` in a fresh data dir. "
        f"CPU = user + system seconds of the command and its workers; ideal wall = CPU / {cores} cores (all "
        "the work spread evenly). Worker RSS a quarter, half, three quarters of the way through and at the end.\n\n"
        "| workers × threads | files | audio | wall | CPU | ideal wall | RTF | RSS per worker |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + f"\n{MARK_END}"
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

#!/usr/bin/env python3
"""Benchmark the counting paths on the shared speech sets and write BENCHMARKS.md.

For every engine × model configuration and decoding path (each in its own process,
so peak RSS is its own) it runs the exact pipeline `voicecount` runs — file source at
full speed, engine, matcher: the live path as `listen` and `count --live` (a pass
every 0.5 s), the recording path as `count` (each utterance once) — over ../shared/audio/dev (keyword talks)
and ../shared/audio/real (real speech without the keyword: every hit is a false
alarm), scores the hits with ../shared/audio/score_hits.py, and records:
precision, recall, F1, false alarms per hour on real speech, latency from the
keyword's end to its count (median / p95, on the pipeline's live clock, which
includes decode time), real-time factor, and peak RSS.

    python scripts/bench.py                               # default engine and model
    python scripts/bench.py --config whisper:tiny.en --config whisper:base
    python scripts/bench.py --limit 4 --no-write          # a quick look, nothing written
    python scripts/bench.py --path recording               # one path only

Not a test: numbers depend on the machine. Results are appended to the history
in BENCHMARKS.md, so worse figures stay on record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _find_audio() -> Path:
    """VOICECOUNT_AUDIO, else ../shared/audio beside the checkout, else the workplace's /work/shared/audio."""
    if os.environ.get("VOICECOUNT_AUDIO"):
        return Path(os.environ["VOICECOUNT_AUDIO"])
    for candidate in (ROOT.parent / "shared" / "audio", Path("/work/shared/audio")):
        if (candidate / "dev" / "manifest.json").is_file():
            return candidate
    return ROOT.parent / "shared" / "audio"


AUDIO = _find_audio()
BENCH_MD = ROOT / "BENCHMARKS.md"
MARK_BEGIN, MARK_END = "<!-- bench:latest:begin -->", "<!-- bench:latest:end -->"
HISTORY = "## History"


def run_worker(
    config: str,
    sets: list[str],
    limit: int,
    threads: int,
    out: Path,
    options: dict,
    files_glob: str = "*",
    path: str = "live",
) -> None:
    """Child process: load the engine once, run every file, write per-file hits and timings."""
    sys.path.insert(0, str(ROOT))
    from voicecount.audio import FileSource
    from voicecount.engines import create_engine
    from voicecount.matcher import DEFAULT_KEYWORDS
    from voicecount.run import Run

    engine_name, _, model = config.partition(":")
    t0 = time.perf_counter()
    base = create_engine(engine_name, model or None, recording=path == "recording", threads=threads, **options)
    load_s = time.perf_counter() - t0
    rows = []
    for set_name in sets:
        files = sorted(
            p
            for p in (AUDIO / set_name).iterdir()
            if p.suffix in (".wav", ".flac", ".mp3", ".ogg") and fnmatch.fnmatch(p.name, files_glob)
        )
        if limit:
            files = files[:limit]
        for i, f in enumerate(files, 1):
            t = time.perf_counter()
            result = Run(FileSource(f), base.fresh, DEFAULT_KEYWORDS, keep_transcript=False).start().wait()
            wall = time.perf_counter() - t
            hits = [{**h.as_dict(), "probability": round(h.probability, 3)} for h in result.hits if not h.retracted]
            rows.append({"set": set_name, "file": f.name, "duration": result.duration, "wall": wall, "hits": hits})
            print(
                f"  {config} {path} {set_name} {i}/{len(files)} {f.name}: {len(hits)} hits, RTF {wall / max(result.duration, 1e-9):.2f}",
                file=sys.stderr,
                flush=True,
            )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    label = f"{config} {path}"
    out.write_text(json.dumps({"config": label, "load_s": load_s, "peak_rss_mb": peak_kb / 1024, "rows": rows}))


def score(manifest: Path, rows: list[dict], by: str | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in rows:
            f.write(json.dumps({"file": r["file"], "hits": r["hits"]}) + "\n")
    cmd = [sys.executable, str(AUDIO / "score_hits.py"), str(manifest), f.name, "--json"]
    if by:
        cmd += ["--by", by]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    return json.loads(out)


def own_latency(manifest: Path, rows: list[dict]) -> dict:
    """Word end → count for each hit, paired with the keyword whose sentence holds the word, per condition.

    score_hits pairs hits with keywords in the order they were counted: after a missed
    keyword the next hit fills the missed one's place and its latency reads 5–6 s (the
    "artificial intelligence" after a missed "AI, AI, AI"). The hit's own word time says
    which keyword it is; false counts (and a second hit on one keyword) have none and are left out.
    """
    sys.path.insert(0, str(AUDIO))
    from score_hits import slots  # the keyword end estimates the scorer uses

    entries = {e["file"]: e for e in json.loads(manifest.read_text())}
    lat: dict[str, list[float]] = {"all": []}
    for r in rows:
        entry = entries[r["file"]]
        free = slots(entry)  # each keyword pairs with one hit at most, as in the scorer
        for h in sorted(r["hits"], key=lambda h: h["start"]):
            near = [s for s in free if s["start"] - 0.5 <= h["start"] <= s["end"] + 0.5]
            if not near:
                continue  # a false count: no keyword of its own to be late for
            own = min(near, key=lambda s: abs(s["word_end"] - h["end"]))
            free.remove(own)
            for key in ("all", entry["condition"]):
                lat.setdefault(key, []).append(h["emitted_at"] - own["word_end"])
    return {k: {"median": round(statistics.median(v), 2), "p95": round(p95(v), 2)} for k, v in lat.items() if v}


def p95(xs: list[float]) -> float:
    """The 95th percentile as score_hits.py takes it, so the scorer's latency and this one compare."""
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 2 else xs[0]


def summarise(data: dict) -> dict:
    rows = data["rows"]
    dev = [r for r in rows if r["set"] == "dev"]
    real = [r for r in rows if r["set"] == "real"]
    out = {"config": data["config"], "peak_rss_mb": round(data["peak_rss_mb"]), "load_s": round(data["load_s"], 1)}
    audio = sum(r["duration"] for r in rows)
    out["rtf"] = round(sum(r["wall"] for r in rows) / audio, 3) if audio else None
    rtfs = sorted(r["wall"] / r["duration"] for r in rows if r["duration"])
    out["rtf_median_file"] = round(rtfs[len(rtfs) // 2], 3) if rtfs else None
    if dev:
        manifest = AUDIO / "dev" / "manifest.json"
        out["dev"] = score(manifest, dev)["all"]
        out["dev_by_condition"] = {k: v for k, v in score(manifest, dev, "condition").items() if k != "all"}
        out["dev_by_voice"] = {k: v for k, v in score(manifest, dev, "voice").items() if k != "all"}
        out["dev_by_script"] = {
            k.removesuffix(".txt"): v for k, v in score(manifest, dev, "text").items() if k != "all"
        }
        out["dev_minutes"] = round(sum(r["duration"] for r in dev) / 60, 1)
        out["dev_own_latency"] = own_latency(manifest, dev)
    if real:
        hours = sum(r["duration"] for r in real) / 3600
        fa = sum(len(r["hits"]) for r in real)
        out["real"] = {
            "files": len(real),
            "minutes": round(hours * 60, 1),
            "false_alarms": fa,
            "false_alarms_per_hour": round(fa / hours, 1) if hours else None,
            "files_with_hits": [r["file"] for r in real if r["hits"]],
        }
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
        first = info[: info.index("")] if "" in info else info  # the first processor's block
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first)}
        cpu = fields.get("model name", cpu)
        # "AMD EPYC" names several generations; family/model and the widest vector unit
        # tell them apart (CTranslate2 picks its kernels by the latter).
        flags = set(fields.get("flags", "").split())
        isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
        if "cpu family" in fields:
            cpu += f" (family {fields['cpu family']} model {fields.get('model', '?')}{', ' + isa if isa else ''})"
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def versions() -> str:
    """The libraries that decide the numbers: the same code gave F1 0.961 and 0.937 on two fresh machines."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("faster-whisper", "ctranslate2", "onnxruntime", "numpy", "av", "vosk"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def table(results: list[dict]) -> str:
    head = (
        "| engine:model | F1 | precision | recall | false alarms/h (real) | latency median | latency p95 "
        "| latency, own keyword: median / p95 | RTF | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in results:
        d, real = r.get("dev", {}), r.get("real", {})
        own = r.get("dev_own_latency", {}).get("all", {})
        lines.append(
            f"| {r['config']} | {d.get('f1', '–')} | {d.get('precision', '–')} | {d.get('recall', '–')} "
            f"| {real.get('false_alarms_per_hour', '–')} | {d.get('lat_word_end_median', '–')} s "
            f"| {d.get('lat_word_end_p95', '–')} s | {own.get('median', '–')} / {own.get('p95', '–')} s "
            f"| {r['rtf']} | {r['peak_rss_mb']} MB |"
        )
    return head + "\n".join(lines)


def details(results: list[dict]) -> str:
    out = []
    for r in results:
        out.append(f"**{r['config']}** (model load {r['load_s']} s, per-file RTF median {r['rtf_median_file']})")
        if "dev" in r:
            d = r["dev"]
            out.append(
                f"- dev ({r['dev_minutes']} min, {d['files']} files): {d['gt']} keywords, counted {d['counted']}, "
                f"exact counts {d['exact_files']}, count error {d['count_err_pct']} %, latency from sentence end "
                f"median {d['lat_sentence_end_median']} s / p95 {d['lat_sentence_end_p95']} s"
            )
            own = ", ".join(f"{k} {v['median']} / {v['p95']} s" for k, v in r.get("dev_own_latency", {}).items())
            out.append(f"- latency from the end of each hit's own keyword (median / p95): {own}")
            for group in ("dev_by_condition", "dev_by_voice"):
                for k, v in r[group].items():
                    out.append(
                        f"  - {k}: F1 {v['f1']} (P {v['precision']}, R {v['recall']}), latency median "
                        f"{v['lat_word_end_median']} s, p95 {v['lat_word_end_p95']} s, exact {v['exact_files']}"
                    )
            # Per script: a script with no keyword (d02, d07) shows its false counts, the demo its exact files.
            for k, v in r.get("dev_by_script", {}).items():
                false = v["counted"] - round(v["recall"] * v["gt"])  # counted = found + false
                out.append(
                    f"  - {k}: {v['counted']} counted for {v['gt']} said, exact {v['exact_files']}, "
                    f"false counts {false}, F1 {v['f1']}"
                )
        if "real" in r:
            x = r["real"]
            out.append(
                f"- real ({x['minutes']} min, {x['files']} files): {x['false_alarms']} false alarms "
                f"({x['false_alarms_per_hour']}/h){' in ' + ', '.join(x['files_with_hits']) if x['files_with_hits'] else ''}"
            )
    return "\n".join(out)


def write_section(begin: str, end: str, block: str, history_line: str) -> None:
    """Replace (or add, before the history) one marked section of BENCHMARKS.md and log a history line."""
    text = BENCH_MD.read_text() if BENCH_MD.exists() else f"# Benchmarks\n\n{HISTORY}\n"
    if begin in text:
        a, b = text.index(begin), text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        at = text.index(HISTORY)
        text = text[:at] + block + "\n\n" + text[at:]
    BENCH_MD.write_text(text.rstrip("\n") + "\n" + history_line + "\n")


def write_md(results: list[dict], sets: list[str], limit: int, files: str = "*") -> None:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scope = (
        f"sets {', '.join(sets)}"
        + (f", first {limit} files each" if limit else "")
        + (f", files {files}" if files != "*" else "")
    )
    latest = (
        f"{MARK_BEGIN}\nLatest run: {stamp}, commit {commit()}, {scope}.  \nMachine: {machine()}.  \nLibraries: {versions()}.\n\n"
        f"{table(results)}\n\n{details(results)}\n{MARK_END}"
    )
    if BENCH_MD.exists():
        text = BENCH_MD.read_text()
    else:
        text = (
            "# Benchmarks\n\nWritten by `python scripts/bench.py` (not by hand). Latency is measured on the pipeline's "
            "live clock — audio consumed plus decode time — from the keyword's estimated end (score_hits.py "
            "`lat_word_end`); RTF is wall time / audio time at full speed on the machine named; F1 and latency "
            "on `../shared/audio/dev`, false alarms per hour on `../shared/audio/real` (no keyword is ever said "
            "there). Targets for the default engine and model: F1 ≥ 0.90, ≤ 2 false alarms/h, latency median "
            "≤ 1.0 s and p95 ≤ 2.0 s, RTF ≤ 0.5.\n\n"
            f"{MARK_BEGIN}\n{MARK_END}\n\n{HISTORY}\n\nOne line per configuration and run, newest last; "
            "nothing here is deleted.\n"
        )
    start, end = text.index(MARK_BEGIN), text.index(MARK_END) + len(MARK_END)
    text = text[:start] + latest + text[end:]
    for r in results:
        d, real = r.get("dev", {}), r.get("real", {})
        text = text.rstrip("\n") + (
            f"\n- {stamp} `{commit()}` {r['config']} ({scope}): F1 {d.get('f1', '–')}, P {d.get('precision', '–')}, "
            f"R {d.get('recall', '–')}, FA/h {real.get('false_alarms_per_hour', '–')}, latency "
            f"{d.get('lat_word_end_median', '–')}/{d.get('lat_word_end_p95', '–')} s, RTF {r['rtf']}, "
            f"RSS {r['peak_rss_mb']} MB\n"
        )
    BENCH_MD.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--config",
        action="append",
        metavar="ENGINE:MODEL",
        help="engine and model, repeatable (default: whisper:tiny.en)",
    )
    ap.add_argument("--sets", default="dev,real", help="comma-separated folders under the audio dir (default dev,real)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files of each set")
    ap.add_argument("--files", default="*", metavar="GLOB", help="only files whose name matches, e.g. '*noise10*'")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: all cores)")
    ap.add_argument(
        "--path",
        action="append",
        choices=("live", "recording"),
        help="decoding path, repeatable (default both: live as `listen` and `count --live`, recording as `count`)",
    )
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="engine option, e.g. step=0.4 or prompt='AI' (numbers are parsed)",
    )
    ap.add_argument("--no-write", action="store_true", help="print results, leave BENCHMARKS.md alone")
    ap.add_argument(
        "--keep-rows",
        metavar="FILE",
        type=Path,
        help="also save every file's hits (time, text, word probability) as JSON, for analysis",
    )
    ap.add_argument("--worker", nargs=3, metavar=("CONFIG", "PATH", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    sets = [s for s in a.sets.split(",") if s]
    options = {}
    for kv in a.option:
        k, _, v = kv.partition("=")
        try:
            options[k] = float(v) if "." in v else int(v)
        except ValueError:
            options[k] = v
    if a.worker:
        run_worker(a.worker[0], sets, a.limit, a.threads, Path(a.worker[2]), options, a.files, a.worker[1])
        return 0
    if not (AUDIO / "score_hits.py").is_file():
        print(
            f"bench: no shared audio at {AUDIO} — set VOICECOUNT_AUDIO to the folder with dev/, real/ "
            "and score_hits.py",
            file=sys.stderr,
        )
        return 1
    results = []
    runs = [(c, p) for c in a.config or ["whisper:tiny.en"] for p in a.path or ["live", "recording"]]
    for config, path in runs:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                config,
                path,
                str(out),
                "--sets",
                a.sets,
                "--limit",
                str(a.limit),
                "--threads",
                str(a.threads),
                "--files",
                a.files,
            ] + [f"--option={o}" for o in a.option]
            subprocess.run(cmd, check=True)
            data = json.loads(out.read_text())
            summary = summarise(data)
        if options:
            summary["config"] += " " + " ".join(f"{k}={v}" for k, v in options.items())
        if a.keep_rows:
            kept = json.loads(a.keep_rows.read_text()) if a.keep_rows.is_file() else {}
            kept[summary["config"]] = data["rows"]
            a.keep_rows.write_text(json.dumps(kept))
        results.append(summary)
        print(json.dumps(summary, indent=1))
    if not a.no_write:
        write_md(results, sets, a.limit, a.files)
        print(f"bench: wrote {BENCH_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

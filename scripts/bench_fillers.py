"""Benchmark filler counting, its cost to the transcript, and pace; write BENCHMARKS.md.

On the filler set (scripts/make_fillers.py: six scripts x four flite voices x clean /
noise 10 dB, every "um", "uh", "er", "ah", "hmm" marked) each file is counted the way a
user counts it, twice — `voicecount count FILES -k AI --jsonl` (default decoding) and
the same with `--preset fillers` (filler mode) — and scored:

- filler recall and precision per voice: per file and filler kind, found = min(counted,
  said), so a filler heard as another kind is a miss and a false count;
- WER of the transcript against the script (jiwer, on matcher-normalised words) and
  the "AI" count, both modes;
- pace error: transcript words per minute against the script's words per minute.

    python scripts/make_fillers.py && python scripts/bench_fillers.py
    python scripts/bench_fillers.py --path live --no-write

Keyword F1 with filler mode on the dev set is measured with scripts/bench.py and the
filler-mode prompt (see BENCHMARKS.md).
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
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import BENCH_MD, commit, machine, write_section  # noqa: E402
from make_fillers import OUT  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- bench:fillers:begin -->", "<!-- bench:fillers:end -->"


def count(files: list[Path], extra: list[str], jobs: int) -> dict[str, str]:
    """Count the files into the current VOICECOUNT_HOME; file name → session ID."""
    out = Path(os.environ["VOICECOUNT_HOME"]) / f"results{len(extra)}.jsonl"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "voicecount", "count", *map(str, files), "-k", "AI", *extra]
    subprocess.run([*cmd, "--jobs", str(jobs), "--jsonl", str(out), "--force"], check=False, stdout=subprocess.DEVNULL)
    return {Path(r["file"]).name: r["session"] for r in map(json.loads, out.read_text().splitlines()) if r["session"]}


def score(entries: list[dict], ids: dict[str, str]) -> dict:
    import jiwer

    from voicecount import session as sessions
    from voicecount.coach import fillers_in
    from voicecount.matcher import tokens

    by_voice: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # found, counted, said
    by_condition: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    refs, hyps, pace_err, ai_exact, clean_false = [], [], [], 0, 0
    for e in entries:
        s = sessions.load(ids[e["file"]])
        words = [w for seg in s.segments for w in seg.words]
        got = {u.text: u.count for u in fillers_in(words)}
        said = e["fillers"]
        found = sum(min(got.get(k, 0), n) for k, n in said.items())
        for acc in (by_voice[e["voice"]], by_condition[e["condition"]]):
            acc[0] += found
            acc[1] += sum(got.values())
            acc[2] += e["filler_total"]
        for kind in set(said) | set(got):
            acc = by_kind[kind]
            acc[0] += min(got.get(kind, 0), said.get(kind, 0))
            acc[1] += got.get(kind, 0)
            acc[2] += said.get(kind, 0)
        if not said:
            clean_false += sum(got.values())
        ref = " ".join(tokens(e["text"]))
        hyp = " ".join(t for w in words for t in tokens(w.text))
        refs.append(ref)
        hyps.append(hyp or "-")
        n_hyp = len([t for w in words for t in tokens(w.text)])
        pace_err.append(abs(n_hyp - e["words"]) / e["words"])
        ai_exact += s.counts.get("AI", 0) == e["keywords"]
    total = [sum(v[i] for v in by_voice.values()) for i in range(3)]

    def pr(v: list[int]) -> dict:
        return {
            "recall": v[0] / v[2] if v[2] else 0.0,
            "precision": v[0] / v[1] if v[1] else 0.0,
            "found": v[0],
            "counted": v[1],
            "said": v[2],
        }

    pace_err.sort()
    return {
        "all": pr(total),
        "by_voice": {k: pr(v) for k, v in sorted(by_voice.items())},
        "by_condition": {k: pr(v) for k, v in sorted(by_condition.items())},
        "by_kind": {k: pr(v) for k, v in sorted(by_kind.items())},
        "wer": jiwer.wer(refs, hyps),
        "pace_error_median": pace_err[len(pace_err) // 2],
        "pace_error_max": pace_err[-1],
        "ai_exact": f"{ai_exact}/{len(entries)}",
        "false_fillers_no_filler_script": clean_false,
    }


def dev_cost(ids_by_mode: dict[str, dict[str, str]], dev: list[dict]) -> dict[str, dict]:
    """On the dev talks (fluent scripts, no fillers): WER against the script and fillers invented."""
    import jiwer

    from voicecount import session as sessions
    from voicecount.coach import fillers_in
    from voicecount.matcher import tokens

    out = {}
    for mode, ids in ids_by_mode.items():
        refs, hyps, invented = [], [], 0
        for e in dev:
            words = [w for seg in sessions.load(ids[e["file"]]).segments for w in seg.words]
            refs.append(" ".join(t for s in e["sentences"] for t in tokens(s["text"])))
            hyps.append(" ".join(t for w in words for t in tokens(w.text)) or "-")
            invented += sum(u.count for u in fillers_in(words))
        out[mode] = {"wer": jiwer.wer(refs, hyps), "invented": invented, "files": len(dev)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", type=Path, default=OUT, help=f"the filler set (default {OUT})")
    ap.add_argument("--path", choices=("recording", "live"), default="recording")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--model", default="tiny.en", help="the Whisper model to count with (default tiny.en)")
    ap.add_argument("--no-dev", dest="dev", action="store_false", help="skip the dev talks' WER and invented fillers")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    manifest = args.set / "manifest.json"
    if not manifest.is_file():
        print(f"bench_fillers: no filler set at {args.set} — make it: python scripts/make_fillers.py", file=sys.stderr)
        return 1
    entries = json.loads(manifest.read_text())
    files = [args.set / e["file"] for e in entries]
    decoding = (["--live"] if args.path == "live" else []) + ["--model", args.model]
    results = {}
    with tempfile.TemporaryDirectory() as home:
        os.environ["VOICECOUNT_HOME"] = home
        for mode, extra in (("default", decoding), ("filler mode", [*decoding, "--preset", "fillers"])):
            t0 = time.perf_counter()
            ids = count(files, extra, args.jobs)
            results[mode] = {**score(entries, ids), "seconds": time.perf_counter() - t0}
            print(mode, json.dumps(results[mode]), file=sys.stderr)
        dev_ids = {}
        if args.dev:
            from bench import AUDIO

            dev = json.loads((AUDIO / "dev" / "manifest.json").read_text())
            for mode, extra in (("default", decoding), ("filler mode", [*decoding, "--preset", "fillers"])):
                dev_ids[mode] = count([AUDIO / "dev" / e["file"] for e in dev], extra, args.jobs)
            cost = dev_cost(dev_ids, dev)
            print("dev", json.dumps(cost), file=sys.stderr)

    def row(mode: str) -> str:
        r = results[mode]
        a = r["all"]
        return (
            f"| {mode} | **{a['recall']:.2f}** ({a['found']}/{a['said']}) | **{a['precision']:.2f}** "
            f"({a['found']}/{a['counted']}) | {r['false_fillers_no_filler_script']} | {r['wer']:.3f} | "
            f"{r['ai_exact']} | {r['pace_error_median']:.1%} / {r['pace_error_max']:.1%} |"
        )

    def voices(mode: str) -> str:
        parts = []
        groups = (results[mode][k].items() for k in ("by_voice", "by_condition", "by_kind"))
        for name, group in (g for items in groups for g in items):
            parts.append(f"{name} {group['recall']:.2f}/{group['precision']:.2f}")
        return " · ".join(parts)

    dev_line = ""
    if dev_ids:
        d, f = cost["default"], cost["filler mode"]
        dev_line = (
            f"On the {d['files']} dev talks (fluent scripts, none has a filler): WER {d['wer']:.3f} default, "
            f"{f['wer']:.3f} in filler mode; fillers counted that were never said: {d['invented']} default, "
            f"{f['invented']} in filler mode.\n\n"
        )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n = len(entries)
    first = (entries[0]["voice"], entries[0]["condition"])
    per_voice = sum(e["filler_total"] for e in entries if (e["voice"], e["condition"]) == first)
    block = (
        f"{MARK_BEGIN}\n## Fillers and pace (issue 17)\n\n"
        f"Latest run: {stamp}, commit {commit()}. Machine: {machine()}. {args.path.capitalize()} path, whisper {args.model}. "
        f"Filler set (`scripts/make_fillers.py`): {n} files — 6 scripts × 4 flite voices (slt, rms, awb, kal16) × "
        f"clean / pink noise at 10 dB; {per_voice} fillers said per voice and condition (um, uh, er, ah, hmm), "
        "one script without any.\n\n"
        "| decoding | filler recall | filler precision | fillers counted in the script without any | WER | "
        "“AI” counted exactly | pace error median / max |\n|---|---|---|---|---|---|---|\n"
        f"{row('default')}\n{row('filler mode')}\n\n"
        f"Per voice, condition and filler, recall/precision — default: {voices('default')}; filler mode: "
        f"{voices('filler mode')}.\n\n"
        f"{dev_line}"
        "Made by `python scripts/make_fillers.py && python scripts/bench_fillers.py`. Pace error is the transcript's "
        "word count against the script's over the same time.\n"
        f"{MARK_END}"
    )
    f = results["filler mode"]["all"]
    line = (
        f"- {stamp} `{commit()}` fillers ({args.path}): filler mode recall {f['recall']:.2f} precision "
        f"{f['precision']:.2f}, WER {results['filler mode']['wer']:.3f} (default {results['default']['wer']:.3f})"
    )
    print(block)
    if not args.no_write:
        write_section(MARK_BEGIN, MARK_END, block, line)
        print(f"bench_fillers: wrote {BENCH_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Counting an archive: many files, folders, worker processes, stored results, shards — real model, real files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, damaged_copy, run_cli

from voicecount import batch
from voicecount.matcher import DEFAULT_KEYWORDS

SAMPLE = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"
SAMPLE_AI = 4


@pytest.fixture(scope="module")
def talks(tmp_path_factory, speak):
    """A folder of three short talks (nested), a corrupt file, a file with no sound and a note that is no audio."""
    root = tmp_path_factory.mktemp("archive")
    (root / "day2").mkdir()
    shutil.copy(SAMPLE, root / "keynote.wav")
    shutil.copy(speak("Python is what we use. We moved the whole service to Python last year."), root / "python.wav")
    shutil.copy(speak("We talked about the weather and the trains today."), root / "day2" / "weather.wav")
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(400))
    (root / "empty.mp3").write_bytes(b"")
    (root / "notes.txt").write_text("not audio, not looked at")
    return root


def jsonl(path: Path) -> dict[str, dict]:
    return {r["file"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_a_folder_with_bad_files_counts_the_good_ones_and_says_which_failed(talks, tmp_path):
    out_csv, out_jsonl = tmp_path / "counts.csv", tmp_path / "counts.jsonl"
    proc = run_cli(
        "count", str(talks), "-k", "AI", "-k", "Python", "--jobs", "2", "--csv", str(out_csv),
        "--jsonl", str(out_jsonl), "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # some failed: the exit code says so
    assert "Traceback" not in proc.stderr
    skipped = [ln for ln in proc.stderr.splitlines() if ln.startswith("voicecount: skipped")]
    assert sorted(ln.removeprefix("voicecount: skipped ").split(":")[0] for ln in skipped) == [
        "broken.wav",
        "empty.mp3",
    ]
    assert all(" — " in ln for ln in skipped), skipped  # each says how to fix it
    assert "notes.txt" not in proc.stdout + proc.stderr  # not a media file: not looked at

    rows = jsonl(out_jsonl)
    assert set(rows) == {"keynote.wav", "python.wav", "day2/weather.wav", "broken.wav", "empty.mp3"}
    assert rows["keynote.wav"]["counts"] == {"AI": SAMPLE_AI, "Python": 0}
    assert rows["python.wav"]["counts"] == {"AI": 0, "Python": 2}
    assert rows["day2/weather.wav"]["counts"] == {"AI": 0, "Python": 0}
    for name in ("keynote.wav", "python.wav", "day2/weather.wav"):
        r = rows[name]
        assert r["error"] == "" and r["decoding"] == "recording" and r["cached"] is False
        assert r["duration"] > 2 and r["words"] > 5 and 60 < r["wpm"] < 300
        assert len(r["hits"]) == sum(r["counts"].values()) and r["session"]
    # The CSV holds the same numbers as the JSON lines.
    with open(out_csv, newline="") as f:
        table = {r["file"]: r for r in csv.DictReader(f)}
    assert set(table) == set(rows)
    for name, r in rows.items():
        failed = name in ("broken.wav", "empty.mp3")
        assert (table[name]["error"] != "") == failed
        if failed:  # no counts, rather than counts of zero
            assert table[name]["AI"] == table[name]["Python"] == "" and r["counts"] == {}
            continue
        assert int(table[name]["AI"]) == r["counts"]["AI"] and int(table[name]["Python"]) == r["counts"]["Python"]
        assert float(table[name]["duration"]) == r["duration"] and table[name]["session"] == r["session"]
    # stdout: the table, a row per file and the totals
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["file", "duration", "wpm", "AI", "Python"]
    total = lines[-1].split()
    assert total[0] == "total" and total[-2:] == [str(SAMPLE_AI), "2"]


def test_each_file_of_a_batch_is_a_session(talks, tmp_path):
    out = tmp_path / "c.jsonl"
    proc = run_cli("count", str(talks / "keynote.wav"), str(talks / "python.wav"), "--jsonl", str(out), "-j", "1")
    assert proc.returncode == 0, proc.stderr
    for r in jsonl(out).values():
        shown = run_cli("sessions", "show", r["session"])
        assert shown.returncode == 0, shown.stderr
        assert r["file"] in shown.stdout  # the session names its recording


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_rerun_resumes_an_interrupted_batch(talks, tmp_path, voicecount_home, jobs):
    """Ctrl-C mid-archive, run again: the files already counted are not decoded again."""
    folder = tmp_path / "talks"
    folder.mkdir()
    for i in range(6):  # more files than workers, each long enough that some are still waiting at the interrupt
        shutil.copy(SAMPLE, folder / f"talk{i}.wav")
        with open(folder / f"talk{i}.wav", "ab") as f:
            f.write(bytes([i]) * 64)  # bytes after the audio: another file's content, the same speech
    cmd = [sys.executable, "-m", "voicecount", "count", str(folder), "--jobs", str(jobs), "--no-progress"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "VOICECOUNT_HOME": str(voicecount_home)},
    )  # fmt: skip
    assert proc.stdout is not None
    header = proc.stdout.readline()
    assert header.startswith("file"), header + proc.stderr.read() if proc.stderr else ""
    first = proc.stdout.readline()  # a file is done
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers too
    t0 = time.monotonic()
    rest, err = proc.communicate(timeout=120)
    assert time.monotonic() - t0 < 60, "workers were not stopped"
    assert proc.returncode == 130, err
    assert "run the same command again" in err and "Traceback" not in err
    done = {ln.split()[0] for ln in [first, *rest.splitlines()] if ln.strip() and not ln.startswith("total")}
    assert 1 <= len(done) < 6, done

    again = run_cli("count", str(folder), "--jobs", "2", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "recovered session" not in again.stderr  # the interrupted files' sessions were saved, not lost
    rows = {ln.split()[0]: ln for ln in again.stdout.splitlines()[1:-1]}
    assert len(rows) == 6
    cached = {name for name, ln in rows.items() if "(counted before)" in ln}
    # Every file shown as done is not decoded again (a worker may have finished one more that the
    # interrupted run had no time to show); the files cut short are counted now.
    assert done <= cached and len(cached) < 6, (done, cached)
    assert f"{len(cached)} of them counted before" in again.stderr
    assert all(f" {SAMPLE_AI}" in ln for ln in rows.values())
    stored = voicecount_home / "data" / "counted"  # private as sessions are: names, hits and times
    assert stat.S_IMODE(stored.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in stored.rglob("*.json")} == {0o600}

    forced = run_cli("count", str(folder / "talk0.wav"), str(folder / "talk1.wav"), "--force", "--no-progress")
    assert forced.returncode == 0 and "(counted before)" not in forced.stdout


def test_a_stored_result_depends_on_the_settings(talks, tmp_path):
    files = [str(talks / "python.wav")]
    assert "(counted before)" not in run_cli("count", *files, "-k", "Python", "--force").stdout
    assert "(counted before)" in run_cli("count", *files, "-k", "Python", "--jobs", "1").stdout
    other = run_cli("count", *files, "-k", "Python", "-k", "AI", "--jobs", "1")  # other keywords
    assert "(counted before)" not in other.stdout
    live = run_cli("count", *files, "-k", "Python", "--live", "--jobs", "1")  # the other decoding path
    assert "(counted before)" not in live.stdout and "Python" in live.stdout.splitlines()[0]


def test_shards_split_an_archive_with_no_overlap_and_nothing_left_out():
    items = [batch.Item(Path(f"/archive/{i}.wav"), f"talk-{i:04d}.wav") for i in range(500)]
    for n in (1, 2, 3, 8):
        parts = [batch.shard(items, k, n) for k in range(1, n + 1)]
        names = [it.name for part in parts for it in part]
        assert sorted(names) == sorted(it.name for it in items)  # every file once
        assert len(names) == len(set(names))
        assert all(len(p) > 500 / n * 0.6 for p in parts)  # and roughly even
    # The split depends on the names, not on the order or the machine's folder.
    moved = [batch.Item(Path(f"/mnt/other/{it.name}"), it.name) for it in reversed(items)]
    assert {it.name for it in batch.shard(moved, 2, 3)} == {it.name for it in batch.shard(items, 2, 3)}
    # macOS spells "é" decomposed, Linux composed: the same file lands in the same part.
    composed, decomposed = "caf\u00e9/talk.wav", "cafe\u0301/talk.wav"
    for n in (2, 3, 5, 7):
        part = [k for k in range(1, n + 1) if batch.shard([batch.Item(Path("x"), composed)], k, n)]
        assert part == [k for k in range(1, n + 1) if batch.shard([batch.Item(Path("x"), decomposed)], k, n)]


def test_sharded_runs_concatenate_to_the_whole_batch(talks, tmp_path):
    folder = tmp_path / "t"
    shutil.copytree(talks, folder, ignore=shutil.ignore_patterns("broken.wav", "empty.mp3"))
    parts = []
    for k in (1, 2):
        out = tmp_path / f"part{k}.jsonl"
        proc = run_cli("count", str(folder), "--shard", f"{k}/2", "--jsonl", str(out), "--no-progress", "-j", "1")
        assert proc.returncode == 0, proc.stderr
        parts.append(set(jsonl(out)))
    assert parts[0].isdisjoint(parts[1])
    assert parts[0] | parts[1] == {"keynote.wav", "python.wav", "day2/weather.wav"}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--shard", "3/2"], ["--shard", "K/N"]),
        (["--shard", "two"], ["--shard"]),
        (["--jobs", "0"], ["--jobs 0"]),
        (["--export", "md"], ["--export works with one file"]),
    ],
)
def test_bad_batch_options_are_one_line_with_the_fix(talks, args, fragments):
    proc = run_cli("count", str(talks), *args)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("voicecount:")]
    assert len(lines) == 1 and " — " in lines[0], proc.stderr
    assert all(f in lines[0] for f in fragments), lines[0]


def test_inputs_that_name_nothing_are_reported_and_the_rest_counted(talks, tmp_path):
    proc = run_cli("count", str(talks / "python.wav"), str(tmp_path / "nope.wav"), str(tmp_path / "*.flac"), "-j", "1")
    assert proc.returncode == 1
    assert "skipped" in proc.stderr and "no such file or folder" in proc.stderr
    assert "the pattern matches no audio or video files" in proc.stderr
    assert "python.wav" in proc.stdout


def test_globs_and_the_csv_keep_file_names_as_data(tmp_path, speak):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(speak("AI is here."), folder / "=HYPERLINK(1).wav")  # a name a spreadsheet would run
    shutil.copy(speak("AI is here."), folder / " =1+1.wav")  # spreadsheets trim the space first
    out = tmp_path / "c.csv"
    proc = run_cli("count", str(folder / "*.wav"), "--csv", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == ["' =1+1.wav", "'=HYPERLINK(1).wav"]
    assert not any(r["path"].startswith("'") for r in rows.values())


def test_a_failed_file_name_cannot_drive_the_terminal(tmp_path, speak):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(speak("AI is here."), folder / "good.wav")
    (folder / "bad\x1b[2J\x1b]0;pwned\x07.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(400))
    (folder / "\u202egnp.wav").write_bytes(b"not audio")  # shows as "vaw.png"
    table = tmp_path / "c.csv"
    proc = run_cli("count", str(folder), "--no-progress", "-j", "1", "--csv", str(table))
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "skipped" in ln]
    assert len(lines) == 2, proc.stderr
    assert "bad" in lines[0] and ".wav" in lines[0], lines
    # The table is read in a terminal or a spreadsheet as well: the names are text there too.
    for shown in (proc.stderr, proc.stdout, table.read_text(encoding="utf-8")):
        assert not set(shown) & {"\x1b", "\x07", "\u202e"}, shown


def test_a_file_name_that_is_not_utf8_is_counted_and_shown_as_escapes(tmp_path, speak):
    folder = tmp_path / "latin1"
    folder.mkdir()
    talk = os.fsdecode(bytes(folder) + b"/caf\xe9 talk.wav")  # an old Latin-1 archive's name
    shutil.copy(SAMPLE, talk)
    shutil.copy(speak("AI again."), folder / "plain.wav")
    out_csv, out_jsonl = tmp_path / "c.csv", tmp_path / "c.jsonl"
    proc = run_cli("count", str(folder), "-j", "1", "--no-progress", "--csv", str(out_csv), "--jsonl", str(out_jsonl))
    assert proc.returncode == 0, proc.stderr
    assert "caf\\xe9 talk.wav" in proc.stdout and "plain.wav" in proc.stdout
    with open(out_csv, newline="", encoding="utf-8") as f:
        assert sorted(r["file"] for r in csv.DictReader(f)) == ["caf\\xe9 talk.wav", "plain.wav"]
    row = jsonl(out_jsonl)["caf\\xe9 talk.wav"]
    assert row["counts"] == {"AI": SAMPLE_AI} and row["path"].endswith("caf\\xe9 talk.wav")
    one = run_cli("count", talk)  # one file: its session too
    assert one.returncode == 0 and one.stdout.startswith(f"AI: {SAMPLE_AI}"), one.stderr
    assert "caf\\xe9 talk.wav" in run_cli("sessions", "show", "last").stdout


def test_the_recording_path_counts_a_dev_talk_exactly(shared_audio, dev_manifest):
    name = "d03_mixed__festival-kal__clean.wav"
    job = batch.Job("whisper", "tiny.en", tuple(DEFAULT_KEYWORDS), recording=True)
    r = batch.count_one(job, batch.Item(shared_audio / "dev" / name, name))
    assert r.error == "", r.error
    truth = dev_manifest[name]["keywords"]
    assert r.counts == {"AI": truth}
    assert r.duration == pytest.approx(dev_manifest[name]["duration"], abs=0.2)


def test_default_jobs_fit_cores_and_memory():
    assert batch.default_jobs(cpus=2, memory=16 * 2**30) == 2
    assert batch.default_jobs(cpus=16, memory=64 * 2**30) == 16
    assert batch.default_jobs(cpus=64, memory=2 * 2**30) == 4  # memory caps it
    assert batch.default_jobs(cpus=1, memory=0) == 1


def test_a_missing_model_ends_the_batch_in_one_line_before_any_worker(talks, tmp_path):
    proc = run_cli("count", str(talks), "--model", str(tmp_path / "no-model"), "--jobs", "2")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("voicecount:")]
    assert len(lines) == 1 and " — " in lines[0] and "no-model" in lines[0], proc.stderr


def test_a_model_error_crosses_the_process_boundary_whole():
    import pickle

    from voicecount.errors import ModelError

    e = pickle.loads(pickle.dumps(ModelError("the model is broken", "download it again")))
    assert isinstance(e, ModelError) and (e.problem, e.fix) == ("the model is broken", "download it again")


def _rss_pages(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _big_worker(parent: int, besides: set[int], seconds: float = 120) -> int:
    """A worker of the batch: a child that has loaded the model (the resource tracker stays ~15 MB)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for p in _children(parent):
            if p not in besides and _rss_pages(p) * os.sysconf("SC_PAGE_SIZE") > 100 * 2**20:
                return p
        time.sleep(0.05)
    raise AssertionError("no worker loaded the model")


def _four_talks(tmp_path: Path) -> Path:
    """Four copies of the sample, each its own content (a stored result would serve them all)."""
    folder = tmp_path / "talks"
    folder.mkdir()
    for i in range(4):
        shutil.copy(SAMPLE, folder / f"talk{i}.wav")
        with open(folder / f"talk{i}.wav", "ab") as f:
            f.write(bytes([i]) * 64)
    return folder


@pytest.mark.parametrize("kills", [1, 2])
def test_a_worker_that_dies_costs_no_file_but_the_one_that_kills_it(tmp_path, voicecount_home, kills):
    """A worker killed mid-file (what the OOM killer does): the files in flight are counted again,
    alone; a file whose worker dies again, alone, is reported, and the others are counted."""
    folder = _four_talks(tmp_path)
    cmd = [sys.executable, "-m", "voicecount", "count", str(folder), "--jobs", "2", "--no-progress"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "VOICECOUNT_HOME": str(voicecount_home)},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().startswith("file")
    killed: set[int] = set()
    first = _big_worker(proc.pid, killed)
    os.kill(first, signal.SIGKILL)
    killed.add(first)
    if kills == 2:
        # The broken pool's workers are gone; the next to load the model counts a file alone.
        others = set(_children(proc.pid))
        os.kill(_big_worker(proc.pid, others | killed), signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err
    assert "stopped — counting it again, alone" in err
    rows = out.splitlines()[:-1]  # the header was read above; the totals are last
    assert len(rows) == 4, out + err  # every file has its line: counted, or failed
    failed = [ln for ln in err.splitlines() if ln.startswith("voicecount: skipped")]
    if kills == 1:
        assert proc.returncode == 0 and not failed, err
        assert all(f" {SAMPLE_AI}" in ln for ln in rows), out
    else:
        assert proc.returncode == 1, err  # some failed
        assert len(failed) == 1 and "stopped, twice" in failed[0] and " — " in failed[0], err
        assert sum(" failed" in ln for ln in rows) == 1


def test_the_batch_bar_times_only_the_audio_it_decodes(monkeypatch, capsys):
    import sys

    from voicecount.console import BatchProgress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is drawn on terminals only
    bar = BatchProgress(4, 4 * 3600)
    assert bar.bar is not None and bar.bar.total == 4
    # A resumed run: two hours come back from the store in no time; they must not make the rate.
    bar.advance(3600, cached=True)
    bar.advance(3600, cached=True)
    assert bar.bar.total == 2 and bar.bar.n == 0
    bar.advance(3600)
    assert bar.bar.n == 1 and bar.bar.total == 2
    assert "3/4 files, 3.00/4.00 h audio" in bar.bar.desc  # the description still counts every file
    bar.close()


def test_a_damaged_file_is_counted_whole_and_the_batch_says_so(tmp_path, voicecount_home):
    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "clean.wav")
    mp3 = tmp_path / "talk.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(SAMPLE), str(mp3)], check=True)
    damaged_copy(mp3, folder / "damaged.mp3")
    table = tmp_path / "out.csv"
    proc = run_cli("count", str(folder), "--jobs", "1", "--no-progress", "--csv", str(table))
    assert proc.returncode == 0, proc.stderr
    assert "damaged piece(s) of damaged.mp3 would not decode and were skipped" in proc.stderr
    rows = {r["file"]: r for r in csv.DictReader(table.open(encoding="utf-8"))}
    assert rows["clean.wav"]["damaged"] == "0" and int(rows["damaged.mp3"]["damaged"]) >= 1
    assert float(rows["clean.wav"]["damaged_seconds"]) == 0 and float(rows["damaged.mp3"]["damaged_seconds"]) > 0
    assert float(rows["damaged.mp3"]["duration"]) > 0.95 * float(rows["clean.wav"]["duration"])
    # The session keeps it too: sessions show, and every export that describes the recording.
    sid = rows["damaged.mp3"]["session"]
    shown = run_cli("sessions", "show", sid)
    assert "would not decode and were skipped" in shown.stdout, shown.stdout
    assert "would not decode" not in run_cli("sessions", "show", rows["clean.wav"]["session"]).stdout
    assert json.loads(run_cli("export", sid, "--format", "json").stdout)["damaged"] >= 1
    assert "damaged piece(s) of the file skipped" in run_cli("export", sid, "--format", "md").stdout


def one_error(proc, *fragments: str) -> None:
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("voicecount:") and " — " in ln]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), proc.stderr


def test_an_output_never_overwrites_a_recording(talks, tmp_path):
    """An unquoted glob gives --csv a talk: refused, the talk untouched."""
    talk = tmp_path / "keynote.wav"
    shutil.copy(SAMPLE, talk)
    before = talk.read_bytes()
    one_error(run_cli("count", "--csv", str(talk), str(talks / "python.wav")), "--csv", "would overwrite a recording")
    one_error(run_cli("count", str(talks / "python.wav"), "--jsonl", str(talk)), "would overwrite a recording")
    both = str(tmp_path / "out.txt")
    one_error(run_cli("count", str(talks / "python.wav"), "--csv", both, "--jsonl", both), "the same file")
    assert talk.read_bytes() == before
    # A write that fails on the way (a full disk) is one line, not a bug report.
    one_error(run_cli("count", str(talks / "python.wav"), "-j", "1", "--jsonl", "/dev/full"), "cannot write")


def test_a_glob_run_again_does_not_count_its_own_outputs(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "keynote.wav")
    outputs = ("--csv", str(tmp_path / "counts.csv"), "--jsonl", str(tmp_path / "counts.jsonl"), "-j", "1")
    for _ in range(2):
        proc = run_cli("count", str(tmp_path / "*"), *outputs, "--no-progress")
        assert proc.returncode == 0, proc.stderr
        assert list(jsonl(tmp_path / "counts.jsonl")) == ["keynote.wav"]


def test_a_keyword_named_like_a_column_gets_its_own(talks, tmp_path):
    out = tmp_path / "c.csv"
    proc = run_cli("count", str(talks / "python.wav"), str(talks / "keynote.wav"), "-k", "model", "--csv", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert {r["model"] for r in rows} == {"tiny.en"} and all(r["model (keyword)"].isdigit() for r in rows)


def test_a_stored_result_names_a_session_of_that_file_only(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(SAMPLE, tmp_path / "a" / "talk.wav")
    shutil.copy(SAMPLE, tmp_path / "b" / "copy.wav")  # the same audio under another name
    out = tmp_path / "r.jsonl"
    run = ("-j", "1", "--jsonl", str(out), "--no-progress")
    assert run_cli("count", str(tmp_path / "a"), *run).returncode == 0
    session = jsonl(out)["talk.wav"]["session"]
    assert session
    assert run_cli("count", str(tmp_path / "b"), *run).returncode == 0
    copy = jsonl(out)["copy.wav"]
    assert copy["cached"] and copy["counts"] == {"AI": SAMPLE_AI} and copy["session"] == ""
    assert run_cli("sessions", "delete", session).returncode == 0
    assert run_cli("count", str(tmp_path / "a"), *run).returncode == 0
    assert jsonl(out)["talk.wav"]["session"] == ""  # deleted: not shown as if it were there


def test_an_input_that_names_nothing_is_reported_by_one_shard(talks, tmp_path):
    errors = 0
    for k in (1, 2):
        out = tmp_path / f"p{k}.jsonl"
        args = (str(talks / "python.wav"), str(tmp_path / "nope.wav"), "--shard", f"{k}/2", "--jsonl", str(out))
        run_cli("count", *args, "-j", "1", "--no-progress")
        errors += sum(1 for r in jsonl(out).values() if r["error"]) if out.exists() else 0
    assert errors == 1


def test_a_folder_is_read_through_its_symlinked_subfolders_once(tmp_path):
    archive, elsewhere = tmp_path / "archive", tmp_path / "elsewhere" / "day2"
    archive.mkdir()
    elsewhere.mkdir(parents=True)
    shutil.copy(SAMPLE, archive / "day1.wav")
    shutil.copy(SAMPLE, elsewhere / "talk.wav")
    (archive / "day2").symlink_to(elsewhere)
    (archive / "loop").symlink_to(archive)  # a link back up the tree must not walk for ever
    items, problems = batch.collect([str(archive)])
    assert sorted(it.name for it in items) == ["day1.wav", "day2/talk.wav"] and not problems


def test_a_file_reached_two_ways_is_named_by_its_real_folder(tmp_path):
    for n in range(6):
        (tmp_path / f"real{n}").mkdir()
        shutil.copy(SAMPLE, tmp_path / f"real{n}" / "a.wav")
        (tmp_path / f"link{n}").symlink_to(tmp_path / f"real{n}")
    items, _ = batch.collect([str(tmp_path)])
    assert sorted(it.name for it in items) == [f"real{n}/a.wav" for n in range(6)]


def test_workers_do_not_outlive_a_parent_killed_outright(tmp_path, voicecount_home):
    """kill -9 of the parent sends the workers nothing: they stopped only when killed by hand."""
    import psutil

    folder = _four_talks(tmp_path)
    cmd = [sys.executable, "-m", "voicecount", "count", str(folder), "--jobs", "2", "--no-progress"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "VOICECOUNT_HOME": str(voicecount_home)},
    )  # fmt: skip
    worker = psutil.Process(_big_worker(proc.pid, set()))
    workers = [psutil.Process(p) for p in _children(proc.pid) if p != worker.pid] + [worker]
    proc.kill()
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=60)
    for p in alive:
        p.kill()
    assert not alive, [p.cmdline()[-3:] for p in alive]
    # The file in flight is a session kept, not lost: stopped, or recovered by the next command.
    listing = run_cli("sessions", "list", env={"VOICECOUNT_HOME": str(voicecount_home)})
    assert "recording" not in listing.stdout, listing.stdout


def test_a_fifo_or_a_link_to_nowhere_is_reported_not_waited_on(tmp_path, voicecount_home):
    """Opening a FIFO waits for a writer: `count fifo.wav` hung until killed."""
    folder = tmp_path / "odd"
    folder.mkdir()
    os.mkfifo(folder / "fifo.wav")
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    one = run_cli("count", str(folder / "fifo.wav"), timeout=60)
    assert one.returncode == 1 and "is not a regular file" in one.stderr, one.stderr
    shutil.copy(SAMPLE, tmp_path / "talk.wav")
    many = run_cli("count", str(folder / "fifo.wav"), str(folder / "loop.wav"), str(tmp_path / "talk.wav"), timeout=120)
    assert many.returncode == 1, many.stderr
    skipped = [ln for ln in many.stderr.splitlines() if "skipped" in ln]
    assert len(skipped) == 2 and all("not a regular file" in ln for ln in skipped), many.stderr
    assert f" {SAMPLE_AI}" in many.stdout


def test_a_file_gone_during_the_batch_says_so(tmp_path, voicecount_home):
    job = batch.Job("whisper", None, DEFAULT_KEYWORDS)
    result = batch.count_one(job, batch.Item(tmp_path / "moved.wav", "moved.wav"))
    assert result.error.startswith("it is gone (moved or deleted while the batch ran)"), result.error


def test_a_full_disk_leaves_whole_lines_and_names_the_file(tmp_path):
    """A --csv on a full disk kept a row cut short, and the error named both outputs."""
    import resource

    out_csv, out_jsonl = tmp_path / "c.csv", tmp_path / "c.jsonl"
    files = batch.ResultFiles(str(out_csv), str(out_jsonl), ["AI"])
    limit = 2000  # bytes a file may grow to: a full disk, as the kernel reports it (EFBIG)
    before = resource.getrlimit(resource.RLIMIT_FSIZE), signal.getsignal(signal.SIGXFSZ)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, before[0][1]))
    try:
        with pytest.raises(batch.ConfigError) as full:
            for i in range(100):
                name = f"talk {i:03d} with a rather long name to fill the disk sooner.wav"
                files.add(batch.FileResult(name, f"/archive/{name}", 61.5, 150, {"AI": i}, session="x"))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before[0])
        signal.signal(signal.SIGXFSZ, before[1])
        files.close()
    assert str(out_csv) in full.value.problem or str(out_jsonl) in full.value.problem
    assert " or " not in full.value.problem  # the one that failed
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) > 2 and {len(r) for r in rows} == {len(rows[0])}  # every row whole
    assert out_csv.read_bytes().endswith(b"\r\n") and out_jsonl.read_bytes().endswith(b"\n")
    assert all(json.loads(line) for line in out_jsonl.read_text().splitlines())


def test_results_can_go_to_a_pipe(tmp_path, voicecount_home):
    """--jsonl /dev/stdout (or --csv >(…)) failed with "Illegal seek": a pipe has no position."""
    shutil.copy(SAMPLE, tmp_path / "talk.wav")
    proc = run_cli("count", str(tmp_path / "talk.wav"), "--jsonl", "/dev/stdout", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    [row] = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert row["counts"] == {"AI": SAMPLE_AI}

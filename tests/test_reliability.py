"""Offline guarantee, long files streamed, and sessions that stay readable."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import stat
import subprocess

import pytest
from conftest import ROOT, run_cli

from voicecount import cli
from voicecount import session as sessions
from voicecount.audio import FileSource

SAMPLE = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection attempt fails the test (AF_UNIX included: nothing here needs one)."""
    attempts = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    yield attempts
    assert attempts == []


@pytest.fixture
def in_process_cli():
    """Run cli.main here (so the socket block applies) and put the signal handlers back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def run(*args: str) -> int:
        try:
            return cli.main(list(args))
        finally:
            for s, h in saved.items():
                signal.signal(s, h)

    return run


def test_nothing_touches_the_network(no_network, in_process_cli, capsys, tmp_path):
    assert in_process_cli("count", str(SAMPLE), "--json", "--no-progress") == 0
    counted = json.loads(capsys.readouterr().out)
    assert counted["counts"]["AI"] >= 1
    assert in_process_cli("listen", "--no-gui", "--input", str(SAMPLE)) == 0
    assert "total AI:" in capsys.readouterr().out
    for fmt in ("md", "srt", "json"):
        assert in_process_cli("export", "last", "--format", fmt, "-o", str(tmp_path / f"out.{fmt}")) == 0
    assert in_process_cli("summarize", "last") == 0
    assert "Highlights (" in capsys.readouterr().out
    model = ("--model", "smollm2", "--max-tokens", "40", "--threads", "2", "--context", "1024")
    # 1: the tiny model wrote no line the transcript supports (nothing saved) — still no network.
    assert in_process_cli("summarize", "last", *model) in (0, 1)
    assert "Summary (by" in capsys.readouterr().out
    assert in_process_cli("search", "users") == 0
    assert in_process_cli("ask", "last", "what do the users need?", *model[:2]) == 0
    assert "Answer (by" in capsys.readouterr().out


def test_a_three_hour_file_is_streamed_not_loaded(tmp_path):
    long = tmp_path / "three-hours.flac"
    subprocess.run(
        ["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", str(long), "trim", "0", "3:00:00"], check=True
    )
    src = FileSource(long)
    assert src.duration == pytest.approx(3 * 3600, abs=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    samples = 0
    for chunk in src.chunks():
        samples += chunk.size
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert samples == 3 * 3600 * 16000
    assert grown_mb < 60, f"peak memory grew {grown_mb:.0f} MB: the file was not streamed"  # whole: 345 MB


def test_a_read_only_session_still_lists_and_exports(tmp_path):
    proc = run_cli("count", str(SAMPLE), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    sid = sessions.list_ids()[-1]
    folder = sessions.sessions_dir() / sid
    meta = json.loads((folder / "meta.json").read_text())
    meta["status"] = "recording"  # as if it had been killed, and then made read-only
    meta["pid"] = 999_999_999
    (folder / "meta.json").write_text(json.dumps(meta))
    for f in folder.iterdir():
        f.chmod(0o400)
    folder.chmod(0o500)
    try:
        listing = run_cli("sessions", "list")
        assert listing.returncode == 0 and sid in listing.stdout and "Traceback" not in listing.stderr
        out = run_cli("export", sid, "--format", "txt")
        assert out.returncode == 0 and "AI" in out.stdout
    finally:
        folder.chmod(0o700)
        for f in folder.iterdir():
            f.chmod(0o600)


def test_a_reused_pid_does_not_keep_a_killed_session_unrecovered(tmp_path):
    """After a reboot a new process can hold the dead one's PID: it started after the session did."""
    import sys

    proc = run_cli("count", str(SAMPLE), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    sid = sessions.list_ids()[-1]
    meta_file = sessions.sessions_dir() / sid / "meta.json"
    meta = json.loads(meta_file.read_text())
    assert meta["pid_started"] > 0
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        # Killed before the stranger started, and its PID given to the stranger.
        meta.update(status="recording", pid=stranger.pid, pid_started=meta["pid_started"] - 3600)
        meta_file.write_text(json.dumps(meta))
        listing = run_cli("sessions", "list")
        assert listing.returncode == 0, listing.stderr
        assert json.loads(meta_file.read_text())["status"] == "recovered"

        # The same PID and the same start: the session's own process, still running.
        import psutil

        meta.update(status="recording", pid_started=psutil.Process(stranger.pid).create_time())
        meta_file.write_text(json.dumps(meta))
        assert run_cli("sessions", "list").returncode == 0
        assert json.loads(meta_file.read_text())["status"] == "recording"

        # A session written before pid_started existed, an hour ago: judged by when it started.
        from datetime import datetime, timedelta

        del meta["pid_started"]
        meta["started_at"] = (datetime.now() - timedelta(hours=1)).astimezone().isoformat(timespec="seconds")
        meta_file.write_text(json.dumps(meta))
        assert run_cli("sessions", "list").returncode == 0
        assert json.loads(meta_file.read_text())["status"] == "recovered"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_summary_that_cannot_be_saved_is_one_clear_line(tmp_path):
    proc = run_cli("count", str(SAMPLE), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    sid = sessions.list_ids()[-1]
    # meta.json cannot be replaced (even for root, who ignores file modes): its temporary name is a folder.
    (sessions.sessions_dir() / sid / "meta.json.tmp").mkdir()
    out = run_cli("summarize", sid)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "unexpected" not in out.stderr
    assert "voicecount: cannot save the summary" in out.stderr and " — " in out.stderr, out.stderr
    assert "AI" in out.stdout  # the summary itself was shown


def test_a_killed_count_leaves_a_recoverable_session(shared_audio):
    """kill -9 during `count` (not only listen): the journal holds what was final."""
    import sys
    import time

    talk = shared_audio / "dev" / "d01_intro__flite-rms__clean.wav"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", "count", str(talk), "--realtime", "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 120
    while True:
        ids = sessions.list_ids()
        if ids and (sessions.sessions_dir() / ids[0] / "journal.jsonl").stat().st_size > 500:
            break
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    # The first command after the crash, even an export, finds it and says so.
    exported = run_cli("export", "last", "--format", "json")
    assert exported.returncode == 0 and "recovered session" in exported.stderr, exported.stderr
    assert json.loads(exported.stdout)["status"] == "recovered"
    recovered = sessions.all_sessions()
    assert [s.id for s in recovered] == ids
    s = sessions.load(ids[0])
    assert s.meta.status == "recovered" and s.segments
    assert stat.S_IMODE(os.stat(s.path / "meta.json").st_mode) == 0o600

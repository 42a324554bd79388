"""The model downloader against a real HTTP server on 127.0.0.1, serving archives built here."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import stat
import threading
import zipfile

import pytest
from conftest import run_cli

from voicecount import download
from voicecount.errors import ModelError
from voicecount.paths import models_dir


def vosk_like_zip(extra: dict | None = None, links: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("vosk-model-test/am/final.mdl", b"\x00" * 5000)
        z.writestr("vosk-model-test/conf/model.conf", "--sample-frequency=16000\n")
        z.writestr("vosk-model-test/README", "test model\n")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return buf.getvalue()


class Server:
    """Serves files from a dict; modes make it misbehave like real servers do."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}  # path -> close the connection after N bytes (once)
        self.fail: dict[str, int] = {}  # path -> HTTP status
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range", "")))
                if self.path in server.fail:
                    self.send_error(server.fail[self.path])
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_after.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-way
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_good_zip_installs_atomically_with_a_marker(server):
    data = vosk_like_zip()
    server.files["/m.zip"] = data
    seen = []
    path = download.install(
        "vosk-model-test", server.url("/m.zip"), len(data), sha(data), lambda g, t: seen.append((g, t))
    )
    assert path == models_dir() / "vosk-model-test"
    assert (path / "am" / "final.mdl").stat().st_size == 5000 and (path / ".complete").is_file()
    assert seen[-1] == (len(data), len(data))
    assert sorted(p.name for p in models_dir().iterdir()) == ["vosk-model-test"]  # no leftovers
    # now a real engine lookup finds it by name
    from voicecount.models import available

    assert any(m["name"] == "vosk-model-test" and m["engine"] == "vosk" for m in available())


def test_a_dropped_connection_resumes_with_a_range_request(server):
    data = vosk_like_zip(extra={"vosk-model-test/big.bin": bytes(range(256)) * 2000})
    server.files["/m.zip"] = data
    server.cut_after["/m.zip"] = 100_000
    with pytest.raises(ModelError, match="run the same command again"):
        download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))
    assert not (models_dir() / "vosk-model-test").exists()  # half a download never looks installed
    path = download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))
    assert (path / ".complete").is_file()
    assert server.requests[-1] == ("/m.zip", "bytes=100000-")


def test_a_wrong_checksum_is_refused_and_deleted(server):
    data = vosk_like_zip()
    server.files["/m.zip"] = data
    with pytest.raises(ModelError, match="does not match its checksum"):
        download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(b"something else"))
    assert list(models_dir().iterdir()) == []


@pytest.mark.parametrize(
    "extra, links, problem",
    [
        ({"../../evil.txt": "x"}, None, "outside its folder"),
        ({"/etc/evil.txt": "x"}, None, "outside its folder"),
        ({"vosk-model-test/../../evil": "x"}, None, "outside its folder"),
        (None, {"vosk-model-test/link": "/etc/passwd"}, "link or special file"),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink"],
)
def test_hostile_archives_are_refused_and_nothing_is_unpacked(server, tmp_path, extra, links, problem):
    data = vosk_like_zip(extra, links)
    server.files["/m.zip"] = data
    with pytest.raises(ModelError, match=problem):
        download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))
    assert not (models_dir() / "vosk-model-test").exists()
    assert not (models_dir().parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert list(models_dir().iterdir()) == []  # not the refused archive either: it is no use again


def test_an_archive_whose_file_is_also_a_folder_is_one_clear_line(server):
    data = vosk_like_zip({"vosk-model-test/a": "x", "vosk-model-test/a/b": "y"})
    server.files["/m.zip"] = data
    with pytest.raises(ModelError, match="cannot unpack"):
        download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))
    assert list(models_dir().iterdir()) == []


def test_a_folder_already_there_is_never_replaced_by_another_download(server):
    data, other = vosk_like_zip(), vosk_like_zip({"vosk-model-test/extra": "z"})
    server.files["/m.zip"], server.files["/other.zip"] = data, other
    mine = models_dir() / "vosk-model-test"
    (mine / "am").mkdir(parents=True)
    (mine / "MY-NOTES.txt").write_text("unpacked by hand")  # as the README says users may do
    with pytest.raises(ModelError, match="not installed by voicecount"):
        download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))
    assert (mine / "MY-NOTES.txt").read_text() == "unpacked by hand" and server.requests == []
    shutil.rmtree(mine)
    path = download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))
    assert download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data)) == path  # no refetch
    assert len(server.requests) == 1
    with pytest.raises(ModelError, match="already installed from http"):  # another model under the same name
        download.install("vosk-model-test", server.url("/other.zip"), len(other), sha(other))
    assert not (path / "extra").exists()


def test_an_oversized_archive_is_refused(server, monkeypatch):
    monkeypatch.setattr(download, "MAX_UNPACKED", 4000)
    data = vosk_like_zip()
    server.files["/m.zip"] = data
    with pytest.raises(ModelError, match="unpacks to more than"):
        download.install("vosk-model-test", server.url("/m.zip"), len(data), sha(data))


def test_a_server_error_is_one_clear_line(server):
    server.fail["/m.zip"] = 503
    proc = run_cli("models", "download", "--url", server.url("/m.zip"), "--sha256", "a" * 64)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "HTTP 503" in proc.stderr and " — " in proc.stderr


def test_cli_download_by_url_and_offline_failure(server):
    data = vosk_like_zip()
    server.files["/vosk-model-test.zip"] = data
    proc = run_cli("models", "download", "--url", server.url("/vosk-model-test.zip"), "--sha256", sha(data))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("vosk-model-test")
    listing = run_cli("models", "list")
    assert "vosk-model-test" in listing.stdout and "downloaded" in listing.stdout
    offline = run_cli("models", "download", "--url", "http://127.0.0.1:9/x.zip", "--sha256", "b" * 64)
    assert offline.returncode == 1 and "cannot download" in offline.stderr and offline.stderr.count("\n") == 1


def test_every_catalogue_entry_is_pinned_and_the_tiny_en_pins_match_the_bundled_model():
    """Each entry pins size and SHA-256 of every file; tiny.en's pins are checked against real bytes."""
    from voicecount.models import bundled_tiny_en

    names = [e.name for e in download.CATALOGUE]
    for wanted in (
        "vosk-model-small-en-us-0.15",
        "vosk-model-en-us-0.22-lgraph",
        "faster-whisper-tiny.en",
        "faster-whisper-base.en",
        "faster-whisper-small.en",
    ):
        assert wanted in names
    assert any(e.engine == "llm" for e in download.CATALOGUE)
    for e in download.CATALOGUE:
        assert e.pinned, e.name
        for f in e.files:
            assert f.url.startswith("https://") and len(f.sha256) == 64 and f.size > 0, (e.name, f)
            if "huggingface.co" in f.url:
                assert "/resolve/main/" not in f.url, f"{e.name}: pin a revision, not main"
    tiny = download.find("faster-whisper-tiny.en")
    bundled = bundled_tiny_en()
    for f in tiny.files:
        assert (bundled / f.path).stat().st_size == f.size, f.path
        assert download._sha256(bundled / f.path) == f.sha256, f.path


def folder_entry(server, files: dict[str, bytes], sha_override: dict | None = None) -> download.Entry:
    pins = []
    for name, data in files.items():
        server.files[f"/repo/{name}"] = data
        pins.append(
            download.Pinned(name, server.url(f"/repo/{name}"), len(data), (sha_override or {}).get(name, sha(data)))
        )
    return download.Entry("faster-whisper-test", "whisper", server.url("/repo"), tuple(pins))


WHISPER_LIKE = {
    "config.json": b'{"alignment_heads": []}',
    "model.bin": bytes(range(256)) * 800,
    "tokenizer.json": b"{}",
    "vocabulary.txt": b"a\nb\n",
}


def test_a_multi_file_model_installs_as_one_folder_and_resumes_file_by_file(server):
    entry = folder_entry(server, WHISPER_LIKE)
    server.cut_after["/repo/model.bin"] = 50_000
    with pytest.raises(ModelError, match="run the same command again"):
        download.install_entry(entry)
    assert not (models_dir() / "faster-whisper-test").exists()  # half a model never looks installed
    seen = []
    path = download.install_entry(entry, lambda got, total: seen.append((got, total)))
    assert path == models_dir() / "faster-whisper-test" and (path / ".complete").is_file()
    assert {p.name for p in path.iterdir()} == set(WHISPER_LIKE) | {".complete"}
    assert ("/repo/model.bin", "bytes=50000-") in server.requests  # resumed, not restarted
    assert [r for r in server.requests if r[0] == "/repo/config.json"] == [("/repo/config.json", "")]  # fetched once
    assert seen[-1] == (entry.size, entry.size)
    assert sorted(p.name for p in models_dir().iterdir()) == ["faster-whisper-test"]  # staging folder gone
    from voicecount.models import available

    assert any(m["name"] == "faster-whisper-test" and m["engine"] == "whisper" for m in available())


def test_one_bad_file_in_a_multi_file_model_installs_nothing(server):
    entry = folder_entry(server, WHISPER_LIKE, {"tokenizer.json": sha(b"not this")})
    with pytest.raises(ModelError, match="does not match its checksum"):
        download.install_entry(entry)
    assert not (models_dir() / "faster-whisper-test").exists()


def test_a_catalogue_gguf_installs_as_a_file_the_summariser_finds_by_name(server):
    data = b"GGUF" + bytes(1000)
    server.files["/m.gguf"] = data
    entry = download.Entry(
        "test-model.gguf",
        "llm",
        server.url("/"),
        (download.Pinned("test-model.gguf", server.url("/m.gguf"), len(data), sha(data)),),
    )
    path = download.install_entry(entry)
    assert path == models_dir() / "test-model.gguf" and path.read_bytes() == data
    from voicecount.summarize import resolve_model

    assert resolve_model("test-model.gguf") == path


def test_unpinned_entries_are_not_downloaded_and_unknown_names_list_the_choices():
    unpinned = download.Entry(
        "x",
        "vosk",
        "https://alphacephei.com/vosk/models",
        (download.Pinned("", "https://alphacephei.com/vosk/models/x.zip", 0, None),),
    )
    with pytest.raises(ModelError, match="no pinned checksum") as err:
        download.install_entry(unpinned)
    assert "alphacephei.com" in str(err.value)
    proc = run_cli("models", "download", "nope")
    assert proc.returncode == 1 and "choose one of" in proc.stderr and "faster-whisper-base.en" in proc.stderr


def test_catalogue_downloads_fail_offline_in_one_line():
    """No network here (a dead proxy makes sure of it): one clear line, nothing installed."""
    proc = run_cli(
        "models",
        "download",
        "vosk-model-small-en-us-0.15",
        env={"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("voicecount:")]
    assert len(lines) == 1 and "cannot download" in lines[0] and "run the same command again" in lines[0], proc.stderr
    assert not (models_dir() / "vosk-model-small-en-us-0.15").exists()

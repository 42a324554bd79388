"""The web view in a real browser (Debian's chromium through Playwright), and its security checks.

Most tests serve a run driven by the scripted engine (tests/scripted.py) through the real
pipeline and server, so they take a second or two; one replays a dev talk through
`voicecount listen --no-gui --web` with the bundled model, as a user would.
"""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import ROOT, run_cli
from scripted import GatedSource, ScriptedEngine, final, next_event, partial
from test_cli import one_line_error

from voicecount.events import CountChange, FinalText, Ready, Status
from voicecount.matcher import DEFAULT_KEYWORDS, parse_keyword
from voicecount.run import Run
from voicecount.web.server import WebView

TALK = "d04_fast__flite-slt__clean.wav"  # 30 s, says "AI" twice; tiny.en counts it exactly
MARKUP_KEYWORD = parse_keyword("<i>Tag</i>=tag")


class Served:
    """A run on a gated source and the scripted engine, with its web view and a test subscription."""

    def __init__(self, keywords=DEFAULT_KEYWORDS, port: int = 0, **options) -> None:
        self.engine, self.source = ScriptedEngine(), GatedSource()
        self.run = Run(self.source, lambda: self.engine, keywords)
        self.view = self.run.pipeline.subscribe()
        self.web = WebView(self.run, port=port, **options)
        self.url = self.web.start()
        self.base = self.url.split("/?")[0]
        self.token = self.web.token
        self.run.start()
        next_event(self.view, lambda ev: isinstance(ev, Ready))

    def say(self, *events) -> None:
        self.engine.say(*events)
        self.source.feed()

    def page(self, path: str, **params) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"token": self.token, **params}.items())
        return f"{self.base}{path}?{query}"

    def close(self) -> None:
        self.source.end()
        self.run.wait()
        self.web.close()


@pytest.fixture
def served():
    s = Served([*DEFAULT_KEYWORDS, MARKUP_KEYWORD])
    yield s
    s.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 800, "height": 400})
    p = context.new_page()
    yield p
    context.close()


def text_of(page, selector: str, nth: int = 0) -> str:
    return page.locator(selector).nth(nth).text_content() or ""


def wait_text(page, selector: str, text: str, nth: int = 0, timeout: float = 10) -> None:
    """Wait until the element shows exactly ``text``."""
    deadline = time.monotonic() + timeout
    while text_of(page, selector, nth) != text:
        if time.monotonic() > deadline:
            pytest.fail(f"{selector} shows {text_of(page, selector, nth)!r}, not {text!r}, after {timeout:.0f} s")
        page.wait_for_timeout(20)


def wait_js(page, expression: str, timeout: float = 10) -> None:
    """Wait until a JS expression is true (page.wait_for_function evaluates strings, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"{expression} still false after {timeout:.0f} s")
        page.wait_for_timeout(20)


def http(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# ------------------------------------------------------------------ pages


def test_overlay_page_shows_counts_and_caption_as_text_on_a_transparent_background(served, page):
    from PIL import Image

    page.goto(served.page("/overlay", size=80))
    wait_text(page, ".count", "0")
    assert page.locator(".name").all_text_contents() == ["AI", "<i>Tag</i>"]  # a name is text, not markup
    served.say(partial("so we use AI"))
    wait_text(page, ".count", "1")
    assert "pending" in page.locator(".count").first.get_attribute("class")  # provisional: amber
    served.say(final("so we use AI"))
    wait_js(page, "!document.querySelector('.count').classList.contains('pending')")
    # What the speaker said is data: markup in it is shown, never run.
    served.say(partial("<img src=x onerror=window.pwned=1> <b>bold</b>", start=3.0))
    wait_text(page, "#caption", "<img src=x onerror=window.pwned=1> <b>bold</b>")
    assert page.locator("img, b, i").count() == 0 and page.evaluate("window.pwned") is None
    assert page.locator("#offline").is_hidden()

    shot = Image.open(io.BytesIO(page.screenshot(omit_background=True))).convert("RGBA")
    alpha = shot.getchannel("A")
    assert alpha.getpixel((shot.width - 5, shot.height - 5)) == 0  # the page's background lets the video through
    assert alpha.getpixel((5, shot.height // 2)) == 0
    opaque = sum(alpha.histogram()[201:])
    assert 0.005 < opaque / (shot.width * shot.height) < 0.5  # the counts and the caption are drawn


def test_a_withdrawn_hit_flashes_once_not_at_every_later_caption(served, page):
    served.say(partial("we use AI now"), final("we use it now"))  # counted, then withdrawn before the page opened
    next_event(served.view, lambda ev: isinstance(ev, CountChange) and ev.change.kind == "retracted")
    page.goto(served.page("/overlay"))
    wait_text(page, ".count", "0")
    page.evaluate(
        """() => { window.flashes = 0; new MutationObserver((records) => records.forEach((r, i) => {
          const after = i + 1 < records.length ? records[i + 1].oldValue : r.target.className;
          if (after.includes('retracted') && !(r.oldValue || '').includes('retracted')) window.flashes++;
        })).observe(document.querySelector('.count'), {attributeFilter: ['class'], attributeOldValue: true}); }"""
    )
    served.say(partial("so AI again now", start=3.0))
    wait_text(page, ".count", "1")
    served.say(final("so I gain now", start=3.0))  # withdrawn while the page watches: one red flash
    wait_text(page, ".count", "0")
    for i in range(4):  # the speaker goes on: captions change the state, the count does not
        served.say(partial(f"and then some more words {i}", start=6.0 + i))
        wait_text(page, "#caption", f"and then some more words {i}")
    assert page.evaluate("window.flashes") == 1  # not again at every caption, nor the old one at load


def test_overlay_look_from_the_url_and_a_caption_that_hides_after_silence(served, page):
    page.goto(served.page("/overlay", size=40, fg="%23ff0000", keywords="AI", hide="0.5"))
    wait_text(page, ".count", "0")
    assert page.locator(".count").count() == 1  # only the keyword asked for
    assert page.evaluate("getComputedStyle(document.querySelector('.count')).fontSize") == "40px"
    assert page.evaluate("getComputedStyle(document.querySelector('.count')).color") == "rgb(255, 0, 0)"
    served.say(partial("hello there"))
    wait_text(page, "#caption", "hello there")
    wait_js(page, "document.querySelector('#caption').classList.contains('faded')", timeout=3)
    served.say(partial("hello there again"))
    wait_text(page, "#caption", "hello there again")
    assert "faded" not in page.locator("#caption").get_attribute("class")


def test_stage_page_shows_one_huge_count(served, page):
    page.goto(served.page("/stage", keyword="AI"))
    wait_text(page, "#count", "0")
    served.say(final("AI and AI", start=1.0))
    wait_text(page, "#count", "2")
    assert text_of(page, "#name") == "AI"
    size = float(page.evaluate("getComputedStyle(document.querySelector('#count')).fontSize").removesuffix("px"))
    assert size >= 200  # 62 % of a 400 px tall window
    for spelled in ("AI ", "AI,"):  # the server reads these as AI: so does the page
        page.goto(served.page("/stage", keyword=spelled))
        wait_text(page, "#count", "2")
        assert text_of(page, "#name") == "AI"


def test_pause_undo_and_reset_from_the_panel(served, page):
    page.goto(served.page("/"))
    wait_text(page, ".count", "0")
    page.click("#pause")
    next_event(served.view, lambda ev: ev == Status("paused"))
    wait_text(page, "#pause", "Resume")
    served.say(final("AI while paused"))
    next_event(served.view, lambda ev: isinstance(ev, FinalText))
    wait_text(page, "#caption", "AI while paused")  # the page has the state after it…
    assert text_of(page, ".count") == "0"  # …and nothing was counted
    page.click("#pause")
    wait_text(page, "#pause", "Pause")
    served.say(final("AI once", start=3.0), final("and AI twice", start=5.0))
    wait_text(page, ".count", "2")
    page.click("#undo")
    wait_text(page, ".count", "1")
    page.on("dialog", lambda dialog: dialog.accept())  # "Reset every count to zero?"
    page.click("#reset")
    wait_text(page, ".count", "0")
    assert served.run.pipeline.outcome.done() is False  # the run goes on


def test_the_page_says_disconnected_and_recovers_after_a_server_restart(page):
    first = Served()
    port = int(first.base.rsplit(":", 1)[1])
    page.goto(first.page("/overlay"))
    first.say(final("AI"))
    wait_text(page, ".count", "1")
    first.close()
    page.wait_for_selector("#offline", state="visible", timeout=5000)
    assert text_of(page, ".count") == "1"  # the last count stays on screen meanwhile
    second = Served(port=port)  # a new run on the same port; the token is kept in the config folder
    try:
        page.wait_for_selector("#offline", state="hidden", timeout=10000)
        wait_text(page, ".count", "0")
        second.say(final("AI and AI"))
        wait_text(page, ".count", "2")
    finally:
        second.close()


# ------------------------------------------------------------------ security


def test_wrong_token_foreign_host_cross_origin_and_bad_parameters_change_nothing(served, browser):
    good = served.page("/api/state")
    assert http(good)[0] == 200
    assert http(served.page("/api/state", token="x" * 24))[0] == 403
    assert http(f"{served.base}/api/state")[0] == 403
    assert http(served.page("/"), headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding
    for action in ("pause", "reset"):
        assert http(served.page(f"/api/{action}", token="wrong"), "POST")[0] == 403
        assert http(served.page(f"/api/{action}"), "POST", {"Origin": "http://evil.example"})[0] == 403
        assert http(served.page(f"/api/{action}"), "POST", {"Sec-Fetch-Site": "cross-site"})[0] == 403
        assert http(served.page(f"/api/{action}"), "POST", {"Host": "evil.example"})[0] == 403
    assert http(served.page("/api/pause"), "GET")[0] == 405
    for bad in (
        {"fg": "red;}body{display:none"},
        {"bg": "url(http://evil.example/x)"},
        {"size": "1e9"},
        {"size": "nan"},
        {"hide": "-1"},
        {"keywords": "Nope"},
        {"caption": "<b>"},
        {"style": "x"},
    ):
        status, body = http(served.page("/overlay", **{k: urllib.request.quote(v) for k, v in bad.items()}))
        assert status == 400 and body.startswith("voicecount: "), (bad, status, body)
    assert http(served.page("/stage", keyword="AI,Nope"))[0] == 400

    # A page of another origin that even knows the token, in a real browser: its POST is refused.
    context = browser.new_context()
    evil = context.new_page()
    evil.route("http://evil.example/", lambda route: route.fulfill(body="<html><body>hi</body></html>"))
    evil.goto("http://evil.example/")
    evil.evaluate("url => fetch(url, {method: 'POST', mode: 'no-cors'}).catch(() => null)", served.page("/api/pause"))
    # A script in a query parameter: refused before any page is served, so nothing runs.
    response = evil.goto(
        served.page("/overlay", fg="red%3B%7D%3C%2Fstyle%3E%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E")
    )
    assert response.status == 400 and evil.evaluate("window.pwned") is None
    context.close()

    served.say(final("AI"))  # a step through the worker: any queued command would have run before it
    deadline = time.monotonic() + 10
    while '"AI": 1' not in (body := http(good)[1]):  # the server's state follows the run a moment later
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
    assert '"paused": false' in body and '"status": "listening"' in body  # counted: nothing paused or reset it


def test_remote_hosts_only_when_allowed(tmp_path):
    from voicecount.errors import ConfigError

    run = Run(GatedSource(), ScriptedEngine, DEFAULT_KEYWORDS)
    with pytest.raises(ConfigError, match="--allow-remote"):
        WebView(run, host="0.0.0.0")
    allowed = Served(allow_remote=True)  # on loopback here: the Host check is what changes
    try:
        assert http(allowed.page("/api/state"), headers={"Host": "my-laptop.local:8765"})[0] == 200
        assert http(allowed.page("/api/state", token="wrong"), headers={"Host": "my-laptop.local:8765"})[0] == 403
    finally:
        allowed.close()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--web", "--port", "{busy}"], ["port {busy} on 127.0.0.1 is in use", "--port"]),
        (["--web", "--host", "0.0.0.0"], ["not this computer's loopback address", "--allow-remote"]),
        (["--port", "9000"], ["go with --web"]),
        (["--web", "--port", "70000"], ["not a port number"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_web_options_are_one_line_with_the_fix(args, fragments):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        fill = lambda s: s.replace("{busy}", port)
        sample = str(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav")
        proc = run_cli("listen", "--no-gui", "--input", sample, *map(fill, args), timeout=120)
    one_line_error(proc, *map(fill, fragments))
    assert "loading" not in proc.stderr  # refused before "loading whisper model…" is said


# ------------------------------------------------------------------ the whole thing, as a user runs it


def test_listen_web_pages_follow_a_replayed_talk_to_the_final_count(browser, shared_audio, dev_manifest):
    """`listen --no-gui --web --input TALK --realtime`: the overlay and stage pages end on the CLI's count."""
    args = ["listen", "--no-gui", "--web", "--port", "0", "--input", str(shared_audio / "dev" / TALK), "--realtime"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecount", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stderr:
            if m := re.search(r"web view at (http://\S+)", line):
                break
        else:
            pytest.fail(f"listen printed no URL (exit {proc.wait()})")
        panel_url = m.group(1)
        context = browser.new_context(viewport={"width": 800, "height": 400})
        overlay, stage = context.new_page(), context.new_page()
        overlay.goto(panel_url.replace("/?", "/overlay?", 1) + "&hide=2")
        stage.goto(panel_url.replace("/?", "/stage?", 1))
        wait_text(overlay, ".count", "0")
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    total = int(re.search(r"^total AI: (\d+) in ", out, re.M).group(1))
    assert total == dev_manifest[TALK]["keywords"]
    # The server is gone now: both pages say so, and show the count they last had — the final one.
    for p, selector in ((overlay, ".count"), (stage, "#count")):
        p.wait_for_selector("#offline", state="visible", timeout=5000)
        assert text_of(p, selector) == str(total)
    context.close()

"""The browser view of a live run: control panel, OBS overlay, stage page, event stream, state, control.

Built on aiohttp: one well-kept library that serves HTTP and Server-Sent Events on
asyncio by itself (starlette would need uvicorn beside it), with a static-file route
that refuses paths outside its folder. Pages are static files shipped in the package
(``static/``); they fetch the state and follow ``/api/events`` — no CDN, so it works
offline.

Threads: the server's asyncio loop runs on its own thread ("voicecount-web"). It reads
its subscription to the run's pipeline in the loop's executor and folds the events
into a ``LiveState``; each browser's stream sends the latest state whenever it changed,
so a slow browser skips states, never stalls another one or the counting. Control
requests only call the pipeline's command methods.

Security — a local server is an attack surface:
- it listens on loopback unless remote hosts were allowed explicitly;
- every page, stream, state and control request needs the secret token (kept in the
  config folder, 0600, so an OBS source URL stays valid across runs); the static JS
  and CSS need none: they are the package's own files and hold no data;
- a request whose Host is not localhost / 127.0.0.1 / [::1] is refused (DNS
  rebinding), unless remote hosts were allowed;
- a control request from another origin (Origin or Sec-Fetch-Site say so) is refused;
- a page's look parameters are checked (look.py): anything else is a 400;
- every response forbids inline script and style (CSP), framing and referrers.
Refused requests change nothing.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import ConfigError
from ..escape import json_text
from ..events import TERMINAL, LiveState, Progress
from ..paths import config_dir, open_private
from . import DEFAULT_HOST, DEFAULT_PORT, look

if TYPE_CHECKING:
    from ..run import Run

STATIC = Path(__file__).parent / "static"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}
PING_SECONDS = 15.0  # a comment line on an idle stream, so a dead connection is noticed
PAGES = {"/": ("panel", "panel.html"), "/overlay": ("overlay", "overlay.html"), "/stage": ("stage", "stage.html")}
ACTIONS = ("pause", "resume", "undo", "reset")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def token_path() -> Path:
    return config_dir() / "web-token"


def load_token() -> str:
    """The secret every request must carry: made once, kept (user-only) in the config folder."""
    path = token_path()
    try:
        token = path.read_text().strip()
        if len(token) >= 16:
            return token
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror})", "delete it; a new token is made next time") from None
    token = secrets.token_urlsafe(18)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_private(path) as f:
            f.write(token + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write {path} ({e.strerror})", "make the config folder writable") from None
    return token


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return socket.inet_aton(host)[0] == 127 and host.count(".") == 3
    except OSError:
        return False


def _hostname(host_header: str) -> str:
    """ "127.0.0.1:8765" → "127.0.0.1"; "[::1]:8765" → "[::1]"."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[: h.find("]") + 1]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _refuse(status: int, why: str) -> web.Response:
    return web.Response(status=status, text=f"voicecount: {why}\n", headers=SECURITY_HEADERS)


class WebView:
    """Serves one run to browsers until ``close()``; ``url`` is the control panel's address (with the token)."""

    def __init__(
        self, run: Run, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, allow_remote: bool = False
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ConfigError(
                f"--host {host} is not this computer's loopback address",
                "add --allow-remote to serve other machines (anyone who has the URL can then see and control "
                "the count), or leave --host out",
            )
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port {port} is not a port number", "give 1–65535, or 0 for any free port")
        self.pipeline = run.pipeline
        self.host, self.port, self.allow_remote = host, port, allow_remote
        self.token = load_token()
        self.view = run.pipeline.subscribe()
        self.state = LiveState.start(run.keywords)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="voicecount-web", daemon=True)
        self._changed: asyncio.Condition | None = None
        self._closing = False
        self._feed: asyncio.Task | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ any thread
    def start(self) -> str:
        """Bind and serve; returns the control panel's URL (with the token). Port in use: a ConfigError."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self.view.close()
            raise
        return self.url

    def close(self) -> None:
        """Send every browser the last state, then stop serving."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self.view.close()

    def page_url(self, path: str = "/") -> str:
        return f"{self._base}{path}?token={self.token}"

    # ------------------------------------------------------------------ the server's loop thread
    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._guard])
        for path in PAGES:
            app.router.add_get(path, self._page)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_post("/api/{action}", self._control)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {self.port} on {self.host} is in use",
                    "choose another with --port N (or --port 0 for any free one), or stop the program using it",
                ) from None
            raise ConfigError(
                f"cannot serve on {self.host}:{self.port} ({e.strerror or e})",
                "give an address of this computer with --host (default 127.0.0.1)",
            ) from None
        port = self._runner.addresses[0][1]
        host = self.host if is_loopback(self.host) or self.host not in ("0.0.0.0", "::") else socket.gethostname()
        self._base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self.url = self.page_url("/")
        self._feed = asyncio.create_task(self._follow())

    async def _stop(self) -> None:
        if self._feed is not None:
            try:  # the run's last events first (its end), so every page shows the final count
                await asyncio.wait_for(asyncio.shield(self._feed), timeout=2.0)
            except asyncio.TimeoutError:
                self._feed.cancel()
        self._closing = True
        await self._notify()
        await asyncio.sleep(0.1)  # let the streams write their last state
        if self._runner is not None:
            await self._runner.cleanup()

    async def _follow(self) -> None:
        """Fold the run's events into the state; wake the streams when something they show changed."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            events = await loop.run_in_executor(None, self._take)
            for ev in events:
                self.state = self.state.apply(ev)
            # Progress alone (ten a second) changes nothing a page shows.
            if any(not isinstance(ev, Progress) for ev in events):
                await self._notify()
            if events and isinstance(events[-1], TERMINAL):
                return

    def _take(self, most: int = 500) -> list:
        """The events waiting (after up to 0.25 s for one): one hop to the loop for a burst, not one each."""
        ev = self.view.get(timeout=0.25)
        events = []
        while ev is not None:
            events.append(ev)
            if isinstance(ev, TERMINAL) or len(events) >= most:
                break
            ev = self.view.get(timeout=0)
        return events

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        """Host, token and origin checks before any handler runs; security headers on every answer."""
        if not self.allow_remote and not is_loopback(_hostname(request.host or "")):
            return _refuse(
                403,
                "this server answers only to loopback addresses (Host header) — open the address voicecount "
                "printed, or start it with --allow-remote",
            )
        if not request.path.startswith("/static/"):
            given = request.query.getall("token", [])
            if len(given) != 1 or not secrets.compare_digest(given[0].encode(), self.token.encode()):
                return _refuse(403, "wrong or missing token — open the URL voicecount printed")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            site = request.headers.get("Sec-Fetch-Site")
            if (origin is not None and origin != f"http://{request.host}") or site not in (None, "same-origin", "none"):
                return _refuse(
                    403,
                    "control requests are taken from this server's own pages only — use the page voicecount printed",
                )
        try:
            response = await handler(request)
        except web.HTTPException as e:
            return _refuse(e.status, f"{e.reason.lower()} — open the address voicecount printed")
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        page, filename = PAGES[request.path]
        try:
            look.check(page, request.query.items(), self.state.keywords)
        except look.BadParameter as e:
            return _refuse(400, str(e))
        return web.FileResponse(STATIC / filename)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.as_json(), dumps=json_text)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: the whole state at once, then again on every change (a ping when idle)."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **SECURITY_HEADERS})
        await response.prepare(request)
        assert self._changed is not None
        sent = -1
        news = lambda: self.state.events != sent or self._closing
        try:
            while True:
                state = self.state
                if state.events != sent:
                    sent = state.events
                    await response.write(f"event: state\ndata: {json_text(state.as_json())}\n\n".encode())
                if self._closing:
                    break
                try:
                    async with self._changed:  # never held while writing: a slow browser holds up no other
                        await asyncio.wait_for(self._changed.wait_for(news), PING_SECONDS)
                except asyncio.TimeoutError:
                    await response.write(b": ping\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the browser went away, or the server is closing
        return response

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            return _refuse(404, f"no action {action!r} — use one of: {', '.join(ACTIONS)}")
        getattr(self.pipeline, action)()
        return web.json_response({"queued": action}, status=202)

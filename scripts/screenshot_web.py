"""Save screenshots of the web view's pages mid-talk, for the README: assets/web-*.png.

The bundled sample is replayed (1.5× real time) through the real pipeline and web server;
Debian's chromium (headless, through Playwright) opens the panel, the OBS overlay and the
stage page. The overlay is shot with a transparent background and laid on a checkerboard,
so the picture shows what lets the video through.

    python scripts/screenshot_web.py
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_web import launch_browser  # noqa: E402

from voicecount.audio import FileSource  # noqa: E402
from voicecount.engines import create_engine  # noqa: E402
from voicecount.matcher import parse_keyword  # noqa: E402
from voicecount.run import Run  # noqa: E402
from voicecount.web.server import WebView  # noqa: E402


def checkerboard(png: bytes):
    """The transparent shot over grey squares, as image editors show transparency."""
    from PIL import Image

    shot = Image.open(io.BytesIO(png)).convert("RGBA")
    board = Image.new("RGBA", shot.size, "#8a8f96")
    light = Image.new("RGBA", (16, 16), "#b4b9bf")
    for y in range(0, shot.height, 16):
        for x in range((y // 16) % 2 * 16, shot.width, 32):
            board.paste(light, (x, y))
    return Image.alpha_composite(board, shot)


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as home, sync_playwright() as p:
        os.environ["VOICECOUNT_HOME"] = home  # the web token file goes here
        engine = create_engine("whisper", "tiny.en")
        keywords = [parse_keyword("AI"), parse_keyword("Roadmap=roadmap,road map")]
        run = Run(
            FileSource(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav", realtime=True, speed=1.5),
            engine.fresh,
            keywords,
        )
        web = WebView(run, port=0)
        url = web.start()
        browser = launch_browser(p)
        shots = {
            "web-panel.png": ("/", {"width": 760, "height": 620}, ""),
            "web-overlay.png": ("/overlay", {"width": 640, "height": 220}, "&size=72"),
            "web-stage.png": ("/stage", {"width": 960, "height": 540}, "&keyword=AI"),
        }
        pages = {}
        for name, (path, viewport, extra) in shots.items():
            page = browser.new_page(viewport=viewport)
            page.goto(url.replace("/?", f"{path}?", 1) + extra)
            pages[name] = page
        run.start()
        time.sleep(9.5)  # mid-talk: counts and a live caption on screen
        for name, page in pages.items():
            out = ROOT / "assets" / name
            if name == "web-overlay.png":
                checkerboard(page.screenshot(omit_background=True)).save(out)
            else:
                page.screenshot(path=str(out))
            print(f"wrote {out}")
        browser.close()
        run.stop()
        web.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Save a screenshot of the overlay counting the bundled sample: assets/overlay.png (for the README).

Run under a display (e.g. xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot.py).
Needs ImageMagick's `import`.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tkinter as tk
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecount.audio import FileSource  # noqa: E402
from voicecount.engines import create_engine  # noqa: E402
from voicecount.matcher import parse_keyword  # noqa: E402
from voicecount.overlay import Overlay  # noqa: E402
from voicecount.run import Run  # noqa: E402


def main() -> int:
    engine = create_engine("whisper", "tiny.en")
    sample = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"
    root = tk.Tk()
    keywords = [parse_keyword("AI"), parse_keyword("Roadmap=roadmap,road map")]
    run = Run(FileSource(sample, realtime=True, speed=1.5), engine.fresh, keywords)
    ov = Overlay(root, run)
    run.start()
    start = time.monotonic()
    while time.monotonic() - start < 9.5:  # mid-talk: counts and a live caption on screen
        root.update()
        time.sleep(0.02)
    out = ROOT / "assets" / "overlay.png"
    root.update()
    subprocess.run(["import", "-window", hex(root.winfo_id()), str(out)], check=True)
    print(f"wrote {out}")
    ov.quit()
    while not ov._closed:  # let the pipeline finish before the interpreter exits
        root.update()
        time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate voicecount/assets/sample-ai-talk.wav (shipped in the package: count --sample), the short talk the README counts.

Spoken by flite's "slt" voice, 16 kHz mono 16-bit. Says "AI" four times
(three times as "AI", once as "artificial intelligence"); tests/test_cli.py holds
that count. Run: python scripts/make_sample.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"

TEXT = (
    "Good morning everyone. This talk is about AI in the office. "
    "Every team I meet is adding AI features to its roadmap. "
    "But artificial intelligence is only useful when it solves a real problem. "
    "So before you ship an AI model, ask your users what they need. Thank you."
)


def spoken(text: str) -> str:
    """TTS voices read "AI" as the word "eye"; people say the letters, so spell them out."""
    return text.replace("AI", "A. I.")


def main() -> int:
    for tool in ("flite", "sox"):
        if shutil.which(tool) is None:
            print(f"make_sample: {tool} is not installed — apt-get install {tool}", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", spoken(TEXT), "-o", str(raw)], check=True)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        # Half a second of silence either side, as a recording would have.
        subprocess.run(
            ["sox", "-R", str(raw), "-b", "16", "-c", "1", str(OUT), "rate", "16000", "pad", "0.5", "0.5"], check=True
        )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Make the filler test set: short talks full of "um" and "uh", spoken by the dev set's TTS voices.

Scripts below mark every filler sound; each is spoken by flite's slt, rms, awb and
kal16 voices (the dev set's flite and kal voices; its neural voice is not available
here), clean and with noise at 10 dB SNR (sox: pink noise). Written with a manifest —
per file the script, its word count, the fillers by kind and the keyword count — into
a folder outside the repository (default: ~/.cache/voicecount-bench/fillers).

    python scripts/make_fillers.py [--out DIR]

Used by scripts/bench_fillers.py; small enough to rebuild in a minute.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path.home() / ".cache" / "voicecount-bench" / "fillers"
VOICES = ("slt", "rms", "awb", "kal16")
FILLERS = ("um", "uh", "er", "ah", "hmm")

SCRIPTS = {
    "f1_standup": (
        "Okay, um, so yesterday I worked on the, uh, login page. Um, it mostly works now. "
        "The tests were, uh, a bit slow, so I, um, split them up. Today I want to, uh, look at the AI search. "
        "Hmm, I think that is it. Er, any questions?"
    ),
    "f2_pitch": (
        "Thank you all for coming. Um, our product helps teams, uh, write better documents. "
        "We use AI to, um, suggest the next sentence. Ah, and it runs offline. "
        "Last month we had, uh, two hundred users. Um, we are asking for, uh, help with sales."
    ),
    "f3_lecture": (
        "Right, so, um, today we look at neural networks. A network is, uh, a stack of layers. "
        "Each layer, um, multiplies and adds. Hmm, that sounds simple, and, uh, it is. "
        "The hard part is, er, training. We will, um, see that next week."
    ),
    "f4_interview": (
        "Um, that is a good question. I, uh, started programming at school. "
        "Then I, um, joined a small company. We built, uh, tools for artificial intelligence research. "
        "Ah, those were fun years. Er, I learned a lot, um, mostly from mistakes."
    ),
    "f5_clean": (
        "Good afternoon. This short talk has no hesitation at all. "
        "We measured the latency of the new service, and it improved by half. "
        "The AI model is smaller, the costs are lower, and the users are happier. Thank you."
    ),
    "f6_story": (
        "So, um, I was walking home, and, uh, I saw a fox. Um, it looked at me. "
        "I, uh, stopped. Hmm. It did not move. Ah, then it ran into the park. "
        "I, um, still think about it. Uh, that is the story."
    ),
}


def spoken(text: str) -> str:
    """TTS voices read "AI" as the word "eye"; people say the letters."""
    return text.replace("AI", "A. I.")


def words_of(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z']+", text)]


def truth(text: str) -> dict:
    words = [w.lower() for w in words_of(text)]
    fillers = {f: words.count(f) for f in FILLERS if words.count(f)}
    keywords = text.count("AI") + text.lower().count("artificial intelligence")
    return {"words": len(words), "fillers": fillers, "filler_total": sum(fillers.values()), "keywords": keywords}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    for tool in ("flite", "sox", "soxi"):
        if shutil.which(tool) is None:
            print(f"make_fillers: {tool} is not installed — apt-get install flite sox", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in SCRIPTS.items():
            for voice in VOICES:
                raw = Path(tmp) / "raw.wav"
                clean = args.out / f"{name}__flite-{voice}__clean.wav"
                subprocess.run(["flite", "-voice", voice, "-t", spoken(text), "-o", str(raw)], check=True)
                subprocess.run(
                    ["sox", "-R", str(raw), "-b", "16", "-c", "1", str(clean), "rate", "16000", "pad", "0.5", "0.5"],
                    check=True,
                )
                duration = float(subprocess.run(["soxi", "-D", str(clean)], capture_output=True, text=True).stdout)
                noisy = args.out / f"{name}__flite-{voice}__noise10.wav"
                noise = Path(tmp) / "noise.wav"
                subprocess.run(
                    [
                        "sox",
                        "-R",
                        "-n",
                        "-r",
                        "16000",
                        "-c",
                        "1",
                        "-b",
                        "16",
                        str(noise),
                        "synth",
                        str(duration),
                        "pinknoise",
                    ],
                    check=True,
                )
                # Speech RMS to noise RMS at 10 dB: scale the noise by the ratio the two files measure.
                s_rms = _rms(clean)
                n_rms = _rms(noise)
                gain = s_rms / (n_rms * 10 ** (10 / 20)) if n_rms else 0.0
                subprocess.run(
                    ["sox", "-R", "-m", str(clean), "-v", f"{gain:.4f}", str(noise), "-b", "16", str(noisy)], check=True
                )
                for f, condition in ((clean, "clean"), (noisy, "noise10")):
                    manifest.append(
                        {
                            "file": f.name,
                            "script": name,
                            "voice": f"flite-{voice}",
                            "condition": condition,
                            "duration": round(duration, 2),
                            "text": text,
                            **truth(text),
                        }
                    )
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"make_fillers: {len(manifest)} files in {args.out}")
    return 0


def _rms(path: Path) -> float:
    out = subprocess.run(["sox", "-R", str(path), "-n", "stat"], capture_output=True, text=True).stderr
    m = re.search(r"RMS\s+amplitude:\s+([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


if __name__ == "__main__":
    sys.exit(main())

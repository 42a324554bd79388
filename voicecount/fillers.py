"""Filler words: the `fillers` keyword set, the prompt that keeps them in transcripts, and
the ordinary words that are fillers only sometimes.

Whisper writes what was meant, not what was said: without help it leaves "um" and
"uh" out, and a filler that is never transcribed can never be counted. A prompt
that itself holds fillers (OpenAI's guidance for Whisper) makes the decoder keep
them; it ends the prompt whenever a filler is among the keywords (`--preset fillers`).

"like", "so", "you know", "I mean", "actually", "basically", "anyway" are words
with meanings of their own. They are never counted as keywords by this set; the
report shows them apart, as *possible* fillers, and only where the transcript sets
them off with commas ("it was, like, huge") — "I like it" is not one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from .matcher import Keyword, Word, in_capitals, parse_keyword, tokens

# The sounds a speaker makes while thinking, with the spellings Whisper uses for them (not "mm"
# nor "err": "a 5 mm screw", "err on the side of caution").
FILLER_SPECS = ("um=um,umm,uhm", "uh=uh,uhh", "er=er,erm", "ah=ah,ahh", "hmm=hmm,hm,hmmm,mhm")
FILLER_NAMES = frozenset(spec.partition("=")[0] for spec in FILLER_SPECS)
# A prompt thick with the filler spellings primes the decoder to write them. Measured on
# the filler set's clean talks (recording path): OpenAI's example sentence ("Umm, let me
# think like, hmm...") kept 0.43 of fillers, this one 0.66, precision 1.00 (BENCHMARKS.md).
FILLER_PROMPT = "Um, uh, so, um, we, uh, hmm. Er, I mean, ah, um, it is, uh, like, um, hard. Uh, um."
POSSIBLE = ("like", "so", "you know", "i mean", "actually", "basically", "anyway", "right")
PRESETS = ("fillers",)


def preset(name: str) -> list[Keyword]:
    """The keywords of a preset (today: fillers)."""
    if name != "fillers":
        from .errors import ConfigError

        raise ConfigError(f"unknown preset {name!r}", f"choose one of: {', '.join(PRESETS)}")
    return [replace(parse_keyword(spec), filler=True) for spec in FILLER_SPECS]


def is_filler(keyword: Keyword) -> bool:
    """One of the filler set (built-in or the user's [[fillers]]), or a filler sound."""
    return keyword.filler or is_filler_sound(keyword)


def is_filler_sound(keyword: Keyword) -> bool:
    """A keyword named like a built-in filler sound ("um", "--keyword er"), not an initialism in
    capitals ("ER": the emergency room)."""
    return " ".join(tokens(keyword.name)) in FILLER_NAMES and not in_capitals(keyword.name)


def any_fillers(keywords: Sequence[Keyword]) -> bool:
    return any(is_filler(k) for k in keywords)


def possible_fillers(words: Sequence[Word]) -> list[tuple[str, float]]:
    """(phrase, time) of each ordinary word used as a filler: set off by commas or the sentence's edge."""
    out = []
    texts = [w.text for w in words]
    for phrase in POSSIBLE:
        want = phrase.split()
        n = len(want)
        for i in range(len(words) - n + 1):
            if [t for w in texts[i : i + n] for t in tokens(w)] != want:
                continue
            before = texts[i - 1] if i > 0 else ""
            last = texts[i + n - 1]
            opened = i == 0 or bool(re.search(r"[,.!?…]$", before))
            closed = bool(re.search(r",$", last))
            if opened and closed:
                out.append((phrase, words[i].start))
    return sorted(out, key=lambda p: p[1])

"""Citations into a transcript, and the check that a cited line says what the transcript says.

Every line voicecount shows as a summary, a highlight or an answer cites the time of
the transcript it comes from, as ``[mm:ss]`` (``[h:mm:ss]`` past an hour). A line
is kept only when each time it cites exists in the session and the cited sentences,
with one neighbour either side, hold three quarters of the line's content words, every
number it states (spelled or in digits) and every word that would turn the claim around
(not, up/down, all/some, more/less…); a line that leaves out the negation of the sentence
it cites is dropped too. The rest are dropped and counted, never shown. A quarter is
room for rewording, not for a claim: "we tested three tools" cannot grow into "and
found a significant improvement in accuracy" (6 of 11 words said: dropped).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .clock import stamp
from .export import STOPWORDS, Cue
from .matcher import tokens

SUPPORT_MIN = 0.75  # share of a line's content words the cited sentences must hold: a quarter may be rewording
NEIGHBOURS = 1  # sentences either side of a cited one that count as its context
STAMP = re.compile(r"\[(\d{1,2}(?::\d{2}){1,2})\]")


def parse_stamp(text: str) -> float:
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return float(seconds)


@dataclass(frozen=True)
class Line:
    """One cited line: its text (citations taken out) and the times it cites."""

    text: str
    times: tuple[float, ...]

    def render(self) -> str:
        cites = " ".join(f"[{stamp(t)}]" for t in self.times)
        return f"- {cites} {self.text}" if cites else f"- {self.text}"


@dataclass(frozen=True)
class Dropped:
    line: Line
    why: str


@dataclass
class Checked:
    kept: list[Line]
    dropped: list[Dropped]


def parse_lines(text: str) -> list[Line]:
    """The bullet lines of a model's answer, each with the times it cites (other lines are not points)."""
    out = []
    for raw in text.splitlines():
        bullet = re.match(r"\s*(?:[-*•]|\d+[.)])\s+(.*)", raw)
        if not bullet:
            continue
        line = bullet.group(1)
        times = tuple(parse_stamp(m.group(1)) for m in STAMP.finditer(line))
        body = " ".join(STAMP.sub(" ", line).split()).strip(" -–:")
        if body:
            out.append(Line(body, times))
    return out


def content_words(text: str) -> set[str]:
    # Five letters stand in for a stem: "counting" and "counted" meet at "count".
    return {t[:5] for t in tokens(text) if t not in STOPWORDS and len(t) > 1}


def cited_cues(cues: Sequence[Cue], t: float) -> list[int]:
    """Indexes of the sentences a citation of time ``t`` (whole seconds) points at."""
    return [i for i, c in enumerate(cues) if c.start < t + 1.0 and c.end > t - 0.5]


def context(line: Line, cues: Sequence[Cue]) -> str:
    """The text a line's citations point at: the cited sentences and their neighbours."""
    near: set[int] = set()
    for t in line.times:
        for i in cited_cues(cues, t):
            near.update(range(max(0, i - NEIGHBOURS), min(len(cues), i + NEIGHBOURS + 1)))
    return " ".join(cues[i].text for i in sorted(near))


def support(line: Line, near: str) -> float:
    """Share of the line's content words found in ``near``, its cited sentences and their neighbours."""
    want = content_words(line.text)
    if not want:
        return 0.0
    return len(want & content_words(near)) / len(want)


# Small words that turn a claim around, and so are not left out as stopwords are: a line that
# says "up" where the talk said "down", "all" where it said "some", must not pass as supported.
NEGATIONS = frozenset(
    """not no never nor none nothing nobody cannot cant dont doesnt didnt isnt arent wasnt werent wont
    wouldnt shouldnt couldnt havent hasnt hadnt without""".split()  # noqa: SIM905 — reads as the word list it is
)
TURNS = NEGATIONS | frozenset(
    """up down more less most least fewer before after above below all some few every only both increase
    increased decrease decreased rise rose fall fell higher lower better worse""".split()  # noqa: SIM905
)
# Numbers a model may spell out: the same claim as the digits.
NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
        sixteen seventeen eighteen nineteen twenty""".split()  # noqa: SIM905
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90"}
NUMBER_WORDS |= {"hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000", "dozen": "12"}


def _as_number(token: str) -> str | None:
    if any(ch.isdigit() for ch in token):
        return token
    return NUMBER_WORDS.get(token)


def new_numbers(line: Line, near: str) -> set[str]:
    """Numbers in the line that the cited sentences do not say (a model's favourite invention).

    "three" and "3" are the same number; "one" is also a pronoun ("the one that…"), so a
    spelled "one" is left to the support check.
    """
    said = {_as_number(t) for t in tokens(near)} - {None}
    out = set()
    for t in tokens(line.text):
        n = _as_number(t)
        if n is not None and t != "one" and n not in said:
            out.add(t)
    return out


def turned_words(line: Line, near: str) -> set[str]:
    """Negations, directions and quantifiers in the line that the cited sentences (``near``) do not say."""
    said = set(tokens(near))
    return {t for t in set(tokens(line.text)) & TURNS if t not in said}


def left_out_negation(line: Line, cues: Sequence[Cue]) -> set[str]:
    """The negations of the cited sentences, when the line has none ("was not a success" → "was a success")."""
    if set(tokens(line.text)) & NEGATIONS:
        return set()
    cited = " ".join(cues[i].text for t in line.times for i in cited_cues(cues, t))
    return set(tokens(cited)) & NEGATIONS


def check(lines: Sequence[Line], cues: Sequence[Cue], min_support: float = SUPPORT_MIN) -> Checked:
    """Keep the lines the transcript supports; say why each other line was dropped."""
    result = Checked([], [])
    end = cues[-1].end if cues else 0.0
    for line in lines:
        missing = [t for t in line.times if not cited_cues(cues, t)]
        if not line.times:
            result.dropped.append(Dropped(line, "cites no time"))
        elif missing:
            where = ", ".join(stamp(t) for t in missing)
            result.dropped.append(Dropped(line, f"cites {where}, not in the transcript (it ends at {stamp(end)})"))
        elif support(line, near := context(line, cues)) < min_support:
            result.dropped.append(Dropped(line, "the cited sentences do not say this"))
        elif unsaid := new_numbers(line, near) or turned_words(line, near):
            result.dropped.append(Dropped(line, f"the cited sentences do not say {', '.join(sorted(unsaid))}"))
        elif negations := left_out_negation(line, cues):
            result.dropped.append(
                Dropped(line, f"the cited sentences say {', '.join(sorted(negations))}; the line does not")
            )
        else:
            result.kept.append(line)
    return result

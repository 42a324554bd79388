"""Citations into a transcript, and the check that a cited line says what the transcript says.

Every line voicecount shows as a summary, a highlight or an answer cites the time of
the transcript it comes from, as ``[mm:ss]`` (``[h:mm:ss]`` past an hour). A line
is kept only when each time it cites exists in the session and the cited sentences hold
three quarters of the line's content words, every number it states (spelled or in digits,
3.5 is not 35) and every word that would turn the claim around (not, up/down, all/some,
more/less…); a line that leaves out the negation of the sentence it cites is dropped too.
A citation names the second a sentence starts in, as the transcript given to the model
shows it; a sentence that runs on into the next line of the transcript is read whole, but
the sentences before and after it are not: a claim said elsewhere needs its own citation. The rest are dropped and counted, never shown. A quarter is
room for rewording, not for a claim: "we tested three tools" cannot grow into "and
found a significant improvement in accuracy" (6 of 11 words said: dropped).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .clock import stamp
from .export import STOPWORDS, Cue
from .matcher import ends_sentence, tokens

SUPPORT_MIN = 0.75  # share of a line's content words the cited sentences must hold: a quarter may be rewording
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


# Endings taken off a word so its forms meet ("counting", "counted" → "count"; "studies",
# "study" → "stud"), longest first; a final "e" goes too ("improve", "improved" → "improv").
_ENDINGS = (
    "ations",
    "ation",
    "ments",
    "ment",
    "ness",
    "ings",
    "ing",
    "edly",
    "ies",
    "ied",
    "ers",
    "ed",
    "es",
    "er",
    "ly",
    "s",
    "y",
)


def stem(word: str) -> str:
    """A light English stem: forms of one word meet, different words stay apart ("approved" ≠ "approach")."""
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[: -len(ending)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def content_words(text: str) -> set[str]:
    """The words a line must share with its sentence; numbers are checked apart, by value."""
    return {stem(t) for t in tokens(text) if t not in STOPWORDS and len(t) > 1 and not t.isdigit()}


def cited_cues(cues: Sequence[Cue], t: float) -> list[int]:
    """Indexes of the sentences a citation of time ``t`` (whole seconds) points at.

    The sentences that start in that second; else (a time inside a sentence) the ones it falls in.
    """
    second = int(t)
    starting = [i for i, c in enumerate(cues) if int(c.start) == second]
    return starting or [i for i, c in enumerate(cues) if c.start < second + 1.0 and c.end > second]


def cited_text(line: Line, cues: Sequence[Cue]) -> str:
    """What a line's citations point at: each cited sentence, run on to its end when a line of the
    transcript stops mid-sentence (a long sentence is cut into several), and nothing around it."""
    near: set[int] = set()
    for t in line.times:
        for i in cited_cues(cues, t):
            near.add(i)
            while not ends_sentence(cues[i].text) and i + 1 < len(cues):
                i += 1
                near.add(i)
    return " ".join(cues[i].text for i in sorted(near))


def support(line: Line, near: str) -> float:
    """Share of the line's content words found in ``near``, the sentences it cites."""
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


_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def numbers(text: str) -> dict[float | str, str]:
    """The numbers a text states, by value, with how it wrote them: "3.5" is not "35", "1,000"
    is 1000, "three" is 3. A spelled "one" is also a pronoun ("the one that…"): not counted."""
    out: dict[float | str, str] = {}
    for m in _DIGITS.finditer(text):
        written = m.group()
        plain = written.replace(",", "") if _THOUSANDS.fullmatch(written) else written.replace(",", ".")
        try:
            out.setdefault(float(plain), written)
        except ValueError:  # "1.2.3": a version or a date, compared as written
            out.setdefault(written, written)
    for t in tokens(text):
        if t in NUMBER_WORDS and t != "one":
            out.setdefault(float(NUMBER_WORDS[t]), t)
    return out


def new_numbers(line: Line, near: str) -> set[str]:
    """Numbers in the line that the cited sentences do not say (a model's favourite invention)."""
    said = numbers(near)
    return {written for value, written in numbers(line.text).items() if value not in said}


def turned_words(line: Line, near: str) -> set[str]:
    """Negations, directions and quantifiers in the line that the cited sentences (``near``) do not say."""
    said = set(tokens(near))
    return {t for t in set(tokens(line.text)) & TURNS if t not in said}


def left_out_negation(line: Line, cues: Sequence[Cue]) -> set[str]:
    """The negations of the cited sentences, when the line has none ("was not a success" → "was a success")."""
    if set(tokens(line.text)) & NEGATIONS:
        return set()
    return set(tokens(cited_text(line, cues))) & NEGATIONS


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
        elif support(line, near := cited_text(line, cues)) < min_support:
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

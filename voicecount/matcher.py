"""Keyword matching: recognised words in, keyword hits out.

Pure logic, no I/O and no threads: the pipeline worker owns one ``KeywordCounter``.
A hit is counted as soon as a *partial* result shows the keyword (provisional),
then confirmed when a *final* result covering that time holds it too, or
retracted when the final does not. The same spoken word is never counted twice
across partial → final: a final's match claims the provisional hit that overlaps
it in time instead of adding a new one.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .escape import one_line

# Aliases the engines really print for "AI", including the letter-by-letter forms.
DEFAULT_AI_ALIASES = ("ai", "a.i.", "a i", "ais", "artificial intelligence")

# Timestamps of the same word move between decoding passes; within this slack
# (seconds) a partial's hit and a final's hit are the same spoken word.
SAME_WORD_SLACK = 0.45
# A provisional hit is retracted only once a final reaches this far past it, so a
# final that stops just before the word (its timing still moving) does not drop it.
RETRACT_MARGIN = 0.25
# Words further apart than this (seconds) do not form one phrase across two finals.
PHRASE_GAP = 1.0


@dataclass(frozen=True)
class Keyword:
    """A counted word: its display name and every phrase that counts for it."""

    name: str
    aliases: tuple[str, ...]
    filler: bool = False  # one of the filler set (built-in or the user's [[fillers]]): counted as a sound


@dataclass(frozen=True)
class Word:
    """One recognised word with its place in the audio (seconds from the start)."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass
class Hit:
    """One counted occurrence. ``emitted_at`` is the live clock when first counted."""

    id: int
    keyword: str
    text: str
    start: float
    end: float
    emitted_at: float
    confirmed: bool = False
    retracted: bool = False
    probability: float = 1.0

    def as_dict(self) -> dict:
        return {
            "keyword": self.keyword,
            "text": self.text,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "emitted_at": round(self.emitted_at, 2),
            "confirmed": self.confirmed,
        }


@dataclass(frozen=True)
class HitChange:
    """What happened to a hit: ``added`` (provisional or confirmed), ``confirmed`` or ``retracted``."""

    kind: str
    hit: Hit


_SPLIT = re.compile(r"[\s\-‐‑–—/_]+")
_PARTED = re.compile(r"[\s–—/_]+")  # _SPLIT but the hyphens: what parts two words written as one
_ACRONYM = re.compile(r"[A-Z][A-Z0-9]+")  # "LLM", "GPU", "GPT4": written in capitals
# Single letters joined by dots, the last dot optional: "A.I.", "A.I", "U.S", "e.g." (not "Node.js").
_DOTTED_LETTERS = re.compile(r"(?<![^\W\d_])[^\W\d_](?:\.[^\W\d_])+(?![^\W\d_])")
_SYMBOLS = re.compile(r"[^\W_]([+#]+)[^\w+#]*$")


_ACCENTED_SCRIPTS_END = 0x0530  # Latin, IPA, Greek and Cyrillic letters end here


def _without_accents(text: str) -> str:
    """Latin, Greek and Cyrillic letters without their accents ("Pokémon" → "pokemon"), as search
    ignores them; other scripts keep their marks (a Devanagari vowel sign or a kana's
    dakuten makes another word)."""
    if text.isascii():
        return text  # nothing to take off: most words, on the matcher's every pass
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            if base and ord(base) < _ACCENTED_SCRIPTS_END:
                continue
        else:
            base = ch
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def in_capitals(text: str) -> bool:
    """Written with two capitals or more: an initialism or an acronym ("ER", "LLMs"), not a word."""
    return sum(c.isupper() for c in text) > 1


def _normal(text: str) -> str:
    """Text as tokens compare it: one case, no accents, one apostrophe."""
    return _without_accents(unicodedata.normalize("NFKC", text).casefold()).replace("’", "'")


def tokens(text: str) -> list[str]:
    """Normalise text to comparable tokens: case, accents, punctuation, possessives.

    "A.I." → ["ai"], "AI's" → ["ai"], "a I" → ["a", "i"], "Open-AI" → ["open", "ai"],
    "Node.js" and "3.5" → two tokens each (Whisper prints "Node .js", "3 .5"), "C++" → ["c++"].
    """
    text = _normal(text)
    out = []
    for piece in _SPLIT.split(text):
        # The dots of an initialism join its letters; any other dot inside a word parts it.
        joined = _DOTTED_LETTERS.search(piece) or _INITIALISM.search(piece)  # "A.I", "Ph.D."
        for part in [piece] if joined else piece.split("."):
            if part.endswith("'s"):
                part = part[:-2]
            symbols = _SYMBOLS.search(part)  # "C++", "C#", "F#": not the letter alone
            # Letters, digits and the marks that belong to them (a Devanagari vowel sign is no punctuation).
            part = "".join(ch for ch in part if ch.isalnum() or unicodedata.category(ch)[0] == "M")
            if part:
                out.append(part + (symbols.group(1) if symbols else ""))
    return out


def parse_keyword(spec: str) -> Keyword:
    """Parse ``NAME`` or ``NAME=alias1,alias2`` as typed on the command line ("a, b" in quotes is one alias)."""
    import csv

    name, _, rest = spec.partition("=")
    quoted = re.fullmatch(r'"([^"]*)"(?:=(.*))?', spec.strip(), re.DOTALL)
    if quoted:  # a name holding "=" or " #" is written in quotes, as keyword_spec writes it
        name, rest = quoted.group(1), quoted.group(2) or ""
    return make_keyword(name, next(csv.reader([rest], skipinitialspace=True)) if rest else [], spec)


def keyword_spec(keyword: Keyword) -> str:
    """A keyword as ``parse_keyword`` reads it back: an alias holding a comma, a quote or a # is quoted
    (in a keywords file or the overlay's editor, " #" outside quotes starts a comment)."""
    import csv
    import io

    out = io.StringIO()
    quoting = csv.QUOTE_ALL if any("#" in a for a in keyword.aliases) else csv.QUOTE_MINIMAL
    csv.writer(out, lineterminator="", quoting=quoting).writerow(keyword.aliases)
    if any(c in keyword.name for c in '#="'):
        return f'"{keyword.name}"={out.getvalue()}'  # (a name cannot hold a double quote itself)
    return f"{keyword.name}={out.getvalue()}"


def make_keyword(name: str, aliases: Sequence[str], spec: str | None = None, filler: bool = False) -> Keyword:
    """A keyword from its name and aliases, as given (an alias may hold a comma).

    "AI" alone gets the built-in aliases; any other bare name counts itself.
    """
    # A name is printed on its own line of counts: a newline or an escape sequence in it is never meant.
    name = one_line(name)
    aliases = [one_line(a) for a in aliases if one_line(a)]
    if not name or (not tokens(name) and not any(tokens(a) for a in aliases)):
        raise ConfigError(
            f"empty keyword {spec if spec is not None else name!r}",
            'give a word or phrase, e.g. --keyword AI or --keyword "LLM=llm,large language model"',
        )
    if not aliases:
        aliases = list(DEFAULT_AI_ALIASES) if tokens(name) == ["ai"] else [name]
    elif tokens(name) and name not in aliases:
        aliases.insert(0, name)
    return Keyword(name, tuple(dict.fromkeys(aliases)), filler)


DEFAULT_KEYWORDS = (Keyword("AI", DEFAULT_AI_ALIASES),)


@dataclass(frozen=True)
class Match:
    keyword: str
    text: str
    start: float
    end: float
    probability: float


def _patterns(keywords: Sequence[Keyword]) -> list[tuple[tuple[str, ...], str, str]]:
    """(tokens, keyword name, how it must be written: FILLER, PLURAL or "" for as it comes) per alias."""
    return _patterns_of(tuple(keywords))


@functools.lru_cache(maxsize=16)  # the matcher runs on every partial, with the same keywords
def _patterns_of(keywords: tuple[Keyword, ...]) -> list[tuple[tuple[str, ...], str, str]]:
    from .fillers import is_filler_sound

    pats: dict[tuple[tuple[str, ...], str], str] = {}  # (tokens, rule) → keyword name: the first given

    def new(toks: tuple[str, ...]) -> bool:
        return bool(toks) and not any(t == toks for t, _ in pats)

    for kw in keywords:
        for alias in kw.aliases:
            toks = tuple(tokens(alias))
            if toks:
                pats.setdefault((toks, _rule(kw, alias, is_filler_sound(kw))), kw.name)
    # After every alias given (a keyword "GPUs" keeps its own): the other spellings of a name
    # (spellings()), a name with a dot said "dot net", a phrase's plural ("large language
    # models"), and an acronym's plural written in capitals ("LLMs"; "its" is no "IT").
    for kw in keywords:
        if kw.filler or is_filler_sound(kw):
            continue  # a filler is said as listed
        for alias in kw.aliases:
            toks = tuple(tokens(alias))
            if not toks:
                continue  # an alias of signs only (".") names nothing to say
            others = spellings(alias)
            if alias.strip().startswith("."):
                others += [("dot", *toks), ("dot" + toks[0], *toks[1:])]
            plural = (*toks[:-1], toks[-1] + "s")
            if len(toks) > 1 and all(t.isalpha() for t in toks):
                others.append(plural)
            for other in others:
                if new(other):
                    pats[(other, "")] = kw.name
            if _ACRONYM.fullmatch(alias.strip()) and new(plural):
                pats[(plural, PLURAL)] = kw.name
    # Longest phrase first: "artificial intelligence" wins over a one-word alias inside it. Of
    # one length, a pattern bound to how it is written first: "the ER" that is no filler "er" is
    # the keyword ER, "safety net" that is no ".NET" can still be the keyword "net".
    ordered = sorted(pats.items(), key=lambda p: (-len(p[0][0]), p[0][1] not in (FILLER, DOTTED, CAPS)))
    return [(toks, name, rule) for (toks, rule), name in ordered]


def _rule(kw: Keyword, alias: str, sound: bool) -> str:
    """How an alias given must be written to count (see _written_as)."""
    if sound:
        return FILLER
    if kw.filler:
        return WHOLE
    if alias.strip().startswith("."):
        return DOTTED
    return CAPS if _INITIALS.fullmatch(alias.strip()) else ""


# A word of two letters or more and its number, apart or together: "GPT-4", "GPT 4", "GPT4"; parted
# only after capitals ("Win10" is no "win 10", "Top10" no "top 10").
_WORD_THEN_NUMBER_APART = re.compile(r"(?<=[^\W\d_][^\W\d_])[\s\-‐‑]+(?=\d)")
_WORD_THEN_NUMBER = re.compile(r"(?<=[A-Z][A-Z])(?=\d)")


def spellings(alias: str) -> list[tuple[str, ...]]:
    """The tokens of an alias's other spellings where a word meets its number, as recognisers print
    it either way: "GPT-4" and "GPT 4" → "gpt4", "GPT4" → "gpt 4", "COVID-19" → "covid19".

    Only there, and parted only after capitals: a single letter and a number are ordinary words
    ("A4" is no "a 4", "Win10" no "win 10"), and so are
    the parts of other names joined or parted ("LinkedIn" is no "linked in", "Co-op" no "coop",
    "not able" no "notable"); give such spellings as aliases.
    """
    own = tuple(tokens(alias))
    joined = _WORD_THEN_NUMBER_APART.sub("", alias)
    parted = _WORD_THEN_NUMBER.sub(" ", alias)
    out = [tuple(tokens(text)) for text in (joined, parted)]
    return [toks for toks in dict.fromkeys(out) if toks and toks != own]


# Two or three capitals (or a capital and digits): an initialism that is also a word when written
# small ("IT", "US", "WHO"), or a name written as it is ("A4", "F1").
# A longer name in capitals is the user's way of writing it ("CLOUD" still counts "cloud").
_INITIALS = re.compile(r"[A-Z][A-Z0-9]{1,2}")

# How a pattern must be written to count (see _written_as).
FILLER, WHOLE, PLURAL, DOTTED, CAPS = "filler", "whole", "plural", "dotted", "caps"


def _written_as(rule: str, words: Sequence[Word], flat: Sequence[tuple[str, int]], i: int, n: int) -> bool:
    """Whether tokens i..i+n are written as their pattern's rule asks: a filler as a whole word
    not in capitals ("the ER", "Mm-hmm" are none), an acronym's plural in capitals ("LLMs"),
    a name that starts with a dot after its dot (".NET", "ASP.NET"; "net income" is none)."""
    if rule == PLURAL:
        return in_capitals(words[flat[i + n - 1][1]].text)
    if rule == CAPS:
        # "IT" is no "it" (nor "It"), "US" no "us"; as many capitals as the name has letters, so
        # "A4" and "F1" count as written. An engine that writes no capitals at all (Vosk) cannot say.
        letters = sum(c.isalpha() for c in flat[i][0])
        capitals = sum(c.isupper() for c in words[flat[i][1]].text)
        return capitals >= letters or not any(c.isupper() for w in words for c in w.text)
    if rule == DOTTED:
        return _after_its_dot(words[flat[i][1]].text, flat[i][0])
    if rule == FILLER and _in_backchannel(flat, i, n):
        return False
    if rule in (FILLER, WHOLE):
        return _whole_words(words, flat, i, n, capitals=rule == WHOLE)
    return True


# Answers written as two words, not a filler sound and a word: "uh huh" (yes), "mm hmm".
_BACKCHANNELS = frozenset({("uh", "huh"), ("mm", "hmm"), ("mhm", "hmm")})


def _in_backchannel(flat: Sequence[tuple[str, int]], i: int, n: int) -> bool:
    before = flat[i - 1][0] if i > 0 else ""
    after = flat[i + n][0] if i + n < len(flat) else ""
    return (before, flat[i][0]) in _BACKCHANNELS or (flat[i + n - 1][0], after) in _BACKCHANNELS


def _number_goes_on(words: Sequence[Word], flat: Sequence[tuple[str, int]], j: int) -> bool:
    """Whether a match that ends in a number stops inside a longer one: "GPT-3" in "GPT-3.5",
    "Python 3" in "Python 3.12" (Whisper also prints "GPT -3 .5")."""
    if j == 0 or j >= len(flat) or not (flat[j - 1][0].isdigit() and flat[j][0].isdigit()):
        return False
    last, following = words[flat[j - 1][1]].text, words[flat[j][1]].text
    if flat[j][1] == flat[j - 1][1]:
        return re.search(r"\d\.\d", last) is not None
    return following.lstrip().startswith(".")


def _after_its_dot(text: str, token: str) -> bool:
    """Whether ``token`` follows a dot in ``text`` that starts a name: ".NET", "ASP.NET" (a name in
    capitals before it); not a web address ("example.net")."""
    for dot in re.finditer(r"\.", text):
        if not _normal(text[dot.end() :]).startswith(token):
            continue
        head = re.search(r"[^\W_]*$", text[: dot.start()]).group()  # the word right before the dot
        if not head or head.isupper():
            return True
    return False


def _whole_words(words: Sequence[Word], flat: Sequence[tuple[str, int]], i: int, n: int, capitals: bool) -> bool:
    """Whether tokens i..i+n are whole words: a filler, not part of "Mm-hmm" or "uh-huh" (words of
    their own). A filler sound is also never in capitals ("the ER" is an initialism); a filler
    of the user's own may be ("OK"). A dash or a slash parts words ("and—um—the", "uh/um");
    a hyphen joins them."""
    lo, last = flat[i][1], flat[i + n - 1][1]
    if lo == last:
        want = [t for t, _ in flat[i : i + n]]
        parts = _PARTED.split(words[lo].text)
        return any(tokens(w) == want and (capitals or not in_capitals(w)) for w in parts)
    if (i > 0 and flat[i - 1][1] == lo) or (i + n < len(flat) and flat[i + n][1] == last):
        return False
    return capitals or not any(in_capitals(w.text) for w in words[lo : last + 1])


def keyword_prompt(keywords: Sequence[Keyword], fits: Callable[[str], bool] | None = None) -> str:
    """A sentence to prime a recogniser with: each keyword's name and spelled-out phrases.

    Letter-by-letter variants ("a i", "A.I.") are left out: they are how engines mishear
    a word, not how it should be written ("GPT-4", "C++" and "Node.js" are kept). A sentence that names
    the keywords twice primed Whisper tiny.en better than a bare list (noisy dev talks:
    27 of 33 found instead of 24; see BENCHMARKS.md). With filler keywords the prompt
    starts with a disfluent sentence (fillers.py).

    ``fits`` says whether a prompt is short enough for the recogniser (Whisper keeps 223
    tokens and cuts the rest mid-word): a longer one keeps each keyword's name, in order,
    and then what fits.
    """
    from .fillers import FILLER_PROMPT, any_fillers, is_filler

    if any_fillers(keywords):
        # Filler mode: the other keywords' sentence, then a disfluent one that keeps "um"
        # and "uh" in the transcript (the end of a prompt sets the style most).
        rest_fits = None if fits is None else (lambda text: fits(f"{text} {FILLER_PROMPT}"))
        rest = keyword_prompt([k for k in keywords if not is_filler(k)], rest_fits)
        return f"{rest} {FILLER_PROMPT}".strip()
    phrases: dict[tuple[str, ...], str] = {}
    names: list[str] = []
    for kw in keywords:
        for i, text in enumerate((kw.name, *kw.aliases)):
            toks = tuple(tokens(text))
            letters = len(toks) > 1 and all(len(t) == 1 and t.isalpha() for t in toks)
            spelled = _INITIALISM.fullmatch(text.strip()) or letters
            if not toks or spelled or (i > 0 and len(toks) < 2):
                continue
            if i == 0 and text.strip() not in names:
                names.append(text.strip())
            phrases.setdefault(toks, text.strip())
    if not phrases:
        return ""

    def sentence(said: Sequence[str], again: Sequence[str] = ()) -> str:
        return f"This talk is about {', '.join(said)}{', and ' + ' and '.join(again) if again else ''}."

    full = sentence(list(phrases.values()), names)
    if fits is None or fits(full):
        return full
    ordered = list(dict.fromkeys([*names, *phrases.values()]))
    kept: list[str] = []
    for phrase in ordered:
        if not fits(sentence([*kept, phrase])):
            break
        kept.append(phrase)
    return sentence(kept) if kept else ""


def _max_len(keywords: Sequence[Keyword]) -> int:
    return max((len(p) for p, _, _ in _patterns(keywords)), default=1)


def find_matches(words: Sequence[Word], keywords: Sequence[Keyword], first: int = 0) -> list[Match]:
    """All whole-word keyword occurrences in ``words``, left to right, non-overlapping.

    Matches that end before ``words[first]`` are left out: those words are context
    carried over from earlier results, already counted.
    """
    flat: list[tuple[str, int]] = []  # (token, index of the word it came from)
    for i, w in enumerate(words):
        flat.extend((t, i) for t in tokens(w.text))
    toks = [t for t, _ in flat]
    patterns = _patterns(keywords)
    out, i = [], 0
    while i < len(toks):
        for pat, name, rule in patterns:
            n = len(pat)
            if (
                pat[0] == toks[i]
                and tuple(toks[i : i + n]) == pat
                and _written_as(rule, words, flat, i, n)
                and not _number_goes_on(words, flat, i + n)
            ):
                lo, last = flat[i][1], flat[i + n - 1][1]
                # Whisper ends every utterance with a stop: a pause inside "artificial … intelligence"
                # prints "artificial." then "Intelligence". Across that join a phrase of whole words
                # runs on; letters do not ("Q and A." then "I have time" is no "a i").
                joined = first - 1 if all(len(t) > 1 for t in pat) else -1
                if any(_stops_after(words[k].text, words[k + 1].text) for k in range(lo, last) if k != joined):
                    continue  # "Q and A. I have time": a phrase does not run across a sentence or a clause
                span = words[lo : last + 1]
                if last < first:
                    i += n
                    break
                out.append(
                    Match(
                        keyword=name,
                        text=" ".join(w.text.strip() for w in span),
                        start=span[0].start,
                        end=span[-1].end,
                        probability=min(w.probability for w in span),
                    )
                )
                i += n
                break
        else:
            i += 1
    return out


_SENTENCE_END = re.compile(r"[.!?…]['\"”)]*$")
_INITIALISM = re.compile(r"(?:[^\W\d_]\.){2,}")  # "A.I.", "U.S.": their last dot ends no sentence


def ends_sentence(text: str) -> bool:
    """Whether a word, or a line of words, ends a sentence (the dot of "A.I." ends none)."""
    last = text.rsplit(maxsplit=1)[-1] if text.strip() else ""
    return bool(_SENTENCE_END.search(last)) and not _INITIALISM.fullmatch(last)


_CLAUSE_END = (",", ";", ":", "!", "?", "…")
_DOTTED_LETTER = re.compile(r"[^\W\d_]\.", re.UNICODE)  # "I." of "A. I.": one letter and its dot


def _stops_after(text: str, following: str) -> bool:
    """Whether a spoken phrase cannot run on from this word to the next.

    A comma, a question mark or a sentence's full stop ends it; the dot of a spelled
    initial ("A. I.") does not, when the next word is another dotted letter.
    """
    text = text.rstrip()
    if text.endswith(_CLAUSE_END):
        return True
    return text.endswith(".") and not _DOTTED_LETTER.fullmatch(following.strip())


def _near(a_start: float, a_end: float, b_start: float, b_end: float) -> bool:
    return a_start - SAME_WORD_SLACK <= b_end and b_start - SAME_WORD_SLACK <= a_end


@dataclass
class KeywordCounter:
    """Counts keyword hits from a stream of partial and final results."""

    keywords: Sequence[Keyword]
    hits: list[Hit] = field(default_factory=list)
    # The last final words not part of a hit: a phrase split across two finals
    # ("artificial" | "intelligence is") is still one match.
    tail: list[Word] = field(default_factory=list)
    # Provisional hits the user withdrew (undo, reset): the next partials and the final still show
    # their words, which must not count again. Forgotten once a final has gone past them.
    withdrawn: list[Hit] = field(default_factory=list)

    def _with_tail(self, words: Sequence[Word]) -> tuple[list[Word], int]:
        tail = self.tail
        if tail and words and words[0].start - tail[-1].end > PHRASE_GAP:
            tail = []
        return [*tail, *words], len(tail)

    def counts(self) -> dict[str, int]:
        return counts_of(self.hits, self.keywords)

    def counted(self) -> list[Hit]:
        return [h for h in self.hits if not h.retracted]

    def _pending(self) -> list[Hit]:
        return [h for h in self.hits if not h.confirmed and not h.retracted]

    def _claim(self, m: Match, pending: list[Hit]) -> Hit | None:
        best = None
        for h in pending:
            near = h.keyword == m.keyword and _near(h.start, h.end, m.start, m.end)
            if near and (best is None or abs(h.start - m.start) < abs(best.start - m.start)):
                best = h
        if best is not None:
            pending.remove(best)
        return best

    def _new(self, m: Match, now: float, confirmed: bool) -> Hit:
        hit = Hit(len(self.hits) + 1, m.keyword, m.text, m.start, m.end, now, confirmed, False, m.probability)
        self.hits.append(hit)
        return hit

    def on_partial(self, words: Sequence[Word], now: float) -> list[HitChange]:
        """An unstable hypothesis: count what it shows that is not counted yet."""
        changes = []
        pending, withdrawn = self._pending(), list(self.withdrawn)
        context, first = self._with_tail(words)
        for m in find_matches(context, self.keywords, first):
            hit = self._claim(m, pending)
            if hit is not None:
                hit.start, hit.end, hit.text = m.start, m.end, m.text
            elif self._claim(m, withdrawn) is None:
                changes.append(HitChange("added", self._new(m, now, confirmed=False)))
        return changes

    def on_final(self, words: Sequence[Word], now: float) -> list[HitChange]:
        """Stable words: confirm the provisional hits they hold, retract those they cover but lack."""
        changes = []
        pending = self._pending()
        context, first = self._with_tail(words)
        matches = find_matches(context, self.keywords, first)
        for m in matches:
            hit = self._claim(m, pending)
            if hit is not None:
                hit.start, hit.end, hit.text, hit.probability = m.start, m.end, m.text, m.probability
                hit.confirmed = True
                changes.append(HitChange("confirmed", hit))
            elif self._claim(m, self.withdrawn) is None:  # (a withdrawn word is settled by this final)
                changes.append(HitChange("added", self._new(m, now, confirmed=True)))
        if context:
            after = [w for w in context if not matches or w.start >= matches[-1].end]
            self.tail = after[-(_max_len(self.keywords) - 1) :] if _max_len(self.keywords) > 1 else []
        if words:
            covered_to = words[-1].end - RETRACT_MARGIN
            self.withdrawn = [h for h in self.withdrawn if (h.start + h.end) / 2 >= covered_to]
            for h in pending:
                if (h.start + h.end) / 2 < covered_to:
                    h.retracted = True
                    changes.append(HitChange("retracted", h))
        return changes

    def finish(self) -> list[HitChange]:
        """End of stream: whatever no final confirmed was never really said."""
        changes = []
        for h in self._pending():
            h.retracted = True
            changes.append(HitChange("retracted", h))
        return changes

    def reset(self) -> list[HitChange]:
        """Withdraw every counted hit and forget the carried-over words (a user's fresh start)."""
        self.tail = []
        changes = []
        for h in self.counted():
            self._withdraw(h)
            changes.append(HitChange("retracted", h))
        return changes

    def _withdraw(self, hit: Hit) -> None:
        hit.retracted = True
        if not hit.confirmed:
            self.withdrawn.append(hit)

    def undo_last(self) -> HitChange | None:
        """Withdraw the most recently counted hit (a user correction)."""
        live = self.counted()
        if not live:
            return None
        hit = max(live, key=lambda h: (h.emitted_at, h.id))
        self._withdraw(hit)
        return HitChange("retracted", hit)


def counts_of(hits: Iterable[Hit], keywords: Sequence[Keyword]) -> dict[str, int]:
    """Per-keyword totals of the hits that still count (every keyword listed, even at 0)."""
    out = {k.name: 0 for k in keywords}
    for h in hits:
        if not h.retracted:
            out[h.keyword] = out.get(h.keyword, 0) + 1
    return out

"""The query parameters that choose a page's look, checked before the page is served.

Pure functions, no I/O. Every parameter a page takes is listed here with its rule; an
unknown, repeated or malformed one is refused (the server answers 400 and serves
nothing), so what reaches the page's script is only ever a number, a colour of a fixed
shape, a yes/no, or the name of a keyword being counted — nothing that CSS or HTML
could take as code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence


class BadParameter(ValueError):
    """A query parameter the page does not take, or a value outside its rule."""


# A hex colour (#rgb, #rgba, #rrggbb, #rrggbbaa) or a CSS colour keyword (letters only).
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]{3,20}")
_YES_NO = {"1": True, "on": True, "yes": True, "true": True, "0": False, "off": False, "no": False, "false": False}


def _number(lo: float, hi: float) -> Callable[[str], float]:
    def check(value: str) -> float:
        try:
            n = float(value)
        except ValueError:
            raise BadParameter(f"{value!r} is not a number — give one between {lo:g} and {hi:g}") from None
        if not lo <= n <= hi:  # also refuses nan
            raise BadParameter(f"{value!r} is out of range — give a number between {lo:g} and {hi:g}")
        return n

    return check


def _colour(value: str) -> str:
    if not _COLOUR.fullmatch(value):
        raise BadParameter(f"{value!r} is not a colour — give #rgb, #rrggbb, #rrggbbaa or a name like white")
    return value


def _yes_no(value: str) -> bool:
    try:
        return _YES_NO[value.lower()]
    except KeyError:
        raise BadParameter(f"{value!r} is not on/off — give on or off") from None


def _keyword_names(value: str, known: Sequence[str]) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise BadParameter(
            f"{', '.join(unknown) or value!r} is not a keyword being counted — give one of: {', '.join(known)}"
        )
    return names


def _one_keyword(value: str, known: Sequence[str]) -> str:
    names = _keyword_names(value, known)
    if len(names) != 1:
        raise BadParameter(f"{value!r} names {len(names)} keywords — give one")
    return names[0]


# page → parameter → rule; a rule gets the value and the names of the keywords being counted.
PAGES: dict[str, dict[str, Callable[[str, Sequence[str]], object]]] = {
    "panel": {},
    "overlay": {
        "size": lambda v, k: _number(8, 400)(v),  # count size in CSS pixels
        "fg": lambda v, k: _colour(v),
        "bg": lambda v, k: _colour(v),  # default: transparent
        "keywords": _keyword_names,  # which keywords, in this order (default: all)
        "caption": lambda v, k: _yes_no(v),
        "hide": lambda v, k: _number(0, 3600)(v),  # hide the caption after N s without speech (0: never)
    },
    "stage": {
        "keyword": _one_keyword,  # which keyword (default: the first)
        "fg": lambda v, k: _colour(v),
        "bg": lambda v, k: _colour(v),
    },
}


def check(page: str, query: Iterable[tuple[str, str]], keywords: Sequence[str]) -> Mapping[str, object]:
    """The page's look from its query (``token`` aside); raises BadParameter naming what is wrong."""
    rules = PAGES[page]
    look: dict[str, object] = {}
    for name, value in query:
        if name == "token":
            continue
        if name not in rules:
            allowed = ", ".join(rules) or "none but token"
            raise BadParameter(f"unknown parameter {name!r} — this page takes: {allowed}")
        if name in look:
            raise BadParameter(f"{name!r} given twice — give it once")
        try:
            look[name] = rules[name](value, keywords)
        except BadParameter as e:
            raise BadParameter(f"{name}: {e}") from None
    return look

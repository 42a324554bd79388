"""Make text that a speaker said or a model wrote inert in each output format.

A transcript is data, and so is a language model's answer: neither may become
markup, a link, a remote image, a terminal control sequence or a subtitle style in
anything voicecount writes. Each output format has one function here, used by
every writer of that format.
"""

from __future__ import annotations

import json
import re

# C0 and C1 controls (an escape sequence can clear or retitle a terminal), DEL, and
# the bidirectional overrides that make text read differently from what it is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Inline Markdown (CommonMark, GitHub, markdown-it): every character that opens
# emphasis, code, links, images, raw HTML, entities, tables or math.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~&$^])")
# Autolinks that renderers make without any markup: "https://…", "www.…", and
# (markdown-it linkify) bare domains "example.com". A backslash before the ":" or
# the dot breaks the pattern and renders as the same character.
_MD_SCHEME = re.compile(r":(?=//)")
_MD_DOT = re.compile(r"(?<=\w)\.(?=\w)")
# GitHub links e-mail addresses even when escaped; inside a code span it cannot.
_MD_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def terminal(text: str) -> str:
    """Text safe to print: control characters and bidi overrides removed, newlines and tabs kept."""
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """Terminal-safe text on a single line."""
    return " ".join(terminal(text).split())


def markdown(text: str) -> str:
    """Inline Markdown that renders as exactly ``text``: no markup, links, images or HTML."""
    out: list[str] = []
    pos = 0
    text = one_line(text)
    for m in _MD_EMAIL.finditer(text):
        out.append(_md_plain(text[pos : m.start()]))
        out.append(f"`{m.group(0)}`")
        pos = m.end()
    out.append(_md_plain(text[pos:]))
    result = "".join(out)
    # A leading list or heading marker would start a block of its own.
    result = re.sub(r"^(\d+)\.", r"\1\\.", result)
    return re.sub(r"^([-+=])", r"\\\1", result)


def _md_plain(text: str) -> str:
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_SCHEME.sub(r"\\:", text)
    return _MD_DOT.sub(r"\\.", text)


def srt(text: str) -> str:
    """SRT cue text: players style <i>, <font …> and {\\an8}; those become look-alike characters."""
    return terminal(text).translate(_SRT_LOOKALIKES)


_SRT_LOOKALIKES = str.maketrans({"<": "‹", ">": "›", "{": "｛", "}": "｝"})


def vtt(text: str) -> str:
    """WebVTT cue text: the spec's own escapes for & < >; "-->" (no escape exists) becomes an arrow."""
    text = terminal(text).replace("-->", "→")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_text(data: object, indent: int | None = None) -> str:
    """JSON with < > & and line separators as \\u escapes: the same data, safe to embed in HTML or a script."""
    out = json.dumps(data, ensure_ascii=False, indent=indent)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        out = out.replace(ch, esc)
    return out

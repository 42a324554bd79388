"""Make text that a speaker said or a model wrote inert in each output format.

A transcript is data, and so is a language model's answer: neither may become
markup, a link, a remote image, a terminal control sequence or a subtitle style in
anything voicecount writes. Each output format has one function here, used by
every writer of that format.
"""

from __future__ import annotations

import json
import re

# Whole escape sequences (CSI "ESC [ … final", OSC "ESC ] … BEL/ST", other "ESC x", the
# 8-bit CSI), so no half of one is left to show; then any other control character.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")


# Inline Markdown (CommonMark, GitHub, markdown-it): every character that opens
# emphasis, code, links, images, raw HTML, entities, tables or math.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~&$^])")
# Autolinks that renderers make without any markup: "https://…", "mailto:…", "www.…", and
# (markdown-it linkify) bare domains "example.com", "b+.com", "हिन्दी.com". A backslash
# before the ":" or the dot breaks the pattern and renders as the same character. So every
# dot between two characters, and the dot of "www." whatever follows (GitHub links "www."
# alone); a sentence's closing dot stays as it is.
_MD_SCHEME = re.compile(r":(?=//)|(?<=mailto):", re.IGNORECASE)
_MD_DOT = re.compile(r"(?<=\S)\.(?=\S)|(?<=www)\.", re.IGNORECASE)
# GitHub links e-mail addresses even when escaped; inside a code span it cannot.
# Any word holding an "@" with a dot after it: GitHub also links "+@.com" and "me@हिन्दी.com".
_MD_EMAIL = re.compile(r"[^\s`@|]+@[^\s`|]*\.[^\s`|]*")  # (a table cell ends at "|", also in code)


def path_text(text: str) -> str:
    """A name from the file system as text any output can hold: bytes that were not UTF-8 show as \\xNN.

    Python hands such bytes over as lone surrogates (U+DC80–U+DCFF), which no UTF-8 writer takes.
    """
    if text.isascii():
        return text
    return "".join(
        f"\\x{ord(ch) - 0xDC00:02x}"
        if "\udc80" <= ch <= "\udcff"
        else f"\\u{ord(ch):04x}"
        if "\ud800" <= ch <= "\udfff"
        else ch
        for ch in text
    )


def terminal(text: str) -> str:
    """Text safe to print: escape sequences and invisible controls (bidi overrides too) removed; lines kept."""
    text = _ESCAPES.sub("", path_text(text))
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " if ch.isspace() else "" for ch in text)


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
    """SRT cue text: players style <i>, <font …> and {\\an8}, and libass reads \\N and \\h as a line
    break and a hard space; those become look-alike characters."""
    return terminal(text).translate(_SRT_LOOKALIKES)


_SRT_LOOKALIKES = str.maketrans({"<": "‹", ">": "›", "{": "｛", "}": "｝", "\\": "⧵"})


def vtt(text: str) -> str:
    """WebVTT cue text: the spec's own escapes for & < >; "-->" (no escape exists) becomes an arrow."""
    text = terminal(text).replace("-->", "→")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_text(data: object, indent: int | None = None) -> str:
    """JSON that is inert anywhere: no raw control, C1 or bidi character for a terminal, and
    < > & and the JavaScript line separators escaped for HTML or a script. The same data."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    # Outside strings JSON is printable ASCII without < > & (and the newlines of indent),
    # so only string contents change, into escapes that mean the same characters.
    return "".join(ch if (ch.isprintable() or ch == "\n") and ch not in "<>&" else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    n = ord(ch)
    if n < 0x10000:
        return f"\\u{n:04x}"
    n -= 0x10000  # beyond the BMP: a surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}"
